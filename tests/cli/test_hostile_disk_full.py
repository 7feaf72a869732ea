"""A full disk inside a safetensors write (simulated: the write raises ENOSPC) is one line naming
the file being written, not its temp file and never "internal error"; once space is back the
run resumes and finishes."""

from __future__ import annotations

import builtins
import errno
import re
import shutil
from pathlib import Path
from typing import Any

import pytest
import torch
from hostile import assert_clean_error, run_cli
from safetensors import SafetensorError

from litelora._io import named_os_errors, save_tensors

TRAIN = ["--no-progress", "--set", "benchmark.name=tiny-text", "--set", "model.name=tiny-bert", "--set",
         "train.max_steps_per_task=2", "--set", "benchmark.options.num_tasks=2"]
REAL_OPEN = builtins.open


class _FullDisk:
    """A file opened for writing whose every write fails as on a full disk."""

    def __init__(self, fh: Any) -> None:
        self._fh = fh

    def write(self, data: bytes) -> int:
        raise OSError(errno.ENOSPC, "No space left on device")

    def __getattr__(self, name: str) -> Any:
        return getattr(self._fh, name)

    def __enter__(self) -> _FullDisk:
        return self

    def __exit__(self, *exc: object) -> None:
        self._fh.close()


def fill_disk(monkeypatch, needle: str) -> None:
    """From now on, writes into a file whose path holds ``needle`` fail with ENOSPC."""

    def fake_open(file: Any, mode: str = "r", *args: Any, **kwargs: Any) -> Any:
        fh = REAL_OPEN(file, mode, *args, **kwargs)
        return _FullDisk(fh) if needle in str(file) and ("w" in mode or "a" in mode) else fh

    monkeypatch.setattr(builtins, "open", fake_open)


@pytest.mark.parametrize(("needle", "names"), [
    (".safetensors", r"/checkpoints/ckpt-\d+/\w+\.safetensors"),
    ("state.json", r"/checkpoints/ckpt-\d+/state\.json"),
])
def test_a_full_disk_during_train_is_one_line_and_the_run_resumes(tmp_path, capsys, monkeypatch, needle: str,
                                                                  names: str) -> None:
    out = tmp_path / "run"
    with monkeypatch.context() as patch:
        fill_disk(patch, needle)
        code, err = run_cli(capsys, "train", "-o", str(out), *TRAIN)
    assert_clean_error(code, err, re.escape(str(out)) + names + r": No space left on device \(check the path, its "
                       r"permissions and the free disk space\)", "train")
    assert ".tmp" not in err
    code, err = run_cli(capsys, "train", "--resume", str(out), "--no-progress")
    assert code == 0, err
    assert (out / "results.json").is_file()


@pytest.fixture(scope="module")
def finished(tmp_path_factory) -> Path:
    from litelora.cli.main import main

    run = tmp_path_factory.mktemp("disk_full") / "run"
    assert main(["train", "-o", str(run), *TRAIN]) == 0
    return run


def test_a_full_disk_during_a_peft_export_names_the_weights_and_leaves_no_out(finished, tmp_path, capsys,
                                                                               monkeypatch) -> None:
    out = tmp_path / "peft"
    with monkeypatch.context() as patch:
        fill_disk(patch, ".safetensors")
        code, err = run_cli(capsys, "export", str(finished), str(out))
    assert_clean_error(code, err, re.escape(str(out / "adapter_model.safetensors")) + r": No space left on device",
                       "export")
    assert not out.exists() and not [p for p in tmp_path.iterdir() if p.name.startswith(".peft.")]


def test_a_full_disk_inside_a_transformers_save_names_the_export(finished, tmp_path, capsys, monkeypatch) -> None:
    import transformers.modeling_utils

    def full(tensors: Any, filename: str, metadata: Any = None) -> None:
        # safetensors' own report of ENOSPC: the OS error as text, naming its temp file.
        raise SafetensorError(f"Error while serializing: I/O error: No space left on device (os error 28) at path "
                              f"\"{Path(filename).parent / '.tmpXyZ12'}\"")

    monkeypatch.setattr(transformers.modeling_utils, "safe_save_file", full)
    out = tmp_path / "merged"
    code, err = run_cli(capsys, "export", str(finished), str(out), "--format", "merged")
    assert_clean_error(code, err, re.escape(str(out)) + r": No space left on device", "export")
    assert ".tmp" not in err and not out.exists()


def test_named_os_errors_names_the_target_and_passes_other_errors_through(tmp_path) -> None:
    target = tmp_path / "a.safetensors"
    with pytest.raises(OSError, match="No space left") as caught, named_os_errors(target):
        raise OSError(errno.ENOSPC, "No space left on device")
    assert caught.value.filename == str(target) and caught.value.errno == errno.ENOSPC
    with pytest.raises(OSError) as caught, named_os_errors(target):
        raise PermissionError(errno.EACCES, "Permission denied", "/elsewhere")
    assert caught.value.filename == "/elsewhere"  # already named: kept
    with pytest.raises(SafetensorError, match="header too large"), named_os_errors(target):
        raise SafetensorError("Error while deserializing header: header too large")
    with pytest.raises(OSError) as caught, named_os_errors(target):
        raise SafetensorError("I/O error: Read-only file system (os error 30) at path \"/x/.tmp1\"")
    assert (caught.value.errno, caught.value.strerror, caught.value.filename) == (30, "Read-only file system",
                                                                                  str(target))


def test_save_tensors_on_a_full_disk_leaves_no_file(tmp_path, monkeypatch) -> None:
    target = tmp_path / "t.safetensors"
    fill_disk(monkeypatch, ".t.safetensors")
    with pytest.raises(OSError, match="No space left") as caught:
        save_tensors(target, {"w": torch.ones(3)})
    assert caught.value.filename == str(target)
    monkeypatch.undo()
    assert [p.name for p in tmp_path.iterdir()] == []
    save_tensors(target, {"w": torch.ones(3)})
    shutil.copyfile(target, tmp_path / "copy")
    from safetensors.torch import load_file

    assert torch.equal(load_file(str(tmp_path / "copy"))["w"], torch.ones(3))
