"""The results page's per-family table and convergence table, from constructed suite JSON."""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "reproduce"))
import render_evidence  # noqa: E402
import render_results  # noqa: E402

sys.path.remove(str(ROOT / "reproduce"))

TASKS = ["bbc-topics-a", "rt-sentiment-a", "bbc-topics-b", "bbc-topics-a-repeat"]
FAMILIES = ["topic", "sentiment", "topic", "topic"]


def _matrix(diag: float, final: float) -> list[list[float]]:
    return [[diag if i == j else final if i == 3 else 0.5 for j in range(4)] for i in range(4)]


def _gated(seed: int, recruited: list[int]) -> dict:
    return {"run": f"inclora+litelora_s{seed}", "group": "inclora+litelora", "seed": seed,
            "accuracy_matrix": _matrix(0.8, 0.6), "tasks": TASKS, "families": FAMILIES,
            "repeat_of": {"bbc-topics-a-repeat": "bbc-topics-a"},
            "gates": {"targets": ["q", "v"], "tasks": [
                {"recruited": [0, 1], "rank_sum": 16, "params": 200}, *[
                    {"recruited": list(range(k)), "rank_sum": 8 * k, "params": 100 * k} for k in recruited]]}}


def _suite() -> dict:
    runs = [_gated(0, [2, 1, 0]), _gated(1, [2, 0, 0]),
            *[{"run": f"inclora_s{s}", "group": "inclora", "seed": s, "accuracy_matrix": _matrix(0.9, 0.7)}
              for s in (0, 1)],
            *[{"run": f"closed-after-task-0_s{s}", "group": "closed-after-task-0", "seed": s,
               "accuracy_matrix": _matrix(0.4, 0.3)} for s in (0, 1)]]
    acc = {"final_acc_sample": {"mean": 0.7, "std": 0.0, "n": 2}}
    return {"suite": "fam", "spec": {"title": "fam"}, "runs": runs,
            "groups": {"inclora": acc, "inclora+litelora": acc, "closed-after-task-0": acc}}


def test_the_family_table_splits_first_recurring_and_repeat() -> None:
    rows = render_evidence.family_rows(_suite(), "inclora", "inclora+litelora")
    assert rows["first"]["n"] == 2 and rows["first"]["recruited"] == 2.0 and rows["first"]["params"] == 200
    assert rows["recurring"]["recruited"] == 0.5 and rows["recurring"]["rank_sum"] == 4.0
    assert rows["repeat"]["recruited"] == 0.0
    assert rows["repeat"]["after_gate"] == 0.8 and rows["repeat"]["after_host"] == 0.9
    assert rows["repeat"]["after_closed"] == 0.4
    lines = render_evidence.section_families(_suite(), [("inclora", "inclora+litelora")])
    assert "| inclora+litelora | recurring | 2 | 0.5 | 4.0 | 50 | 0.800 / 0.900 / 0.400 | 0.600 / 0.700 / 0.300 |" in lines
    # The columns side by side read the same orders: an order closed-after-task-0 did not run is left out.
    suite = _suite()
    suite["runs"] = [r for r in suite["runs"] if (r["group"], r["seed"]) != ("closed-after-task-0", 1)]
    rows = render_evidence.family_rows(suite, "inclora", "inclora+litelora")
    assert rows["first"]["n"] == 1 and rows["recurring"]["recruited"] == 1.0  # seed 0's alone


def test_a_suite_without_families_gets_no_family_table() -> None:
    suite = _suite()
    for run in suite["runs"]:
        run.pop("families", None)
    assert render_evidence.section_families(suite, [("inclora", "inclora+litelora")]) == []


def test_the_page_shows_families_and_convergence(tmp_path: Path) -> None:
    (tmp_path / "fam.json").write_text(json.dumps(_suite()))
    (tmp_path / "convergence_fam.json").write_text(json.dumps(
        {"suite": "fam", "host": "inclora", "doubled": "inclora-2x-epochs", "seeds": [0, 1], "mean_rise": 0.023,
         "max_task_rise": 0.05, "tolerance": 0.01, "converged": False}))
    page = render_results.render(tmp_path, tmp_path, tmp_path)
    assert "| inclora+litelora | first | 2 | 2.0 | 16.0 | 200 |" in page
    assert "| fam | inclora / inclora-2x-epochs | 2 | +2.30 | +5.0 |  | 1 | no |" in page


