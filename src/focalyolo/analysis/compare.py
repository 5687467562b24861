"""The ablation: train several models under one schedule and several seeds, then tabulate mean ± std.

``compare(CompareConfig(models=..., data=..., seeds=...))`` trains each (model, seed) into
``<project>/<name>/<model>-seed<seed>/`` (an ordinary training run folder), records the final validation's
COCO figures in that folder's ``compare.json``, and writes ``ablation.csv`` and ``ablation.md`` in
``<project>/<name>/``: parameters, GFLOPs and CPU latency of each model's deployment form, and the task's figures
as mean ± std over the seeds (detection: mAP50, mAP50-95, APs, APm, APl; segmentation adds mask mAP50 and
mAP50-95; classification: top-1 and top-5 accuracy). The models of one comparison share a task.

Beside the mean ± std table it states what the seeds show: each model against the baseline (the first model
unless named), metric by metric, as the paired per-seed difference with 95 % t and bootstrap intervals, a verdict
(``ahead`` / ``behind`` / ``not separable with N seeds``) and the seeds a gap of that size would need
(:mod:`focalyolo.analysis.paired_report`), in ``ablation.md`` and ``paired.csv``; ``ablation.png`` shows every
seed's value and each model's interval.

It is resumable: a (model, seed) whose ``compare.json`` exists is not retrained, and a run that stopped
part-way continues from its ``weights/last.pt``. Run the same command again after an interruption. The runs train
seed by seed, so a comparison stopped part-way holds complete pairs. ``weights`` (``{model}`` and ``{seed}``
replaced) starts every run from a checkpoint, e.g. the same model and seed of an earlier comparison.

Independent runs can train side by side (``parallel`` processes, each with its own torch thread count and data
workers from its share of the cores). On one machine with the same libraries a run's figures depend on its seed
and thread count only, so a parallel comparison records the same numbers as a serial one with the same ``threads``.
"""

from __future__ import annotations

import json
import math
import multiprocessing
import statistics
import time
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import torch

from ..cfg import CompareConfig, TrainConfig
from ..cfg.imgsz import stride_multiple
from ..engine.run import model_task
from ..errors import FocalYoloError
from ..models import build_model
from ..models.summary import count_parameters
from ..tasks import get_task
from ..utils.files import write_atomically
from ..utils.logging import setup_logging
from ..utils.threads import available_cores, configure_threads, default_threads, default_workers
from ..weights.convert import deployment_form
from .flops import model_gflops
from .paired_report import BOOTSTRAP_SEED, model_label, paired_columns, paired_rows, plot_ablation
from .table import Column, render_markdown, render_text, write_csv
from .timing import LoadMonitor, machine_info, measure

__all__ = [
    "RESULT_FILE", "SCHEDULE_KEYS", "Schedule", "ablation_columns", "ablation_rows",
    "compare", "default_parallel", "final_metrics_of", "mean_std", "model_costs", "read_result", "run_name",
    "train_all", "train_one",
]

RESULT_FILE = "compare.json"
SCHEDULE_KEYS = ("data", "epochs", "imgsz", "batch", "hyp", "optimizer", "val_interval")


