"""The README's hand-written findings quote numbers the verdict table does not show (per-order
gaps, rescored differences, carried shares, the gate's cost): each is rebuilt here from the
committed JSON it comes from, so a rerun that moves a number fails until the prose follows."""

from __future__ import annotations

import json
import statistics
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "reproduce"))
from render_results import load_results  # noqa: E402
from committed import final_acc_by_seed  # noqa: E402
from verdict import paired_differences  # noqa: E402

RESULTS = ROOT / "reproduce" / "results"
SUITE = "families_generative_16ep"


@pytest.fixture(scope="module")
def readme() -> str:
    # The prose wraps anywhere: compare with every run of whitespace read as one space.
    return " ".join((ROOT / "README.md").read_text(encoding="utf-8").split())


@pytest.fixture(scope="module")
def results() -> dict[str, dict]:
    return load_results(RESULTS)  # every committed suite, read once for the module


@pytest.fixture(scope="module")
def suite(results: dict[str, dict]) -> dict:
    return results[SUITE]


def _points(diffs: list[float]) -> tuple[float, float]:
    """How far below its host a row ends (the mean difference, negated) and the sample standard
    deviation of the differences, in points. The README says "below" and "under": a row above
    its host fails here rather than reading as the same gap."""
    mean = statistics.mean(diffs)
    assert mean < 0, f"the README reads a gap below the host, the JSON a mean difference of {mean:+.4f}"
    return -mean * 100, statistics.stdev(diffs) * 100


def _saved(groups: dict, row: str) -> tuple[int, int]:
    """Adapters and parameters saved by ``row``, in whole percent."""
    g = groups[row]
    return round(g["adapter_reduction"]["mean"] * 100), round(g["param_reduction"]["mean"] * 100)


def test_the_gated_rows_quoted_in_the_readme_match_their_json(suite: dict, readme: str) -> None:
    for row in ("inclora+litelora-v3-chance", "inclora+litelora-v3"):
        mean, std = _points(list(paired_differences(suite, "inclora", row).values()))
        adapters, params = _saved(suite["groups"], row)
        assert (f"ends {mean:.1f} ± {std:.1f} points below inclora at {adapters}% fewer adapters and "
                f"{params}% fewer parameters") in readme, row

    full = "inflora+litelora-v3-chance-full-rank"
    own = _points(list(paired_differences(suite, "inflora", full).values()))
    rescored = json.loads((RESULTS / f"rescored_{SUITE}.json").read_text())["rescored_groups"][full]["vs_host"]
    assert rescored["host"] == "inflora" and rescored["n"] == 3
    larger = _points(rescored["by_seed"])
    adapters, params = _saved(suite["groups"], full)
    assert (f"{own[0]:.1f} ± {own[1]:.1f} points under InfLoRA on the runs' own test sets and "
            f"{larger[0]:.1f} ± {larger[1]:.1f} on larger ones, at {adapters}% fewer adapters and "
            f"{params}% fewer parameters") in readme


def test_the_closed_reference_and_the_carried_shares_match_their_json(suite: dict, readme: str) -> None:
    host, closed = final_acc_by_seed(suite, "inclora"), final_acc_by_seed(suite, "closed-after-task-0")
    gaps = [f"{(host[s] - closed[s]) * 100:.1f}" for s in sorted(host)]
    assert len(gaps) == 3
    assert f"costs the host {gaps[0]}, {gaps[1]} and {gaps[2]} points" in readme

    kinds = json.loads((RESULTS / f"carried_{SUITE}.json").read_text())["carried_groups"]["inclora"]["kinds"]
    recurring, first = (round(kinds[k]["carried_share"] * 100) for k in ("recurring", "first"))
    assert (f"only {recurring}% of what training it gains over the base model (the first task of a "
            f"new family: {first}%)") in readme


def test_the_gate_cost_quoted_in_the_readme_matches_the_benchmark(readme: str) -> None:
    summary = json.loads((ROOT / "perf" / "results" / "bench_gate_cost.json").read_text())["train_info"]["summary"]
    default = summary["default"]
    v3 = default["host+v3"]["paired_over_host"]["wall_s"]
    chance = default["host+v3-chance-probe-counts"]["paired_over_host"]["wall_s"]
    assert (f"v3 costs {v3:.2f}x its host's wall time on the default stream, {chance:.2f}x with "
            "`gate.params.unsolved=chance` and `gate.params.probe_counts=true`") in readme


