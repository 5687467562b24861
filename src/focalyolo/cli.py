"""The ``focalyolo`` command line: a thin shell over the API.

``train``, ``val``, ``predict``, ``export`` and ``compare`` build their flags from the configuration classes of
:mod:`focalyolo.cfg` (one flag per option, ``--name-with-dashes``; booleans as ``--x/--no-x``), parse what the
user typed into that configuration and call the job function that ``focalyolo.YOLO`` calls too. Every user
error, whether argparse's, a bad value or a bad file, is one line ``focalyolo <command>: error: ...`` with exit
status 2, and nothing is written; so is a torchvision built for another torch, checked before any command runs.
Ctrl-C and SIGTERM end a command with one line ``focalyolo <command>: interrupted...`` (training: the command
that resumes it) and exit status 130 or 143.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import re
import shlex
import signal
import sys
import threading
import types
import typing
from pathlib import Path
from typing import Any, Callable, Iterator, NoReturn, Sequence

from ._version import __version__
from .cfg import (
    GROUP_TITLES,
    HYP_GROUPS,
    CompareConfig,
    Config,
    ExportConfig,
    OptionError,
    PredictConfig,
    TrainConfig,
    UnknownOptionError,
    ValConfig,
)
from .cfg.options import closest, option_fields
from .cfg.schema import THREADS_HELP
from .errors import FocalYoloError
from .utils.logging import setup_logging
from .utils.versions import check_torchvision

__all__ = ["build_parser", "main"]

Command = Callable[[argparse.Namespace], int]
_COMMANDS: dict[str, tuple[Callable[[argparse.ArgumentParser], Command], str]] = {}


class UsageError(FocalYoloError):
    """A command line argparse cannot parse; ``flags`` are the valid flags, for a suggestion."""


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised in the main thread so that a job ends the way Ctrl-C ends it (exit status 143)."""


def _raise_terminated(signum: int, frame: Any) -> NoReturn:
    raise Terminated()


@contextlib.contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    """Within the block, SIGTERM raises :class:`Terminated`; the previous handler comes back afterwards. Only the
    main thread may set signal handlers: elsewhere (``main`` called from a thread) SIGTERM keeps its handler."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _plain_text(text: str) -> str:
    """reStructuredText markup of a docstring as plain text for ``--help``: ``:mod:`x``` -> x, ````x```` -> x."""
    return re.sub(r"``([^`]+)``", r"\1", re.sub(r":\w+:`~?([^`]+)`", r"\1", text))


class _Parser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are exceptions (turned into one line by :func:`main`), not usage dumps."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(message)


def command(name: str, help_text: str):
    """Register ``add_arguments(parser)`` as sub-command ``name``; the function returns the runner."""

    def decorate(add_arguments: Callable[[argparse.ArgumentParser], Command]):
        _COMMANDS[name] = (add_arguments, help_text)
        return add_arguments

    return decorate


def flag_of(name: str) -> str:
    """The command-line flag of an option: ``max_det`` -> ``--max-det``."""
    return "--" + name.replace("_", "-")


def _shown(value: Any) -> str:
    return " ".join(map(str, value)) if isinstance(value, list) else str(value)


class _ListItems(argparse.Action):
    """A list option: values separated by spaces, commas or both (``--seeds 0,1,2``, ``--classes 0 2``)."""

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, values: Any,
                 option_string: str | None = None) -> None:
        setattr(namespace, self.dest, [item for chunk in values for item in chunk])


def _items_of(item: type) -> Callable[[str], list]:
    """argparse type of one word of a list option: its comma-separated items as ``item``."""

    def parse(text: str) -> list:
        try:
            return [item(v.strip()) for v in text.split(",") if v.strip()]
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected comma-separated {item.__name__} values, got {text!r}") from None

    return parse


def add_config_arguments(parser: argparse.ArgumentParser, config: type[Config], skip: Sequence[str] = ()) -> None:
    """One flag per CLI option of ``config``, grouped as the configuration groups them. Flags default to
    "not given" (argparse.SUPPRESS), so the configuration's own defaults, data-dependent ones and the hyp
    file apply; the help shows each default. A list option takes its values separated by spaces or commas."""
    hints = typing.get_type_hints(config)
    groups: dict[str, argparse._ArgumentGroup] = {}
    for f in option_fields(config):
        if not f.metadata["cli"] or f.name in skip:
            continue
        group = f.metadata["group"]
        if group not in groups:
            hyp = " (hyper-parameters; also settable in a --hyp file)" if group in HYP_GROUPS else ""
            groups[group] = parser.add_argument_group(GROUP_TITLES.get(group, group) + hyp)
        default = f.metadata["value"] if f.metadata["hyper"] else (
            f.default if f.default is not dataclasses.MISSING else f.default_factory())
        help_text = f.metadata["help"]
        if f.metadata["choices"]:
            help_text += f"; one of {', '.join(f.metadata['choices'])}"
        if default is not None and not (isinstance(default, bool) and not default) and default != "":
            help_text += f" (default: {_shown(default)}{', scratch-high' if f.metadata['hyper'] else ''})"
        kwargs: dict[str, Any] = {"dest": f.name, "default": argparse.SUPPRESS, "help": help_text}
        hint = hints[f.name]
        optional = typing.get_origin(hint) in (typing.Union, types.UnionType)
        base = next((a for a in typing.get_args(hint) if a is not type(None)), hint) if optional else hint
        if base is bool:
            kwargs["action"] = argparse.BooleanOptionalAction
        elif typing.get_origin(base) is list:
            item = typing.get_args(base)[0]
            kwargs.update(nargs="+", type=_items_of(item), action=_ListItems, metavar="N" if item is int else "NAME")
        else:
            kwargs.update(type=base, metavar=f.name.upper() if base is str else None)
        groups[group].add_argument(flag_of(f.name), **kwargs)


def given(args: argparse.Namespace, config: type[Config]) -> dict[str, Any]:
    """The options the user typed (flags not given are absent from the namespace)."""
    return {name: getattr(args, name) for name in config.names() if hasattr(args, name)}


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every registered sub-command."""
    parser = _Parser(prog="focalyolo", description=_plain_text(__doc__),
                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"focalyolo {__version__}")
    subparsers = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    for name, (add_arguments, help_text) in _COMMANDS.items():
        sub = subparsers.add_parser(name, help=help_text, description=help_text)
        sub.set_defaults(run=add_arguments(sub))
    return parser


