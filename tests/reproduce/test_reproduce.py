"""The reproduce pipeline: docs/results.md is generated from the committed JSON, and the quick
version of every suite runs end to end (tiny model and stream) through the same code."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _load(name: str):
    sys.path.insert(0, str(ROOT / "reproduce"))
    try:
        spec = importlib.util.spec_from_file_location(name, ROOT / "reproduce" / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module
    finally:
        sys.path.remove(str(ROOT / "reproduce"))


def _flat_runs(groups: dict) -> list[dict]:
    """One run per seed of every row, each at its row's mean (rows paired seed by seed)."""
    return [{"group": g, "seed": seed, "metrics": {"final_acc_sample": st["final_acc_sample"]["mean"]}}
            for g, st in groups.items() for seed in range(st["final_acc_sample"]["n"])]


def _spread_runs(groups: dict) -> list[dict]:
    """One run per seed of every row, spread so that their mean and sample std are the row's
    (n = 2 or 3; the same offsets on every row, so rows stay paired seed by seed)."""
    offsets = {2: (-0.5 ** 0.5, 0.5 ** 0.5), 3: (-1.0, 0.0, 1.0)}
    return [{"group": g, "seed": seed, "metrics": {"final_acc_sample": st["final_acc_sample"]["mean"]
                                                   + k * st["final_acc_sample"]["std"]}}
            for g, st in groups.items() for seed, k in enumerate(offsets[st["final_acc_sample"]["n"]])]


def test_results_page_is_generated_from_the_committed_json() -> None:
    render = _load("render_results")
    assert (ROOT / "docs" / "results.md").read_text() == render.render(), (
        "docs/results.md is stale: run `python reproduce/render_results.py`")
    block = render.section_verdict(render.load_results(render.HERE / "results"))
    assert block and render.sync_readme(ROOT / "README.md", block, check=True), (
        "README.md's verdict table is stale: run `python reproduce/render_results.py`")
    default = render.default_run_block(render.HERE / "results")
    assert default and render.sync_readme(ROOT / "README.md", default, True, (render.DEFAULT_START, render.DEFAULT_END)), (
        "README.md's default-run output is stale: run `python reproduce/render_results.py`")


def test_the_readme_block_is_replaced_between_its_markers_only(tmp_path: Path) -> None:
    render = _load("render_results")
    readme = tmp_path / "README.md"
    readme.write_text("intro\n<!-- results:start -->\nold | row\n<!-- results:end -->\nafter\n")
    assert not render.sync_readme(readme, ["| new |"], check=True)
    assert render.sync_readme(readme, ["| new |"])
    assert readme.read_text() == "intro\n<!-- results:start -->\n| new |\n<!-- results:end -->\nafter\n"
    assert render.sync_readme(readme, ["| new |"], check=True)


def test_every_number_in_the_claims_table_comes_from_the_json(tmp_path: Path) -> None:
    render = _load("render_results")
    groups = {
        "inclora": {"final_acc_sample": {"mean": 0.60, "std": 0.0, "n": 3}, "adapter_reduction": {"mean": 0.0, "std": 0, "n": 3}},
        "inclora+gate": {"final_acc_sample": {"mean": 0.597, "std": 0.01, "n": 3},
                         "adapter_reduction": {"mean": 0.5, "std": 0.0, "n": 3}},
        "olora": {"final_acc_sample": {"mean": 0.60, "std": 0.0, "n": 3}},
        "olora+gate": {"final_acc_sample": {"mean": 0.55, "std": 0.0, "n": 3},
                       "adapter_reduction": {"mean": 0.9, "std": 0.0, "n": 3}},
        "seqlora": {"final_acc_sample": {"mean": 0.58, "std": 0.02, "n": 3}},
        "joint": {"final_acc_sample": {"mean": 0.7, "std": 0.01, "n": 3}},
    }
    (tmp_path / "s.json").write_text(json.dumps({"suite": "s", "spec": {}, "groups": groups,
                                                 "runs": _flat_runs(groups)}))
    v = {row["host"]: row for row in render.verdicts(render.load_results(tmp_path)["s"])}
    assert v["inclora"]["matched"] and v["inclora"]["in_band"]
    assert v["inclora"]["delta"] == pytest.approx(-0.003)
    # a 90% reduction counts ("20-70% or more"); 5 points below the host does not match
    assert not v["olora"]["matched"] and v["olora"]["in_band"]
    text = render.render(tmp_path, tmp_path)
    assert "held for 1 of 2 host/stream pairs" in text
    assert "| s | olora | 3 | not measured | 0.90 | yes | -0.050 | no | no |" in text
    assert "| s | inclora | 3 | not measured | 0.50 | yes | -0.003 | yes | yes |" in text  # 0.003 <= std 0.01
    assert "Reference lines (s): seqlora, one adapter trained on every task in turn, reaches 0.580 ± 0.020" in text


