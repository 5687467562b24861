"""The export check holds an export to a stated tolerance and warns in one line when it is exceeded.

An NMS graph is compared as detections: near-equal scores listed in another order, or a near-tie broken the other
way, pass; a wrong score, a detection PyTorch does not give, or one that is none of PyTorch's predictions, fail.
End to end: the NMS export of a model whose many detections have near-equal scores passes (its raw tensors differ
by whole boxes), and a graph that computes something else than the module it was traced from gets one warning.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn as nn

from focalyolo import build_model
from focalyolo.deploy.check import FP32, compare_detections, compare_outputs
from focalyolo.deploy.export import export_onnx, log_check, onnx_check, write_onnx
from focalyolo.deploy.onnx_model import ExportedModel
from focalyolo.errors import FocalYoloError

NMS = (0.25, 0.7, 5)  # conf, iou, max_det


def _rows(*detections: tuple) -> np.ndarray:
    """(1, max_det, 6) detections and (1,) count from (x1, y1, x2, y2, score, class) tuples."""
    out = np.zeros((1, NMS[2], 6), np.float32)
    out[0, : len(detections)] = detections
    return out, np.array([len(detections)])


def _predictions(*detections: tuple, nc: int = 3) -> np.ndarray:
    """(1, 4 + nc, A) raw predictions with one anchor per detection (xywh, one-hot-ish class scores)."""
    preds = np.zeros((1, 4 + nc, len(detections)), np.float32)
    for a, (x1, y1, x2, y2, score, cls) in enumerate(detections):
        preds[0, :4, a] = ((x1 + x2) / 2, (y1 + y2) / 2, x2 - x1, y2 - y1)
        preds[0, 4 + int(cls), a] = score
    return preds


A = (0, 0, 10, 10, 0.9, 0)
B = (20, 20, 30, 30, 0.8, 1)
C = (40, 0, 50, 10, 0.5, 0)
C_TWIN = (41, 0, 51, 10, 0.5002, 0)  # overlaps C above the NMS IoU, with a near-equal score


def _compare(got: tuple, want: tuple, candidates: tuple) -> tuple[bool, str]:
    result = compare_detections([*_rows(*got)], [*_rows(*want)], _predictions(*candidates), 3, NMS, FP32)
    return result.ok, result.line


def test_reordered_rows_and_a_near_tie_broken_the_other_way_pass():
    ok, line = _compare((B, A, C_TWIN), (A, B, C), (A, B, C, C_TWIN))
    assert ok and line == "3 detection(s) match PyTorch's"


def test_a_near_tie_at_conf_or_at_the_max_det_cut_passes():
    at_conf = (60, 60, 70, 70, NMS[0] + 0.0005, 2)
    assert _compare((A, B), (A, B, at_conf), (A, B, at_conf))[0]
    full = [(10 * k, 40, 10 * k + 8, 48, 0.6, 2) for k in range(NMS[2])]
    cut = (60, 60, 70, 70, 0.6003, 2)  # the export kept it, PyTorch cut the last of five near-equal ones
    assert _compare((*full[:4], cut), full, (*full, cut))[0]


def test_a_wrong_score_an_extra_detection_or_a_made_up_box_fail_naming_the_largest():
    wrong = (A[:4] + (0.88, 0))
    ok, line = _compare((wrong, B), (A, B), (A, wrong, B))  # a score PyTorch gives elsewhere, not for this box
    assert not ok and line.endswith("largest: class 0 detection: score 0.88 vs PyTorch's 0.9")
    ok, line = _compare((A[:4] + (0.7, 0), B), (A, B), (A, B))
    assert not ok and "scoring 0.7 that is none of PyTorch's predictions" in line
    ok, line = _compare((A, B, C), (A, B), (A, B, C))
    assert not ok and "class 0 detection scoring 0.5 that PyTorch does not give" in line
    shifted = (3, 0, 13, 10, 0.9, 0)  # A's score, a box no anchor predicts
    ok, line = _compare((shifted, B), (A, B), (A, B))
    assert not ok and line.startswith("3 difference(s)")  # made up, missing from PyTorch's, A missing from its
    ok, line = _compare((A, B), (A, B), (A[:4] + (0.7, 0), B))
    assert not ok and line.endswith("largest: a class 0 detection scoring 0.9 that is none of PyTorch's predictions")


def test_raw_outputs_are_held_to_atol_plus_rtol():
    want = np.array([[100.0, 0.5]])
    assert compare_outputs([want + [[0.05, 0.0005]]], [want], ["output0"], FP32).ok
    result = compare_outputs([want + [[0.2, 0.0]]], [want], ["output0"], FP32)
    assert not result.ok and result.line.endswith("output0 differs by 0.2 where PyTorch gives 100")


def test_nms_export_of_near_equal_scores_passes_the_check(perturb, focalyolo_log, tmp_path):
    """An untrained model at conf 0: every anchor a candidate, scores equal to 1e-7 (its raw tensors differ by whole
    boxes between onnxruntime and PyTorch, 104 px measured)."""
    torch.manual_seed(0)
    model = perturb(build_model("gelan-t", nc=3)).eval()
    export_onnx(model, tmp_path / "m-nms.onnx", imgsz=64, nms=(0.0, 0.7, 300))
    lines = [r.getMessage() for r in focalyolo_log if "check" in r.getMessage()]
    assert len(lines) == 1 and "detection(s) match PyTorch's" in lines[0] and "within the tolerance" in lines[0]
    assert not [r for r in focalyolo_log if r.levelno >= logging.WARNING]


class Skewed(nn.Module):
    """A detector (one anchor per 8x8 patch, 3 classes) whose traced graph adds ``skew`` to every class score: the
    exported file computes something else than the module does when it runs."""

    task, nc, names = "detect", 3, ["a", "b", "c"]

    def __init__(self, skew: float):
        super().__init__()
        self.skew = skew
        self.register_buffer("stride", torch.tensor([8.0]))
        self.patch = nn.Conv2d(3, 4 + self.nc, 1)
        with torch.no_grad():
            self.patch.weight.copy_(torch.randn(self.patch.weight.shape, generator=torch.Generator().manual_seed(1)))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        out = self.patch(nn.functional.avg_pool2d(images, 8))
        h, w = out.shape[2:]
        gy, gx = torch.meshgrid(torch.arange(h), torch.arange(w), indexing="ij")
        centre = (torch.stack((gx, gy)) + 0.5) * 8 + torch.tanh(out[:, :2]) * 4
        size = 8 + 16 * torch.sigmoid(out[:, 2:4])
        scores = torch.sigmoid(out[:, 4:]) * 0.6 + (self.skew if torch.jit.is_tracing() else 0.0)
        return torch.cat((centre, size, scores), 1).flatten(2)


def test_an_export_beyond_the_tolerance_gets_one_warning_naming_the_difference(focalyolo_log, tmp_path):
    example = torch.rand(1, 3, 64, 64, generator=torch.Generator().manual_seed(2))
    for nms, expected in ((None, "output0 differs by 0.3"), ((0.25, 0.7, 20), "difference(s) among PyTorch's")):
        focalyolo_log.clear()
        path = tmp_path / f"skewed-{nms is not None}.onnx"
        traced = write_onnx(Skewed(0.3).eval(), example, path, nms=nms)
        log_check("onnxruntime", onnx_check(path, traced, example, FP32), example, FP32)
        warnings = [r.getMessage() for r in focalyolo_log if r.levelno >= logging.WARNING]
        assert len(warnings) == 1 and "\n" not in warnings[0], warnings
        assert expected in warnings[0] and "beyond the tolerance (|difference| <= 0.001 + 0.001 x" in warnings[0]
    focalyolo_log.clear()
    path = tmp_path / "straight.onnx"
    traced = write_onnx(Skewed(0.0).eval(), example, path, nms=(0.25, 0.7, 20))
    log_check("onnxruntime", onnx_check(path, traced, example, FP32), example, FP32)
    assert [r.levelno for r in focalyolo_log] == [logging.INFO]


def test_an_exports_task_decides_its_output_layout_and_a_bad_record_is_one_line():
    """``output0``'s channels beyond box, classes and mask coefficients come from the recorded task (OBB: the angle;
    pose: the recorded ``kpt_shape``); an unknown task or a pose export without ``kpt_shape`` names the file."""
    exported = ExportedModel()
    exported.path = Path("m.onnx")
    exported.describe({"task": "obb"}, (1, 3, 64, 64), [4 + 2 + 1])
    assert exported.nc == 2
    exported.describe({"task": "pose", "kpt_shape": [5, 3]}, (1, 3, 64, 64), [4 + 1 + 15])
    assert exported.nc == 1
    with pytest.raises(FocalYoloError, match=r"^m.onnx: exported by a model of the unknown task 'depth'"):
        exported.describe({"task": "depth"}, (1, 3, 64, 64), [10])
    with pytest.raises(FocalYoloError, match=r"^m.onnx: a pose export whose metadata lacks 'kpt_shape'$"):
        exported.describe({"task": "pose"}, (1, 3, 64, 64), [20])
