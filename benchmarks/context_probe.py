"""Where is the cue of ``synthetic-context`` lost? A linear probe of a trained model's features at the squares.

A square of ``synthetic-context`` is ``red-cue`` or ``blue-cue`` by the colour of a disc 80 px to its right; the
square itself says nothing. For each checkpoint this reads, at the cell under every square's centre, the features
of up to four layers:

- ``context block``: the output of the focal or attention block, at its own stride (P5 for ``-focal`` / ``-attn``,
  P4 for ``-focal-p4`` / ``-attn-p4``); ``-`` for a model without one;
- ``P5 context``: the neck's first layer (SPPELAN, stride 32), which follows the context block where there is one;
- ``P4 neck``: the first neck layer at stride 16, where the upsampled P5 meets the backbone's P4;
- ``P4 head input``: what the head's stride-16 level reads (the level whose cells match the 16 px squares);

and fits a logistic regression (L2, scipy's L-BFGS) on the train split's squares to predict each val square's
class. Its val accuracy says whether that layer still holds the cue linearly (0.5: chance, 1.0: all of it). The last
column is the head's own choice: the larger of the two class logits at the same stride-16 cell.

A layer that holds the cue while the head does not use it points at the head or the training signal; a P5 context
layer without the cue says the context block did not learn to carry it.

    python benchmarks/context_probe.py gelan-t gelan-t-focal \\
        runs/compare/study-synthetic-context/gelan-t-seed0/weights/best.pt \\
        runs/compare/study-synthetic-context/gelan-t-focal-seed0/weights/best.pt

A config name instead of a checkpoint probes the untrained model (seed 0): the reference that shows what the
features hold before training (at the disc, the colour; at the square, nothing).

Works for the gelan-t family of the study (a SPPELAN neck and a three-level head), with or without a block.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch
from scipy.optimize import minimize
from scipy.special import expit

from focalyolo.data.config import load_data_config
from focalyolo.data.image_io import read_image
from focalyolo.data.labels import read_label_file
from focalyolo.data.paths import img2label_path
from focalyolo.data.synthetic import CONTEXT_DISTANCE, CONTEXT_NAMES
from focalyolo.models import build_model
from focalyolo.nn import FocalModulationBlock, SelfAttentionBlock
from focalyolo.tasks.detect.inputs import letterbox_batch
from focalyolo.weights.checkpoint import model_from_checkpoint, read_checkpoint

LAYERS = ("context block", "P5 context", "P4 neck", "P4 head input")


def probe_accuracy(train_x: np.ndarray, train_y: np.ndarray, test_x: np.ndarray, test_y: np.ndarray,
                   l2: float = 1e-2) -> float:
    """Accuracy on (``test_x`` (n, d), ``test_y`` (n,) in {0, 1}) of an L2-regularised logistic regression fitted on
    (``train_x``, ``train_y``), each feature standardised by the train statistics."""
    mean, std = train_x.mean(0), train_x.std(0)
    std = np.where(std > 0, std, 1.0)  # a constant feature stays 0; any other is scaled, however small its spread
    a = np.hstack([(train_x - mean) / std, np.ones((len(train_x), 1))])
    b = np.hstack([(test_x - mean) / std, np.ones((len(test_x), 1))])
    y = train_y.astype(np.float64)

    def loss(w: np.ndarray) -> tuple[float, np.ndarray]:
        z = a @ w
        penalty = np.r_[w[:-1], 0.0]  # the bias is not penalised
        value = np.mean(np.logaddexp(0.0, z) - y * z) + 0.5 * l2 * penalty @ penalty
        grad = a.T @ (expit(z) - y) / len(y) + l2 * penalty
        return value, grad

    w = minimize(loss, np.zeros(a.shape[1]), jac=True, method="L-BFGS-B").x
    return float(np.mean((b @ w > 0) == (test_y == 1)))


def _layer_indices(model: torch.nn.Module) -> list[int | None]:
    """Indices of the probed layers (see the module docstring) in ``model.model``; None for a missing block."""
    layers = list(model.model)
    block = next((i for i, layer in enumerate(layers) if isinstance(layer, (FocalModulationBlock, SelfAttentionBlock))),
                 None)
    p5 = next(i for i, layer in enumerate(layers) if type(layer).__name__ == "SPPELAN")
    concat = next(i for i in range(p5, len(layers)) if type(layers[i]).__name__ == "Concat")
    head = layers[-1]
    sources = [len(layers) - 2 if j == -1 else j for j in head.f]
    return [block, p5, concat + 1, sources[1]]


@torch.no_grad()
def square_features(model: torch.nn.Module, images: list[Path], imgsz: int, batch: int = 16
                    ) -> tuple[list[np.ndarray | None], list[np.ndarray | None], np.ndarray, np.ndarray]:
    """For the labelled squares of ``images`` (markers' own rows skipped): per probed layer the (n, C) features at
    the cell under each square's centre, and the same at the cell under its disc (:data:`CONTEXT_DISTANCE` to the
    right), None for a layer the model lacks; the classes (n,); the head's class choice at the square's stride-16
    cell (n,), the larger of its two cue classes' logits there."""
    indices = _layer_indices(model)
    present = [k for k, i in enumerate(indices) if i is not None]
    captured: dict[int, torch.Tensor] = {}
    hooks = [model.model[indices[k]].register_forward_hook(lambda m, args, out, k=k: captured.__setitem__(k, out))
             for k in present]
    at_square: list[list[np.ndarray]] = [[] for _ in indices]
    at_disc: list[list[np.ndarray]] = [[] for _ in indices]
    classes, chosen = [], []

    def cell(fmap: torch.Tensor, b: int, x: float, y: float) -> np.ndarray:
        h, w = fmap.shape[-2:]
        return fmap[b, :, min(int(y * h), h - 1), min(int(x * w), w - 1)].numpy()

    try:
        for start in range(0, len(images), batch):
            files = images[start:start + batch]
            pixels, _ = letterbox_batch([read_image(p) for p in files], imgsz, int(model.stride.max()))
            model(pixels.float() / 255)
            logits = model.head.cv3[1](captured[LAYERS.index("P4 head input")])
            for b, path in enumerate(files):
                for cls, cx, cy, *_ in read_label_file(img2label_path(path), model.head.nc).labels:
                    if cls >= len(CONTEXT_NAMES):  # a marker's own row (synthetic-context-marked)
                        continue
                    for k in present:
                        at_square[k].append(cell(captured[k], b, cx, cy))
                        at_disc[k].append(cell(captured[k], b, cx + CONTEXT_DISTANCE, cy))
                    classes.append(int(cls))
                    chosen.append(int(cell(logits, b, cx, cy)[:len(CONTEXT_NAMES)].argmax()))
    finally:
        for hook in hooks:
            hook.remove()
    def stacked(features: list[list[np.ndarray]]) -> list[np.ndarray | None]:
        return [np.stack(features[k]) if k in present else None for k in range(len(indices))]

    return stacked(at_square), stacked(at_disc), np.array(classes), np.array(chosen)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("weights", nargs="+", help="checkpoints trained on the set, or config names (untrained)")
    parser.add_argument("--data", default="synthetic-context", help="synthetic-context or synthetic-context-marked")
    parser.add_argument("--imgsz", type=int, default=160)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    data = load_data_config(args.data)
    header = ["checkpoint", *LAYERS, "head's choice", *(f"{name} at the disc" for name in LAYERS), "squares"]
    print(" | ".join(header))
    for weights in args.weights:
        if Path(weights).is_file():
            model = model_from_checkpoint(read_checkpoint(weights)).eval()
        else:  # a config name: the untrained model (seed 0), the probe's reference
            torch.manual_seed(0)
            model = build_model(weights, nc=data.nc).eval()
            weights = f"{weights} (untrained)"
        train_sq, train_disc, train_y, _ = square_features(model, data.train, args.imgsz)
        val_sq, val_disc, val_y, chosen = square_features(model, data.val, args.imgsz)
        def accuracies(train: list[np.ndarray | None], val: list[np.ndarray | None]) -> list[str]:
            return ["-" if a is None else f"{probe_accuracy(a, train_y, b, val_y):.3f}" for a, b in zip(train, val)]

        print(" | ".join([str(weights), *accuracies(train_sq, val_sq), f"{np.mean(chosen == val_y):.3f}",
                          *accuracies(train_disc, val_disc), f"{len(train_y)} / {len(val_y)}"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
