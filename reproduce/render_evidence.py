"""Sections of docs/results.md beyond the suite tables: adapter redundancy against the gate,
whether each suite is converged, and what a gate recruits per task family.

Each reads committed JSON only (``reproduce/results/``), as the rest of the page does.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from committed import reference_suite
from convergence import DOUBLED_SUFFIX, curves, matrices

from litelora.metrics import convergence_check, late_rise_check
from litelora.reporting.families import KINDS, task_kinds

CLOSED = "closed-after-task-0"
# Group-name suffixes that pair a run with its host ``X``: ``X+gate`` (the gate a suite names) and
# ``X+<kind>`` for the learned gates, each also with a variant ``-<what>``.
PAIRED_GATES = ("gate", "litelora", "hard_concrete")


def _undoubled(name: str) -> tuple[str, str]:
    """(``name`` without a trailing ``-2x-epochs``, that suffix or ``""``)."""
    return (name[:-len(DOUBLED_SUFFIX)], DOUBLED_SUFFIX) if name.endswith(DOUBLED_SUFFIX) else (name, "")


def host_pairs(groups: dict[str, Any]) -> list[tuple[str, str]]:
    """(host, gated) group names present in a suite, in the suite's order: ``X+gate`` and any
    gate variant ``X+gate-<what>`` (likewise ``X+litelora``, ``X+hard_concrete``) pair with ``X``;
    a gated row with more settings after its gate (``X+litelora-v3+gradient-init``,
    ``X+litelora+gradient-init``) pairs with the host row carrying the same settings
    (``X+gradient-init``), and a doubled-epoch gated row (``X+gate-2x-epochs``) with the doubled
    host (``X-2x-epochs``), so the two differ only by the gate; until the suite has that row it
    pairs with nothing."""
    pairs = []
    for g in groups:
        for x in groups:
            core, doubled = _undoubled(x)
            if not any(core == f"{g}+{k}" or core.startswith((f"{g}+{k}-", f"{g}+{k}+")) for k in PAIRED_GATES):
                continue
            extras = core[len(g) + 1:].split("+")[1:]
            same = (f"{g}+{'+'.join(extras)}" if extras else g) + doubled
            if same in groups:
                pairs.append((same, x))
    return pairs


def pair_label(host: str, gated: str) -> str:
    """``host`` alone for its suite's own ``+gate``; else ``host (gate)``, the gate as the gated row names it."""
    if gated == f"{host}+gate":
        return host
    (h, host_doubled), (g, gated_doubled) = _undoubled(host), _undoubled(gated)
    if host_doubled != gated_doubled:
        h, g = host, gated
    if g.startswith(h + "+"):
        return f"{host} ({g[len(h) + 1:]})"
    base = h.split("+")[0]
    return f"{host} ({g[len(base) + 1:].split('+')[0]})"


def converged_label(suite: dict[str, Any], host: str, results: dict[str, dict[str, Any]] | None = None) -> str:
    """``yes`` / ``no (+x.x)`` from the suite's own ``<host>-2x-epochs`` runs (the diagonal's mean
    rise, in points, when the epochs double); without them, ``yes (in-run)`` / ``no (in-run +x.x)``
    from the host's learning curves (the late rise, ``train.curve_points``); else ``not checked``.
    Where both exist and disagree, doubling decides and the curves' reading follows it
    (``yes; in-run +1.2``). Only the host's own runs count: a host row with extra settings
    (``inclora+gradient-init``) trains differently from the plain host, whose plateau does not
    stand for it. A suite that reruns its ``reference_suite``'s very host runs and checked nothing
    itself reads that suite's label (``results``: every suite by name)."""
    own_label = _own_converged_label(suite, host)
    ref = reference_suite(suite, host, results) if own_label == "not checked" else None
    return own_label if ref is None else _own_converged_label(ref, host)


def _own_converged_label(suite: dict[str, Any], host: str) -> str:
    if not all("accuracy_matrix" in r for r in suite.get("runs", [])):
        return "not checked"  # summaries written before runs kept their matrices
    base, twice, own = matrices(suite, host), matrices(suite, host + DOUBLED_SUFFIX), curves(suite, host)
    late = late_rise_check(own, base) if base and own else None
    if base and set(base) & set(twice):
        verdict = convergence_check(base, twice)
        label = "yes" if verdict["converged"] else f"no (+{100 * verdict['mean_rise']:.1f})"
        if late is not None and late["plateaued"] != verdict["converged"]:
            # doubling decides (it may cover fewer orders); the curves' disagreement stays in view
            label += f"; in-run {100 * late['mean_late_rise']:+.1f}"
        return label
    if late is not None:
        return "yes (in-run)" if late["plateaued"] else f"no (in-run +{100 * late['mean_late_rise']:.1f})"
    return "not checked"


