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


class AliasExpansionError(yaml.YAMLError):
    """Aliases that expand a document beyond ``MAX_YAML_VALUES`` values, or into itself."""


# A config holds hundreds of values; aliases repeating a list inside a list ("billion laughs")
# reach billions, which every later copy of the config (defaults merged, run.json, the
# fingerprint) would walk until memory runs out.
MAX_YAML_VALUES = 100_000
_MERGE_TAG = "tag:yaml.org,2002:merge"


class _UniqueKeyLoader(yaml.SafeLoader):
    def construct_document(self, node: yaml.Node) -> Any:
        _check_expansion(node)
        return super().construct_document(node)

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        merged: dict[str, int] = {}
        for key_node, value_node in node.value:
            if key_node.tag == _MERGE_TAG:
                # ``<<: *base``: the mapping's own keys override merged ones, but two merged mappings
                # naming one key are refused (PyYAML lets the later win, YAML 1.1 the earlier).
                for key, line in _merge_sources_keys(value_node):
                    if key in merged:
                        raise DuplicateKeyError(f"key {key!r} is merged from two mappings (lines {merged[key]} "
                                                f"and {line})")
                    merged[key] = line
                continue
            key = self.construct_object(key_node, deep=deep)
            if not isinstance(key, Hashable):
                continue  # SafeLoader itself refuses an unhashable key, with its own message
            if key in seen:
                raise DuplicateKeyError(f"key {key!r} appears twice (line {key_node.start_mark.line + 1})")
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def _merge_sources_keys(value: yaml.Node) -> list[tuple[str, int]]:
    """(key, line) of each plain key the mapping(s) after ``<<:`` give (a malformed value is left
    to PyYAML's own error)."""
    sources = value.value if isinstance(value, yaml.SequenceNode) else [value]
    return [(k.value, k.start_mark.line + 1) for source in sources if isinstance(source, yaml.MappingNode)
            for k, _ in source.value if isinstance(k, yaml.ScalarNode) and k.tag != _MERGE_TAG]


def _check_expansion(root: yaml.Node) -> None:
    """Refuse a node graph that aliases expand beyond ``MAX_YAML_VALUES`` values or into a cycle.

    Sizes are memoised per node, so a bomb is measured in time linear in its written size.
    """
    sizes: dict[int, int] = {}
    open_nodes: set[int] = set()

    def size(node: yaml.Node) -> int:
        key = id(node)
        if key in sizes:
            return sizes[key]
        if key in open_nodes:
            raise AliasExpansionError(f"the value at line {node.start_mark.line + 1} contains itself through an "
                                      "alias; a config cannot be recursive")
        open_nodes.add(key)
        children: list[yaml.Node] = []
        if isinstance(node, yaml.SequenceNode):
            children = node.value
        elif isinstance(node, yaml.MappingNode):
            children = [n for pair in node.value for n in pair]
        total = 1
        for child in children:
            total += size(child)
            if total > MAX_YAML_VALUES:
                raise AliasExpansionError(f"aliases expand it to more than {MAX_YAML_VALUES} values (the value at "
                                          f"line {node.start_mark.line + 1}); write the values out, or alias less")
        open_nodes.discard(key)
        sizes[key] = total
        return total

    size(root)


def yaml_problem(err: yaml.YAMLError) -> str:
    """One line for a YAML error: what is wrong and where (PyYAML's own spans lines with a caret)."""
    problem = getattr(err, "problem", None)
    mark = getattr(err, "problem_mark", None)
    if problem is None:
        return " ".join(str(err).split())
    where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
    context = getattr(err, "context", None)
    return f"{problem}{where}" + (f" ({context})" if context else "")


def safe_load_unique(text: str) -> Any:
    """``yaml.safe_load`` that refuses a mapping with a repeated key and aliases that expand the
    document beyond ``MAX_YAML_VALUES`` values; merge keys (``<<: *base``) are read as YAML 1.1 says."""
    return yaml.load(text, Loader=_UniqueKeyLoader)  # noqa: S506 - a SafeLoader subclass


def load_yaml(path: str | Path) -> dict[str, Any]:
    """The mapping a YAML config file holds; every problem is a ``ConfigError`` naming the file."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file {str(path)!r} does not exist")
    try:
        data = safe_load_unique(path.read_text(encoding="utf-8"))
    except DuplicateKeyError as err:
        raise ConfigError(f"config file {str(path)!r}: {err}; keep one of them") from None
    except AliasExpansionError as err:
        raise ConfigError(f"config file {str(path)!r}: {err}") from None
    except yaml.YAMLError as err:
        raise ConfigError(f"config file {str(path)!r} is not valid YAML: {yaml_problem(err)}") from None
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
    except AliasExpansionError as err:
        raise ConfigError(f"--set {assignment!r}: {err}") from None
    except (yaml.YAMLError, RecursionError, ValueError) as err:
        problem = yaml_problem(err) if isinstance(err, yaml.YAMLError) else " ".join(str(err).split())
        raise ConfigError(f"--set {assignment!r}: cannot parse the value ({problem}); quote it if it is a "
                          "string") from None
    node = data
    for part in parts[:-1]:
        node = node.setdefault(part, {})
        if not isinstance(node, dict):
            raise ConfigError(f"--set {assignment!r}: {part!r} is not a section")
    node[parts[-1]] = value


def lookup(config: Any, dotted: str) -> tuple[bool, Any]:
    """(found, value) at ``a.b.c`` of nested dicts; ``(False, None)`` where any part is absent."""
    node = config
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            return False, None
        node = node[part]
    return True, node


def merge_dicts(base: dict[str, Any], update: dict[str, Any]) -> dict[str, Any]:
    """Recursive merge; ``update`` wins (later config files override earlier ones)."""
    out = dict(base)
    for k, v in update.items():
        out[k] = merge_dicts(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out
