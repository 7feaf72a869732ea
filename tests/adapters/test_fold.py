"""Folding frozen adapters into a working weight while a task trains (train.fold_frozen)."""

import pytest
import torch

from litelora.adapters import AdapterBank, AdapterConfig, ScaleReuse
from litelora.errors import AdapterError
from litelora.testing import TinyFusedViT, tiny_mlp


def _bank(model, targets, tasks: int = 3) -> AdapterBank:
    bank = AdapterBank(model, AdapterConfig(target_modules=targets, r=2, init_lora_weights="gaussian"))
    for t in range(tasks):
        bank.add_task(t)  # freezes every earlier task; the last one trains
    return bank


@pytest.mark.parametrize(("make", "targets", "shape"), [
    (tiny_mlp, ["0", "2", "4"], (5, 8)),
    (lambda: TinyFusedViT(dim=16), ["blocks.0.attn.qkv:q,v", "blocks.1.attn.proj"], (2, 3, 16)),
])
def test_folded_forward_and_gradients_match_and_the_base_comes_back_bit_for_bit(make, targets, shape) -> None:
    torch.manual_seed(0)
    model = make()
    bank = _bank(model, targets)
    base = {n: p.detach().clone() for n, p in model.named_parameters() if "base_layer" in n}
    x = torch.randn(*shape)
    y = model(x)
    y.pow(2).sum().backward()
    grads = {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}
    model.zero_grad()
    with bank.frozen_folded() as folded:
        assert folded == 2 * len(bank.targets)  # tasks 0 and 1; task 2 trains
        assert any(not torch.equal(p, base[n]) for n, p in model.named_parameters() if n in base)
        y_folded = model(x)
        y_folded.pow(2).sum().backward()
        torch.testing.assert_close(y_folded, y, atol=1e-5, rtol=1e-5)
        for n, p in model.named_parameters():
            if n in grads:
                torch.testing.assert_close(p.grad, grads[n], atol=1e-4, rtol=1e-4)
    for n, p in model.named_parameters():
        if n in base:
            assert torch.equal(p, base[n]), n
    assert torch.equal(model(x), y)


def test_what_may_still_change_is_not_folded() -> None:
    model = tiny_mlp()
    bank = _bank(model, ["2"])
    slot = bank.slot("2")
    slot.reuse["task_002"] = ScaleReuse(["task_000"], like=slot.adapters["task_000"].magnitude)  # task 0's magnitude trains through it
    bank.set_coefficient("2", 1, lambda: torch.tensor(0.5))  # task 1 is gated
    assert slot.foldable() == []
    assert bank.fold_frozen() == 0 and not bank.layer("2").folded


def test_structure_changes_and_merges_wait_for_unfold() -> None:
    model = tiny_mlp()
    bank = _bank(model, ["0", "2"], tasks=2)
    bank.fold_frozen()
    with pytest.raises(AdapterError, match="unfold"):
        bank.add_task(5)
    with pytest.raises(AdapterError, match="unfold"):
        bank.merge_adapters()
    bank.remove_candidate("0", 1)  # the training candidate may still go (a gate closing it)
    bank.unfold_frozen()
    bank.merge_adapters()


def test_a_run_folds_only_while_training(tmp_path, monkeypatch) -> None:
    """The same run with and without folding: later tasks fold the earlier adapters only where
    asked, and both runs make the same decisions and end with the same matrix up to float error."""
    import json

    from litelora.training.build import build_trainer
    from litelora.training.config import RunConfig

    folded: list[int] = []
    real = AdapterBank.fold_frozen

    def counting(self: AdapterBank) -> int:
        folded.append(real(self))
        return folded[-1]

    monkeypatch.setattr(AdapterBank, "fold_frozen", counting)
    results, decisions, counts = [], [], []
    for fold in (True, False):
        folded.clear()
        out = tmp_path / f"fold{fold}"
        cfg = RunConfig.from_dict({
            "benchmark": {"name": "tiny-text"}, "model": {"name": "tiny-bert", "max_length": 16},
            "train": {"epochs": 1, "batch_size": 8, "progress": False, "fold_frozen": fold, "num_threads": 1},
            "output_dir": str(out),
        })
        trainer = build_trainer(cfg)
        results.append(trainer.run())
        assert not any(layer.folded for layer in trainer.bank._layers())
        decisions.append([(d["task"], d["target"], d["rank"]) for d in json.loads((out / "gates.json").read_text())])
        counts.append(list(folded))
    assert counts[1] == [] and sum(counts[0]) > 0  # folding ran only where asked, and folded something
    assert decisions[0] == decisions[1] and decisions[0]
    (a, b) = (r.accuracy_matrix for r in results)
    assert all(abs(x - y) <= 1e-6 for ra, rb in zip(a, b) for x, y in zip(ra, rb))