def test_a_suite_discriminates_when_its_host_beats_closed_after_task_0(tmp_path: Path) -> None:
    render = _load("render_results")

    def acc(mean: float, std: float) -> dict:
        return {"final_acc_sample": {"mean": mean, "std": std, "n": 3}, "adapter_reduction": {"mean": 0.5, "std": 0, "n": 3}}

    for name, closed in (("far", acc(0.70, 0.01)), ("near", acc(0.78, 0.01)), ("noisy", acc(0.74, 0.07))):
        groups = {"inclora": acc(0.80, 0.02), "inclora+litelora": acc(0.797, 0.02), "closed-after-task-0": closed,
                  # a host with its own reference: olora is judged by olora-closed-after-task-0
                  "olora": acc(0.80, 0.02), "olora+litelora": acc(0.80, 0.02),
                  "olora-closed-after-task-0": acc(0.79, 0.01)}
        (tmp_path / f"{name}.json").write_text(json.dumps({"suite": name, "spec": {}, "groups": groups,
                                                           "runs": _spread_runs(groups)}))
    results = render.load_results(tmp_path)
    assert [render.verdicts(results[n])[0]["discriminates"] for n in ("far", "near", "noisy")] == [True, False, False]
    # One task order has no spread to beat: not measured, whatever the gap.
    one = {"suite": "one", "spec": {}, "groups": {}, "runs": [
        {"group": g, "seed": 0, "metrics": {"final_acc_sample": a}}
        for g, a in (("inclora", 0.9), ("inclora+litelora", 0.9), ("closed-after-task-0", 0.5))]}
    one["groups"] = {r["group"]: {"final_acc_sample": {"mean": r["metrics"]["final_acc_sample"], "std": 0.0, "n": 1}}
                     for r in one["runs"]}
    assert render.verdicts(one)[0]["discriminates"] is None
    assert [v["discriminates"] for v in render.verdicts(results["far"])] == [True, False]
    text = render.render(tmp_path, tmp_path)
    assert "| far | inclora (litelora) | 3 | yes |" in text and "| near | inclora (litelora) | 3 | no |" in text
    assert "| far | olora (litelora) | 3 | no |" in text
    # it discriminates, but nothing shows these suites converged: no pair counts as evidence
    assert "for 0 of the 0 pairs over 3 task orders on a suite that discriminates" in text


