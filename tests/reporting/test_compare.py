"""``litelora compare``: grouping, mean ± std over seeds, the Pareto data and bad inputs, on hand-made runs."""

import argparse
import csv
import json
import math
import statistics

import pytest

from litelora.cli import compare_cmd
from litelora.errors import ConfigError, DataError
from litelora.reporting.compare import METRIC_KEYS, compare_runs, default_label
from litelora.reporting.compare_report import build_comparison


def _results(method="inclora", gate="none", lam=0.05, seed=0, acc=0.6, active=60, **metrics):
    base = {k: 0.0 for k in METRIC_KEYS}
    base.update(final_acc_sample=acc, final_acc_task_mean=acc, active_adapters=active, **metrics)
    return {
        "schema_version": 1,
        "run_info": {"method": method, "gate": gate, "benchmark": "tiny-text",
                     "config": {"method": {"name": method, "params": {}},
                                "gate": {"kind": gate, "lam": lam, "tau": 9e-4},
                                "train": {"seed": seed, "lr": 1e-3}}},
        "train_info": {"seed": seed},
        "metrics": base,
    }


def _run(tmp_path, name, **kw):
    d = tmp_path / name
    d.mkdir(parents=True)
    (d / "results.json").write_text(json.dumps(_results(**kw)))
    return d


@pytest.fixture
def runs(tmp_path):
    """Two groups over three seeds each, plus a gated group of two."""
    plain = [_run(tmp_path, f"inc_s{s}", seed=s, acc=a, active=60, bwt=b, train_seconds=t)
             for s, a, b, t in [(0, 0.60, -0.10, 10.0), (1, 0.64, -0.12, 12.0), (2, 0.65, -0.20, 11.0)]]
    gated = [_run(tmp_path, f"gate_s{s}", gate="hard_concrete", lam=0.02, seed=s, acc=a, active=n,
                  adapter_reduction=1 - n / 60)
             for s, a, n in [(0, 0.58, 12), (1, 0.62, 18)]]
    gated_strong = [_run(tmp_path, "gate_strong_s0", gate="hard_concrete", lam=0.5, seed=0, acc=0.50, active=6)]
    return plain, gated, gated_strong