def _command_of(argv: Sequence[str]) -> str | None:
    return next((a for a in argv if a in _COMMANDS), None)


def _usage_message(message: str, argv: Sequence[str], parser: argparse.ArgumentParser) -> str:
    """argparse's message, with the closest valid flag added to an unrecognised one."""
    if message.endswith("arguments are required: command"):
        return f"no command given: one of {', '.join(_COMMANDS)} (focalyolo <command> --help)"
    if message.startswith("unrecognized arguments:"):
        name = _command_of(argv)
        sub = parser._subparsers._group_actions[0].choices.get(name) if name and parser._subparsers else None
        flags = [s for a in (sub or parser)._actions for s in a.option_strings]
        unknown = [a for a in message.split(":", 1)[1].split() if a.startswith("-")]
        if unknown:
            suggestion = closest(unknown[0].split("=")[0], flags)
            hint = f" (did you mean {suggestion}?)" if suggestion else ""
            return f"unknown option {unknown[0]}{hint}" + (f"; also {' '.join(unknown[1:])}" if unknown[1:] else "")
    return message


def _error_text(exc: FocalYoloError) -> str:
    """The one-line message of a user error; option errors name the flag as typed on the command line."""
    if isinstance(exc, OptionError) and exc.source is None:
        return exc.text(f"{flag_of(exc.name)} {_shown(exc.value)}")
    if isinstance(exc, UnknownOptionError) and exc.source is None:
        return exc.text(flag_of(exc.name), flag_of(exc.suggestion) if exc.suggestion else None)
    return str(exc)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script; returns the process exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    name = _command_of(argv) or "focalyolo"
    prog = "focalyolo" if name == "focalyolo" else f"focalyolo {name}"
    try:
        args = parser.parse_args(argv)
    except UsageError as exc:
        print(f"{prog}: error: {_usage_message(str(exc), argv, parser)}", file=sys.stderr)
        return 2
    args.argv = argv  # the command as typed, for re-running it under torchrun
    setup_logging()
    try:
        with _sigterm_as_interrupt():
            check_torchvision()
            return args.run(args)
    except FocalYoloError as exc:
        print(f"{prog}: error: {_error_text(exc)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as exc:  # Ctrl-C, or SIGTERM (Terminated); a note says what is left of the job
        print(f"{prog}: interrupted" + (f": {exc}" if str(exc) else ""), file=sys.stderr)
        return 143 if isinstance(exc, Terminated) else 130


def _interrupted_note(weights_dir: Path) -> str:
    """What an interrupted training run leaves: the command that resumes it, or that it has no weights yet."""
    last = weights_dir / "last.pt"
    if last.is_file():
        return f"resume with focalyolo train --resume {shlex.quote(str(last))}"
    return f"no weights were saved yet ({weights_dir.parent})"


@command("train", "train a model (PGI dual loss for yolov9-*, single branch for gelan-*)")
def _train(parser: argparse.ArgumentParser) -> Command:
    add_config_arguments(parser, TrainConfig)
    parser.add_argument("--processes", type=int, default=None,
                        help="DDP processes to launch on this machine (default: one per GPU in --device); "
                             "with --device cpu they use the gloo backend")

    def run(args: argparse.Namespace) -> int:
        import os

        from .engine import trainer
        from .engine.launch import launch, process_count
        from .engine.run import train_run

        resolved = train_run(**given(args, TrainConfig))
        processes = process_count(getattr(args, "device", ""), args.processes, resolved.saved_world_size)
        if processes > 1 and "WORLD_SIZE" not in os.environ:
            trainer.split_batch(resolved.cfg.batch, processes)  # fail here, once, rather than in every process
            return launch(args.argv, processes)
        job = trainer.Trainer(resolved)
        try:
            job.train()
        except KeyboardInterrupt as exc:
            raise type(exc)(_interrupted_note(job.weights_dir)) from None
        return 0

    return run


@command("val", "evaluate a model on a dataset split: mAP (fast and pycocotools), plots, metrics.json")
def _val(parser: argparse.ArgumentParser) -> Command:
    add_config_arguments(parser, ValConfig)

    def run(args: argparse.Namespace) -> int:
        from .engine.validator import val

        results = val(ValConfig.from_mapping(given(args, ValConfig)))
        print(f"results saved to {results['save_dir']}")
        return 0

    return run


@command("predict", "detect, segment, estimate poses or classify: images, folders, globs or videos (no cameras or "
                    "streams); saves annotated copies")
def _predict(parser: argparse.ArgumentParser) -> Command:
    add_config_arguments(parser, PredictConfig)

    def run(args: argparse.Namespace) -> int:
        from .engine.predictor import PredictRun

        job = PredictRun(PredictConfig.from_mapping(given(args, PredictConfig)))
        for _ in job:
            pass
        return 0

    return run


@command("export", "export a checkpoint (or a config with random weights) to ONNX, OpenVINO, TensorRT or TorchScript")
def _export(parser: argparse.ArgumentParser) -> Command:
    add_config_arguments(parser, ExportConfig)

    def run(args: argparse.Namespace) -> int:
        from .deploy.export import export

        for path in export(ExportConfig.from_mapping(given(args, ExportConfig))):
            print(f"wrote {path}")
        return 0

    return run


@command("cfg", "print every option of a command with its default, as commented YAML")
def _cfg(parser: argparse.ArgumentParser) -> Command:
    parser.add_argument("job", nargs="?", default="train", choices=["train", "val", "predict", "export", "compare"],
                        help="the command whose options to print (default: train)")
    parser.add_argument("--data", default=None, help="train: show the defaults for this data (default: synthetic)")

    def run(args: argparse.Namespace) -> int:
        from .cfg import format_config

        config = {"train": TrainConfig, "val": ValConfig, "predict": PredictConfig, "export": ExportConfig,
                  "compare": CompareConfig}[args.job]
        values = {"data": args.data} if args.data and args.job == "train" else {}
        print(format_config(config.from_mapping(values)), end="")
        return 0

    return run


@command("info", "print a model's layer table, parameters and GFLOPs, or list the packaged models (--list)")
def _info(parser: argparse.ArgumentParser) -> Command:
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--model", default="yolov9-c-focal",
                       help="packaged config name, YAML path or checkpoint (default: yolov9-c-focal)")
    which.add_argument("--list", action="store_true",
                       help="list the packaged model configs by task (detect, segment, pose, classify) and size")
    parser.add_argument("--imgsz", type=_non_negative_int, default=640,
                        help="input size for the GFLOPs count (0 to skip)")
    parser.add_argument("--nc", type=_positive_int, default=None, help="override the number of classes (configs only)")

    def run(args: argparse.Namespace) -> int:
        from .models.summary import format_catalogue, format_summary
        from .weights.sources import load_source

        if args.list:
            print(format_catalogue())
            print("focalyolo info --model <name> prints a model's layers; --model also takes a YAML or a checkpoint")
            return 0
        model = load_source(args.model, nc=args.nc)
        name = str(args.model).rsplit("/", 1)[-1].removesuffix(".yaml")
        print(format_summary(model, name, args.imgsz or None))
        return 0

    return run


