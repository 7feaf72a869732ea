"""Write docs/results.md from the suite summaries in reproduce/results/*.json.

Every number and every verdict on the page is computed here from those JSON files, so the
page cannot drift from the data: ``--check`` regenerates it in memory and fails when the
committed page differs (a test runs it).

    python reproduce/render_results.py            # write docs/results.md
    python reproduce/render_results.py --check    # exit 1 if docs/results.md is stale
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path
from typing import Any

import yaml
from render_evidence import (DEFAULT_END, DEFAULT_START, default_run_block, host_pairs, mean_std,
                             section_carried, section_convergence, section_families, section_redundancy,
                             section_rescored, sync_readme)
from verdict import BAND, DISCRIMINATES_BY, EVIDENCE_ORDERS, MATCH_TOLERANCE, repeated_pairs, verdicts

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
README = ROOT / "README.md"

# Order of the sections for suites that exist; any other suite follows in name order.
SUITE_ORDER = ["gate_v2_planted", "gate_v2_planted_short", "gate_v2_default", "gate_v2_fmnist_til", "gate_v2_smollm2",
               "hosts_default", "planted", "savers_default", "gate_sweep_default", "references_default", "hosts_domains",
               "hosts_fmnist", "fmnist_til", "generative_smollm2"]
# Reference groups: one adapter trained on every task in turn (lower) and on their union (upper).
REFERENCES = ("seqlora", "joint")


def load_results(results_dir: Path) -> dict[str, dict[str, Any]]:
    out = {}
    for path in sorted(results_dir.glob("*.json")):
        data = json.loads(path.read_text())
        if "suite" in data and "groups" in data:
            out[data["suite"]] = data
    return out


def _m(stats: dict[str, Any], key: str, fmt: str = ".3f", pm: bool = True) -> str:
    if key not in stats:
        return "-"
    return mean_std(stats[key] if pm else {**stats[key], "n": 1}, mean=fmt)


def _kib(stats: dict[str, Any]) -> str:
    return f"{stats['adapter_bytes']['mean'] / 1024:.0f}" if "adapter_bytes" in stats else "-"


def _delta(v: dict[str, Any]) -> str:
    return "-" if v["delta"] is None else f"{v['delta']:+.3f}"


def _command(suite: dict[str, Any]) -> str:
    name = suite["suite"]
    return f"`python reproduce/run_experiments.py reproduce/suites/{name}.yaml`"


def section_pairs(suite: dict[str, Any]) -> list[str]:
    groups = suite["groups"]
    lines = [
        "| host | n | final acc: host | final acc: + gate | difference | avg. incr. acc: host / + gate "
        "| forgetting: host / + gate | active adapters: host / + gate | reduction | adapter KiB: host / + gate "
        "| wall s: host / + gate |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for v in verdicts(suite):
        h, g = v["host_stats"], v["gate_stats"]
        lines.append(
            f"| {v['label']} | {v['n']} | {_m(h, 'final_acc_sample')} | {_m(g, 'final_acc_sample')} "
            f"| {_delta(v)} | {_m(h, 'aia_sample', pm=False)} / {_m(g, 'aia_sample', pm=False)} "
            f"| {_m(h, 'forgetting_first', pm=False)} / {_m(g, 'forgetting_first', pm=False)} "
            f"| {_m(h, 'active_adapters', '.0f', pm=False)} / {_m(g, 'active_adapters', '.1f')} "
            f"| {_m(g, 'adapter_reduction', '.2f')} | {_kib(h)} / {_kib(g)} "
            f"| {_m(h, 'train_seconds', '.0f', pm=False)} / {_m(g, 'train_seconds', '.0f', pm=False)} |")
    others = [g for g in groups if g not in {x for p in host_pairs(groups) for x in p}]
    if others:
        lines += ["", *section_groups(suite, others)]
    return lines


def section_groups(suite: dict[str, Any], names: list[str] | None = None) -> list[str]:
    groups = suite["groups"]
    lines = ["| experiment | n | final acc (sample) | avg. incr. acc | forgetting | active adapters | reduction "
             "| adapter KiB | wall s |", "|---|---|---|---|---|---|---|---|---|"]
    for name in names or list(groups):
        s = groups[name]
        lines.append(f"| {name} | {s['final_acc_sample']['n']} | {_m(s, 'final_acc_sample')} | {_m(s, 'aia_sample')} "
                     f"| {_m(s, 'forgetting_first')} | {_m(s, 'active_adapters', '.1f')} "
                     f"| {_m(s, 'adapter_reduction', '.2f')} | {_kib(s)} | {_m(s, 'train_seconds', '.0f')} |")
    return lines


def section_peers(suite: dict[str, Any], results: dict[str, dict[str, Any]]) -> list[str]:
    """Runs of another suite shown next to this one (``peers`` in the spec), e.g. the host and
    the default gate at the sweep's seed, so a sweep reads as one Pareto table."""
    peers = suite["spec"].get("peers")
    if not peers or peers["suite"] not in results:
        return []
    lines = ["", f"Same seed from `{peers['suite']}`:", "",
             "| run | final acc (sample) | forgetting | active adapters | reduction |", "|---|---|---|---|---|"]
    for run in results[peers["suite"]]["runs"]:
        if run["group"] in peers["groups"] and run["seed"] == peers.get("seed", 0):
            m = run["metrics"]
            red = "-" if m.get("adapter_reduction") is None else f"{m['adapter_reduction']:.2f}"
            lines.append(f"| {run['run']} | {m['final_acc_sample']:.3f} | {m['forgetting_first']:.3f} "
                         f"| {m['active_adapters']} | {red} |")
    return lines


