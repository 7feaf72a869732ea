"""Fuzzing (issue 9): malformed configs and O-LoRA data files, fed through the CLI entry points.

Every generated input must end in ``litelora <command>: error: <message>`` and exit code 1 (or,
for ``config validate`` only, exit 0 when the input happens to be valid), never a raw traceback,
and a failed ``train`` must leave no run directory behind. The train inputs are invalid by
construction (a broken data folder, or a broken config in front of one), so nothing trains.
About 210 generated cases in all, in seconds; ``LITELORA_FUZZ_SCALE=50`` multiplies them.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import tempfile
import traceback
from pathlib import Path
from typing import Any

import pytest
import yaml

hypothesis = pytest.importorskip("hypothesis", reason="the fuzz tests need `pip install hypothesis`")
from hypothesis import HealthCheck, assume, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from litelora.benchmarks.registry import list_benchmarks  # noqa: E402
from litelora.benchmarks.sources import OLORA_ORDERS  # noqa: E402
from litelora.cli.main import main  # noqa: E402
from litelora.training.config import RunConfig  # noqa: E402


def fuzz(n: int) -> settings:
    """``n`` examples (times ``LITELORA_FUZZ_SCALE`` for a deeper run); no example database."""
    scale = max(1, int(os.environ.get("LITELORA_FUZZ_SCALE", "1") or 1))
    return settings(max_examples=n * scale, deadline=None, database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])


# ----------------------------------------------------------------------------- running the CLI
def _call(args: list[str]) -> tuple[int, str, str]:
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


def _assert_litelora_error(rc: int, err: str, command: str) -> None:
    prefix = f"litelora {command}: error: "
    assert rc == 1, f"exit code {rc}, stderr {err!r}"
    assert err.startswith(prefix) and err[len(prefix):].strip(), f"not a litelora error message: {err!r}"
    assert "Traceback" not in err


def _assert_validate_outcome(rc: int, out: str, err: str) -> None:
    if rc == 0:
        assert "config is valid" in out and not err
    else:
        _assert_litelora_error(rc, err, "config")


def _assert_no_run_dir(out_dir: Path) -> None:
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


def _mutate(config: dict[str, Any], ops: list[tuple[str, tuple[Any, ...], Any]]) -> Any:
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


def _yaml(doc: Any) -> str:
    return yaml.safe_dump(doc, sort_keys=False, allow_unicode=True)


def _flow(value: Any) -> str:
    text = yaml.safe_dump(value, default_flow_style=True, width=10**9, allow_unicode=True)
    return text.removesuffix("...\n").strip()


VALIDATE_BASE: dict[str, Any] = {
    "benchmark": {"name": "tiny-text", "seed": 0, "options": {"num_tasks": 2}},
    "model": {"name": "tiny-bert", "max_length": 32},
    "adapter": {"target_modules": ["query", "value"], "r": 4, "rank_pattern": {"query": 2}},
    "method": {"name": "olora", "params": {"lambda_1": 0.5}},
    "gate": {"kind": "hard_concrete", "lam": 0.05, "budget": 0.5},
    "train": {"epochs": 1, "batch_size": 4, "lr": 1e-3, "progress": False},
}


@pytest.fixture(scope="module")
def work() -> Any:
    root = Path(tempfile.mkdtemp(prefix="litelora-fuzz-"))
    yield root
    shutil.rmtree(root, ignore_errors=True)


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
                args += ["--set", f"{'.'.join(path)}={_flow(value)}"]
    else:
        doc = _mutate(VALIDATE_BASE, ops)
    with tempfile.NamedTemporaryFile("w", suffix=".yaml", dir=work, delete=False, encoding="utf-8") as fh:
        fh.write(_yaml(doc))
    rc, out, err = _call([*args, "-c", fh.name])
    _assert_validate_outcome(rc, out, err)


_BASE_TEXT = _yaml(VALIDATE_BASE)
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
    rc, out, err = _call(["config", "validate", "-c", fh.name])
    _assert_validate_outcome(rc, out, err)


def test_validate_reports_missing_config_file(work: Path) -> None:
    rc, _, err = _call(["config", "validate", "-c", str(work / "absent.yaml")])
    _assert_litelora_error(rc, err, "config")
    rc, _, err = _call(["config", "validate", "-c", str(work)])  # a folder, not a file
    _assert_litelora_error(rc, err, "config")


# ----------------------------------------------------------------------------- O-LoRA data
TASKS = OLORA_ORDERS[1]
LABELS = ("x", "y")


def _records(n: int = 4) -> list[dict[str, str]]:
    return [{"sentence": f"sentence {i} about {LABELS[i % 2]}", "label": LABELS[i % 2]} for i in range(n)]


def _write_valid(root: Path) -> None:
    for task in TASKS:
        (root / task).mkdir(parents=True, exist_ok=True)
        for split in ("train.json", "test.json"):
            (root / task / split).write_text(json.dumps(_records()), encoding="utf-8")


def _is_valid_split(raw: bytes) -> bool:
    """The loader's rules, to keep random text from being valid data by chance."""
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return False
    return isinstance(data, list) and bool(data) and all(
        isinstance(r, dict) and isinstance(r.get("sentence"), str) and isinstance(r.get("label"), str) for r in data)


