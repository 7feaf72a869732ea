"""The Trainer and Lightning snippets of docs/own-loop.md run as written, each on its own, and say
what the page claims: old tasks stay above chance with the continual head, and the PEFT folder
reloads the model exactly."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

DOC = Path(__file__).resolve().parents[2] / "docs" / "own-loop.md"


def _block(section: str) -> str:
    text = DOC.read_text(encoding="utf-8")
    start = text.index(section)
    return re.search(r"^```python\n(.*?)^```", text[start:], re.M | re.S).group(1)


def _run(code: str, tmp_path, capsys) -> tuple[str, dict]:
    cwd = os.getcwd()
    os.chdir(tmp_path)
    namespace: dict = {"__name__": "own_loop_doc"}
    try:
        exec(compile(code, str(DOC), "exec"), namespace)
    finally:
        os.chdir(cwd)
    return capsys.readouterr().out, namespace


def test_the_trainer_snippet_keeps_old_tasks_and_reloads_in_peft(tmp_path, capsys) -> None:
    out, _ = _run(_block("## With transformers' `Trainer`"), tmp_path, capsys)
    accuracies = [float(a) for a in re.findall(r"trainer: task \d accuracy ([0-9.]+) after all tasks", out)]
    assert len(accuracies) == 3 and min(accuracies) > 1 / 6 + 0.2, out  # chance is 1/6
    gap = float(re.search(r"PEFT reload differs by ([0-9.e+-]+)", out).group(1))
    assert gap < 1e-5
    assert (tmp_path / "out" / "peft" / "litelora_head" / "head.json").is_file()


def test_the_lightning_snippet_runs(tmp_path, capsys) -> None:
    pytest.importorskip("lightning")
    out, namespace = _run(_block("## With Lightning"), tmp_path, capsys)
    assert re.findall(r"lightning: task (\d) gate decisions", out) == ["0", "1", "2"]
    head = namespace["lite"].model.head
    assert sorted(head.stats) == [0, 1, 2, 3, 4, 5]  # the callback closed the head's tasks: statistics gathered
    assert not any(p.requires_grad for p in head.parameters())