def section_analysis(suite: dict[str, Any]) -> list[str]:
    if not suite.get("analysis"):
        return []
    lines = ["", "Redundancy of the adapters (`litelora analyze --functional`), averaged over modules: "
             "rho(t) is the share of the squared Frobenius norm of task t's update dW_t inside the row and "
             "column spans of the module's earlier adapters (1 = fully inside); the residual is SD-LoRA-KD's "
             "test, the squared distance from the unit-norm dW_t to the best combination of the earlier "
             "unit-norm updates (0 = representable, 1 = orthogonal to all of them); the similarity is Hu et "
             "al.'s phi on column spaces; the functional drop is the accuracy lost on task t when each "
             "module's update is replaced by its projection onto the earlier spans.", "",
             "| run | rho(t), t = 1.. | residual(t) | mean similarity (col) | mean principal angle | "
             "functional drop(t) |", "|---|---|---|---|---|---|"]
    for run, a in suite["analysis"].items():
        rho = ", ".join(f"{v:.3f}" for v in a.get("rho_per_task", []) if v is not None)
        res = ", ".join(f"{v:.3f}" for v in a.get("residual_per_task", []) if v is not None)
        drops = ", ".join(f"{r['drop']:+.3f}" for r in a.get("functional", []) if r.get("drop") is not None)
        lines.append(f"| {run} | {rho} | {res} | {a.get('mean_similarity_col', 0):.3f} "
                     f"| {a.get('mean_angle_col_deg', 0):.1f} deg | {drops or '-'} |")
    return lines


def _paired(v: dict[str, Any]) -> str:
    """The per-seed differences in points, with their mean ± sample std (one seed has no spread:
    its difference alone)."""
    d = [x * 100 for x in v["paired"].values()]
    if not d:
        return "-"
    if len(d) == 1:
        return f"{_points(d[0])} (one seed)"
    return f"{_points(statistics.mean(d))} ± {statistics.stdev(d):.1f} ({', '.join(f'{x:+.1f}' for x in d)})"


def _points(x: float) -> str:
    """A difference in points to one decimal, or as many more (up to 7: past the verdict's
    tolerance) as it takes not to print the 0.5-point bar itself for a value on either side of it:
    -0.52 is below the bar, "-0.5" would read as on it. A value the verdict counts as on the bar
    (within its tolerance) prints as the bar."""
    for digits in range(1, 8):
        text = f"{x:+.{digits}f}"
        if abs(float(text)) != 0.5 or abs(abs(x) - 0.5) <= 1e-7:
            break
    return text