@command("convert", "YOLOv9 checkpoint -> GELAN inference form (optionally fused), or import official YOLOv9 weights")
def _convert(parser: argparse.ArgumentParser) -> Command:
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--model", help="focalyolo checkpoint (.pt) to convert")
    source.add_argument("--from-official", help="official YOLOv9 .pt to import (read without running its code)")
    parser.add_argument("--to", default="gelan", choices=["gelan"], help="target form of --model (drop the PGI branch)")
    parser.add_argument("--fuse", action="store_true", help="with --model: also fold BatchNorm and merge RepConvN")
    parser.add_argument("--model-cfg",
                        help="with --from-official: transfer the weights into this config by layer structure")
    parser.add_argument("--output", help="output checkpoint (default: <input>-converted.pt / <input>-focalyolo.pt)")

    def run(args: argparse.Namespace) -> int:
        from .weights.checkpoint import save_checkpoint
        from .weights.convert import convert_checkpoint
        from .weights.official import import_checkpoint

        if args.model and args.model_cfg:
            parser.error("--model-cfg goes with --from-official")
        if args.from_official and args.fuse:
            parser.error("--fuse goes with --model (convert the imported checkpoint afterwards)")
        data, note, default = (convert_checkpoint(args.model, args.fuse) if args.model
                               else import_checkpoint(args.from_official, args.model_cfg))
        path = save_checkpoint(data, args.output or default)
        print(f"{note}; wrote {path}")
        return 0

    return run


