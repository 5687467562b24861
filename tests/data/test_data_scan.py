"""Label scan: the cache, every bad-data case reported (not raised), and odd image formats."""

from __future__ import annotations

import io
import logging
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from focalyolo.data import YOLODataset, scan
from focalyolo.errors import DataError

GOOD = "0 0.5 0.5 0.2 0.2\n"


def write_labels(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def _png(path: Path, h: int = 40, w: int = 60) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), np.full((h, w, 3), 90, np.uint8))
    return path


def _bad_dataset(root: Path) -> dict[str, Path]:
    """One image (and label file) per bad-data case, with the report keyword expected for it."""
    imgs, lbls = root / "images" / "train", root / "labels" / "train"
    files = {}
    for name, label in {
        "good": GOOD,
        "class": GOOD + "7 0.5 0.5 0.1 0.1\n-1 0.5 0.5 0.1 0.1\n1.5 0.5 0.5 0.1 0.1\n",
        "nan": GOOD + "0 nan 0.5 0.1 0.1\n0 0.5 inf 0.1 0.1\n",
        "negative": GOOD + "0 0.5 0.5 -0.1 0.1\n0 0.5 0.5 0.1 0\n",
        "columns": GOOD + "0 0.5 0.5 0.1\n0 0.5 0.5 0.1 0.1 0.3\n",
        "numeric": GOOD + "cat 0.5 0.5 0.1 0.1\n",
        "clipped": "0 0.95 0.5 0.2 0.2\n",
        "outside": GOOD + "0 1.5 0.5 0.2 0.2\n",
        "duplicate": GOOD + GOOD + "1 0.2 0.2 0.1 0.1\n" + GOOD,
        "empty": "",
        "polygon": "1 0.1 0.1 0.3 0.1 0.3 0.5 0.1 0.5\n",
    }.items():
        files[name] = _png(imgs / f"{name}.png")
        write_labels(lbls / f"{name}.txt", label)
    files["background"] = _png(imgs / "background.png")
    files["badline"] = _png(imgs / "badline.png")
    (lbls / "badline.txt").write_bytes(b"0 0.5 0.5 0.2 0.2\n\x81\xfa garbage\n")
    files["notutf8"] = _png(imgs / "notutf8.png")
    (lbls / "notutf8.txt").write_bytes(b"\x81\x82\x83\x00\n\x90\x91\x00\x00")
    files["utf16"] = _png(imgs / "utf16.png")
    (lbls / "utf16.txt").write_bytes(GOOD.encode("utf-16"))
    files["zero"] = imgs / "zero.jpg"
    files["zero"].write_bytes(b"")
    files["garbage"] = imgs / "garbage.png"
    files["garbage"].write_bytes(b"this is not a png at all" * 20)
    ok, jpg = cv2.imencode(".jpg", np.full((40, 60, 3), 90, np.uint8))
    files["truncated"] = imgs / "truncated.jpg"
    files["truncated"].write_bytes(jpg.tobytes()[: len(jpg) // 2])
    for name in ("zero", "garbage", "truncated"):
        write_labels(lbls / f"{name}.txt", GOOD)
    write_labels(lbls / "orphan.txt", GOOD)
    return files


def test_every_bad_case_is_reported_once(tmp_path, caplog):
    files = _bad_dataset(tmp_path)
    with caplog.at_level(logging.INFO, logger="focalyolo"):
        ds = YOLODataset(sorted(files.values()), imgsz=64, nc=2, prefix="train: ")
    assert len([r for r in caplog.records if "kept" in r.getMessage()]) == 1  # one summary, logged once
    assert caplog.records[-1].levelno == logging.WARNING
    report = {(Path(p).stem, reason) for p, reason in ds.report}

    def reasons(stem: str) -> str:
        return " | ".join(r for s, r in report if s == stem)

    assert "bad class id" in reasons("class") and "3 row(s)" in reasons("class")
    assert "NaN/inf" in reasons("nan") and "2 row(s)" in reasons("nan")
    assert "non-positive width/height" in reasons("negative")
    assert "wrong column count" in reasons("columns") and "non-numeric" in reasons("numeric")
    assert "clipped" in reasons("clipped") and "outside the image dropped" in reasons("outside")
    assert "2 duplicate" in reasons("duplicate")
    assert "not UTF-8" in reasons("notutf8") and "image skipped" in reasons("notutf8")
    assert reasons("badline") == "1 row(s) that are not UTF-8 text dropped"
    assert "zero-byte" in reasons("zero") and "corrupt" in reasons("garbage")
    assert "truncated" in reasons("truncated").lower()
    assert "background" in reasons("background") and "without an image" in reasons("orphan")
    assert reasons("good") == reasons("empty") == reasons("polygon") == reasons("utf16") == ""

    kept = {Path(f).stem: lb for f, lb in zip(ds.im_files, ds.labels)}
    assert set(kept) == set(files) - {"notutf8", "zero", "garbage", "truncated"}
    for stem in ("good", "class", "nan", "negative", "columns", "numeric", "outside", "badline", "utf16"):
        np.testing.assert_allclose(kept[stem], [[0, 0.5, 0.5, 0.2, 0.2]], atol=1e-6)
    np.testing.assert_allclose(kept["clipped"], [[0, 0.925, 0.5, 0.15, 0.2]], atol=1e-6)
    np.testing.assert_allclose(kept["duplicate"], [[0, 0.5, 0.5, 0.2, 0.2], [1, 0.2, 0.2, 0.1, 0.1]], atol=1e-6)
    np.testing.assert_allclose(kept["polygon"], [[1, 0.2, 0.3, 0.2, 0.4]], atol=1e-6)
    assert kept["empty"].shape == kept["background"].shape == (0, 5)

    c = ds.counts
    assert (c["images"], c["kept"], c["corrupt"], c["bad_label_file"], c["background"], c["empty"],
            c["orphan_labels"]) == (18, 14, 3, 1, 1, 1, 1)
    summary = ds.summary()
    assert summary.startswith("train: 18 images, 14 kept") and str(files["garbage"]) in summary
    for _ in range(2):  # every kept sample loads
        assert all(ds[i]["img"].shape == (3, 64, 64) for i in range(len(ds)))


def test_cache_is_reused_and_invalidated(tmp_path, colour_dataset, monkeypatch):
    files = colour_dataset(3)
    first = YOLODataset(files, imgsz=64, verbose=False)
    cache = tmp_path / "labels" / "train.focalyolo.cache"
    assert first.scan_result.cache_path == cache and cache.is_file() and not first.scan_result.from_cache
    with np.load(cache, allow_pickle=False) as z:  # plain arrays, no pickled objects
        assert "labels" in z.files

    def no_decoding(path):
        raise AssertionError("image decoded although the cache is valid")

    monkeypatch.setattr(scan, "inspect_image", no_decoding)
    second = YOLODataset(files, imgsz=64, verbose=False)
    assert second.scan_result.from_cache and second.im_files == first.im_files
    for a, b in zip(first.labels, second.labels):
        np.testing.assert_array_equal(a, b)
    monkeypatch.undo()

    write_labels(tmp_path / "labels" / "train" / "im001.txt", "2 0.5 0.5 0.5 0.5\n")
    third = YOLODataset(files, imgsz=64, verbose=False)
    assert not third.scan_result.from_cache and third.labels[1].tolist() == [[2, 0.5, 0.5, 0.5, 0.5]]


def test_read_only_dataset_caches_in_home(tmp_path, colour_dataset, isolated_home):
    files = colour_dataset(2)
    labels_root = tmp_path / "labels"
    labels_root.chmod(0o555)
    try:
        ds = YOLODataset(files, imgsz=64, verbose=False)
    finally:
        labels_root.chmod(0o755)
    assert ds.scan_result.cache_path.parent == isolated_home / "cache"
    assert not (labels_root / "train.focalyolo.cache").exists()


def test_no_usable_image_is_a_data_error(tmp_path):
    bad = tmp_path / "images" / "a.jpg"
    bad.parent.mkdir(parents=True)
    bad.write_bytes(b"")
    with pytest.raises(DataError, match="none of 1 images is usable.*zero-byte"):
        YOLODataset([bad], verbose=False)
    with pytest.raises(DataError, match="no image files"):
        YOLODataset([], verbose=False)


def _save_pil(img: Image.Image, path: Path, fmt: str, **kw) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    buf = io.BytesIO()
    img.save(buf, fmt, **kw)
    path.write_bytes(buf.getvalue())
    return path


def test_odd_image_formats(tmp_path):
    imgs = tmp_path / "images"
    rgb = np.zeros((40, 60, 3), np.uint8)
    rgb[:, :30] = (255, 0, 0)  # left half red
    exif = Image.new("RGB", (1, 1)).getexif()
    exif[0x0112] = 6  # stored landscape, displayed rotated 90 degrees clockwise (portrait)
    files = {
        "exif": _save_pil(Image.fromarray(rgb), imgs / "exif.jpg", "JPEG", exif=exif.tobytes(), quality=95),
        "gray": _save_pil(Image.fromarray(rgb[..., 0]), imgs / "gray.png", "PNG"),
        "cmyk": _save_pil(Image.fromarray(rgb).convert("CMYK"), imgs / "cmyk.jpg", "JPEG", quality=95),
        "png_as_jpg": _save_pil(Image.fromarray(rgb), imgs / "png_as_jpg.jpg", "PNG"),
        "rgba": _save_pil(Image.fromarray(np.dstack([rgb, rgb[..., :1]])), imgs / "rgba.png", "PNG"),
    }
    deep = (np.arange(40 * 60).reshape(40, 60) * 27).astype(np.uint16)
    files["png16"] = imgs / "png16.png"
    cv2.imwrite(str(files["png16"]), deep)
    ds = YOLODataset(sorted(files.values()), imgsz=60, verbose=False)
    assert len(ds) == len(files)
    by_name = {Path(f).stem: i for i, f in enumerate(ds.im_files)}
    for name, i in by_name.items():
        sample = ds[i]
        portrait = name == "exif"
        assert sample["ori_shape"] == ((60, 40) if portrait else (40, 60)), name
        assert tuple(ds.shapes[i]) == sample["ori_shape"], name
        assert sample["img"].dtype.is_floating_point is False and sample["img"].shape[0] == 3
    exif_img = ds[by_name["exif"]]["img"].permute(1, 2, 0).numpy()
    # rotated clockwise: the red (RGB) left half of the stored image is now the top half
    assert exif_img[5, 30, 0] > 200 and exif_img[55, 30, 0] < 50
    cmyk = ds[by_name["cmyk"]]["img"].permute(1, 2, 0).numpy()
    assert cmyk[20, 10, 0] > 200 and cmyk[20, 10, 2] < 60
