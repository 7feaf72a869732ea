"""The O-LoRA loader finds task folders laid out as in the O-LoRA repository."""

from __future__ import annotations

from pathlib import Path

import pytest

from litelora.benchmarks.sources.olora import find_task_dir
from litelora.errors import DataError


def test_olora_task_folders_match_the_repository_layout(tmp_path: Path) -> None:
    """O-LoRA's CL_Benchmark keeps NLI/MNLI, TC/dbpedia, BoolQA: found in any case, one level down."""
    for rel in ("NLI/MNLI", "TC/dbpedia", "BoolQA"):
        (tmp_path / rel).mkdir(parents=True)
        (tmp_path / rel / "train.json").write_text("[]")
    assert find_task_dir(tmp_path, "mnli") == tmp_path / "NLI" / "MNLI"
    assert find_task_dir(tmp_path, "dbpedia") == tmp_path / "TC" / "dbpedia"
    assert find_task_dir(tmp_path, "boolqa") == tmp_path / "BoolQA"
    with pytest.raises(DataError, match="yelp not found; tasks present"):
        find_task_dir(tmp_path, "yelp")
