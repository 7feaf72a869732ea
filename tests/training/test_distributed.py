"""Data-parallel helpers: sharding arithmetic in one process, and a real 2-process gloo run."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from litelora.training.distributed import Distributed, LossModule


def _as_rank(rank: int, world: int) -> Distributed:
    d = Distributed("cpu")
    d.rank, d.world_size = rank, world
    return d


@pytest.mark.parametrize("n", [0, 1, 5, 8, 9])
def test_training_shards_are_equal_and_cover_every_item(n: int) -> None:
    items = list(range(n))
    shards = [_as_rank(r, 4).shard(items) for r in range(4)]
    assert len({len(s) for s in shards}) == 1  # same number of steps on every rank
    assert set().union(*shards) == set(items)
    if n % 4 == 0:
        assert sorted(x for s in shards for x in s) == items  # no padding when it divides


def test_eval_shards_partition_the_items_exactly() -> None:
    items = list(range(11))
    shards = [_as_rank(r, 3).eval_shard(items) for r in range(3)]
    assert sorted(x for s in shards for x in s) == items


def test_single_process_is_a_no_op() -> None:
    d = Distributed("cpu")
    assert not d.enabled and d.is_main and d.shard([1, 2, 3]) == [1, 2, 3] and d.reduce_sum(3) == 3
    m = torch.nn.Linear(2, 2)
    assert d.wrap(m) is m


def test_loss_module_calls_the_owner_method() -> None:
    class Owner(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.w = torch.nn.Parameter(torch.ones(()))

        def loss(self, batch: dict, labels: torch.Tensor, task: int) -> torch.Tensor:
            return self.w * batch["x"] * labels * task

    assert LossModule(Owner(), 2)({"x": torch.tensor(3.0)}, torch.tensor(5.0)).item() == 30.0


def _train_cmd(out: Path, extra: list[str]) -> list[str]:
    return ["-m", "litelora", "train", "--no-progress", "-o", str(out),
            "--set", "benchmark.name=tiny-text", "--set", "model.name=tiny-bert", "--set", "model.max_length=16",
            "--set", "train.epochs=1", "--set", "train.num_threads=1", "--set", "train.batch_size=8", *extra]


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("torchrun") is None and not (Path(sys.executable).parent / "torchrun").exists(),
                    reason="torchrun not installed")
@pytest.mark.parametrize("gate", [False, True])
def test_torchrun_two_processes_trains_writes_once_and_matches_a_single_process_run(tmp_path: Path, gate: bool) -> None:
    # gate.kind=auto would gate the "ungated" case too (v3): the host alone must say none
    extra = ["--set", "gate.kind=hard_concrete", "--set", "gate.lam=0.5"] if gate else ["--set", "gate.kind=none"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    torchrun = str(Path(sys.executable).parent / "torchrun")
    ddp = subprocess.run([torchrun, "--nproc_per_node", "2", "--master_port", "29517" if gate else "29518",
                          *_train_cmd(tmp_path / "ddp", extra)], env=env, capture_output=True, text=True, timeout=600)
    assert ddp.returncode == 0, ddp.stderr[-3000:]
    single = subprocess.run([sys.executable, *_train_cmd(tmp_path / "one", extra)], env=env, capture_output=True,
                            text=True, timeout=600)
    assert single.returncode == 0, single.stderr[-3000:]
    res_ddp = json.loads((tmp_path / "ddp" / "results.json").read_text())
    res_one = json.loads((tmp_path / "one" / "results.json").read_text())
    # rank 0 alone wrote: one task_end event per task
    events = [json.loads(line) for line in (tmp_path / "ddp" / "events.jsonl").read_text().splitlines()]
    assert sum(e["event"] == "task_end" for e in events) == len(res_ddp["train_info"]["accuracy_matrix"])
    assert res_ddp["train_info"]["n_test"] == res_one["train_info"]["n_test"]
    # same global batch, split across ranks: the runs learn alike, not bit-identically (summation
    # order, each rank's padded last batch and the gate's per-rank samples differ)
    assert abs(res_ddp["metrics"]["final_acc_sample"] - res_one["metrics"]["final_acc_sample"]) <= 0.25
    assert res_ddp["run_info"]["world_size"] == 2
    # the sharded, reduced evaluation is the one-process evaluation of the same model
    evaluated = subprocess.run([sys.executable, "-m", "litelora", "eval", str(tmp_path / "ddp")], env=env,
                               capture_output=True, text=True, timeout=600)
    assert evaluated.returncode == 0, evaluated.stderr[-3000:]
    one_process = [float(m) for m in re.findall(r"^task \d+ \(.*\): accuracy ([\d.]+) on", evaluated.stdout, re.M)]
    last_row = res_ddp["train_info"]["accuracy_matrix"][-1]
    assert len(one_process) == len(last_row)
    assert all(abs(a - b) < 1e-4 for a, b in zip(one_process, last_row)), (one_process, last_row)


def _generative_cmd(out: Path, extra: list[str]) -> list[str]:
    return ["-m", "litelora", "train", "--no-progress", "-o", str(out),
            "--set", "benchmark.name=tiny-text", "--set", "model.name=tiny-llama", "--set", "model.max_length=160",
            "--set", "benchmark.options.num_tasks=2", "--set", "train.max_steps_per_task=4",
            "--set", "train.num_threads=1", "--set", "train.batch_size=8", "--set", "model.generation.scoring=rank",
            "--set", "gate.kind=random", "--set", "gate.budget=0.5", *extra]


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("torchrun") is None and not (Path(sys.executable).parent / "torchrun").exists(),
                    reason="torchrun not installed")
def test_fsdp_two_processes_shard_the_base_and_match_a_single_process_run(tmp_path: Path) -> None:
    """The base LLaMA weights sharded across 2 gloo ranks (FSDP2), the adapters and the gate whole
    on each: the run writes once, decides as one process does and scores what it scores."""
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    torchrun = str(Path(sys.executable).parent / "torchrun")
    fsdp = subprocess.run([torchrun, "--nproc_per_node", "2", "--master_port", "29519",
                           *_generative_cmd(tmp_path / "fsdp", ["--set", "train.sharding=fsdp"])],
                          env=env, capture_output=True, text=True, timeout=900)
    assert fsdp.returncode == 0, fsdp.stderr[-3000:]
    single = subprocess.run([sys.executable, *_generative_cmd(tmp_path / "one", [])], env=env, capture_output=True,
                            text=True, timeout=900)
    assert single.returncode == 0, single.stderr[-3000:]
    res_fsdp = json.loads((tmp_path / "fsdp" / "results.json").read_text())
    res_one = json.loads((tmp_path / "one" / "results.json").read_text())
    assert res_fsdp["run_info"]["world_size"] == 2
    assert res_fsdp["run_info"]["fsdp_units"] == 3  # tiny-llama's 2 decoder layers and the rest
    assert res_one["run_info"]["fsdp_units"] == 0
    assert res_fsdp["train_info"]["n_test"] == res_one["train_info"]["n_test"]
    gates = [json.loads((tmp_path / d / "gates.json").read_text()) for d in ("fsdp", "one")]
    assert [(g["target"], g["decision"]) for g in gates[0]] == [(g["target"], g["decision"]) for g in gates[1]]
    assert res_fsdp["metrics"]["active_adapters"] == res_one["metrics"]["active_adapters"]
    # the same global batch split over two ranks: close, not bit-identical (summation order)
    assert abs(res_fsdp["metrics"]["final_acc_sample"] - res_one["metrics"]["final_acc_sample"]) <= 0.25


def test_a_kept_probe_is_refused_with_several_processes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Each rank's probe would train its own head and only rank 0's would survive the wrap.
    from litelora.errors import ConfigError
    from litelora.training.build import build_trainer
    from litelora.training.config import RunConfig

    monkeypatch.setattr(Distributed, "enabled", property(lambda self: True))
    cfg = RunConfig.from_dict({"benchmark": {"name": "tiny-text"}, "model": {"name": "tiny-bert"},
                               "gate": {"kind": "litelora-v3", "params": {"probe_counts": True}},
                               "output_dir": str(tmp_path / "run")})
    with pytest.raises(ConfigError, match=r"probe_counts=true cannot apply: each process's probe"):
        build_trainer(cfg)
