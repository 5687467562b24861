"""``export --nms``: the ONNX graph ends in NonMaxSuppression, and onnxruntime's detections are those of
``focalyolo predict`` on the same images (boxes within 1e-3 px after undoing the letterbox, same classes, same order
of scores), for any batch size; a segmentation export carries the mask coefficients through NMS."""

from __future__ import annotations

import json

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from focalyolo import build_model
from focalyolo.cli import main
from focalyolo.data import generate_synthetic
from focalyolo.deploy.export import export_model, write_onnx
from focalyolo.deploy.onnx_model import OnnxModel
from focalyolo.engine.predictor import predict
from focalyolo.errors import FocalYoloError
from focalyolo.tasks import PredictSettings, get_task
from focalyolo.utils.nms import non_max_suppression, scale_boxes

CONF, IOU, MAX_DET = 0.3, 0.5, 6


class PatchDetector(nn.Module):
    """A stand-in detector with the eval interface of a Model whose scores are far apart: one anchor per
    8x8 patch, a 1x1 convolution of the patch's mean colour (plus a term that differs per cell, so the letterbox's
    grey padding does not make ties) decoded into a box of 8-40 px around the cell and ``nc`` class scores, then ``nm``
    carried values (with prototypes at stride 4 as a second output, like a segmentation model). A trained network
    would do, but a barely trained or random one gives nearly equal scores everywhere, and NMS may order ties either
    way."""

    def __init__(self, nc: int = 3, nm: int = 0):
        super().__init__()
        self.nc, self.nm, self.task = nc, nm, "segment" if nm else "detect"
        self.names = [f"class{i}" for i in range(nc)]
        self.register_buffer("stride", torch.tensor([8.0]))
        generator = torch.Generator().manual_seed(7)
        self.patch = nn.Conv2d(3, 4 + nc + nm, 1)
        self.proto = nn.Conv2d(3, nm, 1) if nm else None
        with torch.no_grad():
            self.patch.weight.copy_(torch.randn(self.patch.weight.shape, generator=generator) * 4)
            self.patch.bias.copy_(torch.randn(4 + nc + nm, generator=generator))

    def forward(self, images: torch.Tensor):
        out = self.patch(F.avg_pool2d(images, 8))
        b, _, h, w = out.shape
        gy = torch.arange(h, dtype=out.dtype)[:, None].expand(h, w)
        gx = torch.arange(w, dtype=out.dtype)[None].expand(h, w)
        out = out + (0.013 * gx + 0.007 * gy)  # every cell its own offset
        centre = (torch.stack((gx, gy)) + 0.5 + torch.tanh(out[:, :2])) * 8
        size = 8 * (1 + 4 * torch.sigmoid(out[:, 2:4]))
        preds = torch.cat((centre, size, torch.sigmoid(out[:, 4: 4 + self.nc]), out[:, 4 + self.nc:]), 1)
        preds = preds.flatten(2)
        return (preds, self.proto(F.avg_pool2d(images, 4))) if self.nm else preds


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return generate_synthetic(tmp_path_factory.mktemp("nms") / "data", n_train=1, n_val=6, imgsz=96, seed=5)


@pytest.fixture(scope="module")
def images(data, tmp_path_factory) -> list:
    """Six synthetic images and two non-square crops of them (the letterbox pads those)."""
    import cv2

    root = tmp_path_factory.mktemp("crops")
    paths = sorted((data.parent / "images" / "val").glob("*.jpg"))
    for k, (h, w) in enumerate(((96, 60), (50, 96))):
        crop = root / f"crop{k}.jpg"
        cv2.imwrite(str(crop), cv2.imread(str(paths[k]))[:h, :w])
        paths.append(crop)
    return paths


def onnx_detections(path, model, files, imgsz: int) -> list[np.ndarray]:
    """Per image (count, 6) rows of the NMS graph run by onnxruntime on predict's letterboxed batch, boxes mapped
    back to the original image."""
    import cv2

    frames = [cv2.imread(str(f)) for f in files]
    batch, ratio_pads = get_task("detect").preprocess(frames, PredictSettings(imgsz, int(model.stride.max())))
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    detections, count = session.run(["detections", "count"], {"images": batch.float().numpy() / 255})
    out = []
    for frame, rows, n, ratio_pad in zip(frames, detections, count, ratio_pads):
        rows = torch.from_numpy(rows[:n].copy())
        scale_boxes(tuple(batch.shape[2:]), rows[:, :4], frame.shape[:2], ratio_pad)
        out.append(rows.numpy())
    return out


