"""``files``: JSONL / CSV / TSV / JSON task folders with configurable columns, label names kept,
and the same checks as the O-LoRA loader."""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

import pytest

from litelora.benchmarks import build_benchmark
from litelora.cli.main import main
from litelora.errors import ConfigError, DataError


def _jsonl(path: Path, rows: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))


def _csv(path: Path, rows: list[dict], delimiter: str = ",") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]), delimiter=delimiter)
        writer.writeheader()
        writer.writerows(rows)


@pytest.fixture
def root(tmp_path: Path) -> Path:
    news = [{"body": f"{w} story {i}", "topic": w} for i in range(6) for w in ("markets", "football")]
    _jsonl(tmp_path / "news" / "train.jsonl", news)
    _jsonl(tmp_path / "news" / "test.jsonl", news[:4])
    reviews = [{"body": f"{w} film {i}", "topic": 1 if w == "great" else 0} for i in range(6) for w in ("great", "dull")]
    _csv(tmp_path / "reviews" / "train.csv", reviews)
    _csv(tmp_path / "reviews" / "test.csv", reviews[:4])
    (tmp_path / "reviews" / "labels.txt").write_text("0\n1\n")
    return tmp_path


def test_tasks_read_in_name_order_with_the_named_columns(root: Path) -> None:
    stream = build_benchmark("files", data_root=str(root), text_column="body", label_column="topic")
    assert [t.name for t in stream.tasks] == ["news", "reviews"]
    assert stream.class_names == ["news:football", "news:markets", "reviews:0", "reviews:1"]
    assert stream.meta["task_order"] == ["news", "reviews"]
    news = stream.tasks[0]
    assert len(news.train) == 12 and len(news.test) == 4
    by_label = {e.input.split()[0]: e.label for e in news.train}
    assert by_label == {"football": 0, "markets": 1}
    assert {e.label for e in stream.tasks[1].train} == {2, 3}


def test_tasks_option_orders_and_caps_apply(root: Path) -> None:
    stream = build_benchmark("files", data_root=str(root), tasks=["reviews", "news"], text_column="body",
                             label_column="topic", train_per_class=2, test_per_class=1)
    assert [t.name for t in stream.tasks] == ["reviews", "news"]
    assert [len(t.train) for t in stream.tasks] == [4, 4] and [len(t.test) for t in stream.tasks] == [2, 2]


def test_text_pairs_and_tsv(tmp_path: Path) -> None:
    rows = [{"premise": f"p{i}", "hypothesis": f"h{i}", "label": ["yes", "no"][i % 2]} for i in range(4)]
    _csv(tmp_path / "nli" / "train.tsv", rows, delimiter="\t")
    _csv(tmp_path / "nli" / "test.tsv", rows, delimiter="\t")
    stream = build_benchmark("files", data_root=str(tmp_path), text_column="premise", text_pair_column="hypothesis",
                             pair_separator=" || ")
    assert stream.tasks[0].train[0].input == "p0 || h0"
    assert stream.class_names == ["nli:no", "nli:yes"]


def test_json_list_and_labels_json_fix_the_order(tmp_path: Path) -> None:
    rows = [{"text": f"t{i}", "label": ["b", "a"][i % 2]} for i in range(4)]
    for split in ("train", "test"):
        (tmp_path / "t").mkdir(exist_ok=True)
        (tmp_path / "t" / f"{split}.json").write_text(json.dumps(rows))
    (tmp_path / "t" / "labels.json").write_text(json.dumps(["b", "a"]))
    assert build_benchmark("files", data_root=str(tmp_path)).class_names == ["t:b", "t:a"]


BAD = [
    (lambda r: (r / "news" / "test.jsonl").unlink(), r"news: no test file; expected one of test\.jsonl"),
    (lambda r: _jsonl(r / "news" / "test.csv", [{"a": 1}]), r"test\.jsonl, test\.csv all hold the test split"),
    (lambda r: (r / "news" / "train.jsonl").write_text('{"body": "x", "topic": "a"}\n{broken\n'),
     r"train\.jsonl, line 2: broken JSON at column 2"),
    (lambda r: (r / "news" / "train.jsonl").write_text(""), r"train\.jsonl: the split is empty"),
    (lambda r: (r / "news" / "train.jsonl").write_bytes(b'{"body": "\xff"}\n'), r"not UTF-8 text"),
    (lambda r: _jsonl(r / "news" / "train.jsonl", [[1, 2]]), r"train\.jsonl, line 1: expected an object of fields, got list"),
    (lambda r: _jsonl(r / "news" / "train.jsonl", [{"text": "x", "topic": "a"}]),
     r"line 1: no column 'body' \(columns: \['text', 'topic'\]\); set benchmark\.options\.text_column"),
    (lambda r: _jsonl(r / "news" / "train.jsonl", [{"body": 5, "topic": "a"}]), r"must hold non-empty strings"),
    (lambda r: _jsonl(r / "news" / "train.jsonl", [{"body": " ", "topic": "a"}]), r"must hold non-empty strings"),
    (lambda r: _jsonl(r / "news" / "train.jsonl", [{"body": "x", "topic": None}]),
     r"label None must be a non-empty string or an integer"),
    (lambda r: _jsonl(r / "news" / "train.jsonl", [{"body": "x", "topic": True}]), r"label True must be"),
    (lambda r: _jsonl(r / "news" / "test.jsonl", [{"body": "x", "topic": "weather"}]),
     r"test labels \['weather'\] are not among the task's labels"),
    (lambda r: (r / "reviews" / "labels.txt").write_text("0\n0\n"), r"labels must be distinct"),
    (lambda r: (r / "reviews" / "labels.txt").write_text("1\n"), r"train labels \['0'\] are not among"),
]