@dataclass
class Schedule:
    """What every (model, seed) run shares; a finished run recorded under another schedule is an error.

    ``weights``: the checkpoint each run starts from (None: random initialisation), a path in which ``{model}`` and
    ``{seed}`` stand for the run's model label and seed, so that each run can start from its own earlier run
    (e.g. ``runs/compare/study-synthetic/{model}-seed{seed}/weights/best.pt``)."""

    data: str
    epochs: int
    imgsz: int
    batch: int = 16
    hyp: str | None = None
    optimizer: str = "SGD"
    val_interval: int = 1
    weights: str | None = None

    def start_weights(self, model: str, seed: int) -> str | None:
        """The checkpoint the run of (``model``, ``seed``) starts from, None when it starts from random weights."""
        if self.weights is None:
            return None
        try:
            return self.weights.format(model=model_label(model), seed=seed)
        except (KeyError, IndexError, ValueError) as e:
            raise FocalYoloError(f"--weights {self.weights!r}: only {{model}} and {{seed}} can be replaced "
                                 f"({type(e).__name__}: {e})") from None

    def missing_weights(self, runs: list[tuple[str, int]]) -> list[str]:
        """The start checkpoints of ``runs`` that are not files (all of them resolved first: a bad template fails
        before anything trains)."""
        paths = [self.start_weights(model, seed) for model, seed in runs]
        return [p for p in dict.fromkeys(paths) if p is not None and not Path(p).is_file()]

    def config(self, **run: Any) -> TrainConfig:
        """The training configuration of one run of this schedule (``run``: model, seed, device, folders ...),
        starting from the run's :meth:`start_weights` when ``run`` names a model."""
        start = self.start_weights(run["model"], run.get("seed", 0)) if "model" in run else None
        return TrainConfig(data=self.data, epochs=self.epochs, imgsz=self.imgsz, batch=self.batch,
                           hyp=self.hyp or "scratch-high", optimizer=self.optimizer, val_interval=self.val_interval,
                           weights=start, **run)

    def as_dict(self) -> dict[str, Any]:
        """The schedule as recorded: the hyper-parameters resolved (defaults + the file + the optimizer), not
        the file's path, so an edited hyp file counts as another schedule; the start weights' template when
        there is one (a run from random weights records no such key, as before the option existed)."""
        start = {"weights": self.weights} if self.weights is not None else {}
        return {**{k: getattr(self, k) for k in SCHEDULE_KEYS}, "hyp": self.config().hyperparameters(), **start}


def run_name(model: str, seed: int) -> str:
    return f"{model_label(model)}-seed{seed}"


def read_result(run_dir: Path, schedule: Schedule) -> dict[str, Any] | None:
    """The recorded result of a finished run, None when the run has not finished."""
    path = run_dir / RESULT_FILE
    if not path.is_file():
        return None
    result = json.loads(path.read_text())
    if result.get("schedule") != schedule.as_dict():
        recorded, wanted = result.get("schedule") or {}, schedule.as_dict()
        changed = sorted(k for k in set(recorded) | set(wanted) if recorded.get(k) != wanted.get(k))
        raise FocalYoloError(f"{path} was trained under another schedule ({', '.join(changed)} differ); "
                             "use another --name (or delete that run folder) to train under the new schedule")
    return result


def _write_json(path: Path, data: dict[str, Any]) -> None:
    write_atomically(path, json.dumps(data, indent=2).encode())


def final_metrics_of(run_dir: Path, schedule: Schedule, device: str, workers: int | None) -> dict[str, Any]:
    """The final figures (COCO's for detection) of a run's ``weights/best.pt`` on the validation split (used when the
    trainer's own final validation is not at hand, e.g. a run that finished training but stopped before
    recording)."""
    from ..engine.evaluation import evaluate
    from ..tasks import task_of
    from ..utils.threads import default_workers
    from ..utils.torch_utils import select_device
    from ..weights.checkpoint import model_from_checkpoint, read_checkpoint

    model = model_from_checkpoint(read_checkpoint(run_dir / "weights" / "best.pt"))
    task, target = task_of(model), select_device(device)
    config = task.load_data(schedule.data)
    workers = workers if workers is not None else default_workers(target.type, torch.get_num_threads())
    imgsz = model.train_args.get("imgsz") or schedule.imgsz  # the size the run trained at (a stride multiple)
    loader = task.build_val_loader(model, config.val, imgsz, schedule.batch * 2, workers)
    return evaluate(model, loader, names=config.names, device=target, coco=True, verbose=False)


