"""The public controller a user's own loop drives: lifecycle, what trains, what a closed gate
leaves, saving, and the documented loop."""

from __future__ import annotations

import copy
import os
import re
from pathlib import Path

import pytest
import torch
from torch import nn

from litelora import AdapterConfig, GateConfig, LiteLoRA, load_bank
from litelora.errors import ConfigError

DOC = Path(__file__).resolve().parents[1] / "docs" / "own-loop.md"


def _mlp() -> nn.Sequential:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 16), nn.ReLU(), nn.Linear(16, 3))


def _data(seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(32, 8, generator=g), torch.randint(0, 3, (32,), generator=g)


def _train(ll: LiteLoRA, model: nn.Module, tasks: list, steps: int = 6) -> list[list[dict]]:
    decisions = []
    for t, (x, y) in enumerate(tasks):
        def batches(x=x, y=y):
            return [(x[i:i + 8], y[i:i + 8]) for i in range(0, len(x), 8)]

        def loss_fn(xb, yb):
            return nn.functional.cross_entropy(model(xb), yb)

        groups = ll.start_task(t, steps, batches=batches, loss_fn=loss_fn)
        if not groups:  # every candidate closed, frozen reuse, nothing else trains: nothing to do
            decisions.append(ll.end_task())
            continue
        opt = torch.optim.AdamW(groups, lr=1e-2)
        for step in range(steps):
            xb, yb = batches()[step % 4]
            loss = loss_fn(xb, yb) + ll.loss_term()
            opt.zero_grad()
            loss.backward()
            opt.step()
            if ll.after_step(step + 1):
                opt = torch.optim.AdamW(ll.param_groups(), lr=1e-2)
        decisions.append(ll.end_task())
    return decisions


def test_each_task_trains_only_its_own_adapters_and_the_saved_modules() -> None:
    model = _mlp()
    ll = LiteLoRA(model, AdapterConfig(target_modules=["0", "2"], r=2, init_lora_weights="gaussian"),
                  num_tasks=2, lr=1e-2, modules_to_save=["4"])
    _train(ll, model, [_data(0)])
    frozen = {k: v.clone() for k, v in model.named_parameters() if "task_000" in k}
    assert frozen
    head = model[4].weight.detach().clone()
    groups = ll.start_task(1, 4)
    names = {id(p): n for n, p in model.named_parameters()}
    trained = {names[id(p)] for g in groups for p in g["params"]}
    assert trained and all("task_001" in n or n.startswith("4.") for n in trained)
    assert not any(p.requires_grad for n, p in model.named_parameters() if n.startswith("0.base") or "task_000" in n)
    ll.end_task()
    for k, v in model.named_parameters():
        if k in frozen:
            assert torch.equal(v, frozen[k])
    assert torch.equal(model[4].weight, head)  # no step was taken in task 1


def test_a_closed_gate_leaves_no_candidate_parameters() -> None:
    model = _mlp()
    ll = LiteLoRA(model, AdapterConfig(target_modules=["0", "2"], r=2), gate=GateConfig(kind="random", budget=0.01),
                  num_tasks=2)
    decisions = _train(ll, model, [_data(0), _data(1)])
    assert decisions[0] == [] or all(d.decision == "recruit" for d in decisions[0])
    assert [d.decision for d in decisions[1]] == ["reuse", "reuse"]
    assert not [n for n, _ in model.named_parameters() if "task_001" in n]
    assert ll.bank.num_active(1) == 0 and ll.bank.num_active(0) == 2


def test_hard_concrete_asks_for_an_optimizer_rebuild_and_the_groups_shrink() -> None:
    model = _mlp()
    gate = GateConfig(kind="hard_concrete", params={"lam": 1.0, "lr": 5.0, "decide_at": 0.5})
    ll = LiteLoRA(model, AdapterConfig(target_modules=["0", "2"], r=2), gate=gate, num_tasks=2, lr=1e-2)
    _train(ll, model, [_data(0)], steps=8)
    x, y = _data(1)
    before = sum(p.numel() for g in ll.start_task(1, 8) for p in g["params"])
    changed = []
    opt = torch.optim.AdamW(ll.param_groups(), lr=1e-2)
    for step in range(8):
        loss = nn.functional.cross_entropy(model(x), y) + ll.loss_term()
        opt.zero_grad()
        loss.backward()
        opt.step()
        if ll.after_step(step + 1):
            changed.append(step + 1)
            after = sum(p.numel() for g in ll.param_groups() for p in g["params"])
            if not after:
                break  # every candidate closed: nothing left to train in this task
            opt = torch.optim.AdamW(ll.param_groups(), lr=1e-2)
    ll.end_task()
    assert changed == [4]
    assert after < before


def test_save_reloads_into_a_fresh_model_with_the_same_outputs(tmp_path) -> None:
    model = _mlp()
    fresh = copy.deepcopy(model)
    ll = LiteLoRA(model, AdapterConfig(target_modules=["0", "2"], r=2, init_lora_weights="gaussian"), num_tasks=2)
    _train(ll, model, [_data(0), _data(1)])
    ll.save(tmp_path / "bank")
    assert (tmp_path / "bank" / "gates.json").read_text().strip() == "[]"
    load_bank(fresh, tmp_path / "bank")
    x = torch.randn(5, 8)
    with torch.no_grad():
        torch.testing.assert_close(fresh(x), model(x), atol=1e-5, rtol=0)


def test_lifecycle_misuse_is_a_clear_error() -> None:
    model = _mlp()
    with pytest.raises(ConfigError, match=r"modules_to_save: no module named 'head'"):
        LiteLoRA(model, AdapterConfig(target_modules=["0"]), num_tasks=1, modules_to_save=["head"])
    ll = LiteLoRA(_mlp(), AdapterConfig(target_modules=["0"]), num_tasks=2)
    with pytest.raises(ConfigError, match="no task is running: call start_task first"):
        ll.loss_term()
    ll.start_task(0, 3)
    with pytest.raises(ConfigError, match="task 0 is still running: call end_task first"):
        ll.start_task(1, 3)
    with pytest.raises(ConfigError, match="num_tasks must be >= 1"):
        LiteLoRA(_mlp(), num_tasks=0)


def test_the_documented_loop_runs(tmp_path, capsys) -> None:
    code = "\n".join(re.findall(r"^```python\n(.*?)^```", DOC.read_text(), re.M | re.S))
    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        exec(compile(code, str(DOC), "exec"), {"__name__": "own_loop"})
    finally:
        os.chdir(cwd)
    out = capsys.readouterr().out
    assert re.findall(r"task (\d): \d+ of 2 modules recruited", out) == ["0", "1", "2"]
    assert (tmp_path / "runs" / "own-loop" / "bank.json").is_file()


def test_a_probe_trains_the_reuse_paths_at_gate_reuse_lr(monkeypatch) -> None:
    import litelora.training.controller as controller_module

    seen: list[tuple[list[float], float]] = []
    real = controller_module.rehearse

    def spy(model, loss_fn, batches, n, lrs, default_lr, *args, **kwargs):  # noqa: ANN001, ANN202
        reuse = [p for name, p in model.named_parameters() if ".reuse." in name and p.requires_grad]
        seen.append(([lrs.get(id(p), default_lr) for p in reuse], default_lr))
        return real(model, loss_fn, batches, n, lrs, default_lr, *args, **kwargs)

    monkeypatch.setattr(controller_module, "rehearse", spy)
    model = _mlp()
    gate = GateConfig(kind="litelora-v3", reuse="scale", reuse_lr=0.5, params={"unsolved": "none"})
    ll = LiteLoRA(model, AdapterConfig(target_modules=["0", "2"], r=2), gate=gate, num_tasks=2, lr=1e-2,
                  modules_to_save=["4"])
    _train(ll, model, [_data(0), _data(1)])
    rates, default = seen[-1]  # task 1's probe: a scale path on each of the two targets
    assert default == 1e-2 and rates == [0.5, 0.5]


def test_the_method_checks_the_adapter_when_an_own_loop_builds_litelora() -> None:
    """An own loop never passes through ``build_trainer``: ``LiteLoRA`` itself refuses an adapter
    init its method cannot take and warns of a field the method overrides."""
    with pytest.raises(ConfigError, match=r"init_lora_weights='gradient' cannot apply to method 'inflora'"):
        LiteLoRA(_mlp(), AdapterConfig(target_modules=["0"], init_lora_weights="gradient"), "inflora", num_tasks=2)
    with pytest.warns(UserWarning, match=r"adapter\.r=4 has no effect with method 'sdlora-rr'"):
        LiteLoRA(_mlp(), AdapterConfig(target_modules=["0"], r=4), "sdlora-rr", num_tasks=2)