def test_the_verdict_lists_only_discriminating_pairs_with_paired_differences(tmp_path: Path) -> None:
    render = _load("render_results")

    def acc(mean: float, std: float, red: float = 0.4) -> dict:
        return {"final_acc_sample": {"mean": mean, "std": std, "n": 2}, "adapter_reduction": {"mean": red, "std": 0, "n": 2}}

    groups = {"inclora": acc(0.80, 0.02), "inclora+litelora": acc(0.79, 0.02), "closed-after-task-0": acc(0.60, 0.01),
              "olora": acc(0.80, 0.02), "olora+litelora": acc(0.80, 0.02), "olora-closed-after-task-0": acc(0.79, 0.01)}
    runs = [{"group": g, "seed": s, "metrics": {"final_acc_sample": a}}
            for g, s, a in (("inclora", 0, 0.82), ("inclora", 1, 0.78), ("inclora+litelora", 0, 0.78),
                            ("inclora+litelora", 1, 0.80), ("olora", 0, 0.8), ("olora+litelora", 0, 0.8),
                            ("closed-after-task-0", 0, 0.61), ("closed-after-task-0", 1, 0.59),
                            ("olora-closed-after-task-0", 0, 0.79))]
    (tmp_path / "s.json").write_text(json.dumps({"suite": "s", "spec": {}, "groups": groups, "runs": runs}))
    suite = render.load_results(tmp_path)["s"]
    v = render.verdicts(suite)[0]
    assert v["paired"] == pytest.approx({0: -0.04, 1: 0.02})
    table = "\n".join(render.section_verdict(render.load_results(tmp_path)))
    # paired by seed: -4 and +2 points, mean -1.0, sample std 4.2
    assert ("| s | not checked | inclora (litelora) | 2 | 40% | - | 0.800 ± 0.020 | 0.790 ± 0.020 "
            "| -1.0 ± 4.2 (-4.0, +2.0) |") in table
    # two task orders of the three a claim is judged over: the verdict is shown, not counted
    assert table.rstrip().endswith(
        "| not judged (2 of 3 task orders): no: below the 0.5-point bar (suite not shown converged) |")
    assert "olora" not in table  # olora does not beat its own closed-after-task-0 by 3 points
    # The host's learning curves show it plateaued (no late rise): converged, read in-run.
    for run in runs:
        run["accuracy_matrix"] = [[0.8]]
        if run["group"] == "inclora":
            run["task_curves"] = [{"steps": 4, "points": [[2, 0.8]], "seconds": 1.0}]
    (tmp_path / "s.json").write_text(json.dumps({"suite": "s", "spec": {}, "groups": groups, "runs": runs}))
    table = "\n".join(render.section_verdict(render.load_results(tmp_path)))
    assert "| s | yes (in-run) | inclora (litelora) |" in table
    assert table.rstrip().endswith("| not judged (2 of 3 task orders): no: below the 0.5-point bar |")


def test_a_gate_behind_its_host_is_judged_on_the_seeds_both_ran(tmp_path: Path) -> None:
    render = _load("render_results")

    def acc(mean: float, n: int) -> dict:
        return {"final_acc_sample": {"mean": mean, "std": 0.05, "n": n}, "adapter_reduction": {"mean": 0.3, "std": 0, "n": n}}

    # The host ran seeds 0 and 1 (0.90, 0.80), the gate only seed 0 (0.87): 3 points behind, not
    # 2 ahead of the host's two-seed mean.
    groups = {"inclora": acc(0.85, 2), "inclora+litelora": acc(0.87, 1), "closed-after-task-0": acc(0.60, 2)}
    runs = [{"group": g, "seed": s, "metrics": {"final_acc_sample": a}}
            for g, s, a in (("inclora", 0, 0.90), ("inclora", 1, 0.80), ("inclora+litelora", 0, 0.87),
                            ("closed-after-task-0", 0, 0.62), ("closed-after-task-0", 1, 0.58))]
    (tmp_path / "s.json").write_text(json.dumps({"suite": "s", "spec": {}, "groups": groups, "runs": runs}))
    v = render.verdicts(render.load_results(tmp_path)["s"])[0]
    assert v["delta"] == pytest.approx(-0.03) and v["matched"] is False
    # one seed paired has no spread to show: its difference alone, not "± 0.0"; the host's column
    # reads the same seed (0.900), not its two-seed mean (0.850), in the verdict and the pairs table
    verdict = "\n".join(render.section_verdict(render.load_results(tmp_path)))
    assert "| 1 | 30% | - | 0.900 | 0.870 | -3.0 (one seed) |" in verdict
    assert "| inclora (litelora) | 1 | 0.900 | 0.870 | -0.030 |" in "\n".join(
        render.section_pairs(render.load_results(tmp_path)["s"]))


