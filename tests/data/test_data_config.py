"""load_data_config: data YAML variants, COCO JSON conversion and clear errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import yaml

from focalyolo.data import YOLODataset, load_data_config
from focalyolo.errors import DataError


def _yaml(file: Path, **content) -> Path:
    file.parent.mkdir(parents=True, exist_ok=True)
    file.write_text(yaml.safe_dump(content))
    return file


def test_list_and_dict_names_and_relative_path(tmp_path, colour_dataset):
    colour_dataset(3, split="train")
    colour_dataset(2, split="val")
    # `path` relative to the YAML's folder, names as a list
    cfg = load_data_config(_yaml(tmp_path / "cfgs" / "a.yaml", path="..", train="images/train", val="images/val",
                                 names=["a", "b", "c", "d", "e", "f"]))
    assert cfg.root == tmp_path and cfg.nc == 6 and cfg.names[1] == "b"
    assert [p.name for p in cfg.train] == ["im000.png", "im001.png", "im002.png"] and len(cfg.val) == 2
    assert cfg.test == [] and cfg.source.endswith("a.yaml")
    # no `path`: the YAML's folder; names as a dict in any key order (int or str keys)
    names = {5: "f", 0: "a", 1: "b", 2: "c", 3: "d", "4": "e"}
    cfg = load_data_config(_yaml(tmp_path / "b.yaml", train="images/train", val=["images/val", "images/train"],
                                 names=names))
    assert cfg.names == ["a", "b", "c", "d", "e", "f"] and len(cfg.val) == 5


def test_txt_image_lists(tmp_path, colour_dataset):
    files = colour_dataset(4)
    (tmp_path / "train.txt").write_text("# comment\n./images/train/im000.png\nimages/train/im001.png\n\n")
    (tmp_path / "val.txt").write_text(f"{files[3]}\n")
    cfg = load_data_config(_yaml(tmp_path / "d.yaml", path=str(tmp_path), train="train.txt", val="val.txt",
                                 test=["val.txt", "images/train/im002.png"], names=["x"] * 6))
    assert cfg.train == files[:2] and cfg.val == [files[3]] and cfg.test == [files[3], files[2]]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ({"train": "images/train", "names": ["a"]}, "missing 'val'"),
        ({"train": "images/train", "val": "nope", "names": ["a"]}, "'val' path not found"),
        ({"train": "images/train", "val": "empty", "names": ["a"]}, "no images found for 'val'"),
        ({"train": "images/train", "val": "images/train", "names": {1: "a", 2: "b"}}, "keys must be the class ids"),
        ({"train": "images/train", "val": "images/train", "names": []}, "'names' must be"),
        ({"train": "images/train", "val": "images/train"}, "missing 'names'"),
        ({"train": "images/train", "val": "images/train", "names": ["a"], "nc": 3}, "nc is 3"),
    ],
)
def test_config_errors_name_file_and_problem(tmp_path, colour_dataset, content, message):
    colour_dataset(1)
    (tmp_path / "empty").mkdir()
    path = _yaml(tmp_path / "bad.yaml", **content)
    with pytest.raises(DataError, match=message) as info:
        load_data_config(path)
    assert str(path) in str(info.value) and "\n" not in str(info.value)


def test_missing_or_unknown_file(tmp_path):
    with pytest.raises(DataError, match="data file not found"):
        load_data_config(tmp_path / "none.yaml")
    (tmp_path / "x.cfg").write_text("")
    with pytest.raises(DataError, match="expected a data"):
        load_data_config(tmp_path / "x.cfg")
    (tmp_path / "broken.yaml").write_text("train: [unclosed\n")
    with pytest.raises(DataError, match="cannot read data YAML"):
        load_data_config(tmp_path / "broken.yaml")


def _coco_json(tmp_path: Path, files: list[Path]) -> Path:
    """A COCO file with the same boxes as the YOLO labels of ``files``, category ids 3, 7, ... (sparse)."""
    cat_ids = [3, 7, 11, 20, 21, 40]
    images, anns = [], []
    for i, f in enumerate(files):
        h, w = 96, 128
        images.append({"id": 100 + i, "file_name": f.name, "width": w, "height": h})
        rows = np.loadtxt(tmp_path / "labels" / "val" / f"{f.stem}.txt", ndmin=2)
        for r in rows:
            bw, bh = r[3] * w, r[4] * h
            anns.append({"id": len(anns), "image_id": 100 + i, "category_id": cat_ids[int(r[0])], "iscrowd": 0,
                         "bbox": [r[1] * w - bw / 2, r[2] * h - bh / 2, bw, bh], "area": bw * bh})
        anns.append({"id": len(anns), "image_id": 100 + i, "category_id": 3, "iscrowd": 1, "bbox": [0, 0, 5, 5]})
    # listed in an order different from the id order, to check the id -> index mapping
    cats = [{"id": c, "name": f"cat{c}"} for c in reversed(cat_ids)]
    path = tmp_path / "annotations" / "instances_val.json"
    path.parent.mkdir()
    path.write_text(json.dumps({"images": images, "annotations": anns, "categories": cats}))
    return path


def test_coco_json_equals_yolo_txt(tmp_path, colour_dataset):
    files = colour_dataset(3, split="val")
    coco = _coco_json(tmp_path, files)
    yolo = YOLODataset(files, imgsz=128, verbose=False)
    for cfg in (load_data_config(_yaml(tmp_path / "coco.yaml", train="annotations/instances_val.json",
                                       val="annotations/instances_val.json")),
                load_data_config(coco)):
        assert cfg.names == [f"cat{c}" for c in (3, 7, 11, 20, 21, 40)] and cfg.nc == 6
        assert [p.name for p in cfg.val] == [f.name for f in files]
        converted = YOLODataset(cfg.val, imgsz=128, nc=cfg.nc, verbose=False)
        for a, b in zip(yolo.labels, converted.labels):  # crowd boxes skipped, same rows and order
            np.testing.assert_allclose(a, b, atol=2e-6)
    cfg_again = load_data_config(coco)  # the conversion is reused, not redone
    assert cfg_again.val == cfg.val


def test_synthetic_name_generates_once(tmp_path, monkeypatch, isolated_home):
    from focalyolo.data import synthetic

    monkeypatch.setitem(synthetic.DEFAULT_SIZES, "synthetic", {"n_train": 6, "n_val": 3, "imgsz": 64, "seed": 0})
    cfg = load_data_config("synthetic")
    assert cfg.names == list(synthetic.CLASS_NAMES) and len(cfg.train) == 6 and len(cfg.val) == 3
    assert cfg.root == isolated_home / "datasets" / synthetic.VERSIONS["synthetic"]
    stamp = cfg.train[0].stat().st_mtime_ns
    assert load_data_config("synthetic").train[0].stat().st_mtime_ns == stamp
    # no temporary folders left
    assert [p.name for p in (isolated_home / "datasets").iterdir()] == [synthetic.VERSIONS["synthetic"]]
