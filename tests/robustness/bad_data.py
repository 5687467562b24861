"""A generator of bad datasets: one image/label pair per kind of bad input, with the documented outcome of each.

:func:`make_bad_dataset` writes a small clean synthetic dataset (5 classes) and adds the bad cases to its
train split. Each :class:`Case` says whether the image must be kept or skipped, which path the scan
report must name, and phrases its reasons must contain. The other writers make bad inputs beside the
data: a data YAML whose ``val`` path is missing, a model YAML with a bad ``from`` index, and a checkpoint
trained for another class count.
"""

from __future__ import annotations

import copy
import io
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import yaml
from PIL import Image

from focalyolo.data import generate_synthetic
from focalyolo.models import build_model
from focalyolo.weights.checkpoint import save_checkpoint

NC = 5
GOOD_ROW = "0 0.5 0.5 0.4 0.4\n"
CASE_NAMES = (
    "truncated_jpeg", "zero_byte", "png_named_jpg", "grayscale", "png_16bit", "cmyk_jpeg", "exif_rotated",
    "non_ascii_path", "no_label_file", "empty_label_file", "class_out_of_range", "negative_coords", "nan_coords",
    "boxes_outside", "duplicate_boxes", "wrong_columns", "non_utf8_label", "non_utf8_row",
)


@dataclass(frozen=True)
class Case:
    """One bad input and what the data pipeline must do with it.

    Attributes:
        name: the case (also the image file's stem, except for the non-ASCII path).
        image: the image file.
        kept: whether the image stays in the dataset.
        reported: the path the report must name (image or label file); ``None`` when nothing is reported.
        reasons: phrases the report's reasons for ``reported`` must contain.
        boxes: how many boxes a kept image keeps (``None``: not checked).
    """

    name: str
    image: Path
    kept: bool
    reported: Path | None = None
    reasons: tuple[str, ...] = ()
    boxes: int | None = None


def _encode(img: Image.Image, fmt: str, **options) -> bytes:
    buffer = io.BytesIO()
    img.save(buffer, fmt, **options)
    return buffer.getvalue()


def _pixels() -> np.ndarray:
    """(48, 64, 3) uint8 RGB: left half red, right half blue, so orientation and colour can be checked."""
    rgb = np.zeros((48, 64, 3), np.uint8)
    rgb[:, :32] = (230, 20, 20)
    rgb[:, 32:] = (20, 20, 230)
    return rgb


