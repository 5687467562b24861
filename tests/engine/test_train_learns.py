"""Acceptance: training learns. A 1M-parameter GELAN with a focal block, trained from scratch on the built-in
synthetic shapes on one CPU thread, goes from mAP50 ~0 to >= 0.45 on held-out synthetic images within minutes; the
same model with a Segment head, on the shapes' outlines, from mask mAP50 ~0 to >= 0.4; with a DPose head, on the
shapes' tips and corners, from pose mAP50 ~0 to >= 0.4; the packaged focal classifier
gelan-t-cls-focal, on one shape per image, from top-1 ~0.2 (chance) to >= 0.9; with a DOBB head, on rotated ships,
planes and vehicles, from rotated mAP50 ~0 to >= 0.75.

Detection. The recipe (``learning-recipe.yaml`` next to this file): 200 synthetic images at 128 px, 36 epochs in
batches of 8 (900 steps), AdamW and the packaged ``hyp.cpu-short.yaml`` (lr 0.006 decaying linearly to 0.0006
after 3 warmup epochs, no mosaic/mixup, scale jitter 0.3), validation every 12 epochs, data loaded in the training
process, one torch thread (the default on a 2-core machine, and the same result whatever the core count).

Spread, measured 2026-12-05 on a 2-core AMD EPYC (torch 2.14.1) with
``python benchmarks/learning_spread.py --seeds 0,1,2,3,4 --isa native,avx2 --threads 1 --parallel 2``: final
mAP50 for seeds 0 / 1 / 2 / 3 / 4 with AVX-512 kernels 0.522 / 0.510 / 0.530 / 0.508 / 0.543, with AVX2 kernels
(what an AVX2-only CPU runs) 0.528 / 0.517 / 0.513 / 0.538 / 0.528; all ten: mean 0.524, sample sd 0.012, range
0.508-0.543 (pycocotools AP50 the same to 0.001). The bar, 0.45, is 6 sd below the mean and 0.058 below the worst
run. Another machine's rounding moves this seed's run like a draw from that spread (this test's seed 0: 0.522
AVX-512, 0.528 AVX2). About 120-130 s per run two at a time. The recipe had 45 epochs until then (mean 0.580, sd
0.033, range 0.538-0.646, 150-164 s per run; benchmarks.md has those runs): under the suite beside another job
that took 235-251 s, past the 4-minute budget of a learning test.

Segmentation. The recipe (``learning-recipe-seg.yaml``): the model ``tiny-gelan-seg-focal.yaml`` (1.2M parameters:
a plain-Detect Segment head, 16 coefficients, 32 prototype channels), 200 synthetic-seg images at 128 px, 30
epochs (750 steps; a step costs ~1.3x detection's), otherwise as detection.

Spread, measured 2026-12-01 on the same machine with ``python benchmarks/learning_spread.py --task segment --seeds
0,1,2,3,4 --isa native,avx2 --threads 1 --parallel 2``: final mask mAP50 for seeds 0 / 1 / 2 / 3 / 4 with AVX-512
kernels 0.688 / 0.662 / 0.590 / 0.684 / 0.630 (mean 0.651), with AVX2 kernels 0.686 / 0.630 / 0.602 / 0.677 / 0.582
(mean 0.635); all ten: mean 0.643, sample sd 0.042, range 0.582-0.688 (pycocotools segm AP50 0.586-0.693). The bar,
0.4, is 0.243 (5.8 sd) below the mean and 0.182 below the worst run. About 150-170 s per run. With per-sample
augmentation seeds and the new validation letterbox (2026-12-04): 0.609 / 0.573 / 0.573 / 0.618 / 0.595 (AVX-512),
0.585 / 0.562 / 0.597 / 0.671 / 0.561 (AVX2); mean 0.594, sd 0.033; the bar is 0.161 below the worst run.

Pose. The recipe (``learning-recipe-pose.yaml``): the model ``tiny-gelan-pose-focal.yaml`` (the detection model with
a DPose head), 200 synthetic-pose images at 128 px (stars and houses, 5 keypoints each), 10 epochs (250 steps),
otherwise as detection.

Spread, measured 2026-12-01 on the same machine with ``python benchmarks/learning_spread.py --task pose --seeds
0,1,2,3,4 --isa native,avx2 --threads 1 --parallel 2``: final pose mAP50 (OKS-matched) for seeds 0 / 1 / 2 / 3 / 4
with AVX-512 kernels 0.847 / 0.786 / 0.857 / 0.848 / 0.870 (mean 0.842), with AVX2 kernels 0.824 / 0.868 / 0.891 /
0.869 / 0.845 (mean 0.859); all ten: mean 0.851, sample sd 0.029, range 0.786-0.891; pycocotools keypoint AP50-95
0.674-0.769 (mean 0.731, sd 0.027). The bars: 0.4 for pose mAP50 and keypoint AP50 (0.39 below the worst run), 0.5
for keypoint AP50-95 (0.17, 6 sd, below the worst run). About 55 s per run two at a time. With per-sample
augmentation seeds, the keypoint loss averaged over every matched object and the new validation letterbox
(2026-12-04): pose mAP50 0.761-0.889 over the same ten runs (mean 0.836), keypoint AP50-95 0.654-0.765; the bars
stay 0.36 and 0.15 below the worst run.

Classification. The recipe (``learning-recipe-cls.yaml``): the packaged ``gelan-t-cls-focal`` (1.04M parameters
with 5 classes), 1,000 synthetic-cls images of 96 px cropped to 64 px, 15 epochs of 63 steps (batch 16), the same
hyp, validation every 5 epochs, top-1 on 250 held-out images.

Spread, measured 2026-12-01 on the same machine with ``python benchmarks/learning_spread.py --task classify --seeds
0,1,2,3,4 --isa native,avx2 --threads 1 --parallel 2``: final top-1 for seeds 0 / 1 / 2 / 3 / 4 with AVX-512 kernels
0.976 / 0.992 / 0.996 / 0.992 / 0.976 (mean 0.986), with AVX2 kernels 0.992 / 0.992 / 1.000 / 0.996 / 0.980 (mean
0.992); all ten: mean 0.989, sample sd 0.009, range 0.976-1.000. The bar, 0.9, is 0.089 (10 sd) below the mean and
0.076 below the worst run. About 95-115 s per run two at a time. With per-sample augmentation seeds (2026-12-04,
``--seeds 0,1,2,3,4 --isa native,avx2``): AVX-512 0.932 / 0.976 / 0.988 / 0.992 / 0.996, AVX2 0.996 / 0.996 / 0.992
/ 0.996 / 1.000; all ten: mean 0.986, sd 0.020, range 0.932-1.000. The bar is 4.3 sd below the mean, and this
test's seed 0 with AVX-512 kernels, the lowest run, clears it by 0.032.

Oriented boxes. The recipe (``learning-recipe-obb.yaml``): the model ``tiny-gelan-obb-focal.yaml`` (the detection
model with a DOBB head, 3 classes), 200 synthetic-obb images at 128 px, 22 epochs (550 steps, validation every 11),
otherwise as detection; rotated mAP50 by the exact rotated IoU.

Spread, measured 2026-12-05 on the same machine with ``python benchmarks/learning_spread.py --task obb --seeds
0,1,2,3,4 --isa native,avx2 --threads 1 --parallel 2`` (synthetic-obb v2, drawn by pixel coverage): final rotated
mAP50 for seeds 0 / 1 / 2 / 3 / 4 with AVX-512 kernels 0.872 / 0.831 / 0.888 / 0.875 / 0.889, with AVX2 kernels
0.896 / 0.857 / 0.898 / 0.885 / 0.824; all ten: mean 0.872, sd 0.026, range 0.824-0.898 (mAP50-95 0.380-0.430). The
bar, 0.75, is 0.074 below the worst run. About 105-120 s per run (with the quarter turn) two at a time. The recipe
had 30 epochs until then (mean 0.946, range 0.918-0.964): under the suite beside another job that took 198-255 s,
past the 4-minute budget of a learning test.

The same test turns 1,000 held-out synthetic-obb images (seed 7; :mod:`quarter_turn`) and their labels a quarter
turn (lossless PNGs both ways) and asserts the rotated mAP50 moves by at most 0.01. Over the ten spread models the
change was +0.002 / -0.001 / -0.002 / +0.007 / -0.005 (AVX-512, seeds 0-4) and +0.007 / -0.007 / +0.004 / +0.001 /
+0.005 (AVX2): mean +0.001, no direction, the noise of a network that is not exactly equivariant (strided
convolutions sample a turned image at other phases), 0.003 inside the tolerance at worst. With the 30-epoch recipe
the changes were within 0.0054, and on the first 300 of the images twice as wide (-0.011 to +0.014), hence the
1,000. About 40-60 s for the two evaluations.

The wall times are reported (and in pytest's slowest-test list), not asserted.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import yaml
from quarter_turn import quarter_turn_scores

from focalyolo.cfg import TrainConfig
from focalyolo.data import generate_synthetic
from focalyolo.engine.evaluation import evaluate
from focalyolo.engine.trainer import Trainer

HERE = Path(__file__).parent
BAR_OBB = 0.75  # the OBB run's rotated mAP50 bar (see the module docstring)
ROTATION_TOLERANCE = 0.01  # how far a quarter turn may move the OBB run's rotated mAP50 (see the module docstring)


def learn(tmp_path: Path, model: str, recipe: str) -> tuple[dict[str, Any], dict[str, Any], float]:
    """Train ``model`` (a file next to this one, or a packaged config) by ``recipe`` (a file next to this one):
    metrics of the untrained model, the final metrics (best.pt, with pycocotools for detection) and the seconds it
    took."""
    steps = yaml.safe_load((HERE / recipe).read_text())
    data = generate_synthetic(tmp_path / "data", **steps["data"])
    source = HERE / model if (HERE / model).is_file() else model
    cfg = TrainConfig(model=str(source), data=str(data), project=str(tmp_path / "runs"), plots=False,
                      verbose=False, **steps["train"])
    start = time.perf_counter()
    trainer = Trainer(cfg)
    before = evaluate(trainer.model, trainer.val_loader, names=trainer.data.names, verbose=False)
    trainer.train()
    return before, trainer.final_metrics, time.perf_counter() - start


def test_tiny_focal_model_learns_synthetic_shapes(tmp_path: Path, record_property) -> None:
    before, after, seconds = learn(tmp_path, "tiny-gelan-focal.yaml", "learning-recipe.yaml")
    record_property("learning",
                    f"learning test: mAP50 {before['metrics/mAP50(B)']:.3f} -> {after['metrics/mAP50(B)']:.3f} "
                    f"(COCO AP50 {after['coco/AP50']:.3f}, AP50-95 {after['coco/AP50-95']:.3f}) in {seconds:.0f} s")
    assert before["metrics/mAP50(B)"] < 0.02
    assert after["metrics/mAP50(B)"] >= 0.45
    assert after["coco/AP50"] >= 0.45  # pycocotools agrees


def test_tiny_focal_segmentation_model_learns_synthetic_outlines(tmp_path: Path, record_property) -> None:
    before, after, seconds = learn(tmp_path, "tiny-gelan-seg-focal.yaml", "learning-recipe-seg.yaml")
    record_property("learning",
                    f"segmentation learning test: mask mAP50 {before['metrics/mAP50(M)']:.3f} -> "
                    f"{after['metrics/mAP50(M)']:.3f} (COCO segm AP50 {after['coco/AP50(M)']:.3f}, AP50-95 "
                    f"{after['coco/AP50-95(M)']:.3f}; box mAP50 {after['metrics/mAP50(B)']:.3f}) in {seconds:.0f} s")
    assert before["metrics/mAP50(M)"] < 0.02
    assert after["metrics/mAP50(M)"] >= 0.4
    assert after["coco/AP50(M)"] >= 0.4  # pycocotools agrees


def test_tiny_focal_pose_model_learns_synthetic_keypoints(tmp_path: Path, record_property) -> None:
    before, after, seconds = learn(tmp_path, "tiny-gelan-pose-focal.yaml", "learning-recipe-pose.yaml")
    record_property("learning",
                    f"pose learning test: pose mAP50 {before['metrics/mAP50(P)']:.3f} -> "
                    f"{after['metrics/mAP50(P)']:.3f} (COCO keypoints AP50 {after['coco/AP50(P)']:.3f}, AP50-95 "
                    f"{after['coco/AP50-95(P)']:.3f}; box mAP50 {after['metrics/mAP50(B)']:.3f}) in {seconds:.0f} s")
    assert before["metrics/mAP50(P)"] < 0.02
    assert after["metrics/mAP50(P)"] >= 0.4
    assert after["coco/AP50(P)"] >= 0.4  # pycocotools agrees
    assert after["coco/AP50-95(P)"] >= 0.5  # and the keypoints are placed precisely, not just near their objects


def test_tiny_focal_classifier_learns_synthetic_shapes(tmp_path: Path, record_property) -> None:
    before, after, seconds = learn(tmp_path, "gelan-t-cls-focal", "learning-recipe-cls.yaml")
    record_property("learning",
                    f"classification learning test: top-1 {before['metrics/accuracy_top1']:.3f} -> "
                    f"{after['metrics/accuracy_top1']:.3f} (top-5 {after['metrics/accuracy_top5']:.3f}) in "
                    f"{seconds:.0f} s")
    assert before["metrics/accuracy_top1"] < 0.4  # five balanced classes: chance is 0.2
    assert after["metrics/accuracy_top1"] >= 0.9


def test_tiny_focal_obb_model_learns_synthetic_obb(tmp_path: Path, record_property) -> None:
    """The OBB run learns; and a quarter turn of the val images and labels leaves its rotated mAP50 within
    ROTATION_TOLERANCE."""
    before, after, seconds = learn(tmp_path, "tiny-gelan-obb-focal.yaml", "learning-recipe-obb.yaml")
    turn = time.perf_counter()
    upright, turned = quarter_turn_scores(next((tmp_path / "runs").glob("*/weights/best.pt")), tmp_path)
    record_property("learning",
                    f"OBB learning test: rotated mAP50 {before['metrics/mAP50(B)']:.3f} -> "
                    f"{after['metrics/mAP50(B)']:.3f} (mAP50-95 {after['metrics/mAP50-95(B)']:.3f}; a quarter turn: "
                    f"mAP50 {upright:.4f} -> {turned:.4f} in {time.perf_counter() - turn:.0f} s) in {seconds:.0f} s")
    assert before["metrics/mAP50(B)"] < 0.02
    assert after["metrics/mAP50(B)"] >= BAR_OBB
    assert abs(turned - upright) <= ROTATION_TOLERANCE
