"""The ``families`` stream: the families and order it claims reach ``stream.json``, the repeat is
the very data of its original under another name, and every seeded order keeps a family's tasks
apart. Sources are stand-ins (class names as the real ones), so these run without the corpora."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from litelora.benchmarks import build_benchmark, families
from litelora.benchmarks.families import FAMILY_TASKS, REPEAT_SUFFIX, family_order
from litelora.benchmarks.stream import Example
from litelora.errors import ConfigError, DataError

CLASSES = {
    "bbc": ["business", "entertainment", "politics", "sports", "tech"],
    "rt": ["fresh", "plot", "rotten"],
    "wordnet": ["noun.animal", "noun.artifact", "noun.feeling", "noun.food", "noun.location", "noun.person"],
    "spam": ["ham", "spam"],
    "fortunes": ["food", "law", "education", "drugs", "science", "work"],
}
OLORA = Path(os.environ.get("LITELORA_OLORA_STANDARD", Path(__file__).resolve().parents[3] / "shared" / "data"
                            / "olora-standard"))


def _source(name: str, per_class: int = 30):
    names = CLASSES[name]
    return lambda: ([Example(f"{name} {c} text {i}", k) for k, c in enumerate(names) for i in range(per_class)],
                    list(names))


@pytest.fixture(autouse=True)
def stand_in_sources(monkeypatch: pytest.MonkeyPatch) -> None:
    for source in CLASSES:
        monkeypatch.setitem(families.POOLED_SOURCES, source, _source(source))


def _separated(fams: list[str]) -> bool:
    return all(a != b for a, b in zip(fams, fams[1:]))


def test_the_default_stream_is_three_families_twice_each_then_a_repeat_of_task_0() -> None:
    stream = build_benchmark("families", seed=0, train_per_class=4, test_per_class=2)
    names = [t.name for t in stream.tasks]
    assert names == ["bbc-topics-a", "rt-sentiment-a", "supersense-a", "bbc-topics-b", "rt-sentiment-b",
                     "supersense-b", "bbc-topics-a-repeat"]
    fams = [t.family for t in stream.tasks]
    assert fams == ["topic", "sentiment", "supersense"] * 2 + ["topic"]
    assert stream.meta["families"] == fams and stream.meta["task_order"] == names
    assert stream.meta["repeat_of"] == {"bbc-topics-a-repeat": "bbc-topics-a"}
    summary = stream.summary()["tasks"]
    assert [t["family"] for t in summary] == fams
    assert summary[1]["class_names"] == ["rt-sentiment-a:positive", "rt-sentiment-a:negative"]
    assert summary[2]["class_names"] == ["supersense-a:animal", "supersense-a:food", "supersense-a:artifact"]


def test_a_task_outside_a_family_stream_writes_no_family() -> None:
    stream = build_benchmark("tiny-text", num_tasks=2)
    assert all("family" not in t for t in stream.summary()["tasks"])


def test_the_repeat_is_its_originals_data_byte_for_byte_under_another_name() -> None:
    stream = build_benchmark("families", seed=2, train_per_class=5, test_per_class=3)
    first, repeat = stream.tasks[0], stream.tasks[-1]
    assert repeat.name == first.name + REPEAT_SUFFIX and repeat.family == first.family

    def words(task, split):
        return [(e.input, stream.class_names[e.label].split(":", 1)[1]) for e in getattr(task, split)]

    for split in ("train", "test"):
        assert json.dumps(words(repeat, split)).encode() == json.dumps(words(first, split)).encode()
    assert not set(first.classes) & set(repeat.classes)  # its own classes: a new task to the learner


def test_the_halves_of_one_source_share_no_example() -> None:
    stream = build_benchmark("families", seed=0, train_per_class=6, test_per_class=4)
    a, b = (next(t for t in stream.tasks if t.name == n) for n in ("rt-sentiment-a", "rt-sentiment-b"))
    assert not {e.input for e in a.train + a.test} & {e.input for e in b.train + b.test}


@pytest.mark.parametrize("fams", [["topic", "sentiment", "supersense"], list(families.FAMILIES),
                                  ["spam", "fortunes"]])
def test_every_seeded_order_keeps_each_familys_tasks_apart(fams: list[str]) -> None:
    catalog = [t for t in FAMILY_TASKS if t.family in fams and not t.needs_data_root]
    family_of = {t.name: t.family for t in catalog}
    orders = {}
    for seed in range(12):
        order = family_order([t.name for t in catalog], family_of, seed, repeat=True)
        repeats = [k for k, n in enumerate(order) if n.endswith(REPEAT_SUFFIX)]
        assert [order[k] for k in repeats] == [order[0] + REPEAT_SUFFIX] and repeats[0] >= len(order) - 2
        assert sorted(n for n in order if not n.endswith(REPEAT_SUFFIX)) == sorted(family_of)
        assert _separated([family_of[n.removesuffix(REPEAT_SUFFIX)] for n in order]), (seed, order)
        orders[seed] = order
    assert len({tuple(o) for o in orders.values()}) > 3  # the seed does choose the order
    assert family_order([t.name for t in catalog], family_of, 5, repeat=True) == orders[5]
    # the three orders of a suite start with three different families
    assert len({family_of[orders[s][0]] for s in (0, 1, 2)}) == min(3, len(fams))


def test_an_order_with_no_separation_is_refused_and_bad_options_name_the_field() -> None:
    family_of = {"bbc-topics-a": "topic", "bbc-topics-b": "topic", "rt-sentiment-a": "sentiment"}
    with pytest.raises(ConfigError, match="no order keeps the families apart"):
        family_order(list(family_of), family_of, 0, repeat=True)
    with pytest.raises(ConfigError, match="benchmark.options.families"):
        build_benchmark("families", families=["topic", "weather"])
    with pytest.raises(ConfigError, match="benchmark.options.families"):
        build_benchmark("families", families=["topic"])
    with pytest.raises(ConfigError, match="per_family must be at least 2"):
        build_benchmark("families", per_family=1)
    with pytest.raises(ConfigError, match="neither a task"):
        build_benchmark("families", tasks=["bbc-topics-a-repeat", "bbc-topics-a"])
    with pytest.raises(ConfigError, match="benchmark.data_root"):
        build_benchmark("families", tasks=["agnews-topics"])


def test_a_source_without_a_tasks_class_names_both(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(families.POOLED_SOURCES, "bbc", lambda: ([Example("t", 0)] * 50, ["business"]))
    with pytest.raises(DataError, match=r"families/bbc-topics-a: the bbc data has no classes \['politics', 'tech'\]"):
        build_benchmark("families", tasks=["bbc-topics-a"])


def test_named_tasks_run_in_the_order_given_with_a_named_repeat() -> None:
    stream = build_benchmark("families", tasks=["spam-or-ham-a", "bbc-topics-b", "spam-or-ham-a-repeat"],
                             train_per_class=3, test_per_class=2, scenario="til")
    assert [t.family for t in stream.tasks] == ["spam", "topic", "spam"]
    assert stream.meta["repeat_of"] == {"spam-or-ham-a-repeat": "spam-or-ham-a"}
    assert [e.input for e in stream.tasks[2].test] == [e.input for e in stream.tasks[0].test]


def test_a_run_writes_each_tasks_family_to_stream_json(tmp_path: Path) -> None:
    from litelora.cli.main import main

    out = tmp_path / "run"
    sets = ["benchmark.name=families", "benchmark.options.families=[topic, spam]", "benchmark.seed=1",
            "benchmark.options.train_per_class=2", "benchmark.options.test_per_class=1", "model.name=tiny-bert",
            "model.max_length=16", "train.max_steps_per_task=1", "train.num_threads=1"]
    assert main(["train", "--no-progress", "-o", str(out), *[x for s in sets for x in ("--set", s)]]) == 0
    written = json.loads((out / "stream.json").read_text())
    fams = [t["family"] for t in written["tasks"]]
    assert fams[0] == "spam" and sorted(fams) == ["spam", "spam", "spam", "topic", "topic"]
    assert _separated(fams) and written["meta"]["families"] == fams
    assert [t["name"] for t in written["tasks"]] == written["meta"]["task_order"]


@pytest.mark.skipif(not (OLORA / "amazon").is_dir(), reason=f"O-LoRA Standard data not found at {OLORA}")
def test_with_the_olora_folder_agnews_and_amazon_join_topic_and_sentiment() -> None:
    stream = build_benchmark("families", data_root=str(OLORA), train_per_class=3, test_per_class=2)
    by_name = {t.name: t for t in stream.tasks}
    assert by_name["agnews-topics"].family == "topic" and by_name["amazon-sentiment"].family == "sentiment"
    assert len(by_name["amazon-sentiment"].classes) == 5 and len(by_name["amazon-sentiment"].test) == 10
    assert _separated([t.family for t in stream.tasks]) and len(stream.tasks) == 9
