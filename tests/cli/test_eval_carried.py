"""``litelora eval RUN_DIR --carried``: each task scored by the model as it stood before the task
trained (the earlier adapters alone), rebuilt from the final bank, and by the base model."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from litelora.cli.main import main
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


def test_the_model_before_a_task_is_the_model_a_shorter_run_ends_with(runs: dict[str, Path]) -> None:
    # The same seed and the same first task: the one-task run's final model is the two-task run's
    # model after task 0. Rebuilt from the two-task run's final bank, it must give the same logits.
    two, one = load_run(runs["two"]), load_run(runs["one"])
    task = two.stream.tasks[1]
    assert [e.input for e in one.stream.tasks[0].train] == [e.input for e in two.stream.tasks[0].train]
    one.model.attach(two.stream)  # the label words of task 1, which the shorter run never saw
    batch = two.model.collate(task.test, task)
    with torch.no_grad():
        reference = one.model.run(batch)
        final = two.model.run(batch)
        rebuilt = {t.task_id: m.run(batch) for t, m in models_before_tasks(two)}
    assert not torch.allclose(final, reference, atol=1e-3)  # task 1's adapters change the logits
    torch.testing.assert_close(rebuilt[1], reference, atol=1e-5, rtol=0)
    with one.bank.disable_adapters(), torch.no_grad():
        torch.testing.assert_close(rebuilt[0], one.model.run(batch), atol=1e-5, rtol=0)  # task 0: the base model


def test_carried_accuracies_and_forward_transfer(runs: dict[str, Path]) -> None:
    report = carried_report(load_run(runs["two"]), batch_size=16, scenario="cil")
    rows = report["tasks"]
    assert [r["task"] for r in rows] == [0, 1] and rows[0]["before"] == rows[0]["base"]
    assert all(0.0 <= r[k] <= 1.0 for r in rows for k in ("base", "before"))
    assert report["forward_transfer"] == pytest.approx(rows[1]["before"] - rows[1]["base"])


def test_the_cli_prints_and_writes_the_carried_accuracies(runs: dict[str, Path], tmp_path: Path, capsys) -> None:
    out = tmp_path / "carried.json"
    assert main(["eval", str(runs["two"]), "--carried", "--json", str(out)]) == 0
    printed = capsys.readouterr().out
    written = json.loads(out.read_text())
    assert written["carried"]["tasks"][1]["name"] == written["tasks"][1]["name"]
    assert "before it trained" in printed and "forward transfer" in printed
    final = json.loads((runs["two"] / "results.json").read_text())["metrics"]["final_acc_sample"]
    assert written["final_acc_sample"] == pytest.approx(final, abs=1e-9)  # the final model is scored first, whole


@pytest.mark.parametrize(("sets", "message"), [
    (["--set", "model.name=tiny-bert", "--set", "model.max_length=16"], "classifier head"),
    (["--set", "method.name=seqlora"], "method 'seqlora' changes earlier tasks' adapters"),
])
def test_runs_whose_earlier_models_cannot_be_rebuilt_are_refused(tmp_path: Path, capsys, sets: list[str],
                                                                  message: str) -> None:
    run = _train(tmp_path / "run", 2, *sets)
    capsys.readouterr()
    assert main(["eval", str(run), "--carried"]) == 1
    assert message in capsys.readouterr().err


def test_carried_is_refused_with_peft_folders(tmp_path: Path, capsys) -> None:
    assert main(["eval", "--peft", str(tmp_path), "--carried"]) == 1
    assert "drop RUN_DIR, --show, --carried" in capsys.readouterr().err
