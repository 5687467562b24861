"""Classification data: the synthetic-cls set, image-folder and YAML datasets, their errors, skipped images and the
augmentation."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from focalyolo.cfg import load_hyp
from focalyolo.data import generate_synthetic
from focalyolo.data.classify import ClassificationDataset, load_classification_data
from focalyolo.data.synthetic import CLASS_NAMES
from focalyolo.errors import DataError


def _image_folders(root: Path, splits: dict[str, dict[str, int]], size: int = 40) -> Path:
    """``root/<split>/<class>/<i>.png`` solid images; ``splits`` maps split -> class -> image count."""
    for split, classes in splits.items():
        for k, (name, count) in enumerate(classes.items()):
            (root / split / name).mkdir(parents=True, exist_ok=True)
            for i in range(count):
                cv2.imwrite(str(root / split / name / f"{i}.png"), np.full((size, size + 8, 3), 40 * k, np.uint8))
    return root


def test_synthetic_cls_is_deterministic_balanced_and_named_in_detection_order(tmp_path):
    a = generate_synthetic(tmp_path / "a", n_train=10, n_val=5, imgsz=48, seed=1, name="synthetic-cls")
    b = generate_synthetic(tmp_path / "b", n_train=10, n_val=5, imgsz=48, seed=1, name="synthetic-cls")
    data = load_classification_data(a)
    assert data.names == list(CLASS_NAMES) and data.nc == 5  # the YAML's order, not the folders' sorted one
    assert len(data.train) == 10 and len(data.val) == 5
    assert np.bincount([c for _, c in data.train]).tolist() == [2] * 5
    for path, cls in data.train:
        assert path.parent.name == CLASS_NAMES[cls]
        assert path.read_bytes() == (b.parent / path.relative_to(a.parent)).read_bytes()
        assert cv2.imread(str(path)).shape == (48, 48, 3)


def test_folder_root_sorted_classes_and_test_fallback(tmp_path, caplog):
    root = _image_folders(tmp_path / "ds", {"train": {"b": 2, "a": 3}, "test": {"a": 1, "b": 1}})
    with caplog.at_level("INFO", logger="focalyolo"):
        data = load_classification_data(root)
    assert data.names == ["a", "b"] and [c for _, c in data.train] == [0, 0, 0, 1, 1]
    assert data.val == data.test and len(data.val) == 2
    assert any("validating on test/" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize("splits, yaml_names, message", [
    ({"train": {"a": 1}, "val": {"a": 1, "z": 1}}, None, "is not among the training classes"),
    ({"train": {"a": 1}}, None, "no val/ (or test/) folder"),
    ({"val": {"a": 1}}, None, "no train/ folder"),
    ({"train": {"a": 1, "b": 1}, "val": {"a": 1}}, ["a", "c"], "are not the class folders"),
])
def test_dataset_errors_name_the_problem(tmp_path, splits, yaml_names, message):
    root = _image_folders(tmp_path / "ds", splits)
    source: Path = root
    if yaml_names is not None:
        source = tmp_path / "data.yaml"
        source.write_text(f"path: ds\ntrain: train\nval: val\nnames: {yaml_names}\n")
    with pytest.raises(DataError) as info:
        load_classification_data(source)
    assert message in str(info.value) and "\n" not in str(info.value)


def test_detection_set_and_missing_folder_are_clear_errors(tmp_path):
    with pytest.raises(DataError, match="classifiers train on image folders or synthetic-cls"):
        load_classification_data("synthetic")
    with pytest.raises(DataError, match="image-folder root"):
        load_classification_data(tmp_path / "nowhere")


def test_unreadable_images_are_skipped_and_reported(tmp_path, caplog):
    root = _image_folders(tmp_path / "ds", {"train": {"a": 2, "b": 2}, "val": {"a": 1}})
    (root / "train" / "b" / "broken.jpg").write_bytes(b"\xff\xd8not a jpeg")
    (root / "train" / "a" / "empty.png").write_bytes(b"")
    data = load_classification_data(root)
    with caplog.at_level("INFO", logger="focalyolo"):
        dataset = ClassificationDataset(data.train, 32, prefix="train: ")
    assert len(dataset) == 4 and sorted(Path(p).name for p, _ in dataset.report) == ["broken.jpg", "empty.png"]
    summary = "\n".join(r.getMessage() for r in caplog.records)
    assert "6 images, 4 kept in 2 classes; 2 corrupt images skipped" in summary and "broken.jpg" in summary
    assert dataset.cache_path == root / "train.focalyolo-cls.cache" and dataset.cache_path.is_file()


def test_the_scan_is_cached_until_a_file_changes(tmp_path, monkeypatch):
    from focalyolo.data import classify

    root = _image_folders(tmp_path / "ds", {"train": {"a": 2, "b": 2}, "val": {"a": 1}})
    (root / "train" / "b" / "broken.jpg").write_bytes(b"\xff\xd8not a jpeg")
    samples = load_classification_data(root).train
    first = ClassificationDataset(samples, 32, verbose=False)
    calls = []
    real = classify.inspect_image
    monkeypatch.setattr(classify, "inspect_image", lambda path: calls.append(path) or real(path))
    again = ClassificationDataset(samples, 32, verbose=False)
    assert calls == [] and again.report == first.report and again.samples == first.samples
    (root / "train" / "b" / "broken.jpg").write_bytes(cv2.imencode(".jpg", np.zeros((8, 8, 3), np.uint8))[1].tobytes())
    mended = ClassificationDataset(samples, 32, verbose=False)
    assert len(calls) == 5 and mended.report == [] and len(mended) == 5  # rescanned: the file is readable now


def test_items_batches_and_augmentation(tmp_path):
    data = load_classification_data(generate_synthetic(tmp_path, n_train=10, n_val=5, imgsz=48, seed=0,
                                                       name="synthetic-cls"))
    plain = ClassificationDataset(data.val, 32, verbose=False)
    item = plain[0]
    assert item["img"].shape == (3, 32, 32) and item["img"].dtype == torch.uint8 and item["cls"] == data.val[0][1]
    assert torch.equal(plain[0]["img"], item["img"])  # evaluation preprocessing is deterministic
    batch = plain.collate_fn([plain[i] for i in range(4)])
    assert batch["img"].shape == (4, 3, 32, 32) and batch["cls"].dtype == torch.int64 and len(batch["paths"]) == 4
    augmented = ClassificationDataset(data.val, 32, augment=True, hyp=load_hyp(), verbose=False)
    torch.manual_seed(0)
    first = augmented[0]["img"]
    torch.manual_seed(0)
    assert torch.equal(augmented[0]["img"], first)  # seeded: reproducible
    assert not torch.equal(augmented[0]["img"], first)  # and random from draw to draw