def _image_bytes() -> dict[str, bytes]:
    """Encoded images, by case name."""
    rgb = Image.fromarray(_pixels())
    exif = Image.new("RGB", (1, 1)).getexif()
    exif[0x0112] = 6  # stored landscape, shown rotated 90 degrees clockwise (portrait)
    deep = (np.linspace(0, 65535, 48 * 64).reshape(48, 64)).astype(np.uint16)
    jpeg = _encode(rgb, "JPEG", quality=95)
    return {
        "truncated_jpeg": jpeg[: len(jpeg) // 2],
        "png_named_jpg": _encode(rgb, "PNG"),
        "grayscale": _encode(rgb.convert("L"), "PNG"),
        "png_16bit": cv2.imencode(".png", deep)[1].tobytes(),
        "cmyk_jpeg": _encode(rgb.convert("CMYK"), "JPEG", quality=95),
        "exif_rotated": _encode(rgb, "JPEG", exif=exif.tobytes(), quality=95),
        "zero_byte": b"",
    }


# label text of each label case (drawn on a clean copy of the colour image)
LABEL_CASES: dict[str, tuple[str, tuple[str, ...], int]] = {
    "class_out_of_range": (GOOD_ROW + f"{NC} 0.5 0.5 0.1 0.1\n", ("1 row(s) with bad class id dropped",), 1),
    "negative_coords": (GOOD_ROW + "1 -0.4 0.5 0.2 0.2\n2 0.5 0.5 -0.2 0.1\n",
                        ("non-positive width/height dropped", "outside the image dropped"), 1),
    "nan_coords": (GOOD_ROW + "1 nan 0.5 0.2 0.2\n", ("1 row(s) with NaN/inf value dropped",), 1),
    "boxes_outside": (GOOD_ROW + "1 0.95 0.5 0.2 0.2\n2 1.6 1.6 0.2 0.2\n",
                      ("1 box(es) clipped to the image", "1 box(es) outside the image dropped"), 2),
    "duplicate_boxes": (GOOD_ROW * 3, ("2 duplicate row(s) removed",), 1),
    "wrong_columns": (GOOD_ROW + "1 0.5 0.5 0.2\n1 0.5 0.5 0.2 0.2 0.9\n", ("2 row(s) with a wrong column count",), 1),
}


def make_bad_dataset(root: Path) -> tuple[Path, list[Case]]:
    """Write the dataset under ``root``; returns its data YAML and the bad cases (all in the train split)."""
    data_yaml = generate_synthetic(root, n_train=6, n_val=2, imgsz=64, seed=11)
    images, labels = root / "images" / "train", root / "labels" / "train"
    cases = _image_cases(images, labels) + _label_cases(images, labels)
    return data_yaml, cases


def _image_cases(images: Path, labels: Path) -> list[Case]:
    """Cases about the image file (each with one good label row, except the missing/empty label ones)."""
    encoded = _image_bytes()
    suffix = {"grayscale": ".png", "png_16bit": ".png"}
    for name, data in encoded.items():
        (images / f"{name}{suffix.get(name, '.jpg')}").write_bytes(data)
        (labels / f"{name}.txt").write_text(GOOD_ROW)
    odd_path = images / "a photo ünïcødé – name.jpg"
    odd_path.write_bytes(_encode(Image.fromarray(_pixels()), "JPEG", quality=95))
    (labels / f"{odd_path.stem}.txt").write_text(GOOD_ROW)
    no_label, empty_label = images / "no_label_file.png", images / "empty_label_file.png"
    no_label.write_bytes(encoded["png_named_jpg"])
    empty_label.write_bytes(encoded["png_named_jpg"])
    (labels / "empty_label_file.txt").write_text("")
    image = {name: images / f"{name}{suffix.get(name, '.jpg')}" for name in encoded}
    readable = ("png_named_jpg", "grayscale", "png_16bit", "cmyk_jpeg", "exif_rotated")
    return [
        Case("truncated_jpeg", image["truncated_jpeg"], False, image["truncated_jpeg"], ("corrupt image skipped",)),
        Case("zero_byte", image["zero_byte"], False, image["zero_byte"], ("corrupt image skipped: zero-byte file",)),
        *(Case(name, image[name], True, boxes=1) for name in readable),
        Case("non_ascii_path", odd_path, True, boxes=1),
        Case("no_label_file", no_label, True, no_label, ("no label file: kept as a background image",), boxes=0),
        Case("empty_label_file", empty_label, True, boxes=0),
    ]


def _label_cases(images: Path, labels: Path) -> list[Case]:
    """Cases about the label file, each on a clean copy of the colour image."""
    png = _encode(Image.fromarray(_pixels()), "PNG")
    cases = []
    for name, (text, reasons, boxes) in LABEL_CASES.items():
        (images / f"{name}.png").write_bytes(png)
        cases.append(Case(name, images / f"{name}.png", True, _write(labels / f"{name}.txt", text), reasons, boxes))
    (images / "non_utf8_label.png").write_bytes(png)
    latin1 = _write(labels / "non_utf8_label.txt", "0 0.5 0.5 0.4 0.4 # étiquette\n".encode("latin-1"))
    (images / "non_utf8_row.png").write_bytes(png)
    one_bad_row = _write(labels / "non_utf8_row.txt", GOOD_ROW.encode() + "1 0.2 0.2 0.1 0.1 # é\n".encode("latin-1"))
    return cases + [
        Case("non_utf8_label", images / "non_utf8_label.png", False, latin1,
             ("label file is not UTF-8 text; image skipped",)),
        Case("non_utf8_row", images / "non_utf8_row.png", True, one_bad_row,
             ("1 row(s) that are not UTF-8 text dropped",), 1),
    ]


def _write(path: Path, content: str | bytes) -> Path:
    if isinstance(content, str):
        content = content.encode()
    path.write_bytes(content)
    return path


def data_yaml_missing_val(data_yaml: Path) -> Path:
    """A copy of ``data_yaml`` (beside it) whose ``val`` split points at a folder that does not exist."""
    config = yaml.safe_load(data_yaml.read_text())
    config["val"] = "images/no_such_split"
    path = data_yaml.with_name("missing-val.yaml")
    path.write_text(yaml.safe_dump(config))
    return path


def model_yaml_bad_from(config: dict, path: Path) -> Path:
    """``config`` with its first head layer taking input from a later layer (index 99)."""
    bad = copy.deepcopy(config)
    bad["head"][0][0] = 99
    path.write_text(yaml.safe_dump(bad))
    return path


def checkpoint_other_nc(model_yaml: Path, nc: int, path: Path) -> Path:
    """A focalyolo checkpoint of ``model_yaml`` built for ``nc`` classes (random weights)."""
    model = build_model(str(model_yaml), nc=nc)
    names = [f"class{i}" for i in range(nc)]
    return save_checkpoint({"model_yaml": model.copy_config(), "names": names, "model": model.state_dict(),
                            "ema": None}, path)
