"""Helpers of the hostile-input suites: run the CLI as a user types it, fingerprint the
folders that must not change, edit a saved tensor file and read which checkpoint a resume
started from."""

from __future__ import annotations

import json

import hashlib
import re
from collections.abc import Callable
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from litelora.cli.main import main


def run_cli(capsys, *argv: str) -> tuple[int, str]:
    """``litelora argv...`` in this process: (exit status, stderr)."""
    capsys.readouterr()
    code = main(list(argv))
    return code, capsys.readouterr().err


def assert_clean_error(code: int, err: str, needle: str, command: str) -> None:
    """Exit status 1 and one ``litelora COMMAND: error: ...`` line matching ``needle``, no traceback."""
    assert code == 1, err
    assert "Traceback" not in err and "internal error" not in err, err
    lines = [line for line in err.strip().splitlines() if line.startswith("litelora ")]
    assert len(lines) == 1, err
    assert lines[0].startswith(f"litelora {command}: error: "), err
    assert re.search(needle, lines[0]), f"{needle!r} not in {lines[0]!r}"


def fingerprint(root: Path) -> dict[str, str]:
    """Every entry under ``root`` (links not followed) -> its content digest or link target."""
    out = {}
    for p in sorted(root.rglob("*")):
        rel = str(p.relative_to(root))
        if p.is_symlink():
            out[rel] = "link:" + str(p.readlink())
        elif p.is_file():
            out[rel] = hashlib.sha256(p.read_bytes()).hexdigest()
        else:
            out[rel] = "dir"
    return out


def edit_tensors(path: Path, edit: Callable[[dict[str, torch.Tensor]], None]) -> None:
    """Load a safetensors file, let ``edit`` change the dict in place, and write it back."""
    tensors = load_file(str(path))
    edit(tensors)
    save_file(tensors, str(path))


def resumed_from(run: Path) -> str:
    """The checkpoint the run's last resume started from (its ``resume`` event)."""
    events = [json.loads(line) for line in (run / "events.jsonl").read_text().splitlines()]
    return [e for e in events if e["event"] == "resume"][-1]["checkpoint"]
