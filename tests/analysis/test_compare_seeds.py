"""``focalyolo compare`` over two models and two seeds, two runs at a time: the paired table, the figure, a resume
after a run went missing, and a parallel run's figures equal to a serial run's."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from focalyolo.analysis.compare import compare
from focalyolo.analysis.table import read_csv
from focalyolo.cfg import CompareConfig, OptionError
from focalyolo.cli import build_parser, given, main
from focalyolo.data.synthetic import generate_synthetic
from focalyolo.errors import FocalYoloError

HERE = Path(__file__).parent
PLAIN, FOCAL = str(HERE / "tiny-gelan.yaml"), str(HERE.parent / "engine" / "tiny-gelan-focal.yaml")


def _args(data: Path, project: Path, parallel: int) -> list[str]:
    return ["compare", "--models", f"{PLAIN},{FOCAL}", "--data", str(data), "--epochs", "1", "--imgsz", "64",
            "--seeds", "0,1", "--batch", "4", "--workers", "0", "--threads", "1", "--device", "cpu",
            "--latency-runs", "1", "--parallel", str(parallel), "--project", str(project), "--name", "abl"]


@pytest.fixture(scope="module")
def ablation(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The data and the folder of a finished two-model, two-seed comparison trained two runs at a time."""
    tmp = tmp_path_factory.mktemp("compare")
    data = generate_synthetic(tmp / "data", n_train=8, n_val=4, imgsz=64)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("FOCALYOLO_HOME", str(tmp / "home"))
        assert main(_args(data, tmp / "runs", parallel=2)) == 0
    return data, tmp / "runs" / "abl"


def test_compare_writes_the_paired_table_and_figure(ablation: tuple[Path, Path]) -> None:
    _, root = ablation
    assert sorted(p.name for p in root.iterdir() if p.is_dir()) == [
        "tiny-gelan-focal-seed0", "tiny-gelan-focal-seed1", "tiny-gelan-seed0", "tiny-gelan-seed1"]
    paired = read_csv(root / "paired.csv")
    assert paired and {r["model"] for r in paired} == {"tiny-gelan-focal"} and {r["baseline"] for r in paired} == {
        "tiny-gelan"}
    assert paired[0]["metric"] == "mAP50" and paired[0]["n"] == "2"
    markdown = (root / "ablation.md").read_text()
    assert "## Against tiny-gelan" in markdown
    assert "| model | vs | metric | seeds | Δ (points) | 95% CI (t) | 95% CI (bootstrap) | p | verdict |" in markdown
    assert "| tiny-gelan-focal | tiny-gelan | mAP50 | 2 |" in markdown
    assert (root / "ablation.png").read_bytes()[:4] == b"\x89PNG"


def _record(run: Path) -> tuple[dict, list[dict]]:
    """A run's recorded figures and its per-epoch losses, metrics and learning rates (results.csv)."""
    return json.loads((run / "compare.json").read_text())["metrics"], read_csv(run / "results.csv")


def test_a_missing_run_is_trained_again_serially_with_the_parallel_figures(
        ablation: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    data, finished = ablation
    project = tmp_path / "runs"
    shutil.copytree(finished, project / "abl")
    missing = project / "abl" / "tiny-gelan-focal-seed1"
    before = _record(missing)
    shutil.rmtree(missing)  # as if the comparison had been killed before this run started

    from focalyolo.engine import trainer

    built = []

    class CountingTrainer(trainer.Trainer):
        def __init__(self, cfg, *args, **kwargs):
            built.append(cfg.name)
            super().__init__(cfg, *args, **kwargs)

    monkeypatch.setattr(trainer, "Trainer", CountingTrainer)
    assert main(_args(data, project, parallel=1)) == 0
    assert built == ["tiny-gelan-focal-seed1"]  # only the missing run was trained
    printed = capsys.readouterr().out
    assert printed.count("already done, not retrained") == 3
    assert _record(missing) == before  # serial figures and losses equal the parallel run's


def test_compare_takes_one_config_checked_before_anything_runs(tmp_path: Path, capsys) -> None:
    with pytest.raises(FocalYoloError, match="distinct models and distinct seeds"):
        compare(CompareConfig(models=[PLAIN], seeds=[0, 0], project=str(tmp_path)))
    with pytest.raises(FocalYoloError, match="baseline 'other' is not one of the models"):
        compare(CompareConfig(models=[PLAIN, FOCAL], baseline="other", project=str(tmp_path)))
    with pytest.raises(OptionError, match="seeds"):
        CompareConfig(seeds=[-1])
    assert not any(tmp_path.iterdir())  # nothing written
    args = build_parser().parse_args(["compare", "--models", f"{PLAIN},{FOCAL}", "--seeds", "0,1", "2"])
    assert given(args, CompareConfig) == {"models": [PLAIN, FOCAL], "seeds": [0, 1, 2]}  # commas, spaces or both
    assert main(["cfg", "compare"]) == 0 and "seeds: [0, 1, 2, 3, 4]" in capsys.readouterr().out


def test_each_run_starts_from_its_own_checkpoint_seed_by_seed(
        ablation: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data, finished = ablation
    template = str(finished / "{model}-seed{seed}" / "weights" / "best.pt")
    project = tmp_path / "runs"
    args = _args(data, project, parallel=1)
    args[args.index("--name") + 1] = "warm"

    from focalyolo.engine import trainer

    built = []

    class CountingTrainer(trainer.Trainer):
        def __init__(self, cfg, *args, **kwargs):
            built.append((cfg.name, cfg.weights))
            super().__init__(cfg, *args, **kwargs)

    monkeypatch.setattr(trainer, "Trainer", CountingTrainer)
    assert main([*args, "--weights", template]) == 0
    names = ["tiny-gelan-seed0", "tiny-gelan-focal-seed0", "tiny-gelan-seed1", "tiny-gelan-focal-seed1"]
    assert built == [(n, str(finished / n / "weights" / "best.pt")) for n in names]  # seed by seed, own start
    recorded = json.loads((project / "warm" / "tiny-gelan-seed1" / "compare.json").read_text())["schedule"]
    assert recorded["weights"] == template
    assert f"each run starts from {template}" in (project / "warm" / "ablation.md").read_text()
    cold = json.loads((finished / "tiny-gelan-seed1" / "compare.json").read_text())["schedule"]
    assert "weights" not in cold  # a run from random weights records the schedule it did before the option


def test_start_checkpoints_are_checked_before_anything_runs(ablation: tuple[Path, Path], tmp_path: Path) -> None:
    data, finished = ablation
    config = dict(models=[PLAIN, FOCAL], seeds=[0, 2], data=str(data), project=str(tmp_path))
    with pytest.raises(FocalYoloError, match=r"no checkpoint at .*tiny-gelan-seed2.*tiny-gelan-focal-seed2"):
        compare(CompareConfig(weights=str(finished / "{model}-seed{seed}" / "weights" / "best.pt"), **config))
    with pytest.raises(FocalYoloError, match=r"only \{model\} and \{seed\} can be replaced"):
        compare(CompareConfig(weights=str(finished / "{name}" / "best.pt"), **config))
    assert not any(tmp_path.iterdir())  # nothing written
