"""Fingerprints of short fixed-seed training runs of every task: the proof that a refactor changes no number.

For each task (detect, segment, pose, classify) this trains one small packaged model for two epochs (the first
with mosaic, the second without) on a tiny generated set, on the CPU with one thread and a fixed seed, and prints
one row: the SHA-256 of the final weights (model and EMA tensors, in state_dict order, names included), of the
``results.csv`` figures (per-epoch validation included) and of a ``val --save-json`` of the final weights (every
prediction it writes and every metric it returns: the untrained models' mAP is 0, their predictions are not).
Run it before and after a change; identical rows mean the change moved no weight and no metric on these paths.

Run: ``PYTHONPATH=src python tools/weights_fingerprint.py [--tasks detect,pose] [--keep DIR]``.
"""

from __future__ import annotations

import argparse
import hashlib
import logging
import shutil
import tempfile
from pathlib import Path

import torch

RUNS = {  # task -> (packaged model, built-in set, image size)
    "detect": ("yolov9-t-focal", "synthetic", 96),
    "segment": ("gelan-t-seg-focal", "synthetic-seg", 96),
    "pose": ("yolov9-t-pose-focal", "synthetic-pose", 96),
    "classify": ("gelan-t-cls-focal", "synthetic-cls", 64),
}


def _digest_weights(checkpoint: Path) -> str:
    """SHA-256 over the names, shapes and bytes of the model's and the EMA's tensors."""
    ckpt = torch.load(checkpoint, map_location="cpu", weights_only=False)
    digest = hashlib.sha256()
    for key in ("model", "ema"):
        state = ckpt.get(key)
        if state is None:
            continue
        state = state.state_dict() if hasattr(state, "state_dict") else state
        for name, tensor in state.items():
            digest.update(f"{key}.{name}{tuple(tensor.shape)}{tensor.dtype}".encode())
            digest.update(tensor.detach().contiguous().cpu().numpy().tobytes())
    return digest.hexdigest()[:16]


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def fingerprint(task: str, work: Path) -> tuple[str, str, str]:
    """Train ``task``'s run in ``work`` and return the digests of (weights, results.csv, validation)."""
    from focalyolo.api import YOLO
    from focalyolo.data.synthetic import generate_synthetic

    model, name, imgsz = RUNS[task]
    data = generate_synthetic(work / name, n_train=24, n_val=8, imgsz=imgsz, seed=0, name=name)
    run = YOLO(model).train(data=str(data), epochs=2, close_mosaic=1, imgsz=imgsz, batch=8, workers=0, threads=1,
                            device="cpu", seed=0, hyp="cpu-short", project=str(work / "runs"), name=task,
                            plots=False, verbose=False)
    last = run / "weights" / "last.pt"
    metrics = YOLO(str(last)).val(data=str(data), batch=8, workers=0, threads=1, device="cpu", save_json=True,
                                  plots=False, project=str(work / "val"), name=task, verbose=False)
    predictions = sorted((work / "val").glob(f"{task}*/predictions.json"))
    validation = repr(sorted((k, v) for k, v in metrics.items() if k not in ("speed", "save_dir")))
    validation += "".join(p.read_text().replace(str(work), "") for p in predictions)  # paths: relative
    return _digest_weights(last), _digest((run / "results.csv").read_text()), _digest(validation)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", default=",".join(RUNS), help="comma-separated tasks (default: all four)")
    parser.add_argument("--keep", type=Path, help="keep the data and runs in this folder (default: a temporary one)")
    args = parser.parse_args()
    work = args.keep or Path(tempfile.mkdtemp(prefix="fingerprint-"))
    logging.disable(logging.INFO)  # the table only
    try:
        print(f"{'task':<9} {'model':<20} {'weights':<16} {'results':<16} {'validation':<16}")
        for task in args.tasks.split(","):
            weights, results, validation = fingerprint(task, work)
            print(f"{task:<9} {RUNS[task][0]:<20} {weights:<16} {results:<16} {validation:<16}", flush=True)
    finally:
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
