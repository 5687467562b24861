"""``benchmarks/gpu.py --device cpu --small``: every part of the GPU table runs and prints its rows.

The script runs in a process of its own: with Ultralytics installed its part b imports it, and Ultralytics replaces
``cv2.imread`` process-wide on import, which would change how later tests in this process read images."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from repo_scripts import load_script

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "gpu.py"


def test_small_run_prints_one_table_with_every_row(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    env = {**os.environ, "FOCALYOLO_HOME": str(tmp_path / "home")}
    run = subprocess.run([sys.executable, str(SCRIPT), "--device", "cpu", "--small"], env=env, capture_output=True,
                         text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-2000:]
    out = run.stdout
    script = load_script("benchmarks/gpu.py")
    header, _, table = out.partition("\npart ")
    assert "date: " in header and "GPU: none; driver none" in header and "torch " in header
    rows = [re.split(r"\s{2,}", line.strip()) for line in table.splitlines()[1:] if line.strip()]
    by_part = {part: [r for r in rows if r[0] == part] for part in "abcd"}
    extra = int(script.has_ultralytics())  # Ultralytics' rows: one per part b, c setting
    assert len(by_part["a"]) == 1 and by_part["a"][0][2].startswith("focalyolo train --device cpu")
    assert [r[1] for r in by_part["b"][:3]] == [f"{m}, training epoch" for m in ("gelan-t", "gelan-t-focal",
                                                                                    "yolov9-t-focal")]
    assert len(by_part["b"]) == 3 + extra and {r[4] for r in by_part["b"]} == {"s/epoch"}
    assert len(by_part["c"]) == 2 * (3 + extra) and {r[2] for r in by_part["c"]} == {
        "64 px, batch 1, float32", "64 px, batch 2, float32"}
    assert [(r[1], r[2].split(" (")[0]) for r in by_part["d"]] == [
        (f"{block} block, one call", f"P4 of {size} px") for size in (128, 256) for block in ("focal", "attn")]
    assert all(float(r[3]) > 0 for r in rows)
    assert all(float(r[5]) > 0 for r in by_part["d"])  # peak MB
