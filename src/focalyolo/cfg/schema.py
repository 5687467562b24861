"""Every option of ``train``, ``val``, ``predict``, ``export`` and ``compare``, and every hyper-parameter, in one
place.

Each field has a type, a default and a one-line description. The command line builds its flags from these
classes (:mod:`focalyolo.cli`), ``YOLO.train/val/predict/export`` take the same names as keywords, hyp YAMLs
set the hyper-parameters (the fields of :data:`HYP_GROUPS`), and a training run records its resolved
:class:`TrainConfig` in ``args.yaml`` and in its checkpoints. ``focalyolo cfg`` prints them as commented YAML.

Defaults that depend on something known only at run time are None here and say so in their help: the size of
a training run depends on the data (a short CPU run on the built-in synthetic data, YOLOv9's recipe
otherwise), and ``val``/``predict``/``export`` take the image size (and ``val`` the data) a checkpoint was
trained with.
"""

from __future__ import annotations

import logging
import re
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from ..errors import ConfigError
from .hyp import LEGACY_KEYS, read_hyp_file
from .options import (
    FRACTION,
    NON_NEGATIVE,
    NON_NEGATIVE_INT,
    OPEN_FRACTION,
    POSITIVE,
    POSITIVE_INT,
    Config,
    OptionError,
    Rule,
    UnknownOptionError,
    coerce,
    hyper,
    option,
    option_fields,
)

__all__ = [
    "CompareConfig", "DATA_DEPENDENT_DEFAULTS", "ExportConfig", "GROUP_TITLES", "HYP_GROUPS", "PredictConfig",
    "SYNTHETIC", "SYNTHETIC_DATA", "TrainConfig", "ValConfig", "checked_hyperparameters", "default_hyperparameters",
    "load_hyp",
]

LOGGER = logging.getLogger("focalyolo")

SYNTHETIC = "synthetic"
SYNTHETIC_DATA = (SYNTHETIC, "synthetic-seg", "synthetic-cls", "synthetic-pose", "synthetic-context",
                  "synthetic-context-marked", "synthetic-small", "synthetic-obb")
"""The built-in datasets (focalyolo.data.synthetic): on them, training defaults to a short CPU run."""
"""The name of the built-in dataset."""

GROUP_TITLES = {
    "run": "what to run and where results go",
    "data": "data and batching",
    "optimizer": "optimizer",
    "schedule": "learning-rate schedule, warmup and averaging",
    "loss": "loss gains",
    "assigner": "task-aligned assigner",
    "augmentation": "augmentation (training only)",
    "nms": "non-maximum suppression",
    "export": "export format",
    "runtime": "device, threads and output",
}
HYP_GROUPS = ("optimizer", "schedule", "loss", "assigner", "augmentation")
"""The groups whose fields are hyper-parameters: what a hyp YAML may set."""

DATA_DEPENDENT_DEFAULTS = {"epochs": (10, 100), "batch": (8, 16), "hyp": ("cpu-short", "scratch-high")}
"""Option -> (default on the built-in synthetic data: a short CPU run, default on other data: YOLOv9's recipe).
The image size depends on the task too: :meth:`focalyolo.tasks.Task.default_imgsz`, filled when the run is resolved
(:func:`focalyolo.engine.run.resolve_run`)."""

_DEVICE = re.compile(r"^(|cpu|mps|cuda|(cuda:)?\d+(\s*,\s*\d+)*)$")
DEVICE_RULE = Rule(lambda v: bool(_DEVICE.match(v.strip().lower())),
                   "expected cpu, mps, cuda, cuda:N, a GPU index or a list like 0,1,2,3")
THREADS_HELP = ("torch intra-op threads (default: all cores but one, at most 8: on a shared CPU, threads that "
                "outnumber the free cores wait for each other at every parallel step)")


# Options that several commands share, defined once. Each returns a dataclass field.
def _model(default: str | None, what: str) -> Any:
    return option(default, what, "run")


def _imgsz(help: str) -> Any:
    return option(None, help, "data", POSITIVE_INT)


