"""The O-LoRA Standard CL tasks present on this machine (dbpedia, amazon, agnews), read in the
published orders restricted to the folders present. Skipped where the data is absent: the package
never depends on it."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from litelora.benchmarks import build_benchmark
from litelora.errors import ConfigError

ROOT = Path(os.environ.get("LITELORA_OLORA_STANDARD", Path(__file__).resolve().parents[3] / "shared" / "data"
                           / "olora-standard"))
pytestmark = pytest.mark.skipif(not (ROOT / "dbpedia").is_dir(),
                                reason=f"O-LoRA Standard data not found at {ROOT} (set LITELORA_OLORA_STANDARD)")


@pytest.mark.parametrize(("order", "tasks"), [(1, ["dbpedia", "amazon", "agnews"]), (3, ["amazon", "agnews", "dbpedia"])])
def test_published_orders_restricted_to_present_tasks(order: int, tasks: list[str]) -> None:
    with pytest.warns(UserWarning, match="skipping tasks \\['yahoo'\\]"):
        stream = build_benchmark("olora", data_root=str(ROOT), order=order, skip_missing=True, train_per_class=10,
                                 test_per_class=5)
    assert stream.meta["task_order"] == tasks and stream.meta["skipped_tasks"] == ["yahoo"]
    sizes = {"dbpedia": 14, "amazon": 5, "agnews": 4}
    assert [len(t.classes) for t in stream.tasks] == [sizes[t] for t in tasks]
    assert all(len(t.train) == 10 * len(t.classes) and len(t.test) == 5 * len(t.classes) for t in stream.tasks)
    assert not stream.problems()


def test_a_published_order_with_a_missing_task_is_an_error_by_default() -> None:
    from litelora.errors import DataError

    with pytest.raises(DataError, match="yahoo"):
        build_benchmark("olora", data_root=str(ROOT), order=1)
    with pytest.raises(ConfigError, match="skip_missing"):
        build_benchmark("olora", data_root=str(ROOT), tasks=["dbpedia", "yahoo"], skip_missing=True)
