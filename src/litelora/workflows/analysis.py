"""The redundancy analysis of a finished run (factor analysis; with the model and data, the
functional test and CKA)."""

from __future__ import annotations

import os
from typing import Any

from litelora.analysis import analyze_factors, factors_from_saved_bank
from litelora.reporting import RunDirectory


def analyze_run_dir(run_dir: str | os.PathLike[str], functional: bool = False, device: str = "cpu") -> dict[str, Any]:
    """The analysis of a run's saved bank, plus the functional test and CKA with ``functional``."""
    run = RunDirectory(run_dir)
    run.require_finished()
    factors = factors_from_saved_bank(run.adapters)
    rows, probes = None, None
    if functional:
        from litelora.workflows.functional import functional_from_run

        rows, probes = functional_from_run(run_dir, device=device, with_probes=True)
    result = analyze_factors(factors, probes)
    result["source"] = {"kind": "run", "path": str(run_dir)}
    if rows is not None:
        result["functional"] = rows
    return result
