"""Fuzzing (issue 9): malformed configs and YAML files fed to ``litelora config validate``.

Every generated input must end in ``litelora config: error: <message>`` and exit code 1, or exit 0
when the input happens to be valid, never a raw traceback. About 130 generated cases, in seconds;
``LITELORA_FUZZ_SCALE=50`` multiplies them. The data side, through ``train``: test_fuzz_olora_data.py.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import pytest
import yaml
# fuzz_helpers (imported first) skips this module where hypothesis is absent.
from fuzz_helpers import (OPS, assert_litelora_error, assert_validate_outcome, call_cli, flow, fuzz, mutate,
                          to_yaml)
from hypothesis import given
from hypothesis import strategies as st


VALIDATE_BASE: dict[str, Any] = {
    "benchmark": {"name": "tiny-text", "seed": 0, "options": {"num_tasks": 2}},
    "model": {"name": "tiny-bert", "max_length": 32},
    "adapter": {"target_modules": ["query", "value"], "r": 4, "rank_pattern": {"query": 2}},
    "method": {"name": "olora", "params": {"lambda_1": 0.5}},
    "gate": {"kind": "hard_concrete", "lam": 0.05, "budget": 0.5},
    "train": {"epochs": 1, "batch_size": 4, "lr": 1e-3, "progress": False},
}


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("litelora-fuzz")



# ----------------------------------------------------------------------------- config validate
@fuzz(70)
@given(ops=st.lists(OPS, min_size=1, max_size=4), via_set=st.booleans())
def test_validate_survives_malformed_config_dicts(work: Path, ops: list[Any], via_set: bool) -> None:
    """Wrong types, missing and unknown keys at any depth, huge and negative numbers, empty strings,
    None and nested garbage: in the YAML file, or (``via_set``) as ``--set key=value`` overrides."""
    args = ["config", "validate"]
    if via_set:
        doc = VALIDATE_BASE
        for kind, path, value in ops:
            if kind == "set" and all(isinstance(p, str) and p and "." not in p and "=" not in p for p in path):
                args += ["--set", f"{'.'.join(path)}={flow(value)}"]
    else:
        doc = mutate(VALIDATE_BASE, ops)
    with tempfile.NamedTemporaryFile("w", suffix=".yaml", dir=work, delete=False, encoding="utf-8") as fh:
        fh.write(to_yaml(doc))
    rc, out, err = call_cli([*args, "-c", fh.name])
    assert_validate_outcome(rc, out, err)


_BASE_TEXT = to_yaml(VALIDATE_BASE)
_EDIT = st.tuples(st.integers(0, len(_BASE_TEXT)), st.integers(0, 6),
                  st.text(alphabet=":-[]{}#&*!|>'\"%@`,?\t\n \\x0", max_size=4))


def _corrupt(edits: list[tuple[int, int, str]]) -> str:
    text = _BASE_TEXT
    for pos, cut, insert in edits:
        pos = min(pos, len(text))
        text = text[:pos] + insert + text[pos + cut:]
    return text


HOSTILE = st.sampled_from([
    "!!python/object/apply:os.system ['echo pwned']\n",
    "train: !!python/name:os.system\n",
    "train: &t {lr: *t}\n",
    "benchmark: {options: &o {o: *o}}\n",
    "method: {params: &p [*p]}\n",
    "a: &a [x, x, x]\nb: &b [*a, *a, *a]\nc: [*b, *b, *b]\n",
    "--- {train: {lr: 1}}\n--- {train: {lr: 2}}\n",
    "%YAML 9.9\n---\ntrain: {}\n",
    "? [train, lr]\n: 1\n",
    "train:\n\tlr: 1\n",
    "train: {lr: 1}\ntrain: {lr: 2}\n",
    "\ufefftrain: {lr: 0.001}\n",
    "train: {lr: 2020-13-45}\n",
    "train: {seed: " + "9" * 5000 + "}\n",
    "train: {lr: " + "9" * 400 + "}\n",
    "a: " + "[" * 3000 + "]" * 3000 + "\n",
    "a: " + "{b: " * 3000 + "1" + "}" * 3000 + "\n",
    "", "~\n", "[]\n", "42\n", "'just a string'\n", "- train\n- model\n",
])
YAML_BYTES = st.one_of(
    st.text(max_size=200).map(lambda s: s.encode("utf-8")),
    st.lists(_EDIT, min_size=1, max_size=5).map(lambda e: _corrupt(e).encode("utf-8")),
    HOSTILE.map(lambda s: s.encode("utf-8")),
    st.binary(max_size=64),
    st.sampled_from([b"\xff\xfe\x00t\x00r", b"train: {lr: \xe9}\n", b"\x00\x00\x00"]),
)


@fuzz(60)
@given(data=YAML_BYTES)
def test_validate_survives_malformed_yaml_text(work: Path, data: bytes) -> None:
    """Random text, a valid config with random edits, hostile YAML (python tags, recursive and
    exponential aliases, deep nesting, bad dates, 5000-digit ints) and non-UTF-8 bytes."""
    with tempfile.NamedTemporaryFile("wb", suffix=".yaml", dir=work, delete=False) as fh:
        fh.write(data)
    rc, out, err = call_cli(["config", "validate", "-c", fh.name])
    assert_validate_outcome(rc, out, err)


def test_validate_reports_missing_config_file(work: Path) -> None:
    rc, _, err = call_cli(["config", "validate", "-c", str(work / "absent.yaml")])
    assert_litelora_error(rc, err, "config")
    rc, _, err = call_cli(["config", "validate", "-c", str(work)])  # a folder, not a file
    assert_litelora_error(rc, err, "config")

@pytest.mark.parametrize(("content", "needle"), [
    (b"\xff\xfetrain: {}\n", "is not UTF-8 text"),
    (b"a: " + b"[" * 3000 + b"]" * 3000 + b"\n", "nested too deeply"),
    (b"train: {lr: 2020-13-45}\n", "cannot be read: month must be in 1..12"),
    (b"train: {seed: " + b"9" * 5000 + b"}\n", "cannot be read"),
    (b"train: {lr: " + b"9" * 400 + b"}\n", "train.lr: expected a finite number"),
    (b"train: {lr: .nan}\n", "train.lr: expected a finite number"),
    (b"train: {epochs: .inf}\n", "train.epochs: expected a finite number"),
    (b"gate: {kind: hard_concrete, params: {lam: -.inf}}\n", "gate.params.lam: expected a finite number"),
])
def test_config_regressions_found_by_fuzzing(work: Path, content: bytes, needle: str) -> None:
    """Each of these raised UnicodeDecodeError, RecursionError, ValueError or OverflowError, or was
    accepted and failed mid-run (``epochs: .inf``: OverflowError after the run directory was written)."""
    path = work / "regression.yaml"
    path.write_bytes(content)
    rc, _, err = call_cli(["config", "validate", "-c", str(path)])
    assert_litelora_error(rc, err, "config")
    assert needle in err


def test_exponent_floats_are_numbers(work: Path) -> None:
    """PyYAML reads ``5e-4`` (no dot) as a string; float fields take it, as ``--set train.lr=5e-4`` in the
    CLI help promises."""
    path = work / "lr.yaml"
    path.write_text("train: {lr: 5e-4, head_lr: 1E-2}\ngate: {kind: representability, params: {tau: 9e-4}}\n")
    rc, out, _ = call_cli(["config", "show", "-c", str(path), "--set", "train.weight_decay=1e-5"])
    assert rc == 0
    shown = yaml.safe_load(out)
    assert shown["train"]["lr"] == 5e-4 and shown["train"]["head_lr"] == 1e-2
    assert shown["train"]["weight_decay"] == 1e-5
    from litelora.gates import GateConfig, build_gate  # a gate's params are typed when the gate reads them

    assert build_gate(GateConfig(**shown["gate"]), num_tasks=2).params.tau == 9e-4
