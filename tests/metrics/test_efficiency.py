"""Efficiency helpers against hand-computed values."""

from __future__ import annotations

import math

import pytest
import torch

from litelora.errors import DataError
from litelora.metrics import adapter_reduction, aggregate_seeds, parameter_bytes


def test_adapter_reduction() -> None:
    # 4 tasks x 3 modules = 12 adapters the host keeps.
    assert adapter_reduction(6, 12) == pytest.approx(0.5)
    assert adapter_reduction(3, 12) == pytest.approx(0.75)
    assert adapter_reduction(12, 12) == 0.0
    assert adapter_reduction(0, 12) == 1.0
    assert adapter_reduction(4, 5) == pytest.approx(0.2)  # the host itself kept 5


@pytest.mark.parametrize(
    ("args", "match"),
    [
        ((1, 0), "host_adapters > 0, got 0"),
        ((0, -3), "host_adapters > 0, got -3"),
        ((-1, 4), r"in \[0, 4\], got -1"),
        ((5, 4), r"in \[0, 4\], got 5"),
    ],
)
def test_adapter_reduction_rejects(args: tuple[int, int], match: str) -> None:
    with pytest.raises(DataError, match=match):
        adapter_reduction(*args)


@pytest.mark.parametrize(
    ("dtype", "expected"),
    [
        (torch.float32, 4000),
        (torch.float16, 2000),
        (torch.bfloat16, 2000),
        (torch.float64, 8000),
        (torch.int8, 1000),
    ],
)
def test_parameter_bytes(dtype: torch.dtype, expected: int) -> None:
    assert parameter_bytes(1000, dtype) == expected


def test_parameter_bytes_zero_and_errors() -> None:
    assert parameter_bytes(0, torch.float32) == 0
    with pytest.raises(DataError, match=">= 0"):
        parameter_bytes(-1, torch.float32)
    with pytest.raises(DataError, match="torch.dtype"):
        parameter_bytes(10, "float32")  # type: ignore[arg-type]


def test_aggregate_seeds() -> None:
    out = aggregate_seeds([1.0, 2.0, 3.0, 4.0])
    # Sample variance: (2.25 + 0.25 + 0.25 + 2.25) / 3 = 5/3.
    assert out == pytest.approx({"mean": 2.5, "std": math.sqrt(5 / 3), "n": 4})
    assert out["n"] == 4 and isinstance(out["n"], int)


def test_aggregate_seeds_uses_sample_std() -> None:
    # ddof=1 gives sqrt(2 * 0.05**2 / 1); ddof=0 would give 0.05.
    assert aggregate_seeds([0.8, 0.9])["std"] == pytest.approx(0.05 * math.sqrt(2))


def test_aggregate_seeds_single_value() -> None:
    assert aggregate_seeds([0.7]) == {"mean": pytest.approx(0.7), "std": 0.0, "n": 1}


@pytest.mark.parametrize(
    ("values", "match"),
    [([], "non-empty"), ([1.0, math.nan], "finite"), ([[1.0, 2.0]], "1-D")],
)
def test_aggregate_seeds_rejects(values: list[float], match: str) -> None:
    with pytest.raises(DataError, match=match):
        aggregate_seeds(values)