def _read_csv(path):
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def test_groups_and_mean_std_over_seeds(runs, tmp_path) -> None:
    plain, gated, strong = runs
    cmp, files = build_comparison([*plain, *gated, *strong], tmp_path / "out")
    assert [g.label for g in cmp.groups] == ["inclora", "inclora + hard_concrete lam=0.02",
                                              "inclora + hard_concrete lam=0.5"]
    g0, g1, g2 = cmp.groups
    assert g0.seeds == [0, 1, 2] and len(g1.runs) == 2 and len(g2.runs) == 1
    acc = g0.stats["final_acc_sample"]
    assert acc["n"] == 3
    assert acc["mean"] == pytest.approx(statistics.mean([0.60, 0.64, 0.65]), abs=1e-12)
    assert acc["std"] == pytest.approx(statistics.stdev([0.60, 0.64, 0.65]), abs=1e-12)
    assert g2.stats["final_acc_sample"] == {"mean": 0.5, "std": 0.0, "n": 1}
    assert g1.stats["adapter_reduction"]["mean"] == pytest.approx((0.8 + 0.7) / 2)

    rows = _read_csv(files["comparison.csv"])
    assert [r["group"] for r in rows] == [g.label for g in cmp.groups]
    assert rows[0]["n"] == "3" and rows[0]["seeds"] == "0 1 2"
    assert float(rows[0]["bwt_mean"]) == pytest.approx(statistics.mean([-0.10, -0.12, -0.20]))
    assert float(rows[0]["bwt_std"]) == pytest.approx(statistics.stdev([-0.10, -0.12, -0.20]))
    assert float(rows[1]["active_adapters_mean"]) == 15.0
    assert float(rows[1]["active_adapters_std"]) == pytest.approx(statistics.stdev([12, 18]))

    md = files["comparison.md"].read_text()
    mean, std = statistics.mean([0.60, 0.64, 0.65]), statistics.stdev([0.60, 0.64, 0.65])
    line = next(li for li in md.splitlines() if li.startswith("| inclora |"))
    assert f"{mean:.4f} ± {std:.4f}" in line and "| 3 |" in line and "60 ± 0" in line
    assert "11.0 ± 1.0" in line  # train seconds 10, 12, 11

    data = json.loads(files["comparison.json"].read_text())
    assert data["groups"][0]["stats"]["final_acc_sample"]["std"] == pytest.approx(std)
    assert len(data["runs"]) == 6 and data["warnings"] == []
    page = files["comparison.html"].read_text()
    assert "data:image/png;base64," in page and "<script" not in page and "http" not in page
    assert all(f'href="#{key}"' in page and f'id="{key}"' in page for key in ("table", "pareto", "runs"))
    assert "<figcaption>Figure 1. 6 runs" in page
    assert files["pareto.png"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_pareto_csv_points_and_front(runs, tmp_path) -> None:
    plain, gated, strong = runs
    _, files = build_comparison([*plain, *gated, *strong], tmp_path / "out")
    rows = _read_csv(files["pareto.csv"])
    points = [r for r in rows if r["kind"] == "run"]
    means = {r["group"]: r for r in rows if r["kind"] == "group_mean"}
    assert len(points) == 6 and len(means) == 3
    got = {(r["run_dir"].rsplit("/", 1)[-1], float(r["active_adapters"]), float(r["final_acc_sample"]))
           for r in points}
    assert got == {("inc_s0", 60, 0.60), ("inc_s1", 60, 0.64), ("inc_s2", 60, 0.65), ("gate_s0", 12, 0.58),
                   ("gate_s1", 18, 0.62), ("gate_strong_s0", 6, 0.50)}
    front = {r["run_dir"].rsplit("/", 1)[-1] for r in points if r["pareto_optimal"] == "1"}
    assert front == {"inc_s2", "gate_s0", "gate_s1", "gate_strong_s0"}
    m = means["inclora + hard_concrete lam=0.02"]
    assert float(m["active_adapters"]) == 15 and float(m["final_acc_sample"]) == pytest.approx(0.60)
    assert float(m["final_acc_sample_std"]) == pytest.approx(statistics.stdev([0.58, 0.62]))


def test_label_from_config_keys_and_cli(runs, tmp_path, capsys) -> None:
    plain, gated, strong = runs
    cmp = compare_runs([*plain, *gated, *strong], label_from=["gate.kind"])
    assert [(g.label, len(g.runs)) for g in cmp.groups] == [("gate.kind=none", 3), ("gate.kind=hard_concrete", 3)]

    parser = argparse.ArgumentParser()
    compare_cmd.add_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["compare", *map(str, plain), str(gated[0]), "-o", str(tmp_path / "cli"),
                              "--label-from", "method.name,train.seed"])
    assert args.func(args) == 0
    out = capsys.readouterr().out
    assert "method.name=inclora, train.seed=0" in out and "comparison written to" in out
    assert len(_read_csv(tmp_path / "cli" / "comparison.csv")) == 3  # seeds 0 (two runs), 1, 2
    with pytest.raises(ConfigError, match="no config field 'gate.nope'"):
        compare_runs(plain, label_from=["gate.nope"])


def test_default_label_names_the_gate_strength() -> None:
    assert default_label({"method": "olora", "gate": "none"}) == "olora"
    info = _results(method="sdlora", gate="representability")["run_info"]
    assert default_label(info) == "sdlora + representability tau=0.0009"
    info["config"]["gate"]["budget"] = 0.15
    info["config"]["method"]["params"] = {"rank_schedule": [[0, 8], [1, 1]]}
    assert default_label(info) == "sdlora (rank_schedule=[[0, 8], [1, 1]]) + representability budget=0.15"
    info = _results(method="inclora", gate="litelora")["run_info"]
    info["config"]["gate"]["novelty"] = 0.2
    assert default_label(info) == "inclora + litelora novelty=0.2"  # not lam: litelora does not read it
    info["config"]["gate"]["kind"] = info["gate"] = "my-plugin-gate"
    assert default_label(info) == "inclora + my-plugin-gate"


