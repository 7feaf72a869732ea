"""Shared pieces of the fuzz suites (issue 9): run the CLI in this process, generate malformed values
and configs. Every generated input must end in ``litelora <command>: error: <message>`` and exit code 1,
never a raw traceback; ``LITELORA_FUZZ_SCALE=50`` multiplies the number of generated cases."""

from __future__ import annotations

import contextlib
import io
import json
import os
import traceback
from pathlib import Path
from typing import Any

import pytest
import yaml

hypothesis = pytest.importorskip("hypothesis", reason="the fuzz tests need `pip install hypothesis`")
from hypothesis import HealthCheck, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from litelora.cli.main import main  # noqa: E402
from litelora.training.config import RunConfig  # noqa: E402


def fuzz(n: int) -> settings:
    """``n`` examples (times ``LITELORA_FUZZ_SCALE`` for a deeper run); no example database."""
    scale = max(1, int(os.environ.get("LITELORA_FUZZ_SCALE", "1") or 1))
    return settings(max_examples=n * scale, deadline=None, database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])


# ----------------------------------------------------------------------------- running the CLI
def call_cli(args: list[str]) -> tuple[int, str, str]:
    """``main(args)`` with stdout and stderr captured; any exception escaping it is a raw traceback."""
    out, err = io.StringIO(), io.StringIO()
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            rc = main(args)
    except SystemExit as exc:  # argparse: the arguments here are always well formed
        pytest.fail(f"main({args!r}) exited with {exc.code}; stderr:\n{err.getvalue()}")
    except Exception:
        pytest.fail(f"main({args!r}) raised instead of a litelora error:\n{traceback.format_exc()}")
    return rc, out.getvalue(), err.getvalue()


def assert_litelora_error(rc: int, err: str, command: str) -> None:
    prefix = f"litelora {command}: error: "
    assert rc == 1, f"exit code {rc}, stderr {err!r}"
    assert err.startswith(prefix) and err[len(prefix):].strip(), f"not a litelora error message: {err!r}"
    assert "Traceback" not in err


def assert_validate_outcome(rc: int, out: str, err: str) -> None:
    if rc == 0:
        assert "config is valid" in out and not err
    else:
        assert_litelora_error(rc, err, "config")


def assert_no_run_dir(out_dir: Path) -> None:
    assert not out_dir.exists() or not any(out_dir.iterdir()), \
        f"a failed train left files in {out_dir}: {sorted(p.name for p in out_dir.iterdir())}"


# ----------------------------------------------------------------------------- generated values
KEY = st.text(max_size=8)
SPECIAL = st.sampled_from([
    0, -1, -(10**9), 2**31, 2**63, 10**30, -(10**30), 10**400, 1e308, -1e308, 1e-320,
    float("inf"), float("-inf"), float("nan"), True, False, None,
    "", " ", "0", "-1", "null", "none", "1e999", "nan", ".inf", "\x00", "ü" * 3, "cuda:7", "x" * 300,
])
SCALAR = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=12), SPECIAL)
GARBAGE = st.recursive(
    SCALAR,
    lambda children: st.lists(children, max_size=3) | st.dictionaries(KEY | st.integers(), children, max_size=3),
    max_leaves=8,
)


def _paths(d: dict[str, Any], prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = []
    for k, v in d.items():
        out.append(prefix + (k,))
        if isinstance(v, dict):
            out += _paths(v, prefix + (k,))
    return out


# Every section and field of RunConfig, plus keys inside its free-form mappings.
KNOWN_PATHS = _paths(RunConfig().to_dict()) + [
    ("benchmark", "options", "order"), ("benchmark", "options", "train_per_class"),
    ("benchmark", "options", "test_per_class"), ("benchmark", "options", "scenario"),
    ("benchmark", "options", "num_tasks"), ("method", "params", "lambda_1"), ("method", "params", "lambda_2"),
    ("method", "params", "lambda_1_schedule"), ("adapter", "rank_pattern", "query"),
]
PATH = st.one_of(
    st.sampled_from(KNOWN_PATHS),
    st.lists(KEY, min_size=1, max_size=4).map(tuple),  # unknown keys at several depths
    st.tuples(st.sampled_from(KNOWN_PATHS), KEY).map(lambda t: t[0] + (t[1],)),  # below a known field
)
OPS = st.one_of(
    st.tuples(st.just("set"), PATH, GARBAGE),
    st.tuples(st.just("delete"), st.sampled_from(KNOWN_PATHS), st.none()),
    st.tuples(st.just("root"), st.just(()), GARBAGE),  # the whole document replaced
)


def mutate(config: dict[str, Any], ops: list[tuple[str, tuple[Any, ...], Any]]) -> Any:
    doc: Any = json.loads(json.dumps(config))
    for kind, path, value in ops:
        if kind == "root":
            doc = value
            continue
        if not isinstance(doc, dict):
            continue
        node = doc
        for part in path[:-1]:
            if not isinstance(node.get(part), dict):
                node[part] = {}
            node = node[part]
        if kind == "set":
            node[path[-1]] = value
        else:
            node.pop(path[-1], None)
    return doc


def to_yaml(doc: Any) -> str:
    return yaml.safe_dump(doc, sort_keys=False, allow_unicode=True)


def flow(value: Any) -> str:
    text = yaml.safe_dump(value, default_flow_style=True, width=10**9, allow_unicode=True)
    return text.removesuffix("...\n").strip()