def _device() -> Any:
    return option("", "cpu, 0, 0,1,2,3, cuda, cuda:1 or mps (default: GPU 0 if present, else CPU)", "runtime",
                  DEVICE_RULE)


def _threads() -> Any:
    return option(None, THREADS_HELP, "runtime", POSITIVE_INT)


def _workers() -> Any:
    return option(None, "data-loading worker processes (0: load in the main process; default: on a CPU the cores "
                        "the compute threads leave free, at least 1; on a GPU the cores, at most 8)", "data",
                  NON_NEGATIVE_INT)


def _conf(default: float) -> Any:
    return option(default, "confidence threshold", "nms", FRACTION)


def _iou() -> Any:
    return option(0.7, "NMS IoU threshold", "nms", OPEN_FRACTION)


def _max_det() -> Any:
    return option(300, "detections kept per image", "nms", POSITIVE_INT)


def _project(default: str) -> Any:
    return option(default, "parent folder of the output folder", "runtime")


def _name() -> Any:
    return option("exp", "output folder name (numbered exp2, exp3, ... when it exists)", "runtime")


def _exist_ok() -> Any:
    return option(False, "reuse the output folder instead of numbering a new one", "runtime")


def _verbose() -> Any:
    return option(True, "progress bars and printed tables", "runtime", cli=False)


