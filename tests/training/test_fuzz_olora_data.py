"""Fuzzing (issue 9): malformed O-LoRA data folders, and malformed configs in front of broken data, fed
to ``litelora train``.

Every generated input must end in ``litelora train: error: <message>`` and exit code 1, never a raw
traceback, and leave no run directory behind. The inputs are invalid by construction, so nothing
trains (a tripwire fails the test if the stream ever builds). About 80 generated cases, in seconds;
``LITELORA_FUZZ_SCALE=50`` multiplies them.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path
from typing import Any

import pytest
import yaml
# fuzz_helpers (imported first) skips this module where hypothesis is absent.
from fuzz_helpers import (GARBAGE, KEY, OPS, assert_litelora_error, assert_no_run_dir, call_cli, fuzz, mutate,
                          to_yaml)
from hypothesis import assume, given
from hypothesis import strategies as st

from litelora.benchmarks.registry import list_benchmarks
from litelora.benchmarks.sources import OLORA_ORDERS
from litelora.training.config import RunConfig


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("litelora-fuzz")



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
    (run / "config.yaml").write_text(to_yaml(config), encoding="utf-8")
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
    rc, _, err = call_cli(args)
    assert_litelora_error(rc, err, "train")
    assert any(task in err for task, _ in defects), f"the error names none of the broken tasks: {err!r}"
    assert_no_run_dir(out)


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
    doc = mutate(_olora_config(broken_olora), ops)
    assume(not _could_train(doc))
    args, out = _train_args(doc, work)
    rc, _, err = call_cli(args)
    assert_litelora_error(rc, err, "train")
    assert_no_run_dir(out)


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
    rc, _, err = call_cli(args)
    assert_litelora_error(rc, err, "train")
    assert needle in err
    assert_no_run_dir(out)


def test_deeply_nested_olora_json_is_a_data_error(work: Path, no_training: None) -> None:
    """Found by the fuzzer: ``json.load`` raised RecursionError on ``[[[[...``."""
    root = work / "deep-olora"
    _write_valid(root)
    (root / TASKS[1] / "train.json").write_bytes(b"[" * 100_000)
    args, out = _train_args(_olora_config(root), work)
    rc, _, err = call_cli(args)
    assert_litelora_error(rc, err, "train")
    assert f"{TASKS[1]}/train.json, line 1, record 0: JSON nested too deeply" in err
    assert_no_run_dir(out)
