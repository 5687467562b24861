"""predict(): sources (folder, glob, video, corrupt files), boxes back in original pixels, Result helpers, CLI."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
import torch.nn as nn

from focalyolo.cfg import PredictConfig
from focalyolo.cli import main
from focalyolo.engine.predictor import PredictRun, expand_source, predict
from focalyolo.errors import DataError
from focalyolo.models import build_model
from focalyolo.tasks.detect import DetectResult
from focalyolo.weights.checkpoint import save_checkpoint

NAMES = ["red", "green"]
# (h, w) of the test images and the red rectangle (x1, y1, x2, y2) drawn in each
IMAGES = {"a.jpg": ((60, 100), (10, 20, 50, 45)), "b.png": ((120, 70), (5, 60, 60, 110)),
          "c.png": ((90, 90), (30, 30, 80, 60))}


@pytest.fixture(autouse=True)
def _work_in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Run in tmp_path (default run folders land there) with a private $FOCALYOLO_HOME."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("FOCALYOLO_HOME", str(tmp_path / "home"))


def red_image(h: int, w: int, box: tuple[int, int, int, int]) -> np.ndarray:
    img = np.zeros((h, w, 3), np.uint8)
    x1, y1, x2, y2 = box
    img[y1:y2, x1:x2] = (0, 0, 255)
    return img


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """Three images of different shapes, one corrupt .jpg and one non-image file."""
    d = tmp_path / "imgs"
    d.mkdir()
    for name, ((h, w), box) in IMAGES.items():
        cv2.imwrite(str(d / name), red_image(h, w, box))
    (d / "broken.jpg").write_bytes(b"\xff\xd8 not really a jpeg")
    (d / "notes.txt").write_text("ignored")
    return d


@pytest.fixture
def video(tmp_path: Path) -> Path:
    """A 5-frame 64x80 video (mp4v .mp4, or MJPG .avi where mp4v cannot be written)."""
    for name, codec in (("clip.mp4", "mp4v"), ("clip.avi", "MJPG")):
        path = tmp_path / name
        writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*codec), 10.0, (80, 64))
        if writer.isOpened():
            for i in range(5):
                writer.write(red_image(64, 80, (5 + 5 * i, 10, 40 + 5 * i, 50)))
            writer.release()
            return path
    pytest.skip("OpenCV cannot write mp4v or MJPG video here")


@pytest.fixture
def checkpoint(tmp_path: Path) -> Path:
    model = build_model("gelan-t", nc=len(NAMES))
    data = {"model_yaml": model.copy_config(), "names": NAMES, "model": model.state_dict(), "ema": None}
    return save_checkpoint(data, tmp_path / "w.pt")


class RedFinder(nn.Module):
    """Predicts one box per image: the extent of the red pixels in the network input, class 0, score 0.9.
    A detector in all but its layers: it says its task, as exported models do."""

    task = "detect"

    def __init__(self) -> None:
        super().__init__()
        self.names, self.nc = list(NAMES), len(NAMES)
        self.stride = torch.tensor([8.0, 16.0, 32.0])
        self.dummy = nn.Parameter(torch.zeros(1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        red = (x[:, 0] > 0.5) & (x[:, 1] < 0.3) & (x[:, 2] < 0.3)  # input is RGB in [0, 1]
        out = torch.zeros(len(x), 4 + self.nc, 1)
        for i, mask in enumerate(red):
            ys, xs = mask.nonzero(as_tuple=True)
            x1, y1, x2, y2 = xs.min(), ys.min(), xs.max() + 1, ys.max() + 1
            out[i, :4, 0] = torch.stack(((x1 + x2) / 2, (y1 + y2) / 2, x2 - x1, y2 - y1)).float()
            out[i, 4, 0] = 0.9
        return out


def test_boxes_come_back_in_original_pixels(folder: Path, tmp_path: Path) -> None:
    skipped = []
    results = list(predict(RedFinder(), folder, imgsz=64, batch=3, on_skip=lambda p, why: skipped.append(p)))
    assert [Path(r.path).name for r in results] == ["a.jpg", "b.png", "c.png"]
    assert [Path(p).name for p in skipped] == ["broken.jpg"]
    for r in results:
        (h, w), box = IMAGES[Path(r.path).name]
        assert r.orig_shape == (h, w) and r.frame is None and r.boxes.cls.tolist() == [0]
        # input scale is 64 / long side, so one input pixel is up to 2 original pixels, plus resize blur
        np.testing.assert_allclose(r.boxes.xyxy[0].numpy(), box, atol=3)
    assert not (tmp_path / "runs").exists()  # the Python API writes nothing


def test_result_helpers() -> None:
    img = red_image(50, 100, (10, 10, 60, 40))
    r = DetectResult("x/im.jpg", None, (50, 100), torch.tensor([[10.0, 10.0, 60.0, 40.0]]), torch.tensor([0.875]),
               torch.tensor([1]), NAMES, img)
    assert r.to_txt_rows() == ["1 0.350000 0.500000 0.500000 0.600000 0.87500"]
    assert r.to_coco(7) == [{"image_id": 7, "category_id": 1, "bbox": [10.0, 10.0, 50.0, 30.0], "score": 0.875}]
    drawn = r.plot()
    assert drawn.shape == img.shape and (drawn != img).any() and (img[0, 0] == 0).all()  # a copy was drawn on
    assert r.label(0) == "green 0.88"


def test_predict_api_with_random_model(folder: Path) -> None:
    model = build_model("gelan-t", nc=len(NAMES))
    results = list(predict(model, str(folder / "*.png"), imgsz=64, conf=0.0, max_det=5))
    assert len(results) == 2 and all(isinstance(r, DetectResult) for r in results)
    for r in results:
        h, w = r.orig_shape
        xyxy = r.boxes.xyxy
        assert len(r) == 5 and xyxy.shape == (5, 4) and r.boxes.conf.shape == (5,)
        assert (xyxy[:, 0::2] <= w).all() and (xyxy[:, 1::2] <= h).all() and (xyxy >= 0).all()
        assert set(r.speed) == {"preprocess", "inference", "postprocess"}


def test_predict_rounds_a_size_off_the_stride_up_with_one_warning(folder: Path, focalyolo_log) -> None:
    job = PredictRun(PredictConfig(model="gelan-t", source=str(folder / "*.png"), imgsz=50, save=False, verbose=False))
    results = list(job)
    assert job.cfg.imgsz == 64 and len(results) == 2
    warned = [r.getMessage() for r in focalyolo_log if r.levelname == "WARNING"]
    assert warned.count("imgsz 50 is not a multiple of the model's stride 32: using 64") == 1


def test_expand_source_errors(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="no such file"):
        expand_source(tmp_path / "missing")
    with pytest.raises(DataError, match="no images or videos"):
        expand_source(str(tmp_path / "*.jpg"))


def test_predict_cli_folder(folder: Path, checkpoint: Path, capsys) -> None:
    code = main(["predict", "--model", str(checkpoint), "--source", str(folder), "--imgsz", "64", "--conf", "0",
                 "--max-det", "3", "--device", "cpu", "--save-txt", "--save-json"])
    assert code == 0
    run = Path("runs/predict/exp")
    assert sorted(p.name for p in run.iterdir()) == ["a.jpg", "b.png", "c.png", "labels", "predictions.json"]
    assert cv2.imread(str(run / "b.png")).shape == (120, 70, 3)
    rows = (run / "labels" / "a.txt").read_text().splitlines()
    assert len(rows) == 3 and len(rows[0].split()) == 6
    assert {r["image_id"] for r in json.loads((run / "predictions.json").read_text())} == {"a", "b", "c"}
    captured = capsys.readouterr()
    assert "3 images, 0 video frames, 1 skipped" in captured.out and "ms/image" in captured.out
    assert "broken.jpg" in captured.err


def test_predict_cli_video(video: Path, capsys) -> None:
    assert main(["predict", "--model", "gelan-t", "--source", str(video), "--imgsz", "64", "--conf", "0",
                 "--max-det", "2", "--device", "cpu", "--save-txt"]) == 0
    out = Path("runs/predict/exp") / f"{video.stem}.mp4"
    capture = cv2.VideoCapture(str(out))
    frames = 0
    while capture.read()[0]:
        frames += 1
    capture.release()
    assert frames == 5
    assert len(list(Path("runs/predict/exp/labels").glob(f"{video.stem}_*.txt"))) == 5
    assert "0 images, 5 video frames, 0 skipped" in capsys.readouterr().out


def test_checkpoints_load_in_deployment_form(tmp_path: Path, tiny_model_yaml: Path) -> None:
    """A dual-head checkpoint loads converted to GELAN, fused and channels-last, predicting what its main
    branch predicts."""
    from focalyolo.deploy.inference import load_inference_model
    from focalyolo.weights.convert import is_fused

    torch.manual_seed(0)
    model = build_model(str(tiny_model_yaml)).eval()
    ckpt = save_checkpoint({"model_yaml": model.copy_config(), "names": [str(i) for i in range(5)],
                            "model": model.state_dict(), "ema": None}, tmp_path / "dual.pt")
    loaded = load_inference_model(ckpt, "cpu")
    assert model.is_dual and not loaded.is_dual and is_fused(loaded) and not loaded.training
    assert any(p.dim() == 4 and not p.is_contiguous() and p.is_contiguous(memory_format=torch.channels_last)
               for p in loaded.parameters())
    x = torch.rand(2, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(loaded(x), model(x), rtol=1e-4, atol=1e-3)