@dataclass
class TrainConfig(Config):
    """Every training option and hyper-parameter (``focalyolo train``, ``YOLO.train``).

    Creating one fills the data-dependent defaults and the hyper-parameters: the hyp file (``hyp``, or
    ``cpu-short`` on synthetic data and ``scratch-high`` otherwise) sets those not given, and the
    scratch-high values the rest. ``imgsz`` stays unset when not given: its default depends on the model's task
    and is filled when the run is resolved. A saved record (args.yaml, a checkpoint's ``train_args``) has every
    value set, so it loads as it was.
    """

    command: ClassVar[str] = "train"

    # run
    model: str = _model("yolov9-t-focal", "packaged config name, model YAML or checkpoint (.pt) to start from")
    data: str = option(SYNTHETIC, "data YAML, COCO JSON, image-folder root (classifiers), or a built-in set: "
                                  "'synthetic', 'synthetic-seg', 'synthetic-cls', 'synthetic-pose'", "run")
    epochs: int = option(None, "epochs to train (default: 10 on synthetic data, else 100)", "run", POSITIVE_INT)
    patience: int = option(100, "stop after this many epochs without a better fitness (0: never)", "run",
                           NON_NEGATIVE_INT)
    val: bool = option(True, "validate during training (else best.pt is chosen by training loss)", "run")
    val_interval: int = option(1, "validate every N epochs (and after the last); best.pt is chosen among them",
                               "run", POSITIVE_INT)
    weights: str | None = option(None, "start from these weights (copied where name and shape match)", "run")
    resume: str | None = option(None, "continue a run from its weights/last.pt", "run")
    hyp: str | None = option(None, "hyp YAML or packaged name: scratch-high, cpu-short (default: cpu-short on "
                                   "synthetic data, else scratch-high)", "run")
    # data
    imgsz: int | None = _imgsz("training image size (default: 160 on synthetic data, else 640; classifiers: 96 on "
                               "synthetic-cls, else 224)")
    batch: int = option(None, "total batch size, split across DDP processes (default: 8 on synthetic data, "
                              "else 16)", "data", POSITIVE_INT)
    workers: int | None = _workers()
    cache: str | None = option(None, "ram: keep every decoded, resized image in memory for the whole run, when the "
                                     "available memory allows (checked first; else a warning and no cache)", "data",
                               choices=("ram",))
    # optimizer
    optimizer: str = hyper("SGD", "SGD (Nesterov) or AdamW", "optimizer", choices=("SGD", "AdamW"))
    lr0: float = hyper(0.01, "initial learning rate", "optimizer", POSITIVE)
    momentum: float = hyper(0.937, "SGD momentum / Adam beta1", "optimizer", FRACTION)
    weight_decay: float = hyper(0.0005, "weight decay, scaled by batch x accumulation / nbs", "optimizer",
                                NON_NEGATIVE)
    nbs: int = hyper(64, "nominal batch size: gradients accumulate up to it", "optimizer", POSITIVE_INT)
    grad_clip: float = hyper(10.0, "gradients clipped to this total norm", "optimizer", POSITIVE)
    # schedule
    lrf: float = hyper(0.01, "final learning rate = lr0 x lrf", "schedule", POSITIVE)
    cos_lr: bool = hyper(False, "cosine instead of linear learning-rate decay", "schedule")
    warmup_epochs: float = hyper(3.0, "warmup length in epochs (0: none)", "schedule", NON_NEGATIVE)
    warmup_min_steps: int = hyper(100, "warmup lasts at least this many steps (when warmup_epochs > 0)",
                                  "schedule", NON_NEGATIVE_INT)
    warmup_momentum: float = hyper(0.8, "momentum at the start of warmup", "schedule", FRACTION)
    warmup_bias_lr: float = hyper(0.1, "bias learning rate at the start of warmup", "schedule", NON_NEGATIVE)
    close_mosaic: int = hyper(15, "epochs at the end trained without mosaic", "schedule", NON_NEGATIVE_INT)
    ema_decay: float = hyper(0.9999, "decay of the weights' moving average (evaluated and saved)", "schedule",
                             FRACTION)
    ema_tau: float = hyper(2000.0, "ramp of the EMA decay: decay x (1 - exp(-updates / tau))", "schedule",
                           POSITIVE)
    # loss
    box: float = hyper(7.5, "CIoU box loss gain", "loss", NON_NEGATIVE)
    cls: float = hyper(0.5, "classification BCE gain", "loss", NON_NEGATIVE)
    dfl: float = hyper(1.5, "distribution focal loss gain", "loss", NON_NEGATIVE)
    seg: float = hyper(2.5, "mask BCE gain of segmentation models (YOLOv9 applies it per image)", "loss",
                       NON_NEGATIVE)
    pose: float = hyper(12.0, "keypoint location (1 - OKS) gain of pose models", "loss", NON_NEGATIVE)
    kobj: float = hyper(1.0, "keypoint visibility BCE gain of pose models", "loss", NON_NEGATIVE)
    aux_weight: float = hyper(0.25, "weight of PGI's auxiliary branch (the main branch weighs 1)", "loss",
                              NON_NEGATIVE)
    label_smoothing: float = hyper(0.1, "label smoothing of the classifiers' cross-entropy", "loss", Rule(
        lambda v: 0 <= v < 1, "must be at least 0 and below 1"))
    # assigner
    topk: int = hyper(10, "candidate anchors per object", "assigner", POSITIVE_INT)
    alpha: float = hyper(0.5, "exponent of the class score in the alignment metric", "assigner", NON_NEGATIVE)
    beta: float = hyper(6.0, "exponent of the IoU in the alignment metric", "assigner", NON_NEGATIVE)
    # augmentation
    hsv_h: float = hyper(0.015, "hue gain (fraction)", "augmentation", FRACTION)
    hsv_s: float = hyper(0.7, "saturation gain (fraction)", "augmentation", FRACTION)
    hsv_v: float = hyper(0.4, "value gain (fraction)", "augmentation", FRACTION)
    degrees: float = hyper(0.0, "rotation (+/- degrees)", "augmentation", NON_NEGATIVE)
    translate: float = hyper(0.1, "translation (+/- fraction of the image)", "augmentation", FRACTION)
    scale: float = hyper(0.9, "scale gain drawn from [1 - scale, 1 + scale]", "augmentation", NON_NEGATIVE)
    shear: float = hyper(0.0, "shear (+/- degrees)", "augmentation", NON_NEGATIVE)
    perspective: float = hyper(0.0, "perspective (+/- fraction, 0-0.001)", "augmentation", NON_NEGATIVE)
    flipud: float = hyper(0.0, "probability of a vertical flip", "augmentation", FRACTION)
    fliplr: float = hyper(0.5, "probability of a horizontal flip", "augmentation", FRACTION)
    mosaic: float = hyper(1.0, "probability of a 4-image mosaic", "augmentation", FRACTION)
    mixup: float = hyper(0.15, "probability of mixing a mosaic with a second one", "augmentation", FRACTION)
    # runtime
    device: str = _device()
    threads: int | None = _threads()
    seed: int = option(0, "seed of initialisation, shuffling and augmentation", "runtime", NON_NEGATIVE_INT)
    deterministic: bool = option(True, "ask torch for reproducible kernels (off: on CUDA, cuDNN times "
                                                 "and picks the fastest kernels)", "runtime")
    amp: bool = option(True, "mixed precision on CUDA", "runtime")
    amp_dtype: str = option("fp16", "--amp's type: fp16 (loss scaling) or bf16 (GPUs from Ampere on: float32's range, "
                                    "no scaling)", "runtime", choices=("fp16", "bf16"))
    compile: bool = option(False, "torch.compile the model for training (the first steps compile it)", "runtime")
    sync_bn: bool = option(False, "SyncBatchNorm under DDP (CUDA only)", "runtime")
    project: str = _project("runs/train")
    name: str = _name()
    exist_ok: bool = _exist_ok()
    plots: bool = option(True, "write label, batch, curve and results plots", "runtime")
    verbose: bool = _verbose()

    def resolve(self) -> None:
        """Fill the data-dependent defaults (:data:`DATA_DEPENDENT_DEFAULTS`), then every hyper-parameter not set
        from the hyp file (whose missing keys take the scratch-high values)."""
        small = self.data in SYNTHETIC_DATA
        for name, (on_synthetic, otherwise) in DATA_DEPENDENT_DEFAULTS.items():
            if getattr(self, name) is None:
                setattr(self, name, on_synthetic if small else otherwise)
        unset = [f.name for f in option_fields(type(self)) if f.metadata["hyper"] and getattr(self, f.name) is None]
        if unset:
            values = load_hyp(self.hyp)
            for name in unset:
                setattr(self, name, values[name])

    def hyperparameters(self) -> dict[str, Any]:
        """The hyper-parameters (the fields of :data:`HYP_GROUPS`) and their values."""
        return {f.name: getattr(self, f.name) for f in option_fields(type(self)) if f.metadata["hyper"]}


