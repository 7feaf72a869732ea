"""Typed config dataclasses from dicts / YAML, with errors that name the field and the fix."""

from __future__ import annotations

import dataclasses
import difflib
import math
import re
import types
import typing
from collections.abc import Hashable
from pathlib import Path
from typing import Any, Literal, TypeVar, Union, get_args, get_origin

import yaml

from litelora.errors import ConfigError

T = TypeVar("T")
_EXP_FLOAT = re.compile(r"[-+]?(\d+\.?\d*|\.\d+)[eE][-+]?\d+")


def from_dict(cls: type[T], data: Any, path: str = "") -> T:
    """Build dataclass ``cls`` from ``data``, checking every key and value type.

    Unknown keys fail with the closest known key; values are checked against the field
    annotations (int, float, str, bool, Literal, Optional, list, dict, nested dataclasses);
    the dataclass's own ``__post_init__`` then checks ranges. A class with an ``upgrade``
    classmethod rewrites an older layout of its section first.
    """
    where = path or cls.__name__
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: expected a mapping of fields, got {type(data).__name__} {data!r}")
    upgrade = getattr(cls, "upgrade", None)
    if callable(upgrade):  # a section that reads an older layout of itself (GateConfig's flat fields)
        data = upgrade(data)
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}  # type: ignore[arg-type]
    kwargs = {}
    for key, value in data.items():
        if key not in fields:
            close = difflib.get_close_matches(str(key), list(fields), n=1)
            hint = f"; did you mean {close[0]!r}?" if close else "."
            raise ConfigError(f"{_join(path, str(key))}: unknown field{hint} Known fields: {', '.join(fields)}")
        kwargs[key] = _coerce(hints[key], value, _join(path, key))
    try:
        return cls(**kwargs)
    except ConfigError as err:
        # A message that already names the field (``train.lr must ...``) needs no section prefix.
        message = str(err)
        raise ConfigError(message if message.startswith(f"{where}.") else f"{where}: {message}") from None
    except TypeError as err:
        raise ConfigError(f"{where}: {err}") from None


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _coerce(tp: Any, value: Any, where: str) -> Any:
    origin = get_origin(tp)
    if tp is Any:
        return value
    if origin in (Union, types.UnionType):
        options = get_args(tp)
        if value is None and type(None) in options:
            return None
        errors = []
        for option in options:
            if option is type(None):
                continue
            try:
                return _coerce(option, value, where)
            except ConfigError as err:
                errors.append(str(err))
        raise ConfigError(errors[-1] if len(errors) == 1 else f"{where}: {value!r} matches none of {_name(tp)}")
    if origin is Literal:
        if value not in get_args(tp):
            close = difflib.get_close_matches(str(value), [str(a) for a in get_args(tp)], n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ConfigError(f"{where}: {value!r} is not allowed{hint}; allowed: {list(get_args(tp))}")
        return value
    if dataclasses.is_dataclass(tp):
        return value if isinstance(value, tp) else from_dict(tp, value, where)  # type: ignore[arg-type]
    if origin in (list, tuple):
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{where}: expected a list, got {type(value).__name__} {value!r}")
        args = get_args(tp)
        item = args[0] if args else Any
        out = [_coerce(item, v, f"{where}[{i}]") for i, v in enumerate(value)]
        return tuple(out) if origin is tuple else out
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: expected a mapping, got {type(value).__name__} {value!r}")
        kt, vt = get_args(tp) or (Any, Any)
        return {_coerce(kt, k, where): _coerce(vt, v, f"{where}.{k}") for k, v in value.items()}
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{where}: expected true or false, got {value!r}")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{where}: expected an integer, got {type(value).__name__} {value!r}")
        return value
    if tp is float:
        if isinstance(value, str) and _EXP_FLOAT.fullmatch(value.strip()):
            value = float(value)  # PyYAML (YAML 1.1) reads 1e-3 and 5e-4 as strings
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{where}: expected a number, got {type(value).__name__} {value!r}")
        try:
            number = float(value)
        except OverflowError:  # an integer beyond float range
            number = math.inf
        if not math.isfinite(number):
            raise ConfigError(f"{where}: expected a finite number, got {value!r}")
        return number
    if tp is str:
        if not isinstance(value, str):
            raise ConfigError(f"{where}: expected a string, got {type(value).__name__} {value!r}")
        return value
    return value