def test_the_verdict_reads_converged_from_the_suites_own_doubled_host() -> None:
    def run(group: str, seed: int, diag: float) -> dict:
        return {"group": group, "seed": seed, "accuracy_matrix": _matrix(diag, 0.6)}

    flat = {"runs": [run("inclora", s, 0.80) for s in (0, 1)] + [run("inclora-2x-epochs", s, 0.805) for s in (0, 1)]}
    rising = {"runs": [run("inclora", s, 0.80) for s in (0, 1)] + [run("inclora-2x-epochs", s, 0.83) for s in (0, 1)]}
    assert render_evidence.converged_label(flat, "inclora") == "yes"  # +0.5 points: below the 1-point bar
    assert render_evidence.converged_label(rising, "inclora") == "no (+3.0)"
    assert render_evidence.converged_label({"runs": flat["runs"][:2]}, "inclora") == "not checked"
    assert render_evidence.converged_label({"runs": [{"group": "inclora", "seed": 0}]}, "inclora") == "not checked"
    # Without a doubled run, the host's own learning curves decide: the diagonal 0.80 above a
    # halfway point at 0.78 is a late rise of 2 points,
    # 0.80 at 0.80 none: 1 point on average, not below the bar.
    points = [[[4, 0.78]], [[4, 0.80]], [], []]  # late rises +2, +0; tasks 2 and 3 kept no curve
    curved = [{**run("inclora", s, 0.80), "task_curves": [{"steps": 8, "points": p} for p in points]} for s in (0, 1)]
    assert render_evidence.converged_label({"runs": curved}, "inclora") == "no (in-run +1.0)"
    # Doubling decides where both ran; curves that disagree are shown beside it.
    assert render_evidence.converged_label({"runs": [*curved, *flat["runs"][2:]]}, "inclora") == "yes; in-run +1.0"
    # A host row with extra settings reads only its own runs: the plain host's do not stand for it.
    assert render_evidence.converged_label(flat, "inclora+gradient-init") == "not checked"
    assert render_evidence.converged_label({"runs": curved}, "inclora+gradient-init") == "not checked"
    own = [{**r, "group": "inclora+gradient-init"} for r in curved]
    assert render_evidence.converged_label({"runs": [*flat["runs"], *own]}, "inclora+gradient-init") == \
        "no (in-run +1.0)"


def test_a_suite_that_reruns_its_reference_suites_host_reads_that_suites_check() -> None:
    def run(group: str, seed: int, diag: float, final: float = 0.70) -> dict:
        return {"group": group, "seed": seed, "accuracy_matrix": _matrix(diag, 0.6),
                "metrics": {"final_acc_sample": final + seed / 100}}

    ref = {"runs": [run("inclora", s, 0.80) for s in (0, 1)] + [run("inclora-2x-epochs", s, 0.83) for s in (0, 1)]}
    more = {"spec": {"reference_suite": "ref"}, "runs": [run("inclora", s, 0.80) for s in (0, 1)]}
    assert render_evidence.converged_label(more, "inclora", {"ref": ref}) == "no (+3.0)"
    assert render_evidence.converged_label(more, "inclora") == "not checked"  # the other suites not given
    # Host runs that ended elsewhere are other runs: the reference suite's check is not theirs.
    other = {**more, "runs": [run("inclora", s, 0.80, final=0.65) for s in (0, 1)]}
    assert render_evidence.converged_label(other, "inclora", {"ref": ref}) == "not checked"


def test_a_gated_row_pairs_with_the_host_row_that_differs_only_by_the_gate() -> None:
    groups = dict.fromkeys(["inclora", "inclora+gradient-init", "inclora+litelora-v3",
                            "inclora+litelora-v3+gradient-init", "olora+litelora-v2+gradient-init", "olora"])
    assert render_evidence.host_pairs(groups) == [
        ("inclora", "inclora+litelora-v3"), ("inclora+gradient-init", "inclora+litelora-v3+gradient-init"),
    ]  # no olora+gradient-init row: olora+litelora-v2+gradient-init pairs with nothing (olora differs by more)
    assert render_evidence.pair_label("inclora+gradient-init", "inclora+litelora-v3+gradient-init") == \
        "inclora+gradient-init (litelora-v3)"
    assert render_evidence.pair_label("inclora", "inclora+litelora-v3") == "inclora (litelora-v3)"
    # A gate without a variant, then a setting; a doubled-epoch gated row pairs with the doubled host only.
    groups = dict.fromkeys(["inclora", "inclora+gradient-init", "inclora+litelora+gradient-init",
                            "inclora+gate-2x-epochs", "inflora", "inflora-2x-epochs", "inflora+gate-2x-epochs"])
    assert render_evidence.host_pairs(groups) == [
        ("inclora+gradient-init", "inclora+litelora+gradient-init"), ("inflora-2x-epochs", "inflora+gate-2x-epochs"),
    ]  # inclora+gate-2x-epochs: no inclora-2x-epochs row to pair with, never the 1x host
    assert render_evidence.pair_label("inflora-2x-epochs", "inflora+gate-2x-epochs") == "inflora-2x-epochs (gate)"


def test_a_difference_beside_the_bar_prints_which_side_it_is_on() -> None:
    assert render_results._points(-0.52) == "-0.52"
    assert render_results._points(-0.48) == "-0.48"
    assert render_results._points(-0.5) == "-0.5"
    assert render_results._points(-0.504) == "-0.504" and render_results._points(-0.496) == "-0.496"
    assert render_results._points(-0.61) == "-0.6" and render_results._points(1.04) == "+1.0"