@dataclass
class ValConfig(Config):
    """Options of ``focalyolo val`` and ``YOLO.val``."""

    command: ClassVar[str] = "val"

    model: str | None = _model(None, "checkpoint (.pt), exported .onnx, or a config name (random weights)")
    data: str | None = option(None, "data YAML, COCO JSON, or 'synthetic' (default: the data the checkpoint "
                                    "was trained on)", "run")
    split: str = option("val", "dataset split to score", "run", choices=("val", "test", "train"))
    imgsz: int | None = _imgsz("long side of the (rect-batched) images (default: the checkpoint's training "
                               "size, else 640)")
    batch: int = option(32, "images per batch", "data", POSITIVE_INT)
    workers: int | None = _workers()
    conf: float = _conf(0.001)
    iou: float = _iou()
    max_det: int = _max_det()
    half: bool = option(False, "FP16 autocast (CUDA only)", "runtime")
    save_json: bool = option(False, "write predictions.json (COCO results format)", "runtime")
    plots: bool = option(True, "curves, confusion matrix and batch images", "runtime")
    device: str = _device()
    threads: int | None = _threads()
    project: str = _project("runs/val")
    name: str = _name()
    exist_ok: bool = _exist_ok()
    verbose: bool = _verbose()


@dataclass
class PredictConfig(Config):
    """Options of ``focalyolo predict`` and ``YOLO.predict``."""

    command: ClassVar[str] = "predict"

    model: str | None = _model(None, "checkpoint (.pt), exported .onnx, or a config name (random weights)")
    source: str | None = option(None, "image, folder, glob (quoted) or video file", "run")
    imgsz: int | None = _imgsz("long side of the network input (default: the checkpoint's training size, "
                               "else 640)")
    batch: int = option(8, "images per forward pass", "data", POSITIVE_INT)
    conf: float = _conf(0.25)
    iou: float = _iou()
    max_det: int = _max_det()
    classes: list[int] | None = option(None, "keep only these class ids", "nms", NON_NEGATIVE_INT)
    agnostic_nms: bool = option(False, "NMS across classes", "nms")
    save: bool = option(True, "save annotated images / videos (YOLO.predict: default off)", "runtime")
    save_txt: bool = option(False, "write labels/<name>.txt (cls cx cy w h conf)", "runtime")
    save_json: bool = option(False, "write predictions.json (COCO results format)", "runtime")
    device: str = _device()
    threads: int | None = _threads()
    project: str = _project("runs/predict")
    name: str = _name()
    exist_ok: bool = _exist_ok()
    verbose: bool = _verbose()


