"""The quarter-turn check of the OBB learning run, shared by its test (``test_train_learns.py``) and its spread
(``benchmarks/learning_spread.py --task obb``): a trained model validated on held-out synthetic-obb images as they
are and turned a quarter clockwise, images and labels together."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import yaml

from focalyolo import YOLO
from focalyolo.data import generate_synthetic

HELD_OUT = {"n_train": 0, "n_val": 1000, "imgsz": 128, "seed": 7, "name": "synthetic-obb"}
"""The held-out set: 1,000 synthetic-obb val images at the recipe's size, a seed no recipe trains on (on 300 the
change under a quarter turn is noise of up to 0.014; see ``test_train_learns.py``)."""


def quarter_turned_val_sets(data: Path, out: Path) -> tuple[Path, Path]:
    """The val split of a built-in OBB set twice, as lossless PNGs: as it is, and turned a quarter clockwise (images
    and their OBB rows: x' = 1 - y, y' = x, in the labels' coordinates, where 0 and 1 are the image's edges);
    returns the two data YAMLs."""
    names = yaml.safe_load(data.read_text())["names"]
    yamls = []
    for name, turn in (("upright", False), ("turned", True)):
        root = out / name
        (root / "images").mkdir(parents=True)
        (root / "labels").mkdir()
        for image in sorted((data.parent / "images" / "val").glob("*.jpg")):
            pixels = cv2.imread(str(image))
            cv2.imwrite(str(root / "images" / f"{image.stem}.png"),
                        cv2.rotate(pixels, cv2.ROTATE_90_CLOCKWISE) if turn else pixels)
            rows = np.loadtxt(data.parent / "labels" / "val" / f"{image.stem}.txt", ndmin=2)
            corners = rows[:, 1:].reshape(-1, 4, 2)
            if turn:
                corners = np.stack((1 - corners[..., 1], corners[..., 0]), -1)
            (root / "labels" / f"{image.stem}.txt").write_text(
                "".join(f"{int(c)} " + " ".join(f"{v:.6f}" for v in xy.reshape(-1)) + "\n"
                        for c, xy in zip(rows[:, 0], corners)))
        yamls.append(root / "data.yaml")
        yamls[-1].write_text(yaml.safe_dump({"path": str(root), "train": "images", "val": "images", "names": names}))
    return yamls[0], yamls[1]


def quarter_turn_scores(weights: Path, out: Path, images: int = HELD_OUT["n_val"]) -> tuple[float, float]:
    """Rotated mAP50 of ``weights`` on the :data:`HELD_OUT` set (its first ``images`` images) upright and turned a
    quarter (files under ``out``)."""
    model = YOLO(str(weights))
    held_out = generate_synthetic(out / "held-out", **{**HELD_OUT, "n_val": images})
    upright, turned = quarter_turned_val_sets(held_out, out / "quarter")
    scores = [model.val(data=str(d), imgsz=HELD_OUT["imgsz"], batch=16, workers=0, device="cpu", plots=False,
                        verbose=False, project=str(out / "val"), name=d.parent.name)["metrics/mAP50(B)"]
              for d in (upright, turned)]
    return scores[0], scores[1]
