"""Typed configuration: YAML validated into dataclasses, with errors that name the file and the key.

A config model is a dataclass whose fields carry a default and a one-line description::

    @dataclass
    class Pipeline:
        device: Literal["CPU", "GPU"] = option("CPU", "OpenVINO device")

Supported field types: str, int, float, bool, Path, Literal[...], Optional[T], list[T], tuple[T, ...],
dict[str, T] and nested config dataclasses. Unknown keys are errors. YAML is parsed with a ``yaml.SafeLoader`` (plain
data only: a config can never construct objects or run code) that also refuses a key repeated in one mapping.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from pathlib import Path
from typing import Any, Literal, Union, get_args, get_origin

import yaml

from edge_app.errors import ConfigError

MISSING = dataclasses.MISSING


def option(default: Any = MISSING, doc: str = "", *, factory: Any = MISSING, secret: bool = False) -> Any:
    """A config field with a default (or ``factory`` for mutable defaults) and a one-line description. A ``secret``
    (password, token) is left out of the config's repr, so printing or logging a config never shows it."""
    if factory is not MISSING:
        return dataclasses.field(default_factory=factory, metadata={"doc": doc}, repr=not secret)
    return dataclasses.field(default=default, metadata={"doc": doc}, repr=not secret)


class DuplicateKeyError(yaml.MarkedYAMLError):
    """A mapping names the same key twice (YAML 1.2 forbids it; PyYAML keeps the last one silently)."""


class UniqueKeyLoader(yaml.SafeLoader):
    """PyYAML's safe loader that refuses a repeated key at any depth instead of keeping the last one: a repeated
    ``analysis:`` block would otherwise drop the first block's settings without a word. Keys brought in by a merge
    (``<<: *anchor``) may still be overridden, as YAML intends."""

    def construct_mapping(self, node, deep=False):
        if isinstance(node, yaml.MappingNode):
            seen: dict = {}
            for key_node, _ in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    continue
                key = self.construct_object(key_node, deep=True)
                try:
                    first = seen.setdefault(key, key_node.start_mark)
                except TypeError:  # an unhashable key: PyYAML's own error says so
                    continue
                if first is not key_node.start_mark:
                    raise DuplicateKeyError(None, None, f"key {key!r} appears twice (first on line {first.line + 1})",
                                            key_node.start_mark)
        return super().construct_mapping(node, deep)