@dataclass
class ExportConfig(Config):
    """Options of ``focalyolo export`` and ``YOLO.export``."""

    command: ClassVar[str] = "export"

    model: str | None = _model(None, "checkpoint (.pt), or a config name / YAML (random weights)")
    format: str = option("onnx", "onnx (checked in onnxruntime), torchscript (deprecated by PyTorch), openvino (an IR "
                                 "folder, <output>_openvino_model/) or engine (TensorRT, CUDA only)", "export",
                         choices=("onnx", "torchscript", "openvino", "engine"))
    imgsz: int | None = _imgsz("square input size, rounded up to a multiple of the stride (default: the "
                               "checkpoint's training size, else 640)")
    batch: int = option(1, "batch size of the exported graph", "export", POSITIVE_INT)
    dynamic: bool = option(False, "ONNX: symbolic batch, height and width", "export")
    half: bool = option(False, "fp16 weights and input (CUDA only); openvino: fp16 weights in the IR", "export")
    simplify: bool = option(False, "ONNX: run onnxsim if installed", "export")
    opset: int = option(17, "ONNX opset version", "export", Rule(lambda v: 7 <= v <= 23, "must be from 7 to 23"))
    int8: bool = option(False, "onnx: also write <output>-int8.onnx, statically quantized by onnxruntime; openvino: "
                               "also <output>_int8_openvino_model/ (NNCF); engine: an INT8 engine", "export")
    data: str | None = option(None, "--int8: dataset whose train images calibrate the ranges (default: the data "
                                    "the checkpoint was trained on)", "export")
    calib_images: int = option(64, "--int8: number of calibration images", "export", POSITIVE_INT)
    nms: bool = option(False, "ONNX: end the graph in NMS (outputs detections (B, max-det, 6 + extra) and count "
                              "(B,)), with --conf, --iou, --max-det baked in", "nms")
    conf: float = option(0.25, "--nms: confidence threshold", "nms", FRACTION)
    iou: float = option(0.7, "--nms: IoU threshold", "nms", OPEN_FRACTION)
    max_det: int = option(300, "--nms: detections kept per image", "nms", POSITIVE_INT)
    output: str | None = option(None, "output file (default: next to the model, with the format's suffix; --nms: "
                                      "<model>-nms.onnx)", "runtime")
    device: str = _device()
    threads: int | None = _threads()


