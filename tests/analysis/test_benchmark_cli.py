"""``focalyolo benchmark`` (models and --blocks) and ``focalyolo compare`` end to end, on tiny sizes."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest
import torch

from focalyolo.analysis.table import read_csv
from focalyolo.cli import main
from focalyolo.data.synthetic import generate_synthetic


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FOCALYOLO_HOME", str(tmp_path / "home"))


def test_benchmark_models_writes_table_csv_and_markdown(tmp_path: Path, capsys) -> None:
    pytest.importorskip("onnxruntime")
    out = tmp_path / "bench"
    args = ["benchmark", "--models", "gelan-t", "--imgsz", "64", "--batch", "1,2", "--runs", "2", "--warmup", "1",
            "--backends", "eager,fused,channels_last,onnxruntime", "--output", str(out)]
    assert main(args) == 0
    rows = read_csv(out / "benchmark.csv")
    backends = ("eager", "fused", "channels_last", "onnxruntime")
    assert {(r["backend"], r["batch"]) for r in rows} == {(b, n) for b in backends for n in ("1", "2")}
    for key in ("model", "imgsz", "params", "gflops", "runs", "median_ms", "p10_ms", "p90_ms", "gflop_per_s",
                "peak_pct", "load1", "peak_gflop_per_s"):
        assert key in rows[0]
    assert all(float(r["median_ms"]) > 0 and r["runs"] == "2" for r in rows)
    eager, fused = (next(r for r in rows if r["backend"] == b and r["batch"] == "1") for b in ("eager", "fused"))
    assert int(fused["params"]) < int(eager["params"])  # BatchNorm folded
    markdown = (out / "benchmark.md").read_text()
    assert "GFLOP/s" in markdown and "matmul peak" in markdown and "| gelan-t | onnxruntime | 64 |" in markdown
    printed = capsys.readouterr().out
    assert "fp32 matmul peak" in printed and "median ms" in printed


def test_benchmark_rounds_sizes_off_the_stride_up(tmp_path: Path, focalyolo_log) -> None:
    out = tmp_path / "b"
    assert main(["benchmark", "--models", "gelan-t", "--imgsz", "70", "--batch", "1", "--runs", "2", "--warmup", "1",
                 "--backends", "eager", "--output", str(out)]) == 0
    assert [r["imgsz"] for r in read_csv(out / "benchmark.csv")] == ["96"]
    assert "imgsz 70 is not a multiple of the model's stride 32: using 96" in [r.getMessage() for r in focalyolo_log]


def test_benchmark_blocks_table_plot_and_ratios(tmp_path: Path, capsys) -> None:
    out = tmp_path / "blocks"
    assert main(["benchmark", "--blocks", "--sizes", "64,128", "--runs", "2", "--warmup", "1",
                 "--output", str(out)]) == 0
    rows = read_csv(out / "blocks.csv")
    assert {(r["level"], r["imgsz"], r["block"]) for r in rows} == {
        (lv, s, b) for lv in ("P5", "P4") for s in ("64", "128") for b in ("focal", "attn", "none")}
    p4 = {r["block"]: r for r in rows if r["level"] == "P4" and r["imgsz"] == "128"}
    assert p4["focal"]["map"] == "8×8" and float(p4["attn"]["gflops"]) > 0 and float(p4["focal"]["peak_mb"]) >= 0
    assert float(p4["none"]["gflops"]) > float(p4["focal"]["gflops"])  # the whole gelan-c
    assert (out / "block_scaling.png").stat().st_size > 1000
    printed = capsys.readouterr().out
    assert "P4: latency growth 64→128" in printed and "faster than attention at 128" in printed
    assert "P4: latency growth" in (out / "blocks.md").read_text()


def test_compare_trains_tabulates_and_resumes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    data = generate_synthetic(tmp_path / "data", n_train=8, n_val=4, imgsz=64)
    args = ["compare", "--models", "gelan-t", "--data", str(data), "--epochs", "1", "--imgsz", "64", "--seeds", "0",
            "--batch", "4", "--workers", "0", "--device", "cpu", "--latency-runs", "1",
            "--project", str(tmp_path / "runs"), "--name", "abl"]
    assert main(args) == 0
    root = tmp_path / "runs" / "abl"
    run = root / "gelan-t-seed0"
    result = json.loads((run / "compare.json").read_text())
    assert result["schedule"]["epochs"] == 1 and "coco/AP50-95" in result["metrics"]
    rows = read_csv(root / "ablation.csv")
    assert rows[0]["model"] == "gelan-t" and rows[0]["n"] == "1"
    for key in ("params", "gflops", "latency_ms", "mAP50_mean", "mAP50-95_mean", "mAP50-95_std", "APs_mean",
                "APm_mean", "APl_mean"):
        assert key in rows[0]
    header = (root / "ablation.md").read_text()
    assert "| model | params (M) | GFLOPs@64 | CPU ms@64 | seeds | mAP50 | mAP50-95 | APs | APm | APl |" in header
    assert "trained in" in capsys.readouterr().out
    weights = (run / "weights" / "last.pt").stat().st_mtime_ns

    class NoTraining:
        def __init__(self, *a, **k):
            raise AssertionError("a finished run was retrained")

    monkeypatch.setattr("focalyolo.engine.trainer.Trainer", NoTraining)
    assert main(args) == 0  # recorded: skipped
    assert "already done, not retrained" in capsys.readouterr().out
    (run / "compare.json").unlink()  # trained but not recorded: validated again, not retrained
    assert main(args) == 0 and (run / "compare.json").is_file()
    assert (run / "weights" / "last.pt").stat().st_mtime_ns == weights
    epochs = args.index("--epochs") + 1
    assert main(args[:epochs] + ["2"] + args[epochs + 1:]) == 2  # another schedule in the same folder is refused
    assert "use another --name" in capsys.readouterr().err


def test_benchmark_times_the_int8_and_openvino_runtimes(tmp_path: Path) -> None:
    pytest.importorskip("openvino")
    pytest.importorskip("nncf")
    data = generate_synthetic(tmp_path / "data", n_train=8, n_val=2, imgsz=64)
    out = tmp_path / "bench"
    tiny = Path(__file__).parents[1] / "engine" / "tiny-gelan-focal.yaml"
    assert main(["benchmark", "--models", str(tiny), "--imgsz", "64", "--batch", "1", "--runs", "2", "--warmup", "1",
                 "--backends", "onnxruntime-int8,openvino,tensorrt", "--data", str(data),
                 "--output", str(out)]) == 0
    rows = read_csv(out / "benchmark.csv")
    expected = {"onnxruntime-int8", "openvino"}  # openvino-int8 is export_model's, tested in tests/convert
    if torch.cuda.is_available() and importlib.util.find_spec("tensorrt"):
        expected.add("tensorrt")
    assert {r["backend"] for r in rows} == expected  # TensorRT is skipped without CUDA
    assert all(float(r["median_ms"]) > 0 for r in rows)
