"""``litelora eval RUN_DIR --test-extra N``: a finished run scored on more test examples per class,
taken past its training examples; its training data and its own test examples stay as they were.
Sources are stand-ins (class names as the real ones), so these run without the corpora."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from litelora.benchmarks import build_benchmark, families
from litelora.benchmarks.stream import Example
from litelora.cli.main import main
from litelora.errors import ConfigError

CLASSES = {"bbc": ["business", "entertainment", "politics", "sports", "tech"], "rt": ["fresh", "plot", "rotten"],
           "wordnet": ["noun.animal", "noun.artifact", "noun.feeling", "noun.food", "noun.location", "noun.person"]}
SETS = ["benchmark.name=families", "benchmark.options.train_per_class=2", "benchmark.options.test_per_class=1",
        "model.name=tiny-bert", "model.max_length=16", "train.max_steps_per_task=1", "train.num_threads=1",
        "gate.kind=none"]


@pytest.fixture(autouse=True)
def stand_in_sources(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, names in CLASSES.items():
        examples = [Example(f"{name} {c} text {i}", k) for k, c in enumerate(names) for i in range(30)]
        monkeypatch.setitem(families.POOLED_SOURCES, name, lambda e=examples, n=names: (list(e), list(n)))


def _inputs(examples: list[Example]) -> list[str]:
    return [e.input for e in examples]


def test_extra_test_examples_leave_the_training_data_and_the_first_test_examples_alone() -> None:
    plain = build_benchmark("families", train_per_class=2, test_per_class=1)
    more = build_benchmark("families", train_per_class=2, test_per_class=1, test_extra=4)
    for a, b in zip(plain.tasks, more.tasks):
        assert _inputs(b.train) == _inputs(a.train)
        assert _inputs(b.test)[: len(a.test)] == _inputs(a.test)
        extra = _inputs(b.test)[len(a.test):]
        assert len(extra) == 4 * len(a.classes) and not set(extra) & set(_inputs(a.train) + _inputs(a.test))
    repeat = more.tasks[-1]
    assert repeat.name.endswith("-repeat") and _inputs(repeat.test) == _inputs(more.tasks[0].test)


def test_a_negative_test_extra_is_refused_by_name() -> None:
    with pytest.raises(ConfigError, match=r"benchmark\.options\.test_extra must be between 0 and"):
        build_benchmark("families", test_extra=-1)


def test_a_run_is_scored_on_more_examples_and_writes_them(tmp_path: Path, capsys) -> None:
    run = _train(tmp_path)
    results = json.loads((run / "results.json").read_text())
    capsys.readouterr()
    assert main(["eval", str(run), "--json", str(tmp_path / "own.json")]) == 0
    own = json.loads((tmp_path / "own.json").read_text())
    assert own["final_acc_sample"] == pytest.approx(results["metrics"]["final_acc_sample"], abs=1e-9)
    assert main(["eval", str(run), "--test-extra", "3", "--json", str(tmp_path / "more.json")]) == 0
    more = json.loads((tmp_path / "more.json").read_text())
    assert more["run_id"] == json.loads((run / "run.json").read_text())["run_id"]
    assert more["test_extra"] == 3 and [t["name"] for t in more["tasks"]] == [t["name"] for t in own["tasks"]]
    assert [t["n"] for t in more["tasks"]] == [4 * t["n"] for t in own["tasks"]]  # 1 own + 3 extra per class
    n = sum(t["n"] for t in more["tasks"])
    assert more["final_acc_sample"] == pytest.approx(sum(t["accuracy"] * t["n"] for t in more["tasks"]) / n)
    assert "on 12 examples" in capsys.readouterr().out  # a 3-class task: 3 x (1 + 3)


def test_a_benchmark_without_the_option_and_bad_values_fail_by_name(tmp_path: Path, capsys) -> None:
    run = tmp_path / "tiny"
    assert main(["train", "--no-progress", "-o", str(run), "--set", "benchmark.name=tiny-text", "--set",
                 "model.name=tiny-bert", "--set", "gate.kind=none", "--set", "train.max_steps_per_task=1"]) == 0
    capsys.readouterr()
    assert main(["eval", str(run), "--test-extra", "2"]) != 0
    assert "benchmark 'tiny-text' cannot add test examples" in capsys.readouterr().err
    assert main(["eval", str(run), "--test-extra", "-1"]) != 0
    assert "--test-extra must be >= 0" in capsys.readouterr().err


def _train(tmp_path: Path) -> Path:
    run = tmp_path / "run"
    assert main(["train", "--no-progress", "-o", str(run), *[x for s in SETS for x in ("--set", s)]]) == 0
    return run


def test_data_changed_since_the_run_are_refused_with_or_without_extras(tmp_path: Path, monkeypatch, capsys) -> None:
    run = _train(tmp_path)
    names = CLASSES["rt"]
    other = [Example(f"other {c} text {i}", k) for k, c in enumerate(names) for i in range(30)]
    monkeypatch.setitem(families.POOLED_SOURCES, "rt", lambda: (list(other), list(names)))
    capsys.readouterr()
    for extra in ([], ["--test-extra", "2"]):
        assert main(["eval", str(run), *extra]) != 0
        err = capsys.readouterr().err
        assert "stream.data.rt-sentiment-a" in err and "differ from what the run trained on" in err


def test_extras_that_repeat_a_training_or_test_text_are_dropped(tmp_path: Path, monkeypatch, capsys) -> None:
    """Real corpora hold duplicate texts: an extra equal to any task's training text, or to a test
    text, would score what the model saw, so it is left out and the shortfall noted."""
    names = CLASSES["rt"]
    texts = [Example(f"rt {c} text {i}", k) for k, c in enumerate(names) for i in range(30)]
    # Every class holds each text twice: extras past the training ones meet copies of used texts.
    monkeypatch.setitem(families.POOLED_SOURCES, "rt", lambda: (texts + list(texts), list(names)))
    run = _train(tmp_path)
    capsys.readouterr()
    assert main(["eval", str(run), "--test-extra", "25", "--json", str(tmp_path / "s.json")]) == 0
    out = capsys.readouterr().out
    assert "note: task rt-sentiment-a: classes" in out
    from litelora.workflows.runs import load_run_model

    config, stream, _ = load_run_model(run)
    from litelora.reporting import RunDirectory
    from litelora.workflows.extra_test import with_extra_test

    own = {t.name: len(t.test) for t in stream.tasks}
    trained = {ex.input for t in stream.tasks for ex in t.train}
    bigger, _ = with_extra_test(RunDirectory(run), config, stream, 25)
    rt = next(t for t in bigger.tasks if t.name == "rt-sentiment-a")
    extras = [ex.input for ex in rt.test[own[rt.name]:]]
    assert extras and len(set(extras)) == len(extras) and not set(extras) & trained
    assert not set(extras) & {ex.input for ex in rt.test[: own[rt.name]]}
