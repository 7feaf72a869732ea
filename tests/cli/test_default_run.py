"""The main job: ``litelora train`` with no options runs the host with the LiteLoRA gate on the
families stream and prints what the gate recruited per task, against the host's adapters."""

from __future__ import annotations

import json
import re

from litelora.cli.main import main
from litelora.training.pairing import resolve_gate
from litelora.training.config import RunConfig

# The default run, made small: the same benchmark, method and gate, a tiny model and a few steps.
QUICK = ["--set", "model.name=tiny-bert", "--set", "model.max_length=16",
         "--set", "benchmark.options.train_per_class=4", "--set", "benchmark.options.test_per_class=2",
         "--set", "train.max_steps_per_task=3", "--set", "train.num_threads=1"]


def test_the_default_config_is_the_gate_on_the_families_stream() -> None:
    config = RunConfig()
    assert (config.benchmark.name, config.method.name, config.gate.kind) == ("families", "inclora", "auto")
    assert config.model.name == "minilm"
    assert resolve_gate(config).gate.kind == "litelora-v3"  # auto: the LiteLoRA gate on a host with candidates
    seq = RunConfig.from_dict({"method": {"name": "seqlora"}})
    assert resolve_gate(seq).gate.kind == "none"  # ... and no gate where there is nothing to size
    kd = RunConfig.from_dict({"method": {"name": "sdlora-kd"}})
    assert resolve_gate(kd).gate.kind == "representability"  # a method's own gate wins


def test_the_default_run_prints_what_the_gate_recruited_against_the_host(tmp_path, capsys) -> None:
    assert main(["train", "--no-progress", "-o", str(tmp_path / "run"), *QUICK]) == 0
    out = capsys.readouterr().out
    stream = json.loads((tmp_path / "run" / "stream.json").read_text())
    tasks = len(stream["tasks"])
    assert "gate litelora-v3" in out
    lines = re.findall(r"^  task (\d+): recruit +(\d+)/(\d+) +rank (\d+)/(\d+)", out, flags=re.M)
    assert [int(t) for t, *_ in lines] == list(range(tasks))
    first = lines[0]
    assert first[1] == first[2] and first[3] == first[4]  # task 0 recruits every module at full rank
    results = json.loads((tmp_path / "run" / "results.json").read_text())["metrics"]
    active, host = results["active_adapters"], results["max_adapters"]
    assert f"active adapters {active} of the host's {host}" in out
    assert f"adapter parameters {results['adapter_params']:,} of the host's {results['host_adapter_params']:,}" in out
    assert sum(int(k) for _, k, *_ in lines) == active


def test_a_model_without_a_head_gets_the_chance_reading_and_the_banner_says_so(tmp_path, capsys) -> None:
    assert main(["train", "--no-progress", "-o", str(tmp_path / "gen"), "--set", "benchmark.name=tiny-text",
                 "--set", "benchmark.options={num_tasks: 2, train_per_class: 4, test_per_class: 1}",
                 "--set", "model.name=tiny-llama", "--set", "model.max_length=160",
                 "--set", "train.max_steps_per_task=2", "--set", "train.num_threads=1"]) == 0
    assert "gate litelora-v3 (unsolved: chance);" in capsys.readouterr().out
