"""The machinery of the typed configuration: option fields, value rules, coercion and one-line errors.

A configuration is a dataclass whose fields are made by :func:`option` (a run option with its default) or
:func:`hyper` (a hyper-parameter whose default is YOLOv9's scratch-high value, taken when neither a hyp file
nor the caller sets it). Each field carries a one-line help text, a group (for the CLI's help and the
commented YAML of ``focalyolo cfg``) and a :class:`Rule`. :class:`Config` checks every value when an instance
is made, so a bad value fails where it is given, once, with its name:

    epochs = 0: must be a positive integer

The command line turns the same error into ``--epochs 0: must be a positive integer``.
"""

from __future__ import annotations

import dataclasses
import difflib
import types
import typing
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from ..errors import ConfigError

__all__ = [
    "Config", "OptionError", "Rule", "UnknownOptionError", "closest", "hyper", "option", "option_fields",
]


class OptionError(ConfigError):
    """A value of an option is wrong: ``str`` is ``"name = value: problem"``; the CLI writes ``--name value``."""

    def __init__(self, name: str, value: Any, problem: str, source: str | None = None):
        self.name, self.value, self.problem, self.source = name, value, problem, source
        super().__init__(self.text(f"{name} = {value!r}" if isinstance(value, str) else f"{name} = {value}"))

    def text(self, subject: str) -> str:
        """The message with ``subject`` (e.g. ``--epochs 0``) in place of ``name = value``."""
        where = f"{self.source}: " if self.source else ""
        return f"{where}{subject}: {self.problem}"


class UnknownOptionError(ConfigError):
    """A key that no option has; the message names the closest valid one."""

    def __init__(self, name: str, known: Iterable[str], what: str = "option", source: str | None = None):
        self.name, self.what, self.source = name, what, source
        self.suggestion = closest(name, known)
        super().__init__(self.text(repr(name), repr(self.suggestion) if self.suggestion else None))

    def text(self, subject: str, suggestion: str | None) -> str:
        where = f"{self.source}: " if self.source else ""
        hint = f" (did you mean {suggestion}?)" if suggestion else ""
        return f"{where}unknown {self.what} {subject}{hint}"


def closest(name: str, known: Iterable[str]) -> str | None:
    """The valid name most like ``name`` (difflib ratio >= 0.6), or None."""
    matches = difflib.get_close_matches(str(name), sorted(known), n=1, cutoff=0.6)
    return matches[0] if matches else None


@dataclass(frozen=True)
class Rule:
    """A constraint on a value: ``test(value)`` is true when it is allowed; ``text`` says what is allowed."""

    test: Callable[[Any], bool]
    text: str


POSITIVE = Rule(lambda v: v > 0, "must be positive")
NON_NEGATIVE = Rule(lambda v: v >= 0, "must be zero or positive")
FRACTION = Rule(lambda v: 0 <= v <= 1, "must be between 0 and 1")
OPEN_FRACTION = Rule(lambda v: 0 < v <= 1, "must be above 0 and at most 1")
POSITIVE_INT = Rule(lambda v: v >= 1, "must be a positive integer")
NON_NEGATIVE_INT = Rule(lambda v: v >= 0, "must be zero or a positive integer")


def one_of(*choices: str) -> Rule:
    """The value must be one of ``choices`` (compared as typed)."""
    return Rule(lambda v: v in choices, f"must be one of {', '.join(choices)}")


def option(default: Any, help: str, group: str, rule: Rule | None = None, *, choices: tuple[str, ...] = (),
           cli: bool = True, flag: str | None = None) -> Any:
    """A run option: ``default`` (None may mean "decided at run time", which ``help`` then says), a one-line
    ``help``, its ``group``, an optional ``rule`` or ``choices``; ``cli=False`` keeps it off the command line
    (``YOLO`` keyword only); ``flag`` spells the CLI flag when it differs from ``--name-with-dashes``."""
    if choices:
        rule = one_of(*choices)
    metadata = {"help": help, "group": group, "rule": rule, "choices": choices, "cli": cli, "flag": flag,
                "hyper": False}
    if isinstance(default, (list, dict, set)):
        return field(default_factory=lambda: type(default)(default), metadata=metadata)
    return field(default=default, metadata=metadata)