NOT_STR = GARBAGE.filter(lambda v: not isinstance(v, str))
BAD_RECORD = st.one_of(
    GARBAGE.filter(lambda v: not isinstance(v, dict)),  # not an object
    st.tuples(st.sampled_from(["sentence", "label"]), st.dictionaries(KEY, GARBAGE, max_size=2)).map(
        lambda t: {**{k: v for k, v in _records(1)[0].items() if k != t[0]},
                   **{k: v for k, v in t[1].items() if k not in ("sentence", "label")}}),  # a key missing
    st.tuples(st.sampled_from(["sentence", "label"]), NOT_STR).map(
        lambda t: {**_records(1)[0], t[0]: t[1]}),  # a key of the wrong type
)
SPLIT = st.sampled_from(["train.json", "test.json"])
_VALID_JSON = json.dumps(_records())
DEFECT = st.one_of(
    # raw bytes that are not a valid split: truncated JSON, random text, non-UTF-8, empty
    st.tuples(st.just("bytes"), SPLIT, st.integers(0, len(_VALID_JSON) - 1).map(
        lambda n: _VALID_JSON[:n].encode("utf-8"))),
    st.tuples(st.just("bytes"), SPLIT, (st.text(max_size=40).map(str.encode) | st.binary(max_size=40)).filter(
        lambda b: not _is_valid_split(b))),
    st.tuples(st.just("bytes"), SPLIT, st.sampled_from([
        b"", b"\xef\xbb\xbf\xff" + _VALID_JSON.encode(), b"[" * 100_000, b'{"a": ' * 100_000,
        b"[" + b"1e999999, " * 10 + b"1]", b'[{"sentence": "a", "label": "x"}] trailing'])),
    # valid JSON of the wrong shape
    st.tuples(st.just("json"), SPLIT, GARBAGE.filter(lambda v: not isinstance(v, list))),
    st.tuples(st.just("json"), SPLIT, st.just([])),
    st.tuples(st.just("json"), SPLIT, st.tuples(st.integers(0, 4), BAD_RECORD).map(
        lambda t: _records()[: t[0]] + [t[1]] + _records()[t[0]:])),
    # a test label the train split does not have (a new train label is just a new class)
    st.tuples(st.just("json"), st.just("test.json"), st.text(max_size=10).filter(lambda s: s not in LABELS).map(
        lambda lab: _records() + [{"sentence": "stray", "label": lab}])),
    # labels.json: not a list, empty, non-strings, duplicates, or missing a label the records use
    st.tuples(st.just("json"), st.just("labels.json"), st.one_of(
        GARBAGE.filter(lambda v: not isinstance(v, list)), st.just([]),
        st.lists(GARBAGE, min_size=1, max_size=4).filter(lambda v: not all(isinstance(x, str) for x in v)),
        st.just(["x", "y", "x"]),
        st.lists(st.text(max_size=5), min_size=1, max_size=4, unique=True).filter(
            lambda v: not set(LABELS) <= set(v)))),
    # files and folders missing or of the wrong kind
    st.tuples(st.sampled_from(["remove", "make_dir"]), SPLIT, st.none()),
    st.tuples(st.sampled_from(["remove_task", "task_is_file"]), st.none(), st.none()),
)


def _apply_defect(root: Path, task: str, defect: tuple[str, str | None, Any]) -> None:
    kind, name, value = defect
    folder = root / task
    if folder.is_file():
        return  # an earlier defect made the task a file: it stays broken
    if kind == "remove_task":
        shutil.rmtree(folder, ignore_errors=True)
        return
    if kind == "task_is_file":
        shutil.rmtree(folder, ignore_errors=True)
        folder.write_text("not a folder")
        return
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / str(name)
    if target.is_dir():
        shutil.rmtree(target)
    else:
        target.unlink(missing_ok=True)
    if kind == "bytes":
        target.write_bytes(value)
    elif kind == "json":
        target.write_text(json.dumps(value, allow_nan=True), encoding="utf-8")
    elif kind == "make_dir":
        target.mkdir()


@pytest.fixture(scope="module")
def no_training() -> Any:
    """A tripwire: every train input here is invalid, so the stream must never build. If one
    does, fail at once instead of loading a backbone and training."""

    def tripwire(*args: Any, **kwargs: Any) -> None:
        pytest.fail("train built the task stream: the generated input was meant to be invalid")

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr("litelora.training.build.build_backbone", tripwire)
        yield


def _train_args(config: Any, work: Path) -> tuple[list[str], Path]:
    run = Path(tempfile.mkdtemp(dir=work))
    (run / "config.yaml").write_text(_yaml(config), encoding="utf-8")
    out = run / "out"
    return ["train", "--no-progress", "-c", str(run / "config.yaml"), "-o", str(out)], out


def _olora_config(data_root: Path) -> dict[str, Any]:
    return {"benchmark": {"name": "olora", "data_root": str(data_root), "options": {"order": 1}},
            "model": {"name": "tiny-bert", "max_length": 16},
            "train": {"epochs": 1, "max_steps_per_task": 1, "batch_size": 2, "progress": False}}