@pytest.mark.parametrize(("damage", "needle"), BAD, ids=[n[:40] for _, n in BAD])
def test_malformed_folders_name_the_file_and_record(root: Path, damage, needle: str) -> None:
    damage(root)
    with pytest.raises(DataError, match=needle):
        build_benchmark("files", data_root=str(root), text_column="body", label_column="topic")


def test_config_errors(tmp_path: Path, root: Path) -> None:
    with pytest.raises(ConfigError, match="set benchmark.data_root"):
        build_benchmark("files")
    with pytest.raises(DataError, match="is not a folder"):
        build_benchmark("files", data_root=str(tmp_path / "none"))
    with pytest.raises(DataError, match=r"task folder .*weather not found; folders present: \['news', 'reviews'\]"):
        build_benchmark("files", data_root=str(root), tasks=["weather"], text_column="body", label_column="topic")
    with pytest.raises(ConfigError, match=r"'\.\./x' is not a folder name"):
        build_benchmark("files", data_root=str(root), tasks=["../x"])
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(DataError, match="holds no task folders"):
        build_benchmark("files", data_root=str(empty))


def test_train_on_files_end_to_end(root: Path, tmp_path: Path, capsys) -> None:
    assert main(["train", "--no-progress", "-o", str(tmp_path / "run"), "--set", "benchmark.name=files",
                 "--set", f"benchmark.data_root={root}", "--set", "benchmark.options.text_column=body",
                 "--set", "benchmark.options.label_column=topic", "--set", "model.name=tiny-bert",
                 "--set", "train.max_steps_per_task=2"]) == 0
    results = json.loads((tmp_path / "run" / "results.json").read_text())
    assert results["train_info"]["class_names"] == ["news:football", "news:markets", "reviews:0", "reviews:1"]


def test_a_saved_hugging_face_dataset_is_a_task_folder(tmp_path: Path) -> None:
    datasets = pytest.importorskip("datasets")
    features = datasets.Features({"sentence": datasets.Value("string"),
                                  "label": datasets.ClassLabel(names=["negative", "positive"])})
    rows = {"sentence": [f"review {i}" for i in range(6)], "label": [i % 2 for i in range(6)]}
    split = datasets.Dataset.from_dict(rows, features=features)
    datasets.DatasetDict({"train": split, "test": split.select(range(2))}).save_to_disk(str(tmp_path / "sst"))
    _jsonl(tmp_path / "news" / "train.jsonl", [{"sentence": "stocks", "label": "markets"}])
    _jsonl(tmp_path / "news" / "test.jsonl", [{"sentence": "stocks", "label": "markets"}])
    stream = build_benchmark("files", data_root=str(tmp_path), text_column="sentence")
    assert stream.class_names == ["news:markets", "sst:negative", "sst:positive"]
    sst = stream.tasks[1]
    assert [e.input for e in sst.train[:2]] == ["review 0", "review 1"]
    assert [e.label for e in sst.train[:2]] == [1, 2] and len(sst.test) == 2


def test_a_saved_dataset_without_a_test_split_is_refused(tmp_path: Path) -> None:
    datasets = pytest.importorskip("datasets")
    split = datasets.Dataset.from_dict({"text": ["a", "b"], "label": ["x", "y"]})
    datasets.DatasetDict({"train": split, "validation": split}).save_to_disk(str(tmp_path / "t"))
    with pytest.raises(DataError, match=r"needs 'train' and 'test' splits, found \['train', 'validation'\]"):
        build_benchmark("files", data_root=str(tmp_path))


def test_data_root_pointing_at_a_saved_dataset_itself_names_the_folder_above(tmp_path: Path) -> None:
    datasets = pytest.importorskip("datasets")
    split = datasets.Dataset.from_dict({"text": ["a", "b"], "label": ["x", "y"]})
    datasets.DatasetDict({"train": split, "test": split}).save_to_disk(str(tmp_path / "sst"))
    with pytest.raises(DataError, match=rf"is a saved Hugging Face dataset \(one task\), not a folder of tasks: "
                                        rf"set benchmark.data_root={re.escape(str(tmp_path.resolve()))} \(the folder above it\)"):
        build_benchmark("files", data_root=str(tmp_path / "sst"))
    assert [t.name for t in build_benchmark("files", data_root=str(tmp_path)).tasks] == ["sst"]
