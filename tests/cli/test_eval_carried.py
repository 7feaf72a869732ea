"""``litelora eval RUN_DIR --carried``: each task scored by the model as it stood before the task
trained (the earlier adapters alone), rebuilt from the final bank, and by the base model."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
import torch

from litelora.cli.main import main
from litelora.training.evaluation import evaluate_task
from litelora.workflows.carried import carried_report, models_before_tasks
from litelora.workflows.runs import load_run

TRAIN = ["train", "--no-progress", "--set", "benchmark.name=tiny-text", "--set", "model.name=tiny-llama",
         "--set", "model.max_length=160", "--set", "train.max_steps_per_task=4", "--set", "train.lr=0.01",
         "--set", "train.batch_size=8", "--set", "gate.kind=none"]


def _train(out: Path, num_tasks: int, *extra: str) -> Path:
    options = f"benchmark.options={{num_tasks: {num_tasks}, train_per_class: 8, test_per_class: 3}}"
    order = f"benchmark.class_order={list(range(2 * num_tasks))}"  # task 0 alike in both runs
    assert main([*TRAIN, "-o", str(out), "--set", options, "--set", order, *extra]) == 0
    return out


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("carried")
    return {"two": _train(root / "two", 2), "one": _train(root / "one", 1)}


def _rebuilt_matches_shorter_run(longer: Path, shorter: Path) -> None:
    """The same seed and the same first tasks: the shorter run's final model is the longer run's
    model before its last task. Rebuilt from the longer run's final bank, it must give the same logits."""
    long, short = load_run(longer), load_run(shorter)
    task = long.stream.tasks[-1]
    for a, b in zip(short.stream.tasks, long.stream.tasks):
        assert [e.input for e in a.train] == [e.input for e in b.train]
    short.model.attach(long.stream)  # the label words of the last task, which the shorter run never saw
    batch = long.model.collate(task.test, task)
    with torch.no_grad():
        reference = short.model.run(batch)
        final = long.model.run(batch)
        rebuilt = {t.task_id: m.run(batch) for t, m in models_before_tasks(long)}
    assert not torch.allclose(final, reference, atol=1e-3)  # the last task's adapters change the logits
    torch.testing.assert_close(rebuilt[task.task_id], reference, atol=1e-5, rtol=0)


def test_the_model_before_a_task_is_the_model_a_shorter_run_ends_with(runs: dict[str, Path]) -> None:
    _rebuilt_matches_shorter_run(runs["two"], runs["one"])


@pytest.mark.parametrize("reuse", ["scale", "core"])
def test_reuse_paths_of_later_tasks_are_dropped_and_earlier_ones_kept(tmp_path: Path, reuse: str) -> None:
    # Half of every later task's modules close and train a reuse path over the old adapters: the
    # model before task 2 keeps task 1's paths and adapters and none of task 2's.
    gate = ["--set", "gate.kind=litelora-v3", "--set", "gate.budget=0.5", "--set", f"gate.reuse={reuse}"]
    three, two = _train(tmp_path / "three", 3, *gate), _train(tmp_path / "two", 2, *gate)
    decisions = json.loads((three / "gates.json").read_text())
    assert any(d["task"] == 1 and d["reuse"] == reuse for d in decisions)
    _rebuilt_matches_shorter_run(three, two)


def test_carried_accuracies_and_forward_transfer(runs: dict[str, Path]) -> None:
    """``before`` for task 1 is what the one-task run's final model scores on it; ``base`` is the
    model with every adapter off; forward transfer is their difference on task 1."""
    report = carried_report(load_run(runs["two"]), batch_size=16, scenario="cil")
    rows = report["tasks"]
    long, short = load_run(runs["two"]), load_run(runs["one"])
    short.model.attach(long.stream)  # the label words of task 1, which the shorter run never saw
    with long.bank.disable_adapters():
        base = [evaluate_task(long.model, task, "cil", 16) for task in long.stream.tasks]
    before = evaluate_task(short.model, long.stream.tasks[1], "cil", 16)
    assert [r["task"] for r in rows] == [0, 1]
    assert [r["base"] for r in rows] == pytest.approx(base)
    assert rows[0]["before"] == rows[0]["base"] and rows[1]["before"] == pytest.approx(before)
    assert report["forward_transfer"] == pytest.approx(before - base[1])


