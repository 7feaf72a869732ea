"""Instruction prompts: one template per task type, stored as data and overridable per run.

A task's type comes from its name (``templates.json`` maps name patterns to types, the run's
``model.generation.task_types`` first). Labels are words: the target of an example is its
class name without the task prefix that multi-dataset streams add (``"rt-sentiment:fresh"``
-> ``"fresh"``).
"""

from __future__ import annotations

import json
import re
import string
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from litelora.errors import ConfigError

FIELDS = ("input", "options", "task")
_PACKAGED = Path(__file__).with_name("templates.json")


@lru_cache(maxsize=1)
def packaged_templates() -> dict[str, Any]:
    """The packaged ``templates.json`` (templates, task_types, default)."""
    return json.loads(_PACKAGED.read_text(encoding="utf-8"))


def check_template(kind: str, template: str) -> None:
    """Raise ``ConfigError`` for a template with a field other than ``FIELDS``, or that does not
    place a plain ``{input}`` (no conversion or format spec) exactly once."""
    where = f"templates[{kind!r}]"
    try:
        parsed = [(name, spec, conversion) for _, name, spec, conversion in string.Formatter().parse(template)
                  if name is not None]
    except ValueError as err:
        raise ConfigError(f"{where}: not a valid template ({err}); write fields as {{input}}, "
                          "and literal braces as {{ and }}") from None
    fields = [name for name, _, _ in parsed]
    unknown = sorted({f for f in fields if f not in FIELDS})
    if unknown:
        raise ConfigError(f"{where}: unknown field(s) {unknown}; a template may use {list(FIELDS)} only")
    if "input" not in fields:
        raise ConfigError(f"{where}: the template never places the example; add {{input}}")
    if any(name == "input" and (spec or conversion) for name, spec, conversion in parsed):
        # The example is placed as it is (a long one is cut there); a spec would format a stand-in.
        raise ConfigError(f"{where}: write the example as a plain {{input}}, without a conversion (!r) or "
                          "format spec (:...)")
    if fields.count("input") > 1:
        # A prompt over model.max_length is cut inside its one input; a second copy would stay
        # whole, so the cut could not keep the prompt within the length it checks.
        raise ConfigError(f"{where}: the template places the example {fields.count('input')} times; "
                          "write {input} once (a long example is cut there)")


def target_text(class_name: str) -> str:
    """The word(s) a model generates for a class: its name after the last ``:``."""
    return class_name.rsplit(":", 1)[-1].strip()


def label_source(class_name: str) -> str:
    """The task prefix a multi-dataset stream gives a class name (before the last ``:``; ``""``
    where there is none): which source's label word :func:`target_text` reads."""
    return class_name.rsplit(":", 1)[0] if ":" in class_name else ""


@dataclass(frozen=True)
class Prompt:
    """A rendered prompt split around the example, so a long input can be cut without losing
    the instruction or the answer cue: ``prefix + input + suffix``."""

    prefix: str
    input: str
    suffix: str

    @property
    def text(self) -> str:
        return self.prefix + self.input + self.suffix


class PromptTemplates:
    """Task type -> template, task name -> type; the packaged set updated by ``overrides``."""

    def __init__(self, overrides: dict[str, str] | None = None, task_types: dict[str, str] | None = None) -> None:
        data = packaged_templates()
        self.templates: dict[str, str] = {**data["templates"], **(overrides or {})}
        for kind, template in self.templates.items():
            check_template(kind, template)
        self.rules: list[tuple[re.Pattern[str], str]] = []
        for pattern, kind in [*(task_types or {}).items(), *data["task_types"]]:
            if kind not in self.templates:
                raise ConfigError(f"task_types[{pattern!r}]: unknown task type {kind!r}; "
                                  f"known: {sorted(self.templates)} (or add it to templates)")
            try:
                self.rules.append((re.compile(pattern, re.IGNORECASE), kind))
            except re.error as err:
                raise ConfigError(f"task_types: {pattern!r} is not a valid regex ({err})") from None
        self.default: str = data["default"]

    def task_type(self, task_name: str) -> str:
        for pattern, kind in self.rules:
            if pattern.fullmatch(task_name):
                return kind
        return self.default

    def render(self, task_name: str, text: str, options: list[str]) -> Prompt:
        """The prompt for one example of ``task_name`` whose answer is one of ``options``."""
        template = self.templates[self.task_type(task_name)]
        fields = {"options": ", ".join(options), "task": task_name}
        # A sentinel stands for the input while the rest is filled in, so braces inside the
        # example text are never read as fields.
        sentinel = "\x00INPUT\x00"
        filled = template.format(input=sentinel, **fields)
        prefix, _, suffix = filled.partition(sentinel)
        return Prompt(prefix, text, suffix)
