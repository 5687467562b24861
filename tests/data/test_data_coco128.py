"""The real COCO128 data next to the repository: loads, with its 2 + 2 image/label mismatches reported."""

from __future__ import annotations

from pathlib import Path

import pytest

from focalyolo.data import YOLODataset, load_data_config

COCO128 = (Path(__file__).resolve().parents[2] / "../shared/data/coco128").resolve()


@pytest.mark.skipif(not (COCO128 / "data.yaml").is_file(), reason="../shared/data/coco128 is not present")
def test_coco128_loads_and_reports_mismatches():
    cfg = load_data_config(COCO128 / "data.yaml")
    assert cfg.nc == 80 and cfg.names[0] == "person" and len(cfg.train) == 128 and cfg.val == cfg.train
    ds = YOLODataset(cfg.val, imgsz=320, rect=True, batch_size=16, nc=cfg.nc, prefix="val: ", verbose=False)
    counts = ds.counts
    assert (counts["kept"], counts["background"], counts["orphan_labels"], counts["corrupt"]) == (128, 2, 2, 0)
    background = sorted(Path(p).name for p, r in ds.report if "background" in r)
    orphans = sorted(Path(p).name for p, r in ds.report if "without an image" in r)
    assert background == ["000000000250.jpg", "000000000508.jpg"]
    assert orphans == ["000000000656.txt", "000000000659.txt"]
    summary = ds.summary()
    assert "2 without a label file" in summary and "2 label files without an image" in summary
    assert "000000000656.txt" in summary and "000000000250.jpg" in summary
    sample = ds[0]
    assert sample["img"].shape[1] % 32 == 0 and sample["img"].shape[2] % 32 == 0