def test_the_cli_prints_and_writes_the_carried_accuracies(runs: dict[str, Path], tmp_path: Path, capsys) -> None:
    out = tmp_path / "carried.json"
    assert main(["eval", str(runs["two"]), "--carried", "--json", str(out)]) == 0
    printed = capsys.readouterr().out
    written = json.loads(out.read_text())
    assert written["carried"]["tasks"][1]["name"] == written["tasks"][1]["name"]
    assert "before it trained" in printed and "forward transfer" in printed
    final = json.loads((runs["two"] / "results.json").read_text())["metrics"]["final_acc_sample"]
    assert written["final_acc_sample"] == pytest.approx(final, abs=1e-9)  # the final model is scored first, whole


def _with_first_cell(source: Path, tmp_path: Path, rewrite: Callable[[float], str]) -> Path:
    """A copy of run ``source`` whose accuracy_matrix.csv has R[0][0] rewritten."""
    run = tmp_path / "run"
    shutil.copytree(source, run)
    matrix = run / "accuracy_matrix.csv"
    rows = matrix.read_text().splitlines()
    cells = rows[1].split(",")
    cells[1] = rewrite(float(cells[1]))
    matrix.write_text("\n".join([rows[0], ",".join(cells), *rows[2:]]) + "\n")
    return run


def test_a_method_that_changed_earlier_adapters_is_caught_by_the_matrix(runs: dict[str, Path], tmp_path: Path,
                                                                         capsys) -> None:
    # As if a method claimed keeps_old_adapters wrongly: the run scored task 0 otherwise than the
    # model rebuilt after it does.
    run = _with_first_cell(runs["two"], tmp_path, lambda x: "0.5" if x != 0.5 else "0.25")
    capsys.readouterr()
    assert main(["eval", str(run), "--carried"]) == 1
    assert "a later task changed its adapters" in capsys.readouterr().err
    assert main(["eval", str(run), "--carried", "--test-extra", "0"]) == 1  # own test sets: still checked


def test_a_matrix_rounded_to_its_file_precision_passes_the_rebuild_check(runs: dict[str, Path],
                                                                          tmp_path: Path) -> None:
    # accuracy_matrix.csv keeps 6 decimals: 59/60 is written 0.983333. The check compares counts of
    # correct examples, so a cell off by less than half an example still matches the rebuilt model.
    run = _with_first_cell(runs["two"], tmp_path, lambda x: f"{x + (4e-7 if x < 1 else -4e-7):.7f}")
    assert main(["eval", str(run), "--carried"]) == 0


@pytest.mark.parametrize(("tasks", "sets", "message"), [
    (2, ["--set", "model.name=tiny-bert", "--set", "model.max_length=16"], "classifier head"),
    (2, ["--set", "method.name=seqlora"], "method 'seqlora' changes earlier tasks' adapters"),
    (1, [], "needs at least two tasks"),
])
def test_runs_whose_earlier_models_cannot_be_rebuilt_are_refused(tmp_path: Path, capsys, tasks: int, sets: list[str],
                                                                  message: str) -> None:
    run = _train(tmp_path / "run", tasks, *sets)
    capsys.readouterr()
    assert main(["eval", str(run), "--carried"]) == 1
    assert message in capsys.readouterr().err


def test_carried_is_refused_with_peft_folders(tmp_path: Path, capsys) -> None:
    assert main(["eval", "--peft", str(tmp_path), "--carried"]) == 1
    assert "drop RUN_DIR, --show, --carried" in capsys.readouterr().err