def script_outputs(results_dir: Path, prefix: str) -> list[tuple[Path, dict[str, Any]]]:
    """Each ``<prefix>*.json`` a reproduce script wrote into ``results_dir``, read, in name order."""
    return [(path, json.loads(path.read_text())) for path in sorted(results_dir.glob(f"{prefix}*.json"))]


def section_redundancy(results_dir: Path) -> list[str]:
    """``reproduce/redundancy_vs_gate.py`` outputs: does the host's adapter redundancy predict
    the gate's need and its reuse decisions?"""
    outputs = script_outputs(results_dir, "redundancy_vs_gate_")
    if not outputs:
        return []
    lines = ["## Does the measured redundancy predict where the gate reuses?", "",
             "For each seed, the host's final adapters are analysed (rho: the share of a later task's adapter "
             "that the earlier adapters of the same module represent) and set against gate v2's measured need "
             "and decision in the paired gated run, module by module (`python reproduce/redundancy_vs_gate.py "
             "RUN_ROOT --host H --gated G --out ...`). A gate that reuses where adapters are redundant shows a "
             "negative correlation and a higher rho where it reused.", "",
             "| suite | host / gated | seeds | Spearman(rho, need) per seed | mean rho, recruited | mean rho, reused |",
             "|---|---|---|---|---|---|"]
    for path, data in outputs:
        seeds = data["per_seed"]

        def fmt(key: str) -> str:
            vals = [r[key] for r in seeds.values() if r[key] is not None]
            return "n/a" if not vals else f"{sum(vals) / len(vals):.3f}"

        corr = ", ".join("n/a" if r["spearman_rho_need_mean"] is None else f"{r['spearman_rho_need_mean']:+.2f}"
                         for r in seeds.values())
        suite = path.stem[len("redundancy_vs_gate_"):]
        lines.append(f"| {suite} | {data['host']} / {data['gated']} | {len(seeds)} | {corr} | {fmt('mean_rho_recruited')} "
                     f"| {fmt('mean_rho_reused')} |")
    return lines + [""]


def section_convergence(results_dir: Path) -> list[str]:
    """``reproduce/convergence.py`` outputs: does doubling the epochs, or the second half of each
    task's own steps, still lift the host's diagonal?"""
    outputs = script_outputs(results_dir, "convergence_")
    if not outputs:
        return []
    lines = ["## Are the suites converged?", "",
             "Each task's accuracy right after its own training (the diagonal of the accuracy matrix), for the "
             "host at the suite's epochs and at twice as many, paired by seed (`python reproduce/convergence.py "
             "reproduce/results/<suite>.json`). A suite is converged when doubling the epochs raises the "
             "diagonal by less than the bar on average: only there does an adapter the gate closes cost "
             "what the earlier adapters fail to hold, rather than training the task lacked. Where the host "
             "kept a learning curve (`train.curve_points=1`), the late rise reads the same from inside each "
             "run, on every seed: how much each task's accuracy still rose over the second half of its "
             "steps. It decides only where no doubled run exists.", "",
             "| suite | host / doubled | seeds | mean rise of the diagonal, points | largest task rise | late rise "
             "in-run, points (seeds) | bar | converged |", "|---|---|---|---|---|---|---|---|"]
    for _, v in outputs:
        late = v.get("late_rise")
        late_text = "" if late is None else f"{late['mean_late_rise'] * 100:+.2f} ({len(late['seeds'])})"
        if "mean_rise" in v:
            doubling = (f"{v['host']} / {v['doubled']} | {len(v['seeds'])} | {v['mean_rise'] * 100:+.2f} "
                        f"| {v['max_task_rise'] * 100:+.1f}")
        else:
            doubling = f"{v['host']} / not run | | |"
        tolerance = v.get("tolerance", (late or {}).get("tolerance"))
        lines.append(f"| {v['suite']} | {doubling} | {late_text} | {tolerance * 100:.0f} "
                     f"| {'yes' if v['converged'] else 'no'} |")
    return lines + [""]


