"""Checkpoint sequence numbers never go back, so keep-N pruning can never delete the newest."""

from __future__ import annotations

import pytest
import torch

from litelora.errors import PathError
from litelora.training.checkpoint import load_latest, newest_seq, save_checkpoint


def _save(root, seq: int):
    return save_checkpoint(root, seq, {"seq": seq}, {"t": {"x": torch.full((2,), float(seq))}})


def test_writing_below_an_existing_checkpoint_is_refused(tmp_path) -> None:
    _save(tmp_path, 7)
    with pytest.raises(PathError, match=r"already holds ckpt-00000007, newer than checkpoint 3"):
        _save(tmp_path, 3)
    assert [p.name for p in tmp_path.iterdir()] == ["ckpt-00000007"]


def test_pruning_keeps_the_newest_by_number(tmp_path) -> None:
    for seq in (1, 2, 9, 10, 11):
        _save(tmp_path, seq)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ckpt-00000010", "ckpt-00000011"]
    assert newest_seq(tmp_path) == 11
    assert load_latest(tmp_path).seq == 11


def test_stray_names_are_neither_loaded_nor_pruned(tmp_path) -> None:
    _save(tmp_path, 1)
    (tmp_path / "ckpt-notes").mkdir()
    (tmp_path / "ckpt-notes" / "mine.txt").write_text("x")
    _save(tmp_path, 2)
    _save(tmp_path, 3)
    assert (tmp_path / "ckpt-notes" / "mine.txt").is_file()
    with pytest.warns(UserWarning, match="not a checkpoint folder"):
        assert load_latest(tmp_path).seq == 3