def test_a_gate_ahead_of_its_host_is_judged_on_the_orders_both_ran_and_never_unpaired(tmp_path: Path) -> None:
    render = _load("render_results")

    def acc(mean: float, n: int) -> dict:
        return {"final_acc_sample": {"mean": mean, "std": 0.05, "n": n}, "adapter_reduction": {"mean": 0.3, "std": 0, "n": n}}

    # The gate ran seeds 0-2, its host only 0 and 1: two orders paired, not judged over three, and
    # the gate's column reads the same two orders (0.80), not its three-order mean with seed 2's 0.60.
    groups = {"inclora": acc(0.80, 2), "inclora+litelora": acc(0.733, 3), "closed-after-task-0": acc(0.60, 2)}
    runs = [{"group": g, "seed": s, "metrics": {"final_acc_sample": a, "adapter_reduction": 0.3}}
            for g, s, a in (("inclora", 0, 0.80), ("inclora", 1, 0.80), ("inclora+litelora", 0, 0.80),
                            ("inclora+litelora", 1, 0.80), ("inclora+litelora", 2, 0.60),
                            ("closed-after-task-0", 0, 0.60), ("closed-after-task-0", 1, 0.60))]
    (tmp_path / "s.json").write_text(json.dumps({"suite": "s", "spec": {}, "groups": groups, "runs": runs}))
    v = render.verdicts(render.load_results(tmp_path)["s"])[0]
    assert v["n"] == 2 and not v["judged"] and v["gate_stats"]["final_acc_sample"]["mean"] == pytest.approx(0.80)
    verdict = "\n".join(render.section_verdict(render.load_results(tmp_path)))
    assert "| 2 | 30% | - | 0.800 ± 0.050 | 0.800 ± 0.000 | +0.0 ± 0.0 (+0.0, +0.0) |" in verdict
    assert "not judged (2 of 3 task orders)" in verdict
    # No order in common: nothing paired, nothing judged, no difference of unpaired means.
    for run in runs:
        run["seed"] += 3 if run["group"] in ("inclora", "closed-after-task-0") else 0
    (tmp_path / "s.json").write_text(json.dumps({"suite": "s", "spec": {}, "groups": groups, "runs": runs}))
    v = render.verdicts(render.load_results(tmp_path)["s"])[0]
    assert v["n"] == 0 and v["delta"] is None and not v["matched"] and v["reduction"] is None
    verdict = "\n".join(render.section_verdict(render.load_results(tmp_path)))
    assert "| 0 | - | - |" in verdict and "not judged (no task order both ran)" in verdict