def train_one(model: str, seed: int, schedule: Schedule, root: Path, device: str = "", workers: int | None = None,
              plots: bool = False, verbose: bool = True, threads: int | None = None) -> dict[str, Any]:
    """Train (or continue, or skip) one (model, seed) run and return its recorded result."""
    from ..engine.run import resume_run
    from ..engine.trainer import Trainer

    run_dir = root / run_name(model, seed)
    done = read_result(run_dir, schedule)
    if done is not None:
        return {**done, "skipped": True}
    last = run_dir / "weights" / "last.pt"
    t0 = time.perf_counter()
    metrics: dict[str, Any] | None = None
    runtime = dict(device=device, workers=workers, plots=plots, verbose=verbose, threads=threads)
    resumed = resume_run(last, **runtime) if last.is_file() else None
    if resumed is not None and int(resumed.resume_state["epoch"]) + 1 >= schedule.epochs:
        metrics = final_metrics_of(run_dir, schedule, device, workers)  # trained, not recorded
    else:
        trainer = Trainer(resumed or schedule.config(model=model, seed=seed, project=str(root), name=run_dir.name,
                                                     exist_ok=True, **runtime))
        trainer.train()
        metrics = getattr(trainer, "final_metrics", None)
        if metrics is None:
            metrics = final_metrics_of(run_dir, schedule, device, workers)
    result = {
        "model": model, "seed": seed, "schedule": schedule.as_dict(),
        "metrics": {k: v for k, v in metrics.items() if isinstance(v, (int, float))},
        "train_seconds": time.perf_counter() - t0, "date": time.strftime("%Y-%m-%dT%H:%M:%S"),
    }
    _write_json(run_dir / RESULT_FILE, result)
    return {**result, "skipped": False}