@fuzz(45)
@given(defects=st.lists(st.tuples(st.sampled_from(TASKS), DEFECT), min_size=1, max_size=3))
def test_train_refuses_malformed_olora_data(work: Path, no_training: None, defects: list[Any]) -> None:
    """Broken JSON, a non-list, records missing keys or of the wrong type, empty splits, stray
    labels, bad labels.json, missing files and folders: an error naming the task, no run directory."""
    root = Path(tempfile.mkdtemp(dir=work))
    _write_valid(root)
    for task, defect in defects:
        _apply_defect(root, task, defect)
    args, out = _train_args(_olora_config(root), work)
    rc, _, err = _call(args)
    _assert_litelora_error(rc, err, "train")
    assert any(task in err for task, _ in defects), f"the error names none of the broken tasks: {err!r}"
    _assert_no_run_dir(out)


@pytest.fixture(scope="module")
def broken_olora(work: Path) -> Path:
    """O-LoRA data whose last task (in every order that has all four) has broken JSON: the first
    tasks load, so benchmark options reach the builder, and the stream still never builds."""
    root = work / "broken-olora"
    _write_valid(root)
    (root / TASKS[-1] / "test.json").write_text('[{"sentence": "a", "label": ', encoding="utf-8")
    return root


_REAL_BENCHMARKS = set(list_benchmarks()) - {"olora"}


def _could_train(doc: Any) -> bool:
    """Whether the mutated config might name another, buildable benchmark (then it could train)."""
    if doc is None:  # an empty YAML document is an empty config: every default
        doc = {}
    if not isinstance(doc, dict):
        return False
    bench = doc.get("benchmark", {})
    if not isinstance(bench, dict):
        return False
    name = bench.get("name", RunConfig().benchmark.name)
    return isinstance(name, str) and name in _REAL_BENCHMARKS


@fuzz(35)
@given(ops=st.lists(OPS, min_size=1, max_size=3))
def test_train_refuses_malformed_config(work: Path, no_training: None, broken_olora: Path, ops: list[Any]) -> None:
    """A malformed config in front of broken data: ``train`` fails at the config or at the data,
    with a litelora error either way, and writes nothing."""
    doc = _mutate(_olora_config(broken_olora), ops)
    assume(not _could_train(doc))
    args, out = _train_args(doc, work)
    rc, _, err = _call(args)
    _assert_litelora_error(rc, err, "train")
    _assert_no_run_dir(out)


@pytest.mark.parametrize(("option", "needle"), [
    ("order: [1]", "benchmark.options.order: expected an integer"),
    ("train_per_class: x", "benchmark.options.train_per_class: expected an integer"),
    ("scenario: {a: 1}", "benchmark.options.scenario: expected a string"),
])
def test_benchmark_option_types_are_checked(work: Path, no_training: None, broken_olora: Path, option: str,
                                            needle: str) -> None:
    """Found by the fuzzer: these reached the O-LoRA builder and raised TypeError."""
    config = _olora_config(broken_olora)
    config["benchmark"]["options"].update(yaml.safe_load(option))
    args, out = _train_args(config, work)
    rc, _, err = _call(args)
    _assert_litelora_error(rc, err, "train")
    assert needle in err
    _assert_no_run_dir(out)


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
    rc, _, err = _call(["config", "validate", "-c", str(path)])
    _assert_litelora_error(rc, err, "config")
    assert needle in err


def test_exponent_floats_are_numbers(work: Path) -> None:
    """PyYAML reads ``5e-4`` (no dot) as a string; float fields take it, as ``--set train.lr=5e-4`` in the
    CLI help promises."""
    path = work / "lr.yaml"
    path.write_text("train: {lr: 5e-4, head_lr: 1E-2}\ngate: {kind: representability, params: {tau: 9e-4}}\n")
    rc, out, _ = _call(["config", "show", "-c", str(path), "--set", "train.weight_decay=1e-5"])
    assert rc == 0
    shown = yaml.safe_load(out)
    assert shown["train"]["lr"] == 5e-4 and shown["train"]["head_lr"] == 1e-2
    assert shown["train"]["weight_decay"] == 1e-5
    from litelora.gates import GateConfig, build_gate  # a gate's params are typed when the gate reads them

    assert build_gate(GateConfig(**shown["gate"]), num_tasks=2).params.tau == 9e-4


def test_deeply_nested_olora_json_is_a_data_error(work: Path, no_training: None) -> None:
    """Found by the fuzzer: ``json.load`` raised RecursionError on ``[[[[...``."""
    root = work / "deep-olora"
    _write_valid(root)
    (root / TASKS[1] / "train.json").write_bytes(b"[" * 100_000)
    args, out = _train_args(_olora_config(root), work)
    rc, _, err = _call(args)
    _assert_litelora_error(rc, err, "train")
    assert f"{TASKS[1]}/train.json, line 1, record 0: JSON nested too deeply" in err
    _assert_no_run_dir(out)