def test_onnx_nms_equals_predict_for_any_batch(images, tmp_path):
    detector = PatchDetector().eval()
    path = tmp_path / "end2end.onnx"
    write_onnx(detector, torch.rand(1, 3, 96, 96), path, dynamic=True, nms=(CONF, IOU, MAX_DET))
    graph = onnx.load(str(path))
    assert "NonMaxSuppression" in {node.op_type for node in graph.graph.node}
    assert [o.name for o in graph.graph.output] == ["detections", "count"]
    meta = {p.key: p.value for p in graph.metadata_props}
    assert json.loads(meta["nms"]) == {"conf": CONF, "iou": IOU, "max_det": MAX_DET}
    results = list(predict(detector, images, imgsz=96, conf=CONF, iou=IOU, max_det=MAX_DET, batch=8))
    assert sum(len(r) for r in results) > 2 * len(images)  # NMS has work to do
    assert any(len(r) == MAX_DET for r in results)  # the cap is reached
    for size in (len(images), 1, 3):  # one batch of all, and the dynamic batch at other sizes
        got = [rows for k in range(0, len(images), size)
               for rows in onnx_detections(path, detector, images[k:k + size], 96)]
        for result, rows in zip(results, got):
            assert len(rows) == len(result)
            np.testing.assert_allclose(rows[:, :4], result.boxes.xyxy.numpy(), atol=1e-3)
            np.testing.assert_array_equal(rows[:, 5].astype(int), result.boxes.cls.numpy())
            np.testing.assert_allclose(rows[:, 4], result.boxes.conf.numpy(), atol=1e-5)
            assert (np.diff(rows[:, 4]) <= 0).all()


def test_segmentation_nms_export_carries_the_mask_coefficients(tmp_path):
    detector = PatchDetector(nm=4).eval()
    path = tmp_path / "seg.onnx"
    write_onnx(detector, torch.rand(1, 3, 64, 64), path, dynamic=True, nms=(CONF, IOU, MAX_DET))
    x = torch.rand(2, 3, 64, 96)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    assert [o.name for o in session.get_outputs()] == ["detections", "count", "output1"]
    detections, count, protos = session.run(None, {"images": x.numpy()})
    with torch.no_grad():
        predictions, want_protos = detector(x)
    want = non_max_suppression(predictions, CONF, IOU, max_det=MAX_DET, nm=4)
    assert detections.shape[2] == 6 + 4 and count.tolist() == [len(w) for w in want] and min(count) > 0
    for rows, n, expected in zip(detections, count, want):
        np.testing.assert_allclose(rows[:n], expected.numpy(), atol=1e-3)
        assert not rows[n:].any()
    np.testing.assert_allclose(protos, want_protos.numpy(), atol=1e-3)


def test_nms_export_options_are_checked(tiny_dual, tmp_path, capsys):
    with pytest.raises(FocalYoloError, match="--nms needs --format onnx"):
        export_model(tiny_dual, "torchscript", tmp_path / "m", imgsz=64, nms=(CONF, IOU, MAX_DET))
    with pytest.raises(FocalYoloError, match="--nms needs --format onnx"):
        export_model(build_model("gelan-t-cls", nc=3), "onnx", tmp_path / "c", imgsz=64, nms=(CONF, IOU, MAX_DET))
    assert main(["export", "--model", "gelan-t", "--imgsz", "64", "--nms", "--conf", "0.3", "--max-det", "7",
                 "--output", str(tmp_path / "cli")]) == 0
    session = ort.InferenceSession(str(tmp_path / "cli.onnx"), providers=["CPUExecutionProvider"])
    assert session.get_outputs()[0].shape == [1, 7, 6]
    assert json.loads(session.get_modelmeta().custom_metadata_map["nms"])["conf"] == 0.3
    with pytest.raises(FocalYoloError, match="exported with --nms.*take an export without --nms"):
        OnnxModel(tmp_path / "cli.onnx")
