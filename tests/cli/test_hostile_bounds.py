"""Hostile counts, sizes and YAML: every count a user can give is bounded, aliases cannot expand a
config without bound, merge keys are read, and a YAML error is one line naming where it is."""

from __future__ import annotations

import time

import pytest
import yaml

from hostile import assert_clean_error, run_cli
from litelora.cli.main import main

BASE = ["--set", "benchmark.name=tiny-text", "--set", "model.name=tiny-bert", "--set", "train.max_steps_per_task=1"]

BOUNDS = [
    (["model.alignment.steps=1000000000"], r"model\.alignment\.steps=1000000000 is above 100000"),
    (["model.alignment.steps=0"], r"model\.alignment\.steps must be a positive integer"),
    (["model.alignment.samples_per_class=" + "9" * 30], r"model\.alignment\.samples_per_class=9+ is above 16384"),
    (["model.alignment.samples_per_class=-4"], r"model\.alignment\.samples_per_class must be a positive integer"),
    (["model.alignment.lr=1e300"], r"model\.alignment\.lr=1e\+300 is above 10000"),
    (["model.generation.max_new_tokens=1000000000000"], r"model\.generation\.max_new_tokens=1000000000000 is above"),
    (["model.generation.max_target_length=99999999"], r"model\.generation\.max_target_length=99999999 is above"),
    (["train.max_steps_per_task=100000000000"], r"train\.max_steps_per_task=100000000000 is above 10000000"),
    (["train.lr=1e300"], r"train\.lr=1e\+300 is above 10000; learning rates are usually"),
    (["train.head_lr=1e39"], r"train\.head_lr=1e\+39 is above 10000"),
    (["train.epochs=1e300"], r"train\.epochs=1e\+300 is above 10000"),
    (["benchmark.options.num_tasks=1000000000"], r"benchmark\.options\.num_tasks must be between 1 and 1000 tasks"),
    (["benchmark.options.num_tasks=0"], r"benchmark\.options\.num_tasks must be between 1 and 1000"),
    (["benchmark.options.num_tasks=-2"], r"benchmark\.options\.num_tasks must be between 1 and 1000"),
    (["benchmark.options.classes_per_task=10000000"], r"benchmark\.options\.classes_per_task must be between 1 and"),
    (["benchmark.options.classes_per_task=0"], r"benchmark\.options\.classes_per_task must be between 1 and"),
    (["benchmark.options.train_per_class=" + "9" * 40], r"benchmark\.options\.train_per_class must be between 1 and"),
    (["benchmark.options.train_per_class=0"], r"benchmark\.options\.train_per_class must be between 1 and"),
    (["benchmark.options.test_per_class=-1"], r"benchmark\.options\.test_per_class must be between 1 and"),
    (["benchmark.options.train_per_class=1000000"], r"benchmark 'tiny-text': 6 classes x 1000008 examples = "
                                                     r"6000048 examples to generate, above 1000000"),
    (["benchmark.options.num_tasks=1000", "benchmark.options.classes_per_task=1000"],
     r"1000000 classes x 32 examples = 32000000 examples to generate"),
    (["benchmark.options.num_tasks=x"], r"benchmark\.options\.num_tasks: expected an integer, got str"),
    (["benchmark.name=planted-redundancy", "benchmark.options.train_per_class=1000000"],
     r"benchmark 'planted-redundancy': \d+ classes x 1000032 examples"),
    (["benchmark.name=planted-redundancy", "benchmark.options.classes_per_task=-3"],
     r"benchmark\.options\.classes_per_task must be between 1 and"),
    (["benchmark.name=split-mnist", "benchmark.options.image_size=100000"],
     r"benchmark\.options\.image_size must be between 1 and 4096 pixels"),
    (["benchmark.name=split-mnist", "benchmark.options.sample_seed=-1"],
     r"benchmark\.options\.sample_seed must be between 0 and 4294967295"),
    (["benchmark.name=families", "benchmark.options.per_family=0"],
     r"benchmark\.options\.per_family must be between 1 and 1000"),
    (["adapter.rank_pattern={'(q': 4}"], r"adapter\.rank_pattern: key '\(q' is not a valid regular expression "
                                         r"\(missing \), unterminated subpattern"),
    (["adapter.rank_pattern={'query[': 4}"], r"adapter\.rank_pattern: key 'query\[' is not a valid regular"),
    (["adapter.rank_pattern={'*': 4}"], r"adapter\.rank_pattern: key '\*' is not a valid regular expression"),
]


@pytest.mark.parametrize(("sets", "needle"), BOUNDS, ids=[" ".join(s)[:60] for s, _ in BOUNDS])
def test_counts_and_sizes_are_bounded_before_any_work(tmp_path, capsys, sets: list[str], needle: str) -> None:
    out = tmp_path / "run"
    argv = ["train", "--no-progress", "-o", str(out), *BASE]
    for s in sets:
        argv += ["--set", s]
    started = time.monotonic()
    code, err = run_cli(capsys, *argv)
    assert_clean_error(code, err, needle, "train")
    assert time.monotonic() - started < 30  # refused, not generated first
    assert not out.exists() or not any(out.iterdir())


