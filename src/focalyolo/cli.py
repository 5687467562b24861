"""The ``focalyolo`` command line: one sub-command per job; user errors print one line, not a traceback."""

from __future__ import annotations

import argparse
import sys
from typing import Callable, Sequence

from .errors import FocalYoloError

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
    args = build_parser().parse_args(argv)
    try:
        return args.run(args)
    except FocalYoloError as exc:
        print(f"focalyolo {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"focalyolo {args.command}: interrupted", file=sys.stderr)
        return 130