def test_the_sequential_host_quoted_in_the_readme_matches_its_json(suite: dict, readme: str) -> None:
    own = _points(list(paired_differences(suite, "inclora", "seqlora").values()))
    rescored = json.loads((RESULTS / f"rescored_{SUITE}.json").read_text())["rescored_groups"]["seqlora"]["vs_host"]
    assert rescored["host"] == "inclora" and rescored["n"] == 3
    larger = _points(rescored["by_seed"])
    seq, host = suite["groups"]["seqlora"], suite["groups"]["inclora"]
    adapters, total = round(seq["active_adapters"]["mean"]), round(host["active_adapters"]["mean"])
    saved = round(100 * (1 - seq["adapter_params"]["mean"] / host["adapter_params"]["mean"]))
    assert saved == round(100 * (1 - adapters / total))  # adapters and parameters alike
    assert (f"ends {own[0]:.1f} ± {own[1]:.1f} points below inclora ({larger[0]:.1f} ± {larger[1]:.1f} on larger "
            f"test sets) with {adapters} adapters of {total}: {saved}% fewer adapters and parameters") in readme


def test_the_planted_seqlora_gap_quoted_in_the_readme_matches_its_json(results: dict[str, dict], readme: str) -> None:
    gaps = {round(_points(list(paired_differences(results[name], "inclora", "seqlora").values()))[0])
            for name in ("gate_v3_planted", "gate_v3_planted_copy")}
    assert len(gaps) == 1
    assert f"(seqlora) ends {gaps.pop()} points under the host" in readme


def test_the_core_reuse_row_quoted_in_the_readme_matches_its_json(suite: dict, readme: str) -> None:
    row = "inclora+litelora-v3-chance-core"
    rescored = json.loads((RESULTS / f"rescored_{SUITE}.json").read_text())["rescored_groups"]
    own, larger = {}, {}
    for name in (row, "inclora+litelora-v3-chance"):
        assert rescored[name]["vs_host"]["host"] == "inclora" and rescored[name]["vs_host"]["n"] == 3
        own[name] = _points(list(paired_differences(suite, "inclora", name).values()))
        larger[name] = _points(rescored[name]["vs_host"]["by_seed"])
    adapters, params = _saved(suite["groups"], row)
    frozen = _saved(suite["groups"], "inclora+litelora-v3-chance")[0]
    (mean, std), (l_mean, l_std) = own[row], larger[row]
    (f_mean, f_std), (fl_mean, fl_std) = own["inclora+litelora-v3-chance"], larger["inclora+litelora-v3-chance"]
    assert (f"chance gate ends {mean:.1f} ± {std:.1f} points below inclora at {adapters}% fewer adapters and "
            f"{params}% fewer parameters ({l_mean:.1f} ± {l_std:.1f} on larger test sets), where frozen reuse "
            f"ends {f_mean:.1f} ± {f_std:.1f} below ({fl_mean:.1f} ± {fl_std:.1f}) at {frozen}% fewer "
            "adapters") in readme


def test_the_unrelated_stream_quoted_in_the_readme_matches_its_json(results: dict[str, dict], readme: str) -> None:
    suite = results["generative_unrelated_16ep"]
    row = "inclora+litelora-v3-chance"
    mean, std = _points(list(paired_differences(suite, "inclora", row).values()))
    adapters, params = _saved(suite["groups"], row)
    active = [r["metrics"]["active_adapters"] - 60 for r in suite["runs"] if r["group"] == row]  # task 0 is ungated
    assert len(active) == 3
    assert f"recruits in {sum(active)} of {3 * 4 * 60} later modules" in readme  # 4 later tasks, 60 modules, 3 orders
    assert (f"ends {mean:.1f} ± {std:.1f} points below inclora at {adapters}% fewer adapters and "
            f"{params}% fewer parameters") in readme
    uniform = "inclora+uniform-r1"
    u_mean, u_std = _points(list(paired_differences(suite, "inclora", uniform).values()))
    assert (f"ends {u_mean:.1f} ± {u_std:.1f} points below inclora at {_saved(suite['groups'], uniform)[1]}% "
            "fewer parameters and above the gate on every order") in readme
    over_gate = list(paired_differences(suite, row, uniform).values())
    assert len(over_gate) == 3 and min(over_gate) > 0
    assert f"(+{statistics.mean(over_gate) * 100:.1f} points on average)" in readme
    check = json.loads((RESULTS / "convergence_generative_unrelated_16ep.json").read_text())
    assert check["converged"] and check["seeds"] == [0, 1]
    per_order = " and ".join(f"{check['per_seed'][str(s)]['mean_rise'] * 100:+.1f}" for s in check["seeds"])
    assert f"orders ({per_order};" in readme
    assert f"32 epochs move the host's diagonal {check['mean_rise'] * 100:+.1f} points over the first two orders" in readme
    assert f"curves still rose {check['late_rise']['mean_late_rise'] * 100:.1f} points" in readme
