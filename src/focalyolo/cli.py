"""The ``focalyolo`` command line: one sub-command per job; user errors print one line, not a traceback."""

from __future__ import annotations

import argparse
import sys
from typing import Callable, Sequence

from .errors import FocalYoloError
from .utils.logging import setup_logging

Command = Callable[[argparse.Namespace], int]
_COMMANDS: dict[str, tuple[Callable[[argparse.ArgumentParser], None], Command]] = {}


def command(name: str, help_text: str):
    """Register ``add_arguments(parser)`` as sub-command ``name``; the function returns the runner."""

    def decorate(add_arguments: Callable[[argparse.ArgumentParser], Command]):
        _COMMANDS[name] = (add_arguments, help_text)
        return add_arguments

    return decorate


@command("info", "print a model's layer table, parameters and GFLOPs")
def _info(parser: argparse.ArgumentParser) -> Command:
    parser.add_argument("--model", default="yolov9-c-focal", help="packaged config name, YAML path or checkpoint")
    parser.add_argument("--imgsz", type=int, default=640, help="input size for the GFLOPs count (0 to skip)")
    parser.add_argument("--nc", type=int, default=None, help="override the number of classes")

    def run(args: argparse.Namespace) -> int:
        from .models import build_model
        from .models.summary import format_summary

        model = build_model(args.model, nc=args.nc)
        name = str(args.model).rsplit("/", 1)[-1].removesuffix(".yaml")
        print(format_summary(model, name, args.imgsz or None))
        return 0

    return run


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every registered sub-command."""
    parser = argparse.ArgumentParser(prog="focalyolo", description=__doc__)
    subparsers = parser.add_subparsers(dest="command", required=True)
    for name, (add_arguments, help_text) in _COMMANDS.items():
        sub = subparsers.add_parser(name, help=help_text, description=help_text)
        sub.set_defaults(run=add_arguments(sub))
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script; returns the process exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    args.argv = argv  # the command as typed, for re-running it under torchrun
    setup_logging()
    try:
        return args.run(args)
    except FocalYoloError as exc:
        print(f"focalyolo {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"focalyolo {args.command}: interrupted", file=sys.stderr)
        return 130


@command("train", "train a model (PGI dual loss for yolov9-*, single branch for gelan-*)")
def _train(parser: argparse.ArgumentParser) -> Command:
    parser.add_argument("--model", default="yolov9-t-focal", help="packaged config name or model YAML")
    parser.add_argument("--data", default="synthetic", help="data YAML, COCO JSON, or 'synthetic' (built in)")
    parser.add_argument("--epochs", type=int, default=None, help="default: 10 on synthetic data, else 100")
    parser.add_argument("--imgsz", type=int, default=None, help="default: 160 on synthetic data, else 640")
    parser.add_argument("--batch", type=int, default=None,
                        help="total batch size, split across DDP processes (default: 8 on synthetic data, else 16)")
    parser.add_argument("--device", default="", help="cpu, 0, or 0,1,2,3 (several GPUs launch torchrun)")
    parser.add_argument("--processes", type=int, default=None,
                        help="DDP processes to launch on this machine (default: one per GPU in --device); "
                             "with --device cpu they use the gloo backend")
    parser.add_argument("--workers", type=int, default=2, help="data-loading worker processes per rank")
    parser.add_argument("--hyp", default=None, help="hyper-parameter YAML or packaged name: scratch-high, cpu-short "
                        "(default: cpu-short on synthetic data, else scratch-high)")
    parser.add_argument("--optimizer", default=None, choices=["SGD", "AdamW"],
                        help="default: AdamW on synthetic data, else SGD")
    parser.add_argument("--cos-lr", action="store_true", help="cosine instead of linear lr decay")
    parser.add_argument("--close-mosaic", type=int, default=None, help="epochs at the end without mosaic")
    parser.add_argument("--patience", type=int, default=100, help="early-stop after this many epochs without gain")
    parser.add_argument("--project", default="runs/train")
    parser.add_argument("--name", default="exp")
    parser.add_argument("--exist-ok", action="store_true", help="reuse the run folder instead of incrementing")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--weights", default=None, help="start from these weights (matched by name and shape)")
    parser.add_argument("--resume", default=None, help="continue a run from its weights/last.pt")
    parser.add_argument("--no-amp", dest="amp", action="store_false", help="disable mixed precision on CUDA")
    parser.add_argument("--sync-bn", action="store_true", help="SyncBatchNorm under DDP")
    parser.add_argument("--no-val", dest="val", action="store_false", help="skip per-epoch validation")
    parser.add_argument("--val-interval", type=int, default=1,
                        help="validate every N epochs (and after the last); best.pt is picked among those")
    parser.add_argument("--no-plots", dest="plots", action="store_false")

    def run(args: argparse.Namespace) -> int:
        import os

        from .engine.launch import launch, process_count
        from .engine.trainer import TrainArgs, split_batch, train

        options = {k: v for k, v in vars(args).items() if k not in ("command", "run", "argv", "processes")}
        processes = process_count(args.device, args.processes, args.resume)
        if processes > 1 and "WORLD_SIZE" not in os.environ:
            if not args.resume:  # fail here, once, rather than in every process
                split_batch(TrainArgs(**options).resolved().batch, processes)
            return launch(args.argv, processes)
        train(TrainArgs(**options))
        return 0

    return run


@command("val", "evaluate a checkpoint on a dataset split: mAP (fast and pycocotools), plots, metrics.json")
def _val(parser: argparse.ArgumentParser) -> Command:
    parser.add_argument("--model", required=True, help="checkpoint (.pt), exported .onnx (run in onnxruntime), or a config name (random weights)")
    parser.add_argument("--data", required=True, help="data YAML, COCO JSON, or 'synthetic'")
    parser.add_argument("--split", default="val", choices=["val", "test", "train"])
    parser.add_argument("--imgsz", type=int, default=640, help="long side of the (rect-batched) images")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--conf", type=float, default=0.001, help="NMS confidence threshold")
    parser.add_argument("--iou", type=float, default=0.7, help="NMS IoU threshold")
    parser.add_argument("--max-det", type=int, default=300, help="detections kept per image")
    parser.add_argument("--device", default="", help="cpu, 0 or cuda:1 (default: GPU 0 if present, else CPU)")
    parser.add_argument("--workers", type=int, default=2, help="data-loading worker processes")
    parser.add_argument("--half", action="store_true", help="FP16 autocast (CUDA only)")
    parser.add_argument("--save-json", action="store_true", help="write predictions.json (COCO results format)")
    parser.add_argument("--no-plots", dest="plots", action="store_false", help="skip curves and batch images")
    parser.add_argument("--project", default="runs/val")
    parser.add_argument("--name", default="exp")
    parser.add_argument("--exist-ok", action="store_true", help="reuse the output folder instead of incrementing")

    def run(args: argparse.Namespace) -> int:
        from pathlib import Path

        from .data import load_data_config
        from .engine.predictor import load_inference_model
        from .engine.validator import build_val_loader, validate
        from .errors import DataError
        from .utils.files import increment_path
        from .utils.torch_utils import select_device

        config = load_data_config(args.data)
        files = getattr(config, args.split)
        if not files:
            raise DataError(f"{config.source}: no '{args.split}' split")
        device = select_device(args.device)
        model = load_inference_model(args.model, device)
        if model.nc != config.nc:
            raise FocalYoloError(f"{args.model} predicts {model.nc} classes but {config.source} has {config.nc}")
        loader = build_val_loader(model, files, args.imgsz, args.batch, args.workers, config.nc, f"{args.split}: ")
        save_dir = increment_path(Path(args.project) / args.name, args.exist_ok, mkdir=True)
        validate(model, loader, names=config.names, device=device, half=args.half, conf=args.conf, iou=args.iou,
                 max_det=args.max_det, save_dir=save_dir, plots=args.plots, coco=True, save_json=args.save_json)
        print(f"results saved to {save_dir}")
        return 0

    return run


@command("predict", "detect objects in images, folders, globs or videos; saves annotated copies")
def _predict(parser: argparse.ArgumentParser) -> Command:
    parser.add_argument("--model", required=True, help="checkpoint (.pt), exported .onnx (run in onnxruntime), or a config name (random weights)")
    parser.add_argument("--source", required=True, help="image, folder, glob (quoted) or video file")
    parser.add_argument("--imgsz", type=int, default=640, help="long side of the network input")
    parser.add_argument("--conf", type=float, default=0.25, help="confidence threshold")
    parser.add_argument("--iou", type=float, default=0.7, help="NMS IoU threshold")
    parser.add_argument("--max-det", type=int, default=300, help="detections kept per image")
    parser.add_argument("--classes", type=int, nargs="+", default=None, help="keep only these class ids")
    parser.add_argument("--agnostic-nms", action="store_true", help="NMS across classes")
    parser.add_argument("--batch", type=int, default=8, help="images per forward pass")
    parser.add_argument("--device", default="", help="cpu, 0 or cuda:1 (default: GPU 0 if present, else CPU)")
    parser.add_argument("--save-txt", action="store_true", help="write labels/<name>.txt (cls cx cy w h conf)")
    parser.add_argument("--save-json", action="store_true", help="write predictions.json (COCO results format)")
    parser.add_argument("--project", default="runs/predict")
    parser.add_argument("--name", default="exp")
    parser.add_argument("--exist-ok", action="store_true", help="reuse the output folder instead of incrementing")

    def run(args: argparse.Namespace) -> int:
        from pathlib import Path

        from tqdm import tqdm

        from .engine.predictor import count_frames, expand_source, load_inference_model, predict
        from .engine.results import ResultWriter, coco_category_map
        from .utils.files import increment_path
        from .utils.torch_utils import select_device

        paths = expand_source(args.source)
        device = select_device(args.device)
        model = load_inference_model(args.model, device)
        save_dir = increment_path(Path(args.project) / args.name, args.exist_ok, mkdir=True)
        n_images = n_frames = n_boxes = 0
        skipped: list[str] = []
        ms = {"preprocess": 0.0, "inference": 0.0, "nms": 0.0}
        with tqdm(total=count_frames(paths), desc="predict", unit="img", dynamic_ncols=True) as bar, \
                ResultWriter(save_dir, args.save_txt, args.save_json, coco_category_map(model.names)) as writer:

            def skip(path: str, reason: str) -> None:
                skipped.append(path)
                bar.write(f"skipped {path}: {reason}", file=sys.stderr)
                bar.update(1)

            for result in predict(model, paths, imgsz=args.imgsz, conf=args.conf, iou=args.iou, max_det=args.max_det,
                                  device=device, batch=args.batch, agnostic=args.agnostic_nms, classes=args.classes,
                                  on_skip=skip):
                writer.write(result)
                bar.update(1)
                n_images, n_frames = n_images + (result.frame is None), n_frames + (result.frame is not None)
                n_boxes += len(result)
                ms = {k: v + result.speed[k] for k, v in ms.items()}
        n = max(n_images + n_frames, 1)
        print(f"{n_images} images, {n_frames} video frames, {len(skipped)} skipped, {n_boxes} detections; "
              f"{sum(ms.values()) / n:.1f} ms/image ({ms['preprocess'] / n:.1f} preprocess, "
              f"{ms['inference'] / n:.1f} inference, {ms['nms'] / n:.1f} NMS); saved to {save_dir}")
        return 0

    return run


@command("convert", "YOLOv9 checkpoint -> GELAN inference form (optionally fused), or import official YOLOv9 weights")
def _convert(parser: argparse.ArgumentParser) -> Command:
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--model", help="focalyolo checkpoint (.pt) to convert")
    source.add_argument("--from-official", help="official YOLOv9 .pt to import (read without running its code)")
    parser.add_argument("--to", default="gelan", choices=["gelan"], help="target form of --model (drop the PGI branch)")
    parser.add_argument("--fuse", action="store_true", help="with --model: also fold BatchNorm and merge RepConvN")
    parser.add_argument("--model-cfg", help="with --from-official: transfer the weights into this config by layer structure")
    parser.add_argument("--output", help="output checkpoint (default: <input>-converted.pt / <input>-focalyolo.pt)")

    def run(args: argparse.Namespace) -> int:
        from pathlib import Path

        from .engine.checkpoint import model_from_checkpoint, read_checkpoint, save_checkpoint
        from .engine.convert import convert_to_gelan, converted_checkpoint, fuse_model
        from .engine.official import import_official, transfer_weights
        from .models import build_model

        if args.model and args.model_cfg:
            parser.error("--model-cfg goes with --from-official")
        if args.from_official and args.fuse:
            parser.error("--fuse goes with --model (convert the imported checkpoint afterwards)")
        if args.model:
            original = model_from_checkpoint(read_checkpoint(args.model))
            model = convert_to_gelan(original)
            model = fuse_model(model) if args.fuse else model
            data = converted_checkpoint(model)
            note = f"{'dual head -> GELAN' if original.is_dual else 'already single-head'}{', fused' if args.fuse else ''}"
            default = Path(args.model).with_name(f"{Path(args.model).stem}-converted.pt")
        else:
            data = import_official(args.from_official)
            note = "official YOLOv9 weights imported"
            if args.model_cfg:
                model = build_model(args.model_cfg, nc=len(data["names"]))
                report = transfer_weights(data["model"], data["model_yaml"], model)
                data = {**data, "model_yaml": model.copy_config(), "model": model.state_dict()}
                note += f" into {args.model_cfg}: {report}"
            default = Path(args.from_official).with_name(f"{Path(args.from_official).stem}-focalyolo.pt")
        path = save_checkpoint(data, args.output or default)
        print(f"{note}; wrote {path}")
        return 0

    return run


@command("export", "export a checkpoint (or a config with random weights) to ONNX or TorchScript for inference")
def _export(parser: argparse.ArgumentParser) -> Command:
    parser.add_argument("--model", required=True, help="checkpoint (.pt), or a config name / YAML (random weights)")
    parser.add_argument("--format", default="onnx", choices=["onnx", "torchscript"],
                        help="onnx (checked in onnxruntime) or torchscript (deprecated by PyTorch)")
    parser.add_argument("--imgsz", type=int, default=640, help="square input size, a multiple of 32")
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--dynamic", action="store_true", help="ONNX: symbolic batch, height and width")
    parser.add_argument("--half", action="store_true", help="fp16 weights and input (CUDA only)")
    parser.add_argument("--simplify", action="store_true", help="ONNX: run onnxsim if installed")
    parser.add_argument("--opset", type=int, default=17, help="ONNX opset version")
    parser.add_argument("--output", help="output file (default: <model>.onnx / <model>.torchscript)")
    parser.add_argument("--int8", action="store_true",
                        help="ONNX: also write <output>-int8.onnx, statically quantized by onnxruntime")
    parser.add_argument("--data", default=None, help="--int8: dataset whose train images calibrate the ranges")
    parser.add_argument("--calib-images", type=int, default=64, help="--int8: number of calibration images")

    def run(args: argparse.Namespace) -> int:
        from .engine.export import export_model, load_export_model

        model = load_export_model(args.model)
        paths = export_model(model, args.format, args.output or args.model, imgsz=args.imgsz, batch=args.batch,
                             dynamic=args.dynamic, half=args.half, simplify=args.simplify, opset=args.opset,
                             int8=args.int8, data=args.data, calib_images=args.calib_images)
        for path in paths:
            print(f"wrote {path}")
        return 0

    return run


def _int_list(text: str) -> list[int]:
    """``"320,640"`` -> [320, 640] (argparse type for comma-separated sizes, batches and seeds)."""
    try:
        return [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from None


def _name_list(text: str) -> list[str]:
    return [v.strip() for v in text.split(",") if v.strip()]


def _command_text(name: str, args: argparse.Namespace, defaults: argparse.Namespace) -> str:
    """The command line for the reports: as typed when ``main`` kept it, else the sub-command and every option
    that differs from its default."""
    import shlex

    if getattr(args, "argv", None):
        return shlex.join(["focalyolo", *args.argv])
    parts = ["focalyolo", name]
    for key, value in vars(args).items():
        if key in ("command", "run", "argv") or value == getattr(defaults, key, None):
            continue
        flag = "--" + key.replace("_", "-")
        if isinstance(value, bool):
            parts.append(flag)
        else:
            text = ",".join(map(str, value)) if isinstance(value, list) else str(value)
            parts += [flag, text]
    return " ".join(parts)


@command("benchmark", "latency, GFLOPs and parameters of models (or of the focal/attention blocks) on this machine")
def _benchmark(parser: argparse.ArgumentParser) -> Command:
    parser.add_argument("--models", type=_name_list, default=_name_list("gelan-t,gelan-t-focal,gelan-t-attn"),
                        help="comma-separated config names or YAMLs")
    parser.add_argument("--imgsz", type=_int_list, default=_int_list("320,640,1280"), help="input sizes (models)")
    parser.add_argument("--batch", type=_int_list, default=_int_list("1,8"), help="batch sizes (models)")
    parser.add_argument("--onnx", action="store_true", help="also time the fused model in ONNX Runtime")
    parser.add_argument("--channels-last", action="store_true", help="also time the fused model in NHWC memory format")
    parser.add_argument("--no-eager", dest="eager", action="store_false", help="skip the unfused eager rows")
    parser.add_argument("--blocks", action="store_true",
                        help="benchmark FocalModulationBlock vs SelfAttentionBlock at gelan-c's P5/P4 maps instead")
    parser.add_argument("--sizes", type=_int_list, default=_int_list("320,640,960,1280"), help="input sizes (--blocks)")
    parser.add_argument("--level", type=_name_list, default=_name_list("P5,P4"), help="P5, P4 or P5,P4 (--blocks)")
    parser.add_argument("--no-baseline", dest="baseline", action="store_false",
                        help="--blocks: skip the whole-gelan-c reference rows")
    parser.add_argument("--runs", type=int, default=10, help="timed runs per row (median and p10-p90 reported)")
    parser.add_argument("--warmup", type=int, default=2, help="untimed runs before timing")
    parser.add_argument("--max-seconds", type=float, default=None, help="time budget per row (at least 3 runs)")
    parser.add_argument("--device", default="cpu", help="cpu or a CUDA device (models only)")
    parser.add_argument("--threads", type=int, default=None, help="torch (and ONNX Runtime) threads")
    parser.add_argument("--wait-load", type=float, default=None,
                        help="first wait (up to 5 min) for the 1-minute load average to drop below this")
    parser.add_argument("--output", default=None, help="output folder (default: runs/benchmark/exp, numbered)")

    def run(args: argparse.Namespace) -> int:
        from pathlib import Path

        import torch

        from .benchmark.timing import wait_for_quiet
        from .utils.files import increment_path

        if args.threads:
            torch.set_num_threads(args.threads)
        if args.wait_load:
            wait_for_quiet(args.wait_load)
        output = Path(args.output) if args.output else increment_path(Path("runs/benchmark/exp"), mkdir=True)
        text = _command_text("benchmark", args, parser.parse_args([]))
        if args.blocks:
            from .benchmark.blocks import benchmark_blocks

            benchmark_blocks(args.sizes, args.level, args.runs, args.warmup, args.baseline, args.max_seconds,
                             output, text)
        else:
            from .benchmark.models import benchmark_models
            from .utils.torch_utils import select_device

            backends = (["eager"] if args.eager else []) + ["fused"]
            backends += (["channels_last"] if args.channels_last else []) + (["onnxruntime"] if args.onnx else [])
            benchmark_models(args.models, args.imgsz, args.batch, args.runs, args.warmup, backends,
                             select_device(args.device), args.max_seconds, output, text)
        return 0

    return run


@command("compare", "train models over several seeds under one schedule and write the ablation table (resumable)")
def _compare(parser: argparse.ArgumentParser) -> Command:
    parser.add_argument("--models", type=_name_list, default=_name_list("gelan-t,gelan-t-focal,gelan-t-attn"),
                        help="comma-separated config names or YAMLs")
    parser.add_argument("--data", default="synthetic", help="data YAML, COCO JSON, or 'synthetic'")
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--imgsz", type=int, default=160)
    parser.add_argument("--seeds", type=_int_list, default=_int_list("0,1,2"))
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--hyp", default=None, help="hyper-parameter YAML or packaged name: scratch-high (default), "
                        "cpu-short (short CPU runs)")
    parser.add_argument("--device", default="", help="cpu or 0 (default: GPU 0 if present, else CPU)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--optimizer", default="SGD", choices=["SGD", "AdamW"])
    parser.add_argument("--val-interval", type=int, default=1, help="validate every N epochs (and after the last)")
    parser.add_argument("--latency-runs", type=int, default=20, help="timed CPU runs for each model's latency")
    parser.add_argument("--plots", action="store_true", help="write each run's training plots")
    parser.add_argument("--project", default="runs/compare")
    parser.add_argument("--name", default="exp", help="the ablation folder; the same name resumes it")

    def run(args: argparse.Namespace) -> int:
        from .benchmark.compare import compare

        compare(args.models, args.data, args.epochs, args.imgsz, args.seeds, args.batch, args.hyp, args.device,
                args.workers, args.project, args.name, args.latency_runs, args.plots,
                command=_command_text("compare", args, parser.parse_args([])), optimizer=args.optimizer,
                val_interval=args.val_interval)
        return 0

    return run