def test_a_suite_borrows_closed_after_task_0_only_from_a_suite_with_the_same_host_runs(tmp_path: Path) -> None:
    render = _load("render_results")

    def summary(name: str, rows: dict[str, list[float]], **spec: str) -> dict:
        runs = [{"group": g, "seed": s, "metrics": {"final_acc_sample": a, "adapter_reduction": 1 - 240 / 300}}
                for g, accs in rows.items() for s, a in enumerate(accs)]
        groups = {g: {"final_acc_sample": {"mean": sum(a) / len(a), "std": 0.01, "n": len(a)},
                      "adapter_reduction": {"mean": 1 - 240 / 300, "std": 0, "n": len(a)}} for g, a in rows.items()}
        return {"suite": name, "spec": spec, "groups": groups, "runs": runs}

    host = [0.80, 0.82, 0.78]
    base = summary("base", {"inclora": host, "closed-after-task-0": [0.60, 0.61, 0.59]})
    same = summary("same", {"inclora": host, "inclora+litelora-b0.75": host}, reference_suite="base")
    other = summary("other", {"inclora": [a - 0.01 for a in host], "inclora+litelora-b0.75": host},
                    reference_suite="base")
    # A suite's own reference comes first, over its reference suite's (even a host-specific one there).
    own = summary("own", {"inclora": host, "inclora+litelora-b0.75": host, "closed-after-task-0": [0.79, 0.81, 0.77]},
                  reference_suite="base2")
    base2 = summary("base2", {"inclora": host, "inclora-closed-after-task-0": [0.60, 0.61, 0.59]})
    for data in (base, same, other, own, base2):
        (tmp_path / f"{data['suite']}.json").write_text(json.dumps(data))
    results = render.load_results(tmp_path)
    same_v, other_v = render.verdicts(results["same"], results)[0], render.verdicts(results["other"], results)[0]
    assert same_v["discriminates"] is True and same_v["in_band"]  # 1 - 240/300 < 0.2 in floating point
    assert other_v["discriminates"] is None  # its host runs differ: base's reference is not paired with them
    assert render.verdicts(results["same"])[0]["discriminates"] is None  # without the other suites
    assert render.verdicts(results["own"], results)[0]["discriminates"] is False  # its own 0.79 is 1 point behind


# The default run covers the pipeline (text runs, gate, analysis, report, page); the slow run adds
# every suite (vision and InfLoRA on 1x1 convs take minutes even when tiny).
QUICK_SUITES = ["hosts_default", "planted", "references_default"]


@pytest.mark.parametrize("only", [pytest.param(QUICK_SUITES, id="core"),
                                  pytest.param(None, id="all", marks=pytest.mark.slow)])
def test_quick_reproduce_runs_suites_end_to_end(tmp_path: Path, only: list[str] | None) -> None:
    import yaml

    run_all = _load("run_all")

    def data_present(path: Path) -> bool:  # suites on a local data folder (O-LoRA Standard) need it
        roots = [s.split("=", 1)[1] for s in yaml.safe_load(path.read_text())["common"]
                 if s.startswith("benchmark.data_root=")]
        return all((ROOT / r).is_dir() for r in roots)

    suites = only or [p.stem for p in (ROOT / "reproduce" / "suites").glob("*.yaml") if data_present(p)]
    assert run_all.main(["--quick", "--root", str(tmp_path), "--only", *suites]) == 0
    for suite in suites:
        summary = json.loads((tmp_path / "results" / f"{suite}.json").read_text())
        assert summary["quick"] is True and summary["runs"], suite
        for run in summary["runs"]:
            R = run["accuracy_matrix"]
            assert len(R) == len(R[0]) and all(0.0 <= x <= 1.0 for row in R for x in row)
    page = (tmp_path / "results.md").read_text()
    assert all(json.loads((tmp_path / "results" / f"{s}.json").read_text())["spec"]["title"] in page for s in suites)
    assert (tmp_path / "hosts_default" / "report" / "comparison.html").is_file()
    hosts = json.loads((tmp_path / "results" / "hosts_default.json").read_text())
    assert set(hosts["analysis"]) == {"inclora_s0"} and hosts["analysis"]["inclora_s0"]["functional"]
    for key in ("pareto", "similarity-0", "rho-0", "functional-0"):
        png = tmp_path / "figures" / f"hosts_default-{key}.png"
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", key
        assert f"(figures/hosts_default-{key}.png)" in page


def test_every_suite_config_validates_and_gpu_suites_are_listed_as_not_run() -> None:
    import yaml

    from litelora.cli.main import main

    render = _load("render_results")
    for path in sorted((ROOT / "reproduce" / "suites").rglob("*.yaml")):
        spec = yaml.safe_load(path.read_text())
        for exp in spec["experiments"]:
            sets = [*spec.get("common", []), *exp.get("set", [])]
            # Their data lives on the machines that run them (DATA_ROOT/...): check options, not data.
            argv = ["config", "validate", "--no-data"] + [x for s in sets for x in ("--set", s)]
            # train.device=cuda cannot be checked without a GPU: validate the rest
            argv = [a.replace("train.device=cuda", "train.device=cpu") for a in argv]
            assert main(argv) == 0, (path.name, exp["name"])
    text = render.section_not_run(ROOT / "reproduce" / "suites")
    assert sum("gpu/" in line for line in text) == len(list((ROOT / "reproduce" / "suites" / "gpu").glob("*.yaml")))


