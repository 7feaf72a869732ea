"""Smoke tests of the benchmark scripts (perf/*.py): tiny modes, JSON shape, FLOP counts."""

import importlib
import json
import sys
from pathlib import Path
from types import ModuleType

import pytest

BENCH_DIR = Path(__file__).resolve().parents[2] / "perf"


def _script(name: str) -> ModuleType:
    if str(BENCH_DIR) not in sys.path:
        sys.path.insert(0, str(BENCH_DIR))  # the scripts import their neighbour _common
    return importlib.import_module(name)


def _check_shape(path: Path) -> dict:
    data = json.loads(path.read_text())
    assert set(data) == {"run_info", "train_info", "meta_info"}
    assert data["run_info"]["command"].startswith("python ")
    load = data["meta_info"]["system"]["loadavg"]
    assert len(load) == 3 and all(x >= 0 for x in load)
    return data


def test_step_quick_flops_match_hand_counts(tmp_path: Path) -> None:
    bench = _script("bench_step")
    out = tmp_path / "step.json"
    assert bench.main(["--quick", "--models", "tiny-bert", "--batch", "2", "--seq-len", "8", "--rounds", "1",
                       "--warmup", "0", "--no-memory", "--threads", "1", "--json", str(out)]) == 0
    v = _check_shape(out)["train_info"]["tiny-bert"]["variants"]
    assert list(v) == list(bench.VARIANTS)
    assert v["peft-lora"]["ratio_to_peft"] == 1.0 and v["frozen-floor"]["ratio_to_floor"] == 1.0
    # Tokens N = 16, d = 128, r = 8, targets q and v of 2 layers. A candidate costs 4 N r d
    # forward and 6 N r d backward (dB, dh, dA), plus 2 N r d for dx in layer 1 (layer 0's
    # input needs no gradient): 2 (10 + 12) N r d. The 5 frozen tasks (rank 40) cost their
    # forward, 4 N 40 d per target, and dh, dx in layer 1 only: (16 + 8) 40 N d.
    nd = 16 * 128
    assert v["peft-lora"]["adapter_flops"] == 44 * 8 * nd
    assert v["litelora-1task"]["adapter_flops"] == 44 * 8 * nd
    assert v["inclora-6tasks"]["adapter_flops"] == (44 * 8 + 24 * 40) * nd
    assert v["gate-search"]["adapter_flops"] == v["inclora-6tasks"]["adapter_flops"]
    assert v["gate-decided"]["adapter_flops"] < v["gate-search"]["adapter_flops"]
    assert v["gate-decided"]["trainable_params"] == v["inclora-6tasks"]["trainable_params"] // 2


def test_step_memory_child_reports_a_peak_above_the_start() -> None:
    bench = _script("bench_step")
    rec = bench.child_memory("tiny-bert", "inclora-6tasks", batch=2, seq=8, steps=1)
    assert rec["peak_rss_steps"] >= rec["rss_before_steps"] > 0
    assert rec["peak_rise"] == rec["peak_rss_steps"] - rec["rss_before_steps"]


def test_inference_quick_writes_ratios_and_the_merged_interval(tmp_path: Path) -> None:
    bench = _script("bench_inference")
    out = tmp_path / "inference.json"
    assert bench.main(["--quick", "--threads", "1", "--json", str(out)]) == 0
    r = _check_shape(out)["train_info"]["tiny-bert"]
    assert r["variants"]["base"]["ratio_to_base"] == 1.0
    # Counted FLOPs: merged costs the base's; unmerged grows with the rank sum, the gate's cut shrinks it.
    assert r["variants"]["merged-20"]["flops_ratio_to_base"] == 1.0
    fl = {k: s["adapter_flops"] for k, s in r["variants"].items()}
    assert 0 < fl["unmerged-1"] < fl["unmerged-5"] < fl["unmerged-10"] < fl["unmerged-20"]
    assert fl["half-20"] < fl["unmerged-20"]
    lo, hi = r["merged_vs_base"]["merged-20"]["ci95"]
    assert lo <= r["merged_vs_base"]["merged-20"]["paired_ratio_to_base"] <= hi
    assert r["max_abs_diff_merged_vs_unmerged"] < 1e-4


