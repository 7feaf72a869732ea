"""The verdict rules, apart from how the page shows them: which pairs a suite judges, on which
task orders, and whether each half of the claim held (``render_results.py`` renders them).

A host and its gate are compared only on the task orders (seeds) both ran, paired seed by seed; a
suite *discriminates* for a host when the host beats "adapters closed after task 0" by at least 3
points and by more than the seed spread.
"""

from __future__ import annotations

import statistics
from typing import Any

from committed import final_acc_by_seed, group_stats, reference_suite, runs_by_row_and_seed
from render_evidence import converged_label, host_pairs, pair_label

# A gate "matches" its host when its final accuracy, paired by order and averaged over the orders
# both ran, is at most this far below the host's (half a point).
MATCH_TOLERANCE = 0.005
# The paper's claimed reduction band.
BAND = (0.20, 0.70)
# A claim is judged over this many task orders (seeds), each gate run paired with its host's.
EVIDENCE_ORDERS = 3


def _stats_on(suite: dict[str, Any], row: str, seeds: list[int]) -> dict[str, Any]:
    """``row``'s metrics (as ``groups`` holds them) on ``seeds`` only: a host and its gate are read
    on the seeds both ran, since a row that ran ahead of the other has orders the other lacks."""
    stats = suite["groups"][row]
    if not seeds or len(seeds) >= stats["final_acc_sample"]["n"]:  # none shared: the row as it ran
        return stats
    by = runs_by_row_and_seed(suite)
    return group_stats([by[(row, s)]["metrics"] for s in seeds], stats)


# The reference "adapters closed after task 0": a suite discriminates when its host beats it.
CLOSED = "closed-after-task-0"
DISCRIMINATES_BY = 0.03


def _reference(suite: dict[str, Any], host: str,
               results: dict[str, dict[str, Any]] | None) -> tuple[dict[str, Any], str] | None:
    """(the suite holding ``host``'s closed-after-task-0 reference, its row name): the suite's own
    ``<host>-closed-after-task-0``, else its ``closed-after-task-0``, else the same in its
    ``reference_suite`` where that suite ran the very same host runs (``committed.reference_suite``),
    so the reference is paired with this host too. ``None``: none ran."""
    own = [f"{host}-{CLOSED}", CLOSED]
    for name in own:
        if name in suite["groups"]:
            return suite, name
    ref = reference_suite(suite, host, results)
    return None if ref is None else next(((ref, name) for name in own if name in ref["groups"]), None)


def discriminates(suite: dict[str, Any], host: str, results: dict[str, dict[str, Any]] | None = None) -> bool | None:
    """Does ``host`` beat "closed after task 0" (see ``_reference``) by at least 3 points and by
    more than the seed spread, on the task orders (seeds) both ran? ``None`` where no reference ran,
    or fewer than 2 orders are shared (one order has no spread to beat)."""
    found = _reference(suite, host, results)
    if found is None:
        return None
    h, c = final_acc_by_seed(suite, host), final_acc_by_seed(*found)
    seeds = sorted(set(h) & set(c))
    if len(seeds) < 2:
        return None
    hs, cs = [h[s] for s in seeds], [c[s] for s in seeds]
    gap = statistics.mean(hs) - statistics.mean(cs)
    return gap >= DISCRIMINATES_BY - 1e-9 and gap > max(statistics.stdev(hs), statistics.stdev(cs))


def paired_differences(suite: dict[str, Any], host: str, gated: str) -> dict[int, float]:
    """seed -> final accuracy of ``gated`` minus ``host`` on that seed (same order, same seed)."""
    h, g = final_acc_by_seed(suite, host), final_acc_by_seed(suite, gated)
    return {seed: g[seed] - h[seed] for seed in sorted(h) if seed in g}


def repeated_pairs(results: dict[str, dict[str, Any]], order: list[str],
                   rows: dict[str, list[dict[str, Any]]]) -> dict[tuple[str, str], str]:
    """(suite, gated row) -> the earlier suite (in ``order``) whose host and gated runs had the same
    commands on the same seeds: one experiment listed in two suites (a later suite repeats an earlier
    one's host and gate beside new rows), which a count of evidence must take once."""
    seen: dict[frozenset[tuple[int, str, str]], str] = {}
    repeats = {}
    for name in order:
        runs = runs_by_row_and_seed(results[name])
        for v in rows[name]:
            key = frozenset((seed, runs[v["host"], seed].get("command"), runs[v["gated"], seed].get("command"))
                            for seed in v["paired"])
            if not key or any(host is None or gated is None for _, host, gated in key):
                continue  # a run without its command: nothing to compare
            if key in seen:
                repeats[name, v["gated"]] = seen[key]
            else:
                seen[key] = name
    return repeats


def verdicts(suite: dict[str, Any], results: dict[str, dict[str, Any]] | None = None) -> list[dict[str, Any]]:
    """Per host: accuracy difference, reduction, and whether each claim held, all on the seeds
    (task orders) both the host and its gate ran: ``n`` of them, ``delta`` the mean paired
    difference (``None`` where no seed is shared: nothing is judged without pairing); ``converged``
    the suite's convergence label for the host (``render_evidence.converged_label``)."""
    rows = []
    for host, gated in host_pairs(suite["groups"]):
        paired = paired_differences(suite, host, gated)
        seeds = sorted(paired)
        h, g = _stats_on(suite, host, seeds), _stats_on(suite, gated, seeds)
        delta = sum(paired.values()) / len(paired) if paired else None
        red = g.get("adapter_reduction", {}).get("mean") if paired else None
        spread = max(h["final_acc_sample"]["std"], g["final_acc_sample"]["std"])
        rows.append({
            "host": host, "gated": gated, "label": pair_label(host, gated), "delta": delta, "reduction": red,
            "n": len(paired), "host_stats": h, "gate_stats": g,
            "within_spread": len(paired) > 1 and abs(delta) <= spread + 1e-9,
            # fewer task orders than a claim is judged over: a row still running, shown but not counted
            "judged": len(paired) >= EVIDENCE_ORDERS,
            # a bar reached exactly counts: -0.5 points is "no worse than -0.5", whatever the float says
            "matched": delta is not None and delta >= -MATCH_TOLERANCE - 1e-9,
            # "20-70% or more": a larger reduction at matched accuracy is a stronger result, not a miss.
            # 240 of 300 adapters is 20% fewer, whatever the float says
            "in_band": red is not None and red >= BAND[0] - 1e-9,
            "discriminates": discriminates(suite, host, results),
            "converged": converged_label(suite, host, results),
            "paired": paired,
        })
    return rows