@pytest.mark.parametrize("path", sorted((ROOT / "reproduce" / "suites" / "gpu").glob("*.yaml")), ids=lambda p: p.stem)
def test_gpu_suite_targets_resolve_on_a_transformers_vit(path: Path) -> None:
    """The protocols name their LoRA targets; on the installed transformers' ViT they must hit
    exactly the key and value projections of every block."""
    import yaml
    from transformers import ViTConfig, ViTModel

    from litelora._config import apply_override
    from litelora.adapters.targeting import find_targets
    from litelora.training.config import RunConfig

    spec = yaml.safe_load(path.read_text())
    data: dict = {}
    for assignment in spec["common"]:
        if assignment.startswith("adapter."):
            apply_override(data, assignment)
    vit = ViTModel(ViTConfig(hidden_size=32, num_hidden_layers=3, num_attention_heads=2, intermediate_size=64,
                             image_size=32, patch_size=8))
    names = [t.name for t in find_targets(vit, RunConfig.from_dict(data).adapter)]
    assert len(names) == 2 * 3
    assert {n.rpartition(".")[2] for n in names} in ({"key", "value"}, {"k_proj", "v_proj"})


def test_a_row_reads_its_own_seed_and_the_suites_run_root(tmp_path: Path) -> None:
    runner = _load("run_experiments")
    spec = {"suite": "s", "seeds": [0, 2], "common": [],
            "experiments": [{"name": "copy", "set": ["gate.params.decisions={runs}/ref_s{seed}"]}]}
    runs = runner.expand(spec)
    assert [r["set"][0] for r in runs] == ["gate.params.decisions={runs}/ref_s0", "gate.params.decisions={runs}/ref_s2"]
    cmd = runner.train_command(runs[1], tmp_path / "s" / "copy_s2")
    assert f"gate.params.decisions={tmp_path / 's'}/ref_s2" in cmd


def test_only_runs_the_named_experiments_and_collects_the_rest(tmp_path: Path) -> None:
    runner = _load("run_experiments")
    spec = runner.load_spec(ROOT / "reproduce" / "suites" / "hosts_default.yaml")
    summary = runner.run_suite(spec, tmp_path, tmp_path / "results", quick=True, only={"olora"})
    assert [r["group"] for r in summary["runs"]] == ["olora"]
    assert sorted(p.name for p in (tmp_path / "hosts_default").iterdir()) == ["olora_s0"]
    with pytest.raises(SystemExit, match="no experiment named"):
        runner.run_suite(spec, tmp_path, tmp_path / "results", quick=True, only={"olora", "nope"})


def test_collecting_keeps_the_committed_record_of_a_run_trained_elsewhere(tmp_path: Path) -> None:
    runner = _load("run_experiments")
    spec = runner.load_spec(ROOT / "reproduce" / "suites" / "hosts_default.yaml")
    first = runner.run_suite(spec, tmp_path / "a", tmp_path / "results", quick=True, only={"olora"})
    # Another checkout (no run directories) collects: the committed record stays, group and all.
    again = runner.run_suite(spec, tmp_path / "b", tmp_path / "results", quick=True, collect_only=True)
    assert again["runs"] == json.loads(json.dumps(first["runs"])) and again["groups"] == first["groups"]
    # A row whose settings changed since its record was committed is another experiment: refused.
    changed = {**spec, "experiments": [{**e, "set": [*e["set"], "train.lr=0.5"]} if e["name"] == "olora" else e
                                       for e in spec["experiments"]]}
    with pytest.raises(SystemExit, match=r"the committed run olora_s0 was trained with another command"):
        runner.run_suite(changed, tmp_path / "d", tmp_path / "results", quick=True, collect_only=True)
    # A full (not quick) pass never takes a quick summary's runs as its own.
    full = runner.run_suite(spec, tmp_path / "b", tmp_path / "results", collect_only=True)
    assert full["runs"] == [] and full["groups"] == {}
    # Seeds outside --seeds are never started; where no summary holds them they are simply absent.
    none = runner.run_suite(spec, tmp_path / "c", tmp_path / "other", quick=True, seeds={5})
    assert none["runs"] == [] and not (tmp_path / "c" / "hosts_default").exists()


