"""The one jinja2 environment the HTML pages render through: templates from ``templates/``,
every value escaped, an undefined name an error rather than an empty string."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

TEMPLATES = Path(__file__).with_name("templates")


@cache
def _environment() -> Any:
    import jinja2  # imported on first render: reading runs needs no template engine

    return jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True,
                              undefined=jinja2.StrictUndefined, keep_trailing_newline=True)


def render_template(name: str, **context: Any) -> str:
    """``templates/<name>`` rendered with ``context``."""
    return _environment().get_template(name).render(**context)