def hyper(value: Any, help: str, group: str, rule: Rule | None = None, *, choices: tuple[str, ...] = ()) -> Any:
    """A hyper-parameter: the field defaults to None ("not set") and is filled, after the instance is made,
    from the hyp file, or else with ``value`` (YOLOv9's scratch-high value). Hyp YAMLs may set it."""
    if choices:
        rule = one_of(*choices)
    metadata = {"help": help, "group": group, "rule": rule, "choices": choices, "cli": True, "flag": None,
                "hyper": True, "value": value}
    return field(default=None, metadata=metadata)


def option_fields(cls: type) -> list[dataclasses.Field]:
    """The option fields of a config class, in declaration order."""
    return [f for f in dataclasses.fields(cls) if "group" in f.metadata]


def _type_hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _describe(hint: Any) -> str:
    """``int | None`` -> "an integer" (what a value must be, for messages)."""
    args = [a for a in typing.get_args(hint) if a is not type(None)] or [hint]
    base = args[0]
    if typing.get_origin(base) is list:
        return f"a list of {_describe(typing.get_args(base)[0])}s".replace("an ", "").replace("a ", "")
    return {int: "an integer", float: "a number", bool: "true or false", str: "a string"}.get(base, str(base))


def coerce(name: str, value: Any, hint: Any, source: str | None = None) -> Any:
    """``value`` as the type ``hint`` asks for, or OptionError: ints pass as floats (and integral floats as
    ints); no other conversion is made (a string is not a number, a number is not a boolean)."""
    allows_none = typing.get_origin(hint) in (typing.Union, types.UnionType) and type(None) in typing.get_args(hint)
    if value is None:
        if allows_none:
            return None
        raise OptionError(name, value, "must be set", source)
    base = next((a for a in typing.get_args(hint) if a is not type(None)), hint) if allows_none else hint
    if typing.get_origin(base) is list:
        item = typing.get_args(base)[0]
        if isinstance(value, (int, float, str)) and not isinstance(value, bool):
            value = [value]
        if not isinstance(value, (list, tuple)):
            raise OptionError(name, value, f"must be {_describe(base)}", source)
        return [coerce(name, v, item, source) for v in value]
    if base is bool:
        if isinstance(value, bool):
            return value
    elif base is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
    elif base is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
    elif base is str:
        if isinstance(value, str):
            return value
        if hasattr(value, "__fspath__"):
            return str(value)
    else:
        return value
    raise OptionError(name, value, f"must be {_describe(base)}", source)


class Config:
    """Base of the configuration dataclasses: type coercion and rules checked on creation, hyper-parameters
    filled after :meth:`resolve`, construction from a mapping with unknown keys reported.

    Subclasses are dataclasses whose fields come from :func:`option` and :func:`hyper`.
    """

    command: ClassVar[str] = ""

    def __post_init__(self) -> None:
        self.resolve()
        self.check()

    def resolve(self) -> None:
        """Fill the values decided at run time (subclasses: data-dependent defaults, hyper-parameters)."""

    def check(self, source: str | None = None) -> None:
        """Coerce every value to its field's type and apply its rule; OptionError names the first bad one."""
        hints = _type_hints(type(self))
        for f in option_fields(type(self)):
            value = coerce(f.name, getattr(self, f.name), hints[f.name], source)
            rule: Rule | None = f.metadata["rule"]
            items = value if isinstance(value, list) else [value]
            if rule is not None and value is not None and not all(rule.test(v) for v in items):
                raise OptionError(f.name, value, rule.text, source)
            object.__setattr__(self, f.name, value)

    @classmethod
    def names(cls) -> list[str]:
        return [f.name for f in option_fields(cls)]

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any], source: str | None = None) -> "Config":
        """An instance from keyword values (CLI flags, ``YOLO`` keywords, a saved record); an unknown key is
        one UnknownOptionError naming the closest valid key."""
        known = set(cls.names())
        for key in values:
            if key not in known:
                raise UnknownOptionError(str(key), known, f"{cls.command} option".strip(), source)
        return cls(**dict(values))

    def to_dict(self) -> dict[str, Any]:
        """Every option and its value (plain data: for args.yaml and checkpoints)."""
        return {name: getattr(self, name) for name in self.names()}

    def group(self, name: str) -> dict[str, Any]:
        """The options of one group and their values (e.g. ``"augmentation"``)."""
        return {f.name: getattr(self, f.name) for f in option_fields(type(self)) if f.metadata["group"] == name}

    def replace(self, **changes: Any) -> "Config":
        """A copy with ``changes`` applied (and checked)."""
        return type(self).from_mapping({**self.to_dict(), **changes})