@dataclass
class CompareConfig(Config):
    """Options of ``focalyolo compare`` (:func:`focalyolo.analysis.compare.compare`): the models, the schedule every
    (model, seed) run shares, the seeds, and how the runs are trained and reported."""

    command: ClassVar[str] = "compare"

    models: list[str] = option(["gelan-t", "gelan-t-focal", "gelan-t-attn"], "config names or YAMLs (comma-separated)",
                               "run")
    data: str = option(SYNTHETIC, "data YAML, COCO JSON, image-folder root (classifiers), or a built-in set: "
                                  + ", ".join(f"'{name}'" for name in SYNTHETIC_DATA), "run")
    epochs: int = option(10, "epochs each run trains", "run", POSITIVE_INT)
    seeds: list[int] = option([0, 1, 2, 3, 4], "seeds (comma-separated); every model trains once per seed (with fewer "
                                               "than five a paired t-interval is wide)", "run", NON_NEGATIVE_INT)
    baseline: str | None = option(None, "the model the others are compared with, seed by seed (default: the first "
                                        "of --models)", "run")
    hyp: str | None = option(None, "hyper-parameter YAML or packaged name: scratch-high (default), cpu-short (short "
                                   "CPU runs)", "run")
    optimizer: str = option("SGD", "SGD (Nesterov) or AdamW", "run", choices=("SGD", "AdamW"))
    val_interval: int = option(1, "validate every N epochs (and after the last)", "run", POSITIVE_INT)
    weights: str | None = option(None, "checkpoint every run starts from (default: random weights); {model} and "
                                       "{seed} stand for the run's model and seed, e.g. "
                                       "runs/compare/exp/{model}-seed{seed}/weights/best.pt", "run")
    imgsz: int = option(160, "training image size (rounded up to a multiple of the models' stride)", "data",
                        POSITIVE_INT)
    batch: int = option(16, "batch size of every run", "data", POSITIVE_INT)
    workers: int | None = option(None, "data-loading workers (default: the cores the compute threads leave free)",
                                 "data", NON_NEGATIVE_INT)
    parallel: int | None = option(None, "runs trained at once, each in its own process with its own threads "
                                        "(default: 2 with at least 4 cores, else 1); a run's figures equal a serial "
                                        "run's with the same --threads", "runtime", POSITIVE_INT)
    latency_runs: int = option(20, "timed CPU runs for each model's latency", "runtime", POSITIVE_INT)
    device: str = option("", "cpu or 0 (default: GPU 0 if present, else CPU)", "runtime", DEVICE_RULE)
    threads: int | None = _threads()
    plots: bool = option(False, "write each run's training plots", "runtime")
    project: str = _project("runs/compare")
    name: str = option("exp", "the ablation folder (not numbered); the same name resumes it", "runtime")
    verbose: bool = _verbose()


def default_hyperparameters() -> dict[str, Any]:
    """Every hyper-parameter with its scratch-high value (what a hyp file's missing keys take)."""
    return {f.name: f.metadata["value"] for f in option_fields(TrainConfig) if f.metadata["hyper"]}


def checked_hyperparameters(values: Mapping[str, Any], source: str) -> dict[str, Any]:
    """``values`` with each key checked against the schema (type and rule); legacy keys dropped with a warning."""
    hyper_fields = {f.name: f for f in option_fields(TrainConfig) if f.metadata["hyper"]}
    all_fields = set(TrainConfig.names())
    legacy = sorted(k for k in values if k in LEGACY_KEYS)
    if legacy:
        LOGGER.warning(f"{source}: ignored {', '.join(legacy)}: YOLOv9 legacy key(s) that nothing reads "
                       f"({'; '.join(LEGACY_KEYS[k] for k in legacy)})")
    type_hints = typing.get_type_hints(TrainConfig)
    out: dict[str, Any] = {}
    for key, value in values.items():
        if key in LEGACY_KEYS:
            continue
        if key not in hyper_fields:
            if key in all_fields:
                raise ConfigError(f"{source}: '{key}' is a run option, not a hyper-parameter: "
                                  f"pass it as --{key.replace('_', '-')} or {key}=")
            raise UnknownOptionError(str(key), hyper_fields, "hyper-parameter", source)
        checked = coerce(key, value, type_hints[key], source)
        rule = hyper_fields[key].metadata["rule"]
        if rule is not None and not rule.test(checked):
            raise OptionError(key, checked, rule.text, source)
        out[key] = checked
    return out


def load_hyp(hyp: str | Path | Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Every hyper-parameter: scratch-high's values updated by ``hyp``, a YAML path, the name of a packaged
    file (``cpu-short`` for ``focalyolo/cfg/hyp.cpu-short.yaml``) or a mapping. Keys are checked against the
    schema: an unknown one is an error naming the closest hyper-parameter."""
    values = default_hyperparameters()
    if hyp is None:
        return values
    if isinstance(hyp, Mapping):
        override, source = dict(hyp), "hyp"
    else:
        override, source = read_hyp_file(hyp)
    return {**values, **checked_hyperparameters(override, source)}