def test_analysis_quick_routes_agree(tmp_path: Path) -> None:
    bench = _script("bench_analysis")
    out = tmp_path / "analysis.json"
    assert bench.main(["--quick", "--threads", "1", "--json", str(out)]) == 0
    assert set(_check_shape(out)["train_info"]) == {"2", "3"}


@pytest.mark.slow
def test_sequence_quick_runs_both_configs_in_subprocesses(tmp_path: Path) -> None:
    bench = _script("bench_sequence")
    out = tmp_path / "sequence.json"
    assert bench.main(["--quick", "--repeats", "1", "--threads", "1", "--set", "train.max_steps_per_task=2",
                       "--json", str(out)]) == 0
    info = _check_shape(out)["train_info"]
    assert set(info["runs"]) == {"host", "host+gate"}
    assert all(r["peak_rss_bytes"] > 0 and r["adapter_file_bytes"] > 0 for rs in info["runs"].values() for r in rs)
    assert info["ratio"] == "host+gate / host" and info["ratio_second_to_first"]["wall_s"] > 0


@pytest.mark.slow
def test_sequence_inflora_pair_runs_both_methods(tmp_path: Path) -> None:
    bench = _script("bench_sequence")
    out = tmp_path / "sequence.json"
    assert bench.main(["--quick", "--pair", "inflora", "--repeats", "1", "--threads", "1",
                       "--set", "train.max_steps_per_task=2", "--json", str(out)]) == 0
    info = _check_shape(out)["train_info"]
    assert set(info["runs"]) == {"inclora", "inflora"} and info["ratio"] == "inflora / inclora"


def test_generative_eval_quick_times_both_scorings(tmp_path: Path) -> None:
    bench = _script("bench_generative_eval")
    out = tmp_path / "gen_eval.json"
    assert bench.main(["--quick", "--rounds", "1", "--threads", "1", "--json", str(out)]) == 0
    info = _check_shape(out)["train_info"]
    assert set(info["median_seconds"]) == {"exact_match", "rank"} and info["speedup_rank_vs_exact_match"] > 0
    assert all(0.0 <= a <= 1.0 for a in info["accuracy"].values())


def test_tasks_quick_times_every_variant(tmp_path: Path) -> None:
    bench = _script("bench_tasks")
    out = tmp_path / "tasks.json"
    assert bench.main(["--quick", "--threads", "1", "--json", str(out)]) == 0
    info = _check_shape(out)["train_info"]
    assert set(info["median_step_seconds"]) == {f"{v}-{n}" for v in ("inclora-fold", "inclora-rank-sum", "sdlora")
                                                for n in (1, 5)}
    assert info["ratio_to_one_task"]["sdlora-1"]["median_ratio"] == 1.0


def test_serving_quick_counts_what_each_bank_keeps(tmp_path: Path) -> None:
    bench = _script("bench_serving")
    out = tmp_path / "serving.json"
    assert bench.main(["--quick", "--threads", "1", "--keep", "0.5", "--json", str(out)]) == 0
    info = _check_shape(out)["train_info"]
    # tiny-bert: 4 targets; task 0 keeps all, each later task half of them.
    assert info["active_adapters"] == {"base": 0, "host-2": 8, "gate-2": 6, "host-merged-2": 8,
                                       "host-5": 20, "gate-5": 12, "host-merged-5": 20}
    assert info["adapter_bytes"]["gate-5"] * 20 == info["adapter_bytes"]["host-5"] * 12
    assert info["adapter_bytes"]["host-merged-5"] == 0
    assert info["paired_ratios"]["host-5"]["to_host"] == 1.0