def _alias_bomb(levels: int, where: str) -> str:
    """``where`` holds a list aliased 10 times per level: 10**levels values once expanded."""
    lines = ["l0: &l0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 10)}]" for i in range(1, levels)]
    return f"{where}: {{bomb: {{{', '.join(lines)}}}}}\n"


YAML_FILES = [
    (_alias_bomb(9, "benchmark"), r"c\.yaml': aliases expand it to more than 100000 values \(the value at line 1\); "
                                  r"write the values out, or alias less"),
    (_alias_bomb(30, "method"), r"aliases expand it to more than 100000 values"),
    ("benchmark:\n  options: &o\n    loop: *o\n", r"c\.yaml': the value at line 2 contains itself through an alias; "
                                                  r"a config cannot be recursive"),
    ("a: &x [*x]\n", r"contains itself through an alias"),
    ("train:\n  lr: [\n", r"c\.yaml' is not valid YAML: expected the node content, but found '<stream end>' at line 3, "
                          r"column 1 \(while parsing a flow node\)"),
    ("train: {lr: 1e-3\n", r"is not valid YAML: .* at line 2, column 1"),
    ("train:\n  lr: 1\n   epochs: 2\n", r"is not valid YAML: mapping values are not allowed here at line 3, column 10"),
    ("train:\n\tlr: 1\n", r"is not valid YAML: found character '\\t' that cannot start any token at line 2, column 1"),
    ("train: &t {lr: 1}\nmodel: *unknown\n", r"is not valid YAML: found undefined alias 'unknown' at line 2, column 8"),
    ("train:\n  <<: {lr: 1}\n  lr: 2\n  lr: 3\n", r"key 'lr' appears twice \(line 4\)"),
    ("train:\n  <<: [{lr: 1}, {lr: 2}]\n", r"c\.yaml': key 'lr' is merged from two mappings \(lines 2 and 2\)"),
    ("x: &a {lr: 1}\ntrain:\n  <<: *a\n  <<: {lr: 2}\n", r"key 'lr' is merged from two mappings \(lines 1 and 4\)"),
    ("train:\n  <<: [1, 2]\n", r"is not valid YAML: expected a mapping for merging, but found scalar at line 2, column 8"),
]


@pytest.mark.parametrize(("text", "needle"), YAML_FILES, ids=[t[:30] for t, _ in YAML_FILES])
def test_yaml_bombs_and_errors_fail_in_one_line(tmp_path, capsys, text: str, needle: str) -> None:
    config, out = tmp_path / "c.yaml", tmp_path / "run"
    config.write_text(text)
    started = time.monotonic()
    code, err = run_cli(capsys, "train", "--no-progress", "-c", str(config), "-o", str(out), *BASE)
    assert_clean_error(code, err, needle, "train")
    assert len(err.strip().splitlines()) == 1, err
    assert time.monotonic() - started < 10
    assert not out.exists() or not any(out.iterdir())


def test_an_alias_bomb_given_with_set_is_refused_too(capsys) -> None:
    levels = ", ".join(f"y{i}: &a{i + 1} [{', '.join([f'*a{i}'] * 10)}]" for i in range(8))
    bomb = "{x: &a0 [1, 1, 1, 1, 1, 1, 1, 1, 1, 1], " + levels + "}"
    code, err = run_cli(capsys, "config", "validate", *BASE, "--set", f"benchmark.options={bomb}")
    assert_clean_error(code, err, r"--set 'benchmark\.options=.*': aliases expand it to more than 100000 values",
                       "config")


def test_merge_keys_are_read_as_yaml_says(tmp_path, capsys) -> None:
    config = tmp_path / "c.yaml"
    # The mapping's own keys win over merged ones.
    config.write_text("train:\n  <<: [{lr: 0.002, batch_size: 4}, {epochs: 3.0}]\n  epochs: 1.0\n"
                      "model:\n  alignment: &align {steps: 7}\n")
    capsys.readouterr()
    assert main(["config", "show", "-c", str(config), *BASE]) == 0
    shown = yaml.safe_load(capsys.readouterr().out)
    assert (shown["train"]["lr"], shown["train"]["batch_size"], shown["train"]["epochs"]) == (0.002, 4, 1.0)
    assert shown["model"]["alignment"]["steps"] == 7


@pytest.mark.parametrize(("argv", "needle"), [
    (["--input-dim", "-3"], r"--input-dim must be between 1 and 1048576 features, got -3"),
    (["--input-dim", "0"], r"--input-dim must be between 1 and 1048576 features, got 0"),
    (["--input-dim", "99999999999"], r"--input-dim must be between 1 and 1048576"),
    (["--tasks", "0"], r"--tasks must be between 1 and 1000, got 0"),
    (["--tasks", "10000000"], r"--tasks must be between 1 and 1000, got 10000000"),
])
def test_inspect_counts_are_bounded(capsys, argv: list[str], needle: str) -> None:
    assert_clean_error(*run_cli(capsys, "inspect", "tiny-mlp", *argv), needle, "inspect")