def _int_list(text: str) -> list[int]:
    """``"320,640"`` -> [320, 640] (argparse type for comma-separated sizes, batches and seeds)."""
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from None
    if not values or min(values) < 0:
        raise argparse.ArgumentTypeError(f"expected comma-separated non-negative integers, got {text!r}")
    return values


def _name_list(text: str) -> list[str]:
    return [v.strip() for v in text.split(",") if v.strip()]


def _bounded_int(text: str, low: int, what: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid int value: {text!r}") from None
    if value < low:
        raise argparse.ArgumentTypeError(f"{value}: must be {what}")
    return value


def _positive_int(text: str) -> int:
    return _bounded_int(text, 1, "a positive integer")


def _non_negative_int(text: str) -> int:
    return _bounded_int(text, 0, "zero or a positive integer")


def _command_text(name: str, args: argparse.Namespace, defaults: argparse.Namespace) -> str:
    """The command line for the reports: as typed when ``main`` kept it, else the sub-command and every option
    that differs from its default."""
    if getattr(args, "argv", None):
        return shlex.join(["focalyolo", *args.argv])
    parts = ["focalyolo", name]
    for key, value in vars(args).items():
        if key in ("command", "run", "argv") or value == getattr(defaults, key, None):
            continue
        flag = flag_of(key)
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
    parser.add_argument("--backends", type=_name_list, default=_name_list("eager,fused"),
                        help="comma-separated, timed in turns: eager (as built), fused (deployment form), "
                             "channels_last (fused, NHWC), onnxruntime, onnxruntime-int8, openvino, openvino-int8, "
                             "tensorrt (CUDA); a runtime that is not installed is skipped with a warning")
    parser.add_argument("--data", default="synthetic", help="dataset whose train images calibrate the -int8 backends")
    parser.add_argument("--blocks", action="store_true",
                        help="benchmark FocalModulationBlock vs SelfAttentionBlock at gelan-c's P5/P4 maps instead")
    parser.add_argument("--sizes", type=_int_list, default=_int_list("320,640,960,1280"), help="input sizes (--blocks)")
    parser.add_argument("--level", type=_name_list, default=_name_list("P5,P4"), help="P5, P4 or P5,P4 (--blocks)")
    parser.add_argument("--no-baseline", dest="baseline", action="store_false",
                        help="--blocks: skip the whole-gelan-c reference rows")
    parser.add_argument("--runs", type=_positive_int, default=10,
                        help="timed runs per row (median and p10-p90 reported)")
    parser.add_argument("--warmup", type=int, default=2, help="untimed runs before timing")
    parser.add_argument("--max-seconds", type=float, default=None, help="time budget per row (at least 3 runs)")
    parser.add_argument("--device", default="cpu", help="cpu or a CUDA device (models only)")
    parser.add_argument("--threads", type=_positive_int, default=None, help=THREADS_HELP)
    parser.add_argument("--wait-load", type=float, default=None,
                        help="first wait (up to 5 min) for the 1-minute load average to drop below this")
    parser.add_argument("--output", default=None, help="output folder (default: runs/benchmark/exp, numbered)")

    def run(args: argparse.Namespace) -> int:
        from pathlib import Path

        from .analysis.timing import wait_for_quiet
        from .utils.files import increment_path
        from .utils.threads import configure_threads
        from .utils.torch_utils import select_device

        device = select_device(args.device)
        configure_threads(args.threads)
        if args.wait_load:
            wait_for_quiet(args.wait_load)
        output = Path(args.output) if args.output else increment_path(Path("runs/benchmark/exp"), mkdir=True)
        text = _command_text("benchmark", args, parser.parse_args([]))
        if args.blocks:
            from .analysis.blocks import benchmark_blocks

            benchmark_blocks(args.sizes, args.level, args.runs, args.warmup, args.baseline, args.max_seconds,
                             output, text)
        else:
            from .analysis.models import benchmark_models

            benchmark_models(args.models, args.imgsz, args.batch, args.runs, args.warmup, args.backends, device,
                             args.max_seconds, output, text, data=args.data)
        return 0

    return run


@command("compare", "train models over several seeds under one schedule; tabulate them and what the seeds show "
                    "against a baseline (resumable)")
def _compare(parser: argparse.ArgumentParser) -> Command:
    add_config_arguments(parser, CompareConfig)

    def run(args: argparse.Namespace) -> int:
        from .analysis.compare import compare

        compare(CompareConfig.from_mapping(given(args, CompareConfig)),
                command=_command_text("compare", args, parser.parse_args([])))
        return 0

    return run


def _location(text: str) -> tuple[float, float]:
    """``"80,40"`` -> (80.0, 40.0): an x,y position in input pixels."""
    try:
        x, y = (float(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected x,y in pixels, got {text!r}") from None
    return x, y


@command("explain", "pictures of what the focal / attention block sees and the effective receptive field of a "
                    "head cell")
def _explain(parser: argparse.ArgumentParser) -> Command:
    parser.add_argument("--model", required=True, help="packaged config name, model YAML or checkpoint (.pt)")
    parser.add_argument("--source", required=True, help="an image, a folder of images or a glob (the ERF is "
                        "averaged over them)")
    parser.add_argument("--output", default=None, help="output folder (default: runs/explain/exp, numbered)")
    parser.add_argument("--imgsz", type=_positive_int, default=None,
                        help="network input size (default: the checkpoint's training size, else 640)")
    parser.add_argument("--location", type=_location, default=None,
                        help="x,y in input pixels: the query whose attention is drawn (default: the centre)")
    parser.add_argument("--level", type=_non_negative_int, default=0,
                        help="head level of the ERF cell, 0 the finest (P3 for detection)")
    parser.add_argument("--device", default="cpu", help="cpu or a CUDA device")

    def run(args: argparse.Namespace) -> int:
        from pathlib import Path

        from .analysis.explain import explain
        from .utils.files import increment_path

        output = Path(args.output) if args.output else increment_path(Path("runs/explain/exp"))
        explain(args.model, args.source, output, args.imgsz, args.location, args.level, args.device)
        return 0

    return run