def test_causal_step_quick_counts_less_head_work_than_the_plain_peft_loop(tmp_path: Path) -> None:
    bench = _script("bench_causal_step")
    out = tmp_path / "causal.json"
    assert bench.main(["--quick", "--json", str(out)]) == 0
    v = _check_shape(out)["train_info"]["variants"]
    assert list(v) == list(bench.VARIANTS)
    flops = {k: r["step_flops"] for k, r in v.items()}
    # The same adapters on the same loss cost the same FLOPs; the plain loop also runs the LM
    # head on every prompt position, forward and backward; the floor trains no adapter.
    assert flops["litelora"] == flops["peft-same-loss"] == flops["litelora-6tasks"]  # old tasks folded
    assert flops["frozen-floor"] < flops["litelora"] < flops["peft-plain"]
    assert v["litelora"]["trainable_params"] == v["peft-plain"]["trainable_params"] == 2 * 2 * 8 * (64 + 64)
    assert v["peft-plain"]["ratio_to_peft-plain"] == 1.0 and v["litelora"]["samples_per_s"] > 0


def test_generative_run_quick_times_its_phases_and_counts_padding(tmp_path: Path) -> None:
    bench = _script("bench_generative_run")
    out = tmp_path / "run.json"
    assert bench.main(["--quick", "--json", str(out)]) == 0
    run = _check_shape(out)["train_info"]["runs"]["current"][0]
    assert run["train_s"] > 0 and run["eval_s"] > 0 and run["run_s"] >= run["train_s"] + run["eval_s"]
    assert run["train_padded"] >= run["train_real"] > 0 and run["eval_padded"] >= run["eval_real"] > 0
    assert run["eval_batches"] >= len(run["accuracy_matrix"])  # every row of the matrix was scored


def test_gpu_check_dry_run_exercises_every_step_on_the_cpu(tmp_path: Path) -> None:
    bench = _script("gpu_check")
    out = tmp_path / "gpu.json"
    assert bench.main(["--dry-run", "--json", str(out)]) == 0
    record = _check_shape(out)["train_info"]
    assert record["device"] == "cpu (dry run)"
    assert record["cuda_tests"]["returncode"] == 0 and " passed" in record["cuda_tests"]["summary"]
    assert "skipped" not in record["cuda_tests"]["summary"]  # on the CPU they ran, not skipped
    assert set(record["step_vs_peft"]["variants"]) == {"frozen-floor", "peft-plain", "peft-same-loss", "litelora",
                                                       "litelora-6tasks"}
    cost = record["gate_probe_cost"]
    assert set(cost["median_train_seconds"]) == {"host", "host+gate-v3"} and cost["gate_over_host"] > 0


def test_gate_cost_quick_pairs_the_rows_with_the_host_and_counts_training_flops(tmp_path: Path) -> None:
    bench = _script("bench_gate_cost")
    out = tmp_path / "gate_cost.json"
    assert bench.main(["--quick", "--streams", "default", "--seeds", "0", "--threads", "1", "--json", str(out)]) == 0
    summary = _check_shape(out)["train_info"]["summary"]["default"]
    assert list(summary) == list(bench.ROWS)
    host, gated = summary["host"], summary["host+v3"]
    assert host["paired_over_host"]["wall_s"] == 1.0 and host["paired_over_host"]["accuracy_delta"] == 0.0
    assert host["median"]["train_flops"] > 0 and gated["median"]["train_flops"] > 0
    # The gate's share is nested in the training count: none for the host, part of the gated run's,
    # and smaller where `unsolved=chance` skips the base reading.
    assert host["median"]["gate_flops"] == 0
    assert 0 < gated["median"]["gate_flops"] < gated["median"]["train_flops"]
    assert summary["host+v3-chance"]["median"]["gate_flops"] < gated["median"]["gate_flops"]
    # The gate closes candidates, so the bank it keeps is smaller than the host's.
    assert gated["median"]["adapter_bytes"] < host["median"]["adapter_bytes"]
    assert gated["median"]["param_reduction"] > 0 and host["median"]["peak_rss_bytes"] > 0