def section_rescored(results_dir: Path) -> list[str]:
    """``reproduce/rescore.py`` outputs: every run's final model on a larger test set, each row
    paired with its host by seed."""
    outputs = script_outputs(results_dir, "rescored_")
    if not outputs:
        return []
    lines = ["## Final accuracy on a larger test set", "",
             "Each finished run's final model scored again on more test examples per class, taken past the "
             "examples it trained on (`python reproduce/rescore.py reproduce/suites/<suite>.yaml --test-extra N`; "
             "the runs are not trained again, and their own training and test examples are checked to be "
             "unchanged; an extra that repeats a training or test text is left out). The paired difference is "
             "each row minus its host on the same seed (task order): the row its name extends, else the suite's "
             "first.", "",
             "| suite | row | seeds | test examples a run | final acc: own test set | final acc: larger test set | "
             "vs its host, points: mean ± std (by seed) |", "|---|---|---|---|---|---|---|"]
    for _, v in outputs:
        for group, row in v["rescored_groups"].items():
            vs = row.get("vs_host")
            paired = "" if vs is None else (f"{mean_std(vs, 100, '+.1f', '.1f')} vs {vs['host']} ("
                                            + ", ".join(f"{d * 100:+.1f}" for d in vs["by_seed"]) + ")")
            lines.append(f"| {v['suite']} | {group} | {len(row['seeds'])} | {row['test_examples']['mean']:.0f} "
                         f"| {mean_std(row['own'])} | {mean_std(row['rescored'])} | {paired} |")
    return lines + [""]


def section_carried(results_dir: Path) -> list[str]:
    """``reproduce/carried.py`` outputs: per kind of task, what the host's earlier adapters already
    give a task before it trains, beside the base model and the host right after the task."""
    outputs = script_outputs(results_dir, "carried_")
    if not outputs:
        return []
    lines = ["## What the earlier adapters carry", "",
             "Each task of the host's runs scored by the model as it stood before the task trained: the earlier "
             "tasks' adapters alone, which is where a gate that closed every module would start the task "
             "(`python reproduce/carried.py reproduce/suites/<suite>.yaml --rows <host>`; `litelora eval RUN "
             "--carried`, rebuilt exactly from the final adapters). Beside it the base model (every adapter "
             "off) and the host right after the task, all on the run's own test set; means over the tasks "
             "after the first, all seeds. Share carried: (before - base) / (after - base), the part of what "
             "training the task gains over the base model that reuse alone already gives.", "",
             "| suite | row | seeds | task | tasks | base model | before the task | right after the task "
             "| share carried |", "|---|---|---|---|---|---|---|---|---|"]
    for _, v in outputs:
        for group, row in v["carried_groups"].items():
            for kind, r in row["kinds"].items():
                share = "-" if r["carried_share"] is None else f"{r['carried_share'] * 100:.0f}%"
                lines.append(f"| {v['suite']} | {group} | {len(row['seeds'])} | {kind} | {r['tasks']} "
                             f"| {r['base']:.3f} | {r['before']:.3f} | {r['after']:.3f} | {share} |")
    return lines + [""]


def mean_std(stats: dict[str, Any], scale: float = 1.0, mean: str = ".3f", std: str | None = None) -> str:
    """``mean ± std`` of an ``aggregate_seeds`` dict (times ``scale``; ``std`` formatted like the
    mean unless given), the mean alone for one seed."""
    std = mean if std is None else std
    text = format(stats["mean"] * scale, mean)
    return text if stats["n"] < 2 else f"{text} ± {format(stats['std'] * scale, std)}"


def _by_seed(suite: dict[str, Any], group: str) -> dict[int, dict[str, Any]]:
    return {r["seed"]: r for r in suite.get("runs", []) if r["group"] == group}