def section_verdict(results: dict[str, dict[str, Any]], rows: dict[str, list[dict[str, Any]]] | None = None,
                    repeats: dict[tuple[str, str], str] | None = None) -> list[str]:
    """The evidence: every host/gate pair on a suite that discriminates for that host (``rows``:
    each suite's ``verdicts``; ``repeats``: their ``repeated_pairs``; computed here when not given)."""
    rows = rows or {name: verdicts(results[name], results) for name in _ordered(results)}
    repeats = repeated_pairs(results, _ordered(results), rows) if repeats is None else repeats
    lines = ["| suite | converged | host (gate) | seeds | adapters saved | parameters saved | final acc: host "
             "| final acc: + gate | paired difference, points: mean ± std (by seed) | adapter KiB: host / + gate "
             "| wall s: host / + gate | claim held |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for name in _ordered(results):
        for v in rows[name]:
            if not v["discriminates"]:
                continue
            h, g = v["host_stats"], v["gate_stats"]
            red = "-" if v["reduction"] is None else f"{v['reduction']:.0%}"
            params = f"{g['param_reduction']['mean']:.0%}" if "param_reduction" in g else "-"
            converged = v["converged"]
            misses = [why for failed, why in ((not v["in_band"], f"fewer than {BAND[0]:.0%} saved"),
                                              (not v["matched"], "below the 0.5-point bar")) if failed]
            held = "no: " + ", and ".join(misses) if misses else "yes"
            if v["n"] and v["reduction"] is None:
                held = "not measured (a gated run records no adapter count)"
            if not v["n"]:
                held = "not judged (no task order both ran)"
            elif not v["judged"]:
                held = f"not judged ({v['n']} of {EVIDENCE_ORDERS} task orders): {held}"
            if not converged.startswith("yes"):
                held += " (suite not shown converged)"
            if (name, v["gated"]) in repeats:
                held += f" (the same runs as {repeats[name, v['gated']]}'s: counted there)"
            lines.append(
                f"| {name} | {converged} | {v['label']} | {v['n']} | {red} | {params} | {_m(h, 'final_acc_sample')} "
                f"| {_m(g, 'final_acc_sample')} | {_paired(v)} | {_kib(h)} / {_kib(g)} "
                f"| {_m(h, 'train_seconds', '.0f', pm=False)} / {_m(g, 'train_seconds', '.0f', pm=False)} "
                f"| {held} |")
    return lines if len(lines) > 2 else []


def section_claims(results: dict[str, dict[str, Any]]) -> list[str]:
    rows = {name: verdicts(results[name], results) for name in _ordered(results)}
    repeats = repeated_pairs(results, _ordered(results), rows)
    verdict = section_verdict(results, rows, repeats)
    lines = ["## Which claims held here", "",
             f"A gate *matches* its host when its final accuracy, paired with the host's by task order (seed) "
             f"and averaged over the orders both ran, is at most {MATCH_TOLERANCE:.1%} "
             f"(absolute) below the host's or above it; the paper's reduction band is {BAND[0]:.0%}-{BAND[1]:.0%} of "
             f"the adapters, and a reduction counts from {BAND[0]:.0%} up. A suite *discriminates* for a host "
             f"when the host beats its own \"adapters closed after task 0\" by at least "
             f"{DISCRIMINATES_BY * 100:.0f} points and by more than the seed spread, on the task orders both ran "
             "(at least 2): only there can a gate's "
             "choice of adapters matter, so only those pairs, on a suite also shown converged, count as "
             "evidence.", ""]
    if verdict:
        lines += ["### The verdict: suites that discriminate", "", *verdict, "",
                  "### Every pair measured", ""]
    lines += ["| suite | host | seeds | suite discriminates | reduction | at least 20% "
             "| final acc. difference (gate - host) | matched | difference within the seed spread |",
             "|---|---|---|---|---|---|---|---|---|"]
    held = total = held_disc = total_disc = 0
    for name in _ordered(results):
        for v in rows[name]:
            if (name, v["gated"]) in repeats:
                continue  # one experiment listed in two suites counts once, in the first
            total += 1
            held += v["matched"] and v["in_band"]
            if v["discriminates"] and v["judged"] and v["converged"].startswith("yes"):
                total_disc += 1
                held_disc += v["matched"] and v["in_band"]
            red = "-" if v["reduction"] is None else f"{v['reduction']:.2f}"
            spread = "-" if v["n"] < 2 else ("yes" if v["within_spread"] else "no")
            disc = {None: "not measured", True: "yes", False: "no"}[v["discriminates"]]
            lines.append(f"| {name} | {v['label']} | {v['n']} | {disc} | {red} | {'yes' if v['in_band'] else 'no'} "
                         f"| {_delta(v)} | {'yes' if v['matched'] else 'no'} | {spread} |")
    lines += ["", f"Both halves of the claim (a reduction of at least 20% **and** matched accuracy) held for {held} of "
                  f"{total} host/stream pairs measured here, and for {held_disc} of the {total_disc} pairs over "
                  f"{EVIDENCE_ORDERS} task orders on a suite that discriminates (its host beats \"adapters closed "
                  f"after task 0\" by at least "
                  f"{DISCRIMINATES_BY * 100:.0f} points and by more than the seed spread) and is shown "
                  "converged; only those count as evidence. A pair whose runs another suite lists too counts "
                  "once. *Within the seed spread* means the difference is no "
                  "larger than the larger of the two standard deviations over seeds: with 3 seeds such a "
                  "difference is not evidence either way."]
    return lines + section_references(results)


def section_references(results: dict[str, dict[str, Any]]) -> list[str]:
    """One sentence per suite that ran a reference line (seqlora, joint), set against its hosts."""
    what = {"seqlora": "seqlora, one adapter trained on every task in turn,",
            "joint": "joint training on the union of the tasks"}
    lines = []
    for name in _ordered(results):
        groups = results[name]["groups"]
        ran = [r for r in REFERENCES if r in groups]
        if not ran:
            continue
        parts = [f"{what[r]} reaches {groups[r]['final_acc_sample']['mean']:.3f} ± "
                 f"{groups[r]['final_acc_sample']['std']:.3f}" for r in ran]
        text = f"Reference lines ({name}): {'; '.join(parts)}."
        if "seqlora" in ran:
            text += " A host that does not beat seqlora gains nothing from its per-task adapters on that stream."
        lines.append(text)
    return [""] + lines if lines else []


def _ordered(results: dict[str, Any]) -> list[str]:
    known = [s for s in SUITE_ORDER if s in results]
    return known + sorted(s for s in results if s not in known)


def section_not_run(suites_dir: Path) -> list[str]:
    specs = sorted(suites_dir.glob("gpu/*.yaml"))
    if not specs:
        return []
    lines = ["## Ready but not run here (GPU-scale protocols)", "",
             "These need the public datasets in a local folder and a GPU; nothing below was measured on "
             "this machine.", "", "| suite | what | command |", "|---|---|---|"]
    for path in specs:
        spec = yaml.safe_load(path.read_text())
        rel = path.relative_to(ROOT)
        lines.append(f"| {spec['suite']} | {spec.get('title', '')} | `python reproduce/run_experiments.py {rel}` |")
    return lines


FIGURES = [("pareto", "final accuracy against active adapters (every run; group means)"),
           ("similarity-0", "subspace similarity between the task adapters (column spaces)"),
           ("rho-0", "rho(t) and the representability residual per task"),
           ("functional-0", "functional representability drop per task")]


def section_figures(name: str, figures_dir: Path) -> list[str]:
    """Links to the suite's figures that ``run_all.py`` wrote (paths relative to the page)."""
    found = [(f"{name}-{key}.png", what) for key, what in FIGURES if (figures_dir / f"{name}-{key}.png").is_file()]
    if not found:
        return []
    links = "; ".join(f"[{what}](figures/{file})" for file, what in found)
    return ["", f"Figures: {links}."]


def render(results_dir: Path = HERE / "results", suites_dir: Path = HERE / "suites",
           figures_dir: Path = ROOT / "docs" / "figures") -> str:
    results = load_results(results_dir)
    lines = ["# Results", "",
             "<!-- generated by `python reproduce/render_results.py` from reproduce/results/*.json: "
             "do not edit by hand -->", "",
             "Every number here comes from run directories written by `litelora train` on this kind of "
             "machine (2 CPU cores, no GPU), aggregated by `reproduce/run_experiments.py` into "
             "`reproduce/results/<suite>.json`, which also holds each run's exact command, metrics and "
             "accuracy matrix. `python reproduce/run_all.py` reruns everything (resumable; run directories are not "
             "committed, and a pass on a checkout without a run's directory keeps its committed record, so "
             "`reproduce/run_experiments.py SUITE --only ROW --seeds N` adds one run to them); means ± sample "
             "standard deviation over seeds (class orders). Final accuracy is sample-weighted over all "
             "tasks after the last one (class-incremental: no task id at test time). Wall times overlapped "
             "other jobs on the shared cores: compare them only within a row; per-step costs measured side "
             "by side are in `perf/README.md`.", ""]
    if results:
        lines += section_claims(results) + [""]
    for name in _ordered(results):
        suite = results[name]
        title = suite["spec"].get("title", name)
        lines += [f"## {title}", "", f"{_command(suite)}" + (" (quick mode)" if suite.get("quick") else ""), ""]
        if suite["spec"].get("note"):
            lines += [" ".join(str(suite["spec"]["note"]).split()), ""]
        lines += section_pairs(suite) if host_pairs(suite["groups"]) else section_groups(suite)
        lines += section_peers(suite, results)
        lines += section_analysis(suite)
        lines += section_families(suite, host_pairs(suite["groups"]))
        lines += section_figures(name, figures_dir) + [""]
    lines += section_redundancy(results_dir)
    lines += section_convergence(results_dir)
    lines += section_rescored(results_dir)
    lines += section_carried(results_dir)
    lines += section_not_run(suites_dir)
    return "\n".join(lines).rstrip() + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--results", type=Path, default=HERE / "results")
    parser.add_argument("-o", "--output", type=Path, default=ROOT / "docs" / "results.md")
    parser.add_argument("--check", action="store_true", help="fail if the output file differs from a fresh render")
    args = parser.parse_args()
    text, block = render(args.results), section_verdict(load_results(args.results))
    default = (default_run_block(args.results), (DEFAULT_START, DEFAULT_END))
    if args.check:
        if not args.output.is_file() or args.output.read_text() != text or not sync_readme(README, block, True) \
                or not sync_readme(README, default[0], True, default[1]):
            print(f"{args.output} or README.md is stale: run python reproduce/render_results.py", file=sys.stderr)
            return 1
        return 0
    from litelora._io import write_text

    write_text(args.output, text)
    sync_readme(README, block)
    sync_readme(README, default[0], markers=default[1])
    print(f"wrote {args.output} and README.md's verdict table")
    return 0


if __name__ == "__main__":
    sys.exit(main())