def test_every_committed_run_was_trained_with_the_command_its_suite_gives_now() -> None:
    runner, committed = _load("run_experiments"), _load("committed")
    checked = 0
    for path in sorted((ROOT / "reproduce" / "results").glob("*.json")):
        summary = json.loads(path.read_text())
        if not isinstance(summary, dict) or summary.get("suite") != path.stem:
            continue  # rescored_*, carried_*, convergence_*: readings of a suite, not a suite
        yaml = next((ROOT / "reproduce" / "suites").rglob(f"{path.stem}.yaml"))
        runs = {(r["group"], r["seed"]): r for r in runner.expand(runner.load_spec(yaml), summary.get("quick", False))}
        for record in summary["runs"]:
            run = runs.get((record["group"], record["seed"]))
            assert run is not None, f"{path.name}: {record['run']} is no longer a run of its suite"
            assert committed.ran_with(record, run["set"]), f"{path.name}: {record['run']} ran another command"
            checked += 1
    assert checked > 400


def test_the_verdict_names_every_half_that_failed_and_an_unmeasured_reduction(tmp_path: Path) -> None:
    render, group_stats = _load("render_results"), _load("committed").group_stats
    host, closed = [0.80, 0.82, 0.78], [0.60, 0.61, 0.59]

    def suite(gate_acc: float, reduction: float | None) -> dict:
        rows = {"inclora": (host, 0.0), "inclora+litelora": ([gate_acc] * 3, reduction),
                "closed-after-task-0": (closed, 0.0)}
        runs = [{"group": g, "seed": s, "metrics": {"final_acc_sample": a, "adapter_reduction": red}}
                for g, (accs, red) in rows.items() for s, a in enumerate(accs)]
        groups = {g: group_stats([r["metrics"] for r in runs if r["group"] == g],
                                 ["final_acc_sample", "adapter_reduction"]) for g in rows}
        return {"suite": "s", "spec": {}, "groups": groups, "runs": runs}

    for gate_acc, reduction, held in ((0.70, 0.1, "no: fewer than 20% saved, and below the 0.5-point bar"),
                                      (0.80, 0.1, "no: fewer than 20% saved"),
                                      (0.70, 0.5, "no: below the 0.5-point bar"),
                                      (0.80, None, "not measured (a gated run records no adapter count)")):
        (tmp_path / "s.json").write_text(json.dumps(suite(gate_acc, reduction)))
        table = "\n".join(render.section_verdict(render.load_results(tmp_path)))
        assert table.rstrip().endswith(f"| {held} (suite not shown converged) |"), table


def test_a_suite_with_seqlora_alone_gets_its_reference_line() -> None:
    render = _load("render_results")
    acc = {"final_acc_sample": {"mean": 0.867, "std": 0.03, "n": 3}}
    lines = render.section_references({"s": {"groups": {"inclora": acc, "seqlora": acc}}, "t": {"groups": {"inclora": acc}}})
    assert lines == ["", "Reference lines (s): seqlora, one adapter trained on every task in turn, reaches 0.867 ± 0.030. "
                         "A host that does not beat seqlora gains nothing from its per-task adapters on that stream."]