def _name(tp: Any) -> str:
    return " | ".join(getattr(a, "__name__", str(a)) for a in get_args(tp))


def to_dict(obj: Any) -> Any:
    """Dataclass -> plain dict of JSON/YAML-able values (tuples become lists)."""
    if dataclasses.is_dataclass(obj):
        return {f.name: to_dict(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, (list, tuple)):
        return [to_dict(v) for v in obj]
    if isinstance(obj, dict):
        return {k: to_dict(v) for k, v in obj.items()}
    return obj


class DuplicateKeyError(yaml.YAMLError):
    """A mapping names one key twice (plain YAML keeps the last one silently)."""


class _UniqueKeyLoader(yaml.SafeLoader):
    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if not isinstance(key, Hashable):
                continue  # SafeLoader itself refuses an unhashable key, with its own message
            if key in seen:
                raise DuplicateKeyError(f"key {key!r} appears twice (line {key_node.start_mark.line + 1})")
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def safe_load_unique(text: str) -> Any:
    """``yaml.safe_load`` that refuses a mapping with a repeated key."""
    return yaml.load(text, Loader=_UniqueKeyLoader)  # noqa: S506 - a SafeLoader subclass


def load_yaml(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file {str(path)!r} does not exist")
    try:
        data = safe_load_unique(path.read_text(encoding="utf-8"))
    except DuplicateKeyError as err:
        raise ConfigError(f"config file {str(path)!r}: {err}; keep one of them") from None
    except yaml.YAMLError as err:
        raise ConfigError(f"config file {str(path)!r} is not valid YAML: {err}") from None
    except UnicodeDecodeError as err:
        raise ConfigError(f"config file {str(path)!r} is not UTF-8 text ({err.reason} at byte {err.start})") from None
    except RecursionError:
        raise ConfigError(f"config file {str(path)!r} is nested too deeply to be a config") from None
    except ValueError as err:  # a scalar YAML accepts but Python cannot build (a bad date, a 5000-digit int)
        raise ConfigError(f"config file {str(path)!r} holds a value that cannot be read: {err}") from None
    except OSError as err:
        raise ConfigError(f"config file {str(path)!r} cannot be read: {err.strerror or err}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"config file {str(path)!r} must hold a mapping at the top level, got {type(data).__name__}")
    return data


def apply_override(data: dict[str, Any], assignment: str) -> None:
    """Apply ``a.b.c=value`` (value parsed as a YAML scalar or list) to nested ``data``."""
    if "=" not in assignment:
        raise ConfigError(f"--set {assignment!r}: expected dotted.key=value")
    key, raw = assignment.split("=", 1)
    parts = key.strip().split(".")
    if not all(parts):
        raise ConfigError(f"--set {assignment!r}: empty component in key {key!r}")
    try:
        value = safe_load_unique(raw) if raw.strip() else ""
    except (yaml.YAMLError, RecursionError, ValueError) as err:
        # YAML's messages span lines with a caret under the column; one line is enough here.
        problem = getattr(err, "problem", None) or " ".join(str(err).split())
        raise ConfigError(f"--set {assignment!r}: cannot parse the value ({problem}); quote it if it is a "
                          "string") from None
    node = data
    for part in parts[:-1]:
        node = node.setdefault(part, {})
        if not isinstance(node, dict):
            raise ConfigError(f"--set {assignment!r}: {part!r} is not a section")
    node[parts[-1]] = value


def merge_dicts(base: dict[str, Any], update: dict[str, Any]) -> dict[str, Any]:
    """Recursive merge; ``update`` wins (later config files override earlier ones)."""
    out = dict(base)
    for k, v in update.items():
        out[k] = merge_dicts(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out