def mean_std(values: list[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (0 for one value); COCO's -1 ('no such objects') entries are
    dropped, NaN when nothing is left."""
    kept = [v for v in values if v is not None and v >= 0 and math.isfinite(v)]
    if not kept:
        return math.nan, math.nan
    return statistics.fmean(kept), statistics.stdev(kept) if len(kept) > 1 else 0.0


def model_costs(model: str, imgsz: int, runs: int = 20, nc: int = 80) -> dict[str, Any]:
    """Parameters, GFLOPs at ``imgsz`` (rounded up to the model's stride) and CPU latency (batch 1, median) of a
    model's deployment form."""
    net = deployment_form(build_model(model, nc=nc))
    imgsz = stride_multiple(imgsz, int(net.stride.max()))
    x = torch.rand(1, 3, imgsz, imgsz)

    def fn():
        with torch.inference_mode():
            return net(x)

    with LoadMonitor() as load:
        timing = measure(fn, warmup=3, runs=runs)
    return {"params": count_parameters(net), "gflops": model_gflops(net, imgsz), "latency_ms": 1000 * timing.median,
            "latency_p10_ms": 1000 * timing.p10, "latency_p90_ms": 1000 * timing.p90, "latency_load": load.load1}


def _pm(mean_key: str, std_key: str, scale: float = 100.0) -> Callable[[dict[str, Any]], str]:
    def text(row: dict[str, Any]) -> str:
        mean, std = row[mean_key], row[std_key]
        return "–" if math.isnan(mean) else f"{scale * mean:.1f} ± {scale * std:.1f}"
    return text


def ablation_columns(imgsz: int, metrics: dict[str, str]) -> list[Column]:
    columns = [Column("model", "model"), Column("params", "params (M)", lambda v: f"{v / 1e6:.2f}"),
               Column("gflops", f"GFLOPs@{imgsz}", ".2f"), Column("latency_ms", f"CPU ms@{imgsz}", ".1f"),
               Column("seeds", "seeds")]
    columns += [Column(f"{name}_text", name) for name in metrics]
    return columns


def ablation_rows(results: list[dict[str, Any]], costs: dict[str, dict[str, Any]],
                  metrics: dict[str, str]) -> list[dict[str, Any]]:
    """One row per model: costs, then each metric's (``metrics``: column -> results key) mean and std over that
    model's seeds."""
    rows = []
    for model in dict.fromkeys(r["model"] for r in results):
        mine = [r for r in results if r["model"] == model]
        row: dict[str, Any] = {"model": model_label(model), **costs[model],
                               "seeds": ",".join(str(r["seed"]) for r in mine), "n": len(mine)}
        for name, key in metrics.items():
            mean, std = mean_std([r["metrics"].get(key, math.nan) for r in mine])
            row[f"{name}_mean"], row[f"{name}_std"] = mean, std
            row[f"{name}_text"] = _pm(f"{name}_mean", f"{name}_std")(row)
        rows.append(row)
    return rows


def default_parallel() -> int:
    """Runs trained side by side when none is asked for: 2 with at least 4 cores (each run then keeps a core or
    more for its compute threads and one for its data workers), else 1."""
    return 2 if available_cores() >= 4 else 1


def _start_worker(threads: int) -> None:
    """Set-up of a process that trains runs of a parallel comparison: its thread count and its logger."""
    setup_logging()
    configure_threads(threads)


def train_all(models: list[str], seeds: list[int], schedule: Schedule, root: Path, device: str = "",
              workers: int | None = None, plots: bool = False, verbose: bool = True, threads: int | None = None,
              parallel: int = 1, log: Callable[[str], None] = print, first: tuple[str, str] | None = None,
              ) -> list[dict[str, Any]]:
    """Train every (model, seed) (:func:`train_one`), ``parallel`` at a time in processes of their own, and return
    the results in (model, seed) order. In parallel each process gets ``threads`` (default: this process's default
    share, at least 1), data workers from its share of the cores, and trains quietly; one line is logged per run.
    ``first``: (column, key) of the metric that line shows."""
    runs = [(model, seed) for model in models for seed in seeds]
    results: dict[tuple[str, int], dict[str, Any]] = {}

    def report(model: str, seed: int, result: dict[str, Any]) -> None:
        state = ("already done, not retrained" if result["skipped"] else f"trained in {result['train_seconds']:.0f} s")
        shown = f"; {first[0]} {result['metrics'].get(first[1], math.nan):.4f}" if first else ""
        log(f"{run_name(model, seed)}: {state}{shown}")
        results[model, seed] = result

    # seed by seed, so that a comparison stopped part-way holds every model's first seeds (paired)
    todo = [(m, s) for s in seeds for m in models if read_result(root / run_name(m, s), schedule) is None]
    for model, seed in runs:
        if (model, seed) not in todo:
            report(model, seed, train_one(model, seed, schedule, root, device, workers, plots, verbose, threads))
    if parallel <= 1 or len(todo) <= 1:
        for model, seed in todo:
            report(model, seed, train_one(model, seed, schedule, root, device, workers, plots, verbose, threads))
    else:
        from ..utils.torch_utils import select_device

        run_threads = threads or max(1, default_threads() // parallel)
        run_workers = workers if workers is not None else default_workers(select_device(device).type, run_threads,
                                                                          parallel)
        context = multiprocessing.get_context("spawn")  # no fork of a process that holds OpenMP threads
        with ProcessPoolExecutor(min(parallel, len(todo)), context, _start_worker, (run_threads,)) as pool:
            futures = {pool.submit(train_one, m, s, schedule, root, device, run_workers, plots, False, run_threads):
                       (m, s) for m, s in todo}
            try:
                for future, (model, seed) in futures.items():
                    report(model, seed, future.result())
            except BrokenProcessPool:
                raise FocalYoloError("a training process of the comparison died (out of memory?); the runs that "
                                     "finished are recorded: run the same command again to resume") from None
    return [results[run] for run in runs]


def compare(cfg: CompareConfig, command: str = "", log: Callable[[str], None] = print) -> Path:
    """Train every (model, seed) of ``cfg`` not yet recorded, then write ``ablation.csv``, ``paired.csv``,
    ``ablation.md`` and ``ablation.png``; return the folder. ``command`` (the command line) heads the report.

    The folder is ``<project>/<name>`` itself (not numbered), so running the same command again resumes it.
    ``cfg.baseline`` (default: the first model) is what the other models are compared with; ``cfg.parallel``
    (default :func:`default_parallel`) how many runs train at once.
    """
    models, seeds, data, imgsz = cfg.models, cfg.seeds, cfg.data, cfg.imgsz
    if not models or not seeds:
        raise FocalYoloError("compare needs at least one model and one seed")
    if len(set(seeds)) != len(seeds) or len(set(models)) != len(models):
        raise FocalYoloError("compare needs distinct models and distinct seeds")
    named = [m for m in models if cfg.baseline in (m, model_label(m))] if cfg.baseline is not None else models[:1]
    if not named:
        raise FocalYoloError(f"the baseline {cfg.baseline!r} is not one of the models ({', '.join(models)})")
    baseline = named[0]
    parallel = default_parallel() if cfg.parallel is None else cfg.parallel
    tasks = {model: model_task(model) for model in models}
    if len(set(tasks.values())) > 1:
        listed = ", ".join(f"{m} ({t})" for m, t in tasks.items())
        raise FocalYoloError(f"compare needs models of one task, got {listed}")
    task = tasks[models[0]]
    metrics = get_task(task).report_metrics
    first = next(iter(metrics))
    schedule = Schedule(data=str(data), epochs=cfg.epochs, imgsz=imgsz, batch=cfg.batch, hyp=cfg.hyp,
                        optimizer=cfg.optimizer, val_interval=cfg.val_interval, weights=cfg.weights)
    missing = schedule.missing_weights([(model, seed) for model in models for seed in seeds])
    if missing:
        raise FocalYoloError(f"--weights: no checkpoint at {', '.join(missing)}")
    configure_threads(cfg.threads)
    root = Path(cfg.project) / cfg.name
    root.mkdir(parents=True, exist_ok=True)
    results = train_all(models, list(seeds), schedule, root, cfg.device, cfg.workers, cfg.plots, cfg.verbose,
                        cfg.threads, parallel, log, (first, metrics[first]))
    nc = get_task(task).load_data(data).nc
    costs = {model: model_costs(model, imgsz, cfg.latency_runs, nc) for model in models}
    rows = ablation_rows(results, costs, metrics)
    columns = ablation_columns(imgsz, metrics)
    keys = (["model", "params", "gflops", "latency_ms", "latency_p10_ms", "latency_p90_ms", "latency_load",
             "seeds", "n"] + [f"{m}_{s}" for m in metrics for s in ("mean", "std")])
    write_csv(rows, root / "ablation.csv", keys)
    paired = paired_rows(results, metrics, baseline)
    write_csv(paired, root / "paired.csv", ["model", "baseline", "metric", "n", "diff_mean", "diff_sd", "t_low",
                                            "t_high", "boot_low", "boot_high", "p_value", "verdict", "seeds_needed"])
    plot_ablation(results, metrics, root / "ablation.png")
    info = machine_info()
    notes = [f"schedule: data {data}, {cfg.epochs} epochs, imgsz {imgsz}, batch {cfg.batch}, "
             f"hyp {cfg.hyp or 'default'}, {cfg.optimizer}, validation every {cfg.val_interval} epoch(s); "
             f"seeds {', '.join(map(str, seeds))}; "
             + (f"each run starts from {cfg.weights}" if cfg.weights else "random initialisation"),
             f"metrics: {get_task(task).report_description} of each run's final validation of best.pt, in %, mean ± "
             "sample std over seeds ('–': no objects of that size)",
             f"params/GFLOPs/latency: the deployment form (GELAN, fused), batch 1, CPU median of {cfg.latency_runs} "
             f"runs; machine: {info.line()}"]
    if command:
        notes.insert(0, f"command: `{command}`")
    paired_notes = [
        f"each model minus {model_label(baseline)}, seed by seed (paired), in points (100 × the metric); the "
        "intervals are 95 % intervals of the mean difference: Student's t and a percentile bootstrap "
        f"(9,999 resamples, generator seed {BOOTSTRAP_SEED})",
        "verdict: ahead / behind when the t-interval excludes 0, else not separable with the seeds run; seeds for "
        "80% power: the fewest seeds a paired two-sided t-test (alpha 0.05) needs to separate a gap of the observed "
        "mean and spread 8 times in 10",
        "a metric no seed has for both models ('–' above: no objects of that size) has no row",
        "figure: ablation.png (every seed's value, each model's mean and 95 % t-interval)"]
    (root / "ablation.md").write_text("\n".join(
        ["# Ablation", ""] + [f"- {n}" for n in notes] + ["", render_markdown(rows, columns), "",
         f"## Against {model_label(baseline)}", ""] + [f"- {n}" for n in paired_notes]
        + ["", render_markdown(paired, paired_columns()) if paired else "(one model: nothing to compare)", ""]))
    log("")
    log(render_text(rows, columns))
    if paired:
        log("")
        log(render_text(paired, paired_columns()))
    log(f"\nwrote {root / 'ablation.csv'}, {root / 'paired.csv'}, {root / 'ablation.md'} and {root / 'ablation.png'}")
    return root
