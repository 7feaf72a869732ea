"""``config validate`` refuses what ``train`` refuses before it trains (only the model's target
matching needs the model built), with the same one-line message, and says "config is valid" only
after the benchmark's data was read."""

from __future__ import annotations

import pytest
from test_hostile_bounds import BOUNDS
from test_hostile_config import CASES

from hostile import assert_clean_error, run_cli

BASE = ["--set", "benchmark.name=tiny-text", "--set", "model.name=tiny-bert", "--set", "train.max_steps_per_task=1"]
# Refused by train once the model is built: what the targets match is the model's.
NEEDS_MODEL = {"adapter.target_modules=nothing_matches_this"}

BEFORE_TRAINING = [
    (["benchmark.name=files"], r"benchmark 'files' reads .*benchmark\.data_root"),
    (["benchmark.name=files", "benchmark.data_root=/nonexistent/folder"], r"/nonexistent/folder"),
    (["benchmark.name=split-mnist"], r"set benchmark\.data_root"),
    (["benchmark.name=wordnet-supersenses", "benchmark.options.num_tasks=100"],
     r"num_tasks=100 needs 400 classes; the pool has 24"),
    (["benchmark.class_order=[0, 1, 2, 3, 4, 99]"], r"class_order \[0, 1, 2, 3, 4, 99\] must list distinct class ids "
                                                    r"in 0\.\.5"),
    (["benchmark.name=planted-redundancy", "benchmark.options.plan=[nope]"], r"unknown block 'nope' in plan"),
    (["benchmark.name=planted-redundancy", "benchmark.class_order=[0]"], r"class_order does not apply"),
    (["method.name=seqlora", "adapter.init_lora_weights=gradient"],
     r"adapter\.init_lora_weights='gradient' cannot apply to method 'seqlora': it adds no new adapter per task"),
    (["method.name=inflora", "adapter.init_lora_weights=gradient"],
     r"adapter\.init_lora_weights='gradient' cannot apply to method 'inflora': it designs each adapter's A"),
    (["model.name=hf:./no/such/folder"], r"model\.name: cannot load '\./no/such/folder' as a transformers model: no such folder"),
    (["model.name=tiny-bertt"], r"unknown model 'tiny-bertt'\. Did you mean 'tiny-bert'"),
    (["method.name=olora", "method.params.lambda_1_schedule=[0.5]"],
     r"lambda_1_schedule has 1 values for a stream of 3 tasks"),
]


def _argv(command: list[str], out: str, sets: list[str]) -> list[str]:
    argv = [*command, *BASE]
    if command[0] == "train":
        argv += ["--no-progress", "-o", out]
    for s in sets:
        argv += ["--set", s]
    return argv


CONFIG_CASES = [(s, n) for s, n in CASES if not NEEDS_MODEL & set(s)] + BOUNDS + BEFORE_TRAINING


@pytest.mark.parametrize(("sets", "needle"), CONFIG_CASES, ids=[" ".join(s)[:60] for s, _ in CONFIG_CASES])
def test_validate_refuses_what_train_refuses_with_the_same_message(tmp_path, capsys, sets: list[str],
                                                                   needle: str) -> None:
    code, err = run_cli(capsys, *_argv(["config", "validate"], "", sets))
    assert_clean_error(code, err, needle, "config")
    if (sets, needle) in BEFORE_TRAINING:  # the others are train's own hostile cases already
        code, train_err = run_cli(capsys, *_argv(["train"], str(tmp_path / "run"), sets))
        assert_clean_error(code, train_err, needle, "train")
        assert train_err.split(": error: ", 1)[1] == err.split(": error: ", 1)[1]


def test_validate_says_valid_after_reading_the_data_and_without_it_says_so(capsys) -> None:
    assert run_cli(capsys, "config", "validate", *BASE)[0] == 0
    code = run_cli(capsys, "config", "validate", *BASE, "--set", "benchmark.options.num_tasks=2")[0]
    assert code == 0
    capsys.readouterr()
    from litelora.cli.main import main

    assert main(["config", "validate", *BASE]) == 0
    assert capsys.readouterr().out.startswith("config is valid: benchmark tiny-text (3 tasks, 6 classes)")
    assert main(["config", "validate", "--no-data", *BASE, "--set", "benchmark.name=split-mnist"]) == 0
    assert "options only: its data was not read" in capsys.readouterr().out
    # --no-data still checks the options
    assert_clean_error(*run_cli(capsys, "config", "validate", "--no-data", *BASE, "--set", "benchmark.name=split-mnist",
                                "--set", "benchmark.options.num_tasks=0"),
                       r"benchmark\.options\.num_tasks must be between 1 and 1000", "config")


def test_each_warning_is_printed_once(tmp_path) -> None:
    """A setting is checked where the config is validated and again where its part is built; the user
    reads each warning once (they read the gate's three times before)."""
    import os
    import subprocess
    import sys

    argv = [sys.executable, "-m", "litelora", "train", "--no-progress", "-o", str(tmp_path / "run"), *BASE,
            "--set", "benchmark.options.num_tasks=2", "--set", "method.name=sdlora-rr", "--set", "adapter.r=4",
            "--set", "gate.kind=none", "--set", "gate.budget=0.5"]
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=300,
                          env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert proc.returncode == 0, proc.stderr
    warned = [line for line in proc.stderr.splitlines() if line.startswith("litelora train: warning: ")]
    assert len(warned) == 2, proc.stderr
    assert "gate.budget has no effect" in warned[0] and "adapter.r=4 has no effect" in warned[1]


def test_build_trainer_warns_each_setting_once(tmp_path) -> None:
    """The library path checks a config before the data loads and again as it builds; a user who
    calls ``build_trainer`` reads each warning once, as the CLI's user does."""
    import warnings

    from litelora.training.build import build_trainer
    from litelora.training.config import RunConfig

    cfg = RunConfig.from_dict({"benchmark": {"name": "tiny-text", "options": {"num_tasks": 2}},
                               "model": {"name": "tiny-bert", "max_length": 16}, "adapter": {"r": 4},
                               "method": {"name": "sdlora-rr"}, "gate": {"kind": "none", "budget": 0.5},
                               "train": {"progress": False}, "output_dir": str(tmp_path / "run")})
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        build_trainer(cfg)
    said = [str(w.message) for w in caught if "has no effect" in str(w.message)]
    assert len(said) == 2, said
    assert any("gate.budget has no effect" in m for m in said) and any("adapter.r=4 has no effect" in m for m in said)
