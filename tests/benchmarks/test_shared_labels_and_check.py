"""Shared-label multi-dataset streams, the stream record, and ``litelora benchmark check``."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import torch

from litelora.benchmarks import build_benchmark
from litelora.cli.main import main
from litelora.errors import ConfigError
from litelora.models.classifier import ContinualModel


def _task(root: Path, name: str, train: list[str], test: list[str]) -> None:
    folder = root / name
    folder.mkdir()
    for split, labels in (("train", train), ("test", test)):
        rows = [{"sentence": f"{name} {split} {i}", "label": y} for i, y in enumerate(labels)]
        (folder / f"{split}.json").write_text(json.dumps(rows))


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    _task(tmp_path, "sst", ["positive", "negative"] * 3, ["positive", "negative"])
    _task(tmp_path, "imdb", ["negative", "positive", "neutral"] * 2, ["neutral", "positive", "negative"])
    return tmp_path


def test_a_recurring_label_string_is_one_class(folder: Path) -> None:
    stream = build_benchmark("olora", data_root=str(folder), tasks=["sst", "imdb"], shared_labels=True)
    assert stream.class_names == ["negative", "positive", "neutral"]
    assert [t.classes for t in stream.tasks] == [(0, 1), (0, 2, 1)]
    assert stream.meta["label_map"] == {"sst": {"negative": 0, "positive": 1},
                                        "imdb": {"negative": 0, "neutral": 2, "positive": 1}}
    imdb_test = [stream.class_names[ex.label] for ex in stream.tasks[1].test]
    assert imdb_test == ["neutral", "positive", "negative"]  # the file's label strings, by name
    summary = stream.summary()
    assert summary["shared_labels"] and summary["tasks"][1]["class_names"] == ["negative", "neutral", "positive"]


def test_without_shared_labels_every_task_owns_its_classes(folder: Path) -> None:
    stream = build_benchmark("olora", data_root=str(folder), tasks=["sst", "imdb"])
    assert stream.num_classes == 5 and stream.tasks[1].classes == (2, 3, 4)
    assert stream.class_names[2:] == ["imdb:negative", "imdb:neutral", "imdb:positive"]


def test_shared_label_head_keeps_one_column_per_label_and_til_masks_to_the_task(folder: Path) -> None:
    stream = build_benchmark("olora", data_root=str(folder), tasks=["sst", "imdb"], shared_labels=True)

    class Features(torch.nn.Module):
        feature_dim, default_targets = 4, []

        def forward(self, x):
            return x

    model = ContinualModel(Features())  # type: ignore[arg-type]
    model.add_task(stream.tasks[0])
    model.end_task()
    model.add_task(stream.tasks[1])
    assert model.head.class_ids == [0, 1, 2]  # "negative" and "positive" kept their columns
    x = torch.randn(6, 4)
    labels = torch.tensor([0, 1, 2, 0, 1, 2])
    sst = stream.tasks[0]
    with torch.no_grad():
        logits = model.head(x)
        model.head.blocks[1].bias.fill_(100.0)  # "neutral" wins every class-incremental argmax
    assert model.count_correct({"x": x}, labels, sst, "cil") == int((labels == 2).sum())
    til = model.count_correct({"x": x}, labels, sst, "til")
    assert til == int((logits[:, :2].argmax(-1) == labels).sum())  # only sst's two columns compete


def test_benchmark_check_prints_counts_and_label_names(folder: Path, capsys) -> None:
    assert main(["benchmark", "check", "olora", "--data-root", str(folder), "--set",
                 "benchmark.options.tasks=[sst, imdb]", "--set", "benchmark.options.shared_labels=true"]) == 0
    out = capsys.readouterr().out
    assert "benchmark olora-tasks: 2 tasks, 3 classes, scenario cil, shared labels" in out
    assert "task 1 imdb: 6 train, 3 test" in out
    assert "class   2 'neutral': 2 train, 1 test" in out


def test_benchmark_check_reports_a_class_never_trained(tmp_path: Path, capsys) -> None:
    _task(tmp_path, "mnli", ["entailment", "contradiction"] * 2, ["entailment", "-", "contradiction"])
    (tmp_path / "mnli" / "labels.json").write_text(json.dumps(["entailment", "contradiction", "-"]))
    assert main(["benchmark", "check", "olora", "--data-root", str(tmp_path),
                 "--set", "benchmark.options.tasks=[mnli]"]) == 1
    out = capsys.readouterr().out
    assert "problem: task 0 ('mnli'): class" in out and "'mnli:-'" in out and "1 test examples but no training" in out


def test_benchmark_check_names_the_bad_file_and_record(tmp_path: Path, capsys) -> None:
    _task(tmp_path, "bad", ["a", "b"], ["a", "b"])
    rows = json.loads((tmp_path / "bad" / "train.json").read_text())
    rows[1] = {"sentence": "no label here"}
    (tmp_path / "bad" / "train.json").write_text(json.dumps(rows))
    assert main(["benchmark", "check", "olora", "--data-root", str(tmp_path),
                 "--set", "benchmark.options.tasks=[bad]"]) == 1
    err = capsys.readouterr().err
    assert re.search(r"bad/train\.json, line \d+, record 1: missing 'label' \(keys: \['sentence'\]\)", err), err


def test_scenario_is_checked(folder: Path) -> None:
    with pytest.raises(ConfigError, match="scenario"):
        build_benchmark("olora", data_root=str(folder), tasks=["sst"], scenario="xyz")
