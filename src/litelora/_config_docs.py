"""Help text of every config field, read from the dataclasses themselves so it never drifts.

A field's help is its ``metadata["help"]`` when set, else its entry in the class docstring:
a line ``name: text`` (continuation lines indented deeper), the style ``GateConfig`` and
``AdapterConfig`` use.
"""

from __future__ import annotations

import dataclasses
import inspect
import re
import typing
from dataclasses import dataclass
from typing import Any

from litelora._config import to_dict

_ENTRY = re.compile(r"^(?P<indent>\s*)(?P<name>[A-Za-z_]\w*)\s*:\s+(?P<text>\S.*)$")


@dataclass(frozen=True)
class FieldDoc:
    """One ``--set`` field: dotted ``path``, type as written, default (YAML-able) and help."""

    path: str
    type: str
    default: Any
    help: str


def docstring_entries(cls: type) -> dict[str, str]:
    """``name -> text`` of the ``name: text`` entries in ``cls``'s own docstring (joined lines)."""
    doc = inspect.cleandoc(cls.__dict__.get("__doc__") or "")
    out: dict[str, str] = {}
    current, base_indent = None, 0
    for line in doc.splitlines():
        match = _ENTRY.match(line)
        indent = len(line) - len(line.lstrip())
        if match and (current is None or indent <= base_indent):
            current, base_indent = match["name"], indent
            out[current] = match["text"].strip()
        elif current is not None and line.strip() and indent > base_indent:
            out[current] += " " + line.strip()
        else:
            current = None
    return out


def field_docs(cls: type, prefix: str = "") -> list[FieldDoc]:
    """Every leaf field of config dataclass ``cls``, nested sections flattened to dotted paths."""
    hints = typing.get_type_hints(cls)
    entries = docstring_entries(cls)
    out: list[FieldDoc] = []
    for f in dataclasses.fields(cls):
        if not f.init:
            continue
        path = f"{prefix}{f.name}"
        tp = hints[f.name]
        if dataclasses.is_dataclass(tp):
            out += field_docs(tp, path + ".")  # type: ignore[arg-type]
            continue
        help_text = str(f.metadata.get("help") or entries.get(f.name, "")).strip()
        out.append(FieldDoc(path, _type_name(tp), field_default(f), help_text))
    return out


def sections(cls: type) -> list[str]:
    """Names of ``cls``'s nested config sections (``benchmark``, ``model``, ...)."""
    hints = typing.get_type_hints(cls)
    return [f.name for f in dataclasses.fields(cls) if dataclasses.is_dataclass(hints[f.name])]


def field_default(f: dataclasses.Field) -> Any:
    """A config field's default as plain data (``None`` where the field has none)."""
    if f.default is not dataclasses.MISSING:
        return to_dict(f.default)
    if f.default_factory is not dataclasses.MISSING:
        return to_dict(f.default_factory())
    return None


def _type_name(tp: Any) -> str:
    text = str(tp) if typing.get_origin(tp) is not None else getattr(tp, "__name__", str(tp))
    return text.replace("typing.", "").replace("NoneType", "None")
