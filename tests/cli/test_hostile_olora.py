"""``olora`` and the task order: ``benchmark.seed`` draws it with ``shuffle_tasks`` (and is warned
about without), ``benchmark.class_order`` is refused as ``text-domains`` refuses it, the published
``sst-2`` / ``boolqa`` are read from folders ``sst2`` / ``boolq`` with a one-line warning."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from hostile import assert_clean_error, run_cli
from litelora.benchmarks import build_benchmark
from litelora.benchmarks.sources import OLORA_ORDERS

SRC = Path(__file__).resolve().parents[2] / "src"


def _task(root: Path, name: str) -> None:
    folder = root / name
    folder.mkdir()
    for split in ("train", "test"):
        rows = [{"sentence": f"{name} {split} {i}", "label": "ab"[i % 2]} for i in range(4)]
        (folder / f"{split}.json").write_text(json.dumps(rows))


@pytest.fixture
def long_folder(tmp_path: Path) -> Path:
    """Order 4's tasks, sst-2 and boolqa in the folders other copies of the data use."""
    for name in OLORA_ORDERS[4]:
        _task(tmp_path, {"sst-2": "sst2", "boolqa": "BoolQ"}.get(name, name))
    return tmp_path


def test_published_names_are_read_from_their_other_spellings(long_folder: Path) -> None:
    with pytest.warns(UserWarning) as caught:
        stream = build_benchmark("olora", data_root=str(long_folder), order=4)
    assert [t.name for t in stream.tasks] == OLORA_ORDERS[4]
    sst = stream.tasks[OLORA_ORDERS[4].index("sst-2")]
    assert sst.train[0].input == "sst2 train 0"
    assert stream.tasks[OLORA_ORDERS[4].index("boolqa")].train[0].input == "BoolQ train 0"
    messages = sorted(str(w.message) for w in caught)
    assert len(messages) == 2
    assert messages[0].startswith("O-LoRA task 'boolqa' is read from folder ") and messages[0].endswith(
        "BoolQ (another spelling of its name)")
    assert "task 'sst-2' is read from folder " in messages[1]


def test_an_alias_folder_counts_as_present_for_skip_missing(tmp_path: Path) -> None:
    for name in ("sst2", "cb"):
        _task(tmp_path, name)
    with pytest.warns(UserWarning) as caught:
        stream = build_benchmark("olora", data_root=str(tmp_path), order=4, skip_missing=True)
    assert [t.name for t in stream.tasks] == ["cb", "sst-2"]
    messages = [str(w.message) for w in caught]
    assert messages[0].startswith("olora order 4: skipping tasks ['mnli', 'wic', 'copa'") and len(messages) == 2
    assert "'sst-2' is read from folder" in messages[1]


def test_the_seed_draws_the_order_with_shuffle_tasks(long_folder: Path) -> None:
    orders = {}
    for seed in (0, 1, 2):
        with pytest.warns(UserWarning, match="another spelling"):
            stream = build_benchmark("olora", data_root=str(long_folder), order=4, seed=seed, shuffle_tasks=True)
        orders[seed] = stream.meta["task_order"]
        assert [t.name for t in stream.tasks] == orders[seed]
        assert sorted(orders[seed]) == sorted(OLORA_ORDERS[4])
        assert stream.name == f"olora-order4-seed{seed}"
    assert len({tuple(o) for o in orders.values()}) == 3
    with pytest.warns(UserWarning, match="another spelling"):
        again = build_benchmark("olora", data_root=str(long_folder), order=4, seed=1, shuffle_tasks=True)
    assert again.meta["task_order"] == orders[1]


def test_a_seed_without_shuffle_tasks_keeps_the_order_and_says_so(long_folder: Path) -> None:
    with pytest.warns(UserWarning) as caught:
        stream = build_benchmark("olora", data_root=str(long_folder), order=4, seed=7)
    assert stream.meta["task_order"] == OLORA_ORDERS[4]
    assert any(str(w.message) == "olora: benchmark.seed=7 leaves the task order as published as order 4; set "
               "benchmark.options.shuffle_tasks=true for a seeded order" for w in caught)


@pytest.mark.parametrize(("sets", "needle"), [
    (["benchmark.class_order=[1, 0]"], r"olora: the order is over tasks; use benchmark\.options\.order or tasks"),
    (["benchmark.class_order=[0]", "benchmark.options.shuffle_tasks=true"], r"olora: the order is over tasks"),
    (["benchmark.seed=null", "benchmark.options.shuffle_tasks=true"],
     r"olora: benchmark\.options\.shuffle_tasks=true draws the task order from benchmark\.seed, which is null"),
    (["benchmark.options.shuffle_tasks=maybe"], r"benchmark\.options\.shuffle_tasks: expected true or false"),
])
@pytest.mark.parametrize("command", ["train", "config"])
def test_olora_order_settings_that_cannot_apply_are_refused(long_folder: Path, tmp_path: Path, capsys, sets, needle,
                                                            command: str) -> None:
    argv = ["train", "--no-progress", "-o", str(tmp_path / "run")] if command == "train" else ["config", "validate"]
    argv += ["--set", "benchmark.name=olora", "--set", f"benchmark.data_root={long_folder}", "--set",
             "model.name=tiny-bert", "--set", "benchmark.options.order=4"]
    for s in sets:
        argv += ["--set", s]
    assert_clean_error(*run_cli(capsys, *argv), needle, command)
    assert not (tmp_path / "run").exists()


def test_the_cli_prints_each_warning_on_one_line(long_folder: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "litelora", "benchmark", "check", "olora", "--data-root", str(long_folder),
         "--set", "benchmark.options.order=4", "--set", "benchmark.seed=3"],
        capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(SRC), "OMP_NUM_THREADS": "1"},
        timeout=120)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 3, proc.stderr
    assert all(line.startswith("litelora benchmark: warning: ") for line in lines), proc.stderr
    assert "UserWarning" not in proc.stderr and "warnings.warn" not in proc.stderr
    assert "benchmark.seed=3 leaves the task order as published as order 4" in lines[0]
    assert "'sst-2' is read from folder" in proc.stderr and "'boolqa' is read from folder" in proc.stderr
