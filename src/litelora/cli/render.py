"""Terminal output of the CLI."""

from __future__ import annotations

from typing import Any

from litelora.reporting.tables import format_decisions, format_matrix


def print_summary(R: list[list[float]], metrics: dict[str, Any], decisions: list[dict[str, Any]]) -> None:
    print("\naccuracy matrix R[i][j] (accuracy on task j after training task i):")
    print(format_matrix(R))
    if decisions:
        print("\ngate decisions (per target module: . reuse, else the rank recruited; # above 9):")
        print(format_decisions(decisions))
        active, host = metrics.get("active_adapters"), metrics.get("max_adapters")
        if active is not None and host:
            print(f"  active adapters {active} of the host's {host} ({1 - active / host:.0%} fewer)")
        params, host_params = metrics.get("adapter_params"), metrics.get("host_adapter_params")
        if params is not None and host_params:
            print(f"  adapter parameters {params:,} of the host's {host_params:,} ({1 - params / host_params:.0%} fewer)")
    keys = ["final_acc_sample", "final_acc_task_mean", "aia_sample", "aia_task_mean", "forgetting_first",
            "forgetting_max", "bwt", "active_adapters", "max_adapters", "adapter_reduction", "adapter_params",
            "host_adapter_params", "param_reduction", "adapter_bytes", "train_seconds"]
    print("\nsummary:")
    for k in keys:
        v = metrics.get(k)
        if v is None:
            continue
        print(f"  {k:<22} {v:.4f}" if isinstance(v, float) else f"  {k:<22} {v}")