def load_yaml(path: str | Path) -> Any:
    """The YAML document in ``path`` (safe types only); :class:`ConfigError` naming the file (and the line) when it
    is missing, unreadable, malformed, or repeats a key in one mapping."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: file not found")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read ({exc.__class__.__name__})") from None
    try:
        return yaml.load(text, Loader=UniqueKeyLoader)  # noqa: S506 (a SafeLoader subclass)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1} column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        if isinstance(exc, DuplicateKeyError):
            raise ConfigError(f"{path}:{where}: {problem}") from None
        raise ConfigError(f"{path}:{where}: malformed YAML ({problem})") from None


def _type_name(tp: Any) -> str:
    origin = get_origin(tp)
    if origin is Literal:
        return " | ".join(repr(a) for a in get_args(tp))
    if origin in (Union, types.UnionType):
        return " or ".join(_type_name(a) for a in get_args(tp))
    if origin is not None:
        return f"{origin.__name__}[{', '.join(_type_name(a) for a in get_args(tp))}]"
    return "null" if tp is type(None) else getattr(tp, "__name__", str(tp))


def _fail(source: str, key: str, message: str) -> ConfigError:
    return ConfigError(f"{source}: {key or '<top level>'}: {message}")


def convert(tp: Any, value: Any, source: str, key: str) -> Any:
    """Validate ``value`` against type ``tp``; raises ConfigError naming ``source`` and ``key``."""
    origin = get_origin(tp)
    if tp is Any:
        return value
    if origin in (Union, types.UnionType):
        args = get_args(tp)
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return convert(arg, value, source, key)
            except ConfigError as exc:
                errors.append(exc)
        if len(errors) == 1:
            raise errors[0]
        raise _fail(source, key, f"expected {_type_name(tp)}, got {value!r:.60}")
    if origin is Literal:
        if value in get_args(tp):
            return value
        raise _fail(source, key, f"must be one of {_type_name(tp)}, got {value!r:.60}")
    if dataclasses.is_dataclass(tp):
        return build(tp, value, source, key)
    if origin in (list, tuple):
        args = get_args(tp)
        if not isinstance(value, (list, tuple)):
            raise _fail(source, key, f"expected a list, got {type(value).__name__}")
        if origin is tuple and args and args[-1] is not Ellipsis:
            if len(value) != len(args):
                raise _fail(source, key, f"expected {len(args)} values, got {len(value)}")
            return tuple(convert(a, v, source, f"{key}[{i}]") for i, (a, v) in enumerate(zip(args, value)))
        item = args[0] if args else Any
        items = [convert(item, v, source, f"{key}[{i}]") for i, v in enumerate(value)]
        return tuple(items) if origin is tuple else items
    if origin is dict:
        kt, vt = get_args(tp) or (str, Any)
        if not isinstance(value, dict):
            raise _fail(source, key, f"expected a mapping, got {type(value).__name__}")
        return {convert(kt, k, source, f"{key}.{k}"): convert(vt, v, source, f"{key}.{k}") for k, v in value.items()}
    if tp is bool:
        if isinstance(value, bool):
            return value
        raise _fail(source, key, f"expected true or false, got {value!r:.60}")
    if tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise _fail(source, key, f"expected an integer, got {value!r:.60}")
    if tp is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            if value != value or value in (float("inf"), float("-inf")):
                raise _fail(source, key, f"expected a finite number, got {value!r}")
            return float(value)
        raise _fail(source, key, f"expected a number, got {value!r:.60}")
    if tp is str:
        if isinstance(value, str):
            return value
        raise _fail(source, key, f"expected a string, got {value!r:.60}")
    if tp is Path:
        if isinstance(value, str) and value:
            return Path(value)
        raise _fail(source, key, f"expected a path, got {value!r:.60}")
    raise _fail(source, key, f"unsupported type {_type_name(tp)}")


def build(cls: type, data: Any, source: str, key: str = "") -> Any:
    """Build config dataclass ``cls`` from a mapping; unknown keys and wrong types name ``source`` and the key."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise _fail(source, key, f"expected a mapping of keys, got {type(data).__name__}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    unknown = [k for k in data if k not in fields]
    if unknown:
        near = ", ".join(sorted(fields))
        raise _fail(source, f"{key}.{unknown[0]}" if key else str(unknown[0]), f"unknown key (known: {near})")
    kwargs = {}
    for name, f in fields.items():
        sub = f"{key}.{name}" if key else name
        if name in data:
            kwargs[name] = convert(hints[name], data[name], source, sub)
        elif f.default is MISSING and f.default_factory is MISSING:
            raise _fail(source, sub, "required key is missing")
    try:
        obj = cls(**kwargs)
    except ConfigError:
        raise
    except (ValueError, TypeError) as exc:
        raise _fail(source, key, str(exc)) from None
    check = getattr(obj, "validate", None)
    if check is not None:
        try:
            check()
        except ValueError as exc:
            raise _fail(source, key, str(exc)) from None
    return obj


def describe(cls: type, indent: str = "") -> list[str]:
    """Self-documentation of a config model: one line per key with its type, default and description."""
    lines = []
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        tp = hints[f.name]
        if f.default is not MISSING:
            default = repr(f.default)
        elif f.default_factory is not MISSING:
            default = "" if dataclasses.is_dataclass(tp) else repr(f.default_factory())
        else:
            default = "(required)"
        lines.append(f"{indent}{f.name}: {_type_name(tp)} = {default}  # {f.metadata.get('doc', '')}".rstrip())
        if dataclasses.is_dataclass(tp):
            lines += describe(tp, indent + "  ")
        elif get_origin(tp) is list and get_args(tp) and dataclasses.is_dataclass(get_args(tp)[0]):
            lines += describe(get_args(tp)[0], indent + "  - ")
    return lines