def family_rows(suite: dict[str, Any], host: str, gated: str) -> dict[str, dict[str, float]]:
    """Per kind (first of family, recurring, repeat), over ``gated``'s runs whose order (seed) the
    host and closed-after-task-0 (where the suite ran it) ran too, and their tasks 1..:
    mean adapters recruited, rank sum and parameters, and the accuracy right after the task and at
    the end for the gate, the host and closed-after-task-0 on the same seed (same order): the
    host's own (``<host>-closed-after-task-0``) where the suite ran one."""
    hosts = _by_seed(suite, host)
    closed = _by_seed(suite, f"{host}-{CLOSED}") or _by_seed(suite, CLOSED)
    sums: dict[str, dict[str, list[float]]] = {k: {} for k in KINDS}
    for seed, run in _by_seed(suite, gated).items():
        if "families" not in run or "gates" not in run:
            continue
        if seed not in hosts or (closed and seed not in closed):
            continue  # the columns side by side read the same orders, or the order is left out
        kinds = task_kinds(run["families"], run["tasks"], run["repeat_of"])
        rows = {"gate": run, "host": hosts.get(seed), "closed": closed.get(seed)}
        for t, digest in enumerate(run["gates"]["tasks"]):
            if t == 0:  # recruits everywhere by default: says nothing of the gate
                continue
            acc = sums[kinds[t]]
            for key, value in (("recruited", len(digest["recruited"])), ("rank_sum", digest["rank_sum"]),
                               ("params", digest["params"])):
                acc.setdefault(key, []).append(value)
            for who, r in rows.items():
                if r is not None:
                    R = r["accuracy_matrix"]
                    acc.setdefault(f"after_{who}", []).append(R[t][t])
                    acc.setdefault(f"final_{who}", []).append(R[-1][t])
    return {k: {key: sum(v) / len(v) for key, v in acc.items()} | {"n": len(acc["recruited"])}
            for k, acc in sums.items() if acc}


def section_families(suite: dict[str, Any], pairs: Sequence[tuple[str, str]]) -> list[str]:
    """What each gate recruited for the first task of a family, a recurring one and a repeat."""
    lines: list[str] = []
    for host, gated in pairs:
        rows = family_rows(suite, host, gated)
        if not rows:
            continue
        if not lines:
            lines = ["", "Per task family (tasks after the first, all seeds): a gate that works recruits for the "
                         "first task of a family and little for a recurring one or a repeat. Accuracy on the "
                         "task right after it and at the end: gate / host / closed after task 0.", "",
                     "| gate | task | tasks | adapters recruited | rank sum | parameters | acc. after the task "
                     "| acc. at the end |", "|---|---|---|---|---|---|---|---|"]

        def acc(stats: dict[str, float], when: str) -> str:
            return " / ".join(f"{stats[f'{when}_{w}']:.3f}" if f"{when}_{w}" in stats else "-"
                              for w in ("gate", "host", "closed"))

        for kind, s in rows.items():
            lines.append(f"| {gated} | {kind} | {s['n']} | {s['recruited']:.1f} | {s['rank_sum']:.1f} "
                         f"| {s['params']:.0f} | {acc(s, 'after')} | {acc(s, 'final')} |")
    return lines


README_START, README_END = "<!-- results:start -->", "<!-- results:end -->"


def sync_readme(readme: Path, block: Sequence[str], check: bool = False,
                markers: tuple[str, str] = (README_START, README_END)) -> bool:
    """Put ``block`` (generated lines) between the README's ``markers``; with ``check``, only say
    whether it is already there. True when the README is current (or was made so)."""
    start, end = markers
    text = readme.read_text()
    if start not in text or end not in text:
        return True  # a README without the markers carries no generated numbers
    head, rest = text.split(start, 1)
    _, tail = rest.split(end, 1)
    new = head + start + "\n" + "\n".join(block).rstrip() + "\n" + end + tail
    if check:
        return new == text
    if new != text:
        from litelora._io import write_text

        write_text(readme, new)
    return True


DEFAULT_START, DEFAULT_END = "<!-- default-run:start -->", "<!-- default-run:end -->"


def default_run_block(results_dir: Path) -> list[str]:
    """The README's default-run output, rebuilt from ``default_run.json`` (the gated default run and
    its host, measured): each run's matrix, the gate's per-task decisions and the adapter counts."""
    from litelora.reporting.tables import format_decisions, format_matrix

    path = results_dir / "default_run.json"
    if not path.is_file():
        return []
    runs = json.loads(path.read_text())["runs"]
    lines = []
    for name in ("gate", "host"):
        run = runs[name]
        m = run["metrics"]
        lines += ["```", f"$ {run['command']}", format_matrix(run["accuracy_matrix"])]
        if run["gate_decisions"]:
            lines += ["gate decisions (per target module: . reuse, else the rank recruited):",
                      format_decisions(run["gate_decisions"])]
        lines += [f"  final_acc_sample {m['final_acc_sample']:.3f}   aia_sample {m['aia_sample']:.3f}   "
                  f"active adapters {m['active_adapters']} of {m['max_adapters']}   adapter parameters "
                  f"{m['adapter_params']:,} of the host's {m['host_adapter_params']:,}", "```", ""]
    return lines
