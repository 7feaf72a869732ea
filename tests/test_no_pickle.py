"""Loading never unpickles: no pickle import, no torch.load without weights_only=True.

``pickletools`` (an opcode parser that executes nothing; the CIFAR reader walks its opcodes)
is not ``pickle``, hence the word boundary."""

import re
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src" / "litelora"


def test_package_never_unpickles() -> None:
    offenders = []
    for path in SRC.rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        if re.search(r"^\s*(import pickle|from pickle|import cPickle|import dill)\b", text, re.MULTILINE):
            offenders.append(f"{path}: imports pickle")
        for call in re.finditer(r"torch\.load\(([^)]*)\)", text):
            if "weights_only=True" not in call.group(1):
                offenders.append(f"{path}: {call.group(0)}")
    assert not offenders, offenders
    assert any(SRC.rglob("*.py"))
