"""What the command line does when the environment fails: one line, a status that says which
kind of failure, and a traceback only when asked for."""

from __future__ import annotations

import errno

import pytest
from hostile import assert_clean_error, run_cli

from litelora.cli import train_cmd

TRAIN = ["train", "--no-progress", "--set", "benchmark.name=tiny-text", "--set", "model.name=tiny-bert",
         "--set", "train.max_steps_per_task=1"]


@pytest.mark.parametrize(("error", "needle"), [
    (OSError(errno.ENOSPC, "No space left on device", "/runs/x/events.jsonl"),
     r"/runs/x/events\.jsonl: No space left on device \(check the path, its permissions and the free disk space\)"),
    (PermissionError(errno.EACCES, "Permission denied", "/ro/run"), r"/ro/run: Permission denied"),
    (OSError(errno.EROFS, "Read-only file system"), r"Read-only file system"),
    (MemoryError(), r"out of memory; lower train\.batch_size, model\.max_length or adapter\.r"),
])
def test_environment_failures_are_one_line(tmp_path, capsys, monkeypatch, error, needle) -> None:
    def fail(args):
        raise error

    monkeypatch.setattr(train_cmd, "run", fail)
    code, err = run_cli(capsys, *TRAIN, "-o", str(tmp_path / "r"))
    assert_clean_error(code, err, needle, "train")


def test_ctrl_c_says_how_to_continue(tmp_path, capsys, monkeypatch) -> None:
    def interrupt(args):
        raise KeyboardInterrupt

    monkeypatch.setattr(train_cmd, "run", interrupt)
    code, err = run_cli(capsys, *TRAIN, "-o", str(tmp_path / "r"))
    assert code == 130
    assert err.strip() == ("litelora train: error: interrupted; a train run continues from its last checkpoint "
                           "with --resume")


def test_a_bug_is_reported_as_such_and_debug_shows_it(tmp_path, capsys, monkeypatch) -> None:
    def bug(args):
        raise ZeroDivisionError("division by zero")

    monkeypatch.setattr(train_cmd, "run", bug)
    monkeypatch.delenv("LITELORA_DEBUG", raising=False)
    code, err = run_cli(capsys, *TRAIN, "-o", str(tmp_path / "r"))
    assert code == 3 and "Traceback" not in err
    assert "internal error ZeroDivisionError: division by zero (rerun with LITELORA_DEBUG=1" in err
    monkeypatch.setenv("LITELORA_DEBUG", "1")
    with pytest.raises(ZeroDivisionError):
        run_cli(capsys, *TRAIN, "-o", str(tmp_path / "r"))


def test_help_starts_without_importing_torch() -> None:
    import subprocess
    import sys

    code = ("import sys; from litelora.cli.main import build_parser; build_parser(); "
            "print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.stdout.strip() == "False", out.stderr


def test_a_closed_pipe_ends_quietly() -> None:
    import subprocess
    import sys

    proc = subprocess.run(f"'{sys.executable}' -m litelora config fields | head -n 1", shell=True,
                          capture_output=True, text=True, timeout=120)
    assert proc.stdout.count("\n") == 1
    assert proc.stderr == ""


@pytest.mark.parametrize("threads", ["0", "-5", "1025", "100000"])
@pytest.mark.parametrize("command", [["eval", "some-run"], ["analyze", "some-run", "--functional"]])
def test_threads_are_bounded_like_train_num_threads(capsys, command, threads) -> None:
    assert_clean_error(*run_cli(capsys, *command, "--threads", threads),
                       rf"--threads must be between 1 and 1024 \(as train\.num_threads\), got {threads}", command[0])