def test_bad_inputs_name_the_directory_and_write_nothing(runs, tmp_path) -> None:
    plain, _, _ = runs
    empty = tmp_path / "not_a_run"
    empty.mkdir()
    out = tmp_path / "out"
    with pytest.raises(ConfigError, match=r"not_a_run has no results.json"):
        build_comparison([*plain, empty], out)
    assert not out.exists()

    unfinished = tmp_path / "unfinished"
    unfinished.mkdir()
    (unfinished / "config.yaml").write_text("method: {name: inclora}\n")
    with pytest.raises(ConfigError, match="unfinished has no results.json: the run has not finished"):
        compare_runs([unfinished])
    with pytest.raises(ConfigError, match="pass those instead"):
        compare_runs([tmp_path])
    with pytest.raises(ConfigError, match="missing_dir does not exist"):
        compare_runs([tmp_path / "missing_dir"])
    with pytest.raises(ConfigError, match="given twice"):
        compare_runs([plain[0], plain[0]])

    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "results.json").write_text("{not json")
    with pytest.raises(DataError, match="broken.results.json: not valid JSON"):
        compare_runs([broken])
    bad = _run(tmp_path, "bad_metric")
    data = json.loads((bad / "results.json").read_text())
    data["metrics"]["bwt"] = "high"
    (bad / "results.json").write_text(json.dumps(data))
    with pytest.raises(DataError, match="metrics.bwt must be a number"):
        compare_runs([bad])
    assert not out.exists()


def test_missing_metrics_and_repeated_seeds_are_noted(tmp_path) -> None:
    a = _run(tmp_path, "a", seed=0, acc=0.7, adapter_reduction=None)
    b = _run(tmp_path, "b", seed=0, acc=0.5, adapter_reduction=None)
    c = _run(tmp_path, "c", seed=1, acc=0.6, active=None)
    cmp, files = build_comparison([a, b, c], tmp_path / "out")
    (g,) = cmp.groups
    assert g.stats["adapter_reduction"] == {"mean": 0.0, "std": 0.0, "n": 1}
    assert g.stats["active_adapters"]["n"] == 2
    assert any("seed [0]" in w for w in cmp.warnings) and any("missing in some runs" in w for w in cmp.warnings)
    points = [r for r in _read_csv(files["pareto.csv"]) if r["kind"] == "run"]
    assert len(points) == 2  # run c has no active_adapters: not a point
    nan_free = json.loads(files["comparison.json"].read_text())
    assert not any(isinstance(v, float) and math.isnan(v) for v in nan_free["runs"][0]["metrics"].values())


def test_no_pareto_points_still_writes_the_table(tmp_path) -> None:
    a = _run(tmp_path, "a", active=None)
    _, files = build_comparison([a], tmp_path / "out")
    assert "pareto.png" not in files and not (tmp_path / "out" / "pareto.png").exists()
    assert "no figure" in files["comparison.html"].read_text()


def test_runs_that_differ_beyond_their_seed_are_not_averaged(tmp_path) -> None:
    full = [_run(tmp_path, f"full_s{s}", seed=s, acc=0.6) for s in (0, 1)]
    short = tmp_path / "short_s0"
    short.mkdir()
    data = _results(seed=0, acc=0.2)
    data["run_info"]["config"]["train"].update(lr=1e-2, max_steps_per_task=40)
    (short / "results.json").write_text(json.dumps(data))
    cmp = compare_runs([*full, short])
    labels = sorted(g.label for g in cmp.groups)
    assert labels == ["inclora (train.lr=0.001, train.max_steps_per_task=None)",
                      "inclora (train.lr=0.01, train.max_steps_per_task=40)"]
    sizes = {g.label: len(g.runs) for g in cmp.groups}
    assert sizes["inclora (train.lr=0.001, train.max_steps_per_task=None)"] == 2
    # seeds alone never split a group
    assert [g.label for g in compare_runs(full).groups] == ["inclora"]
