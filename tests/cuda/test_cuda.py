"""What has only run on CPU, on a CUDA device: the bank's forward and backward, merging and
folding in fp32 and bf16, rank scoring, and a checkpointed run resumed on the device.

Marked ``cuda`` and skipped without a CUDA device. ``LITELORA_TEST_DEVICE=cpu`` runs them on
the CPU instead (``perf/gpu_check.py --dry-run`` does, so every line is exercised where
no device is lent); each test compares the device's result with the CPU's or with itself.
"""

from __future__ import annotations

import json
import os

import pytest
import torch
from crash_helpers import crash_then_resume
from safetensors.torch import load_file

from litelora.adapters import AdapterBank, AdapterConfig
from litelora.models.tiny import tiny_bert

DEVICE = os.environ.get("LITELORA_TEST_DEVICE", "cuda")
pytestmark = [pytest.mark.cuda,
              pytest.mark.skipif(DEVICE.startswith("cuda") and not torch.cuda.is_available(), reason="no CUDA device")]


def _inputs(device: str) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    return {"input_ids": torch.randint(0, 100, (3, 7), generator=g).to(device),
            "attention_mask": torch.ones(3, 7, dtype=torch.long, device=device)}


def _banked(device: str, dtype: torch.dtype = torch.float32,
            autocast: bool = True) -> tuple[torch.nn.Module, AdapterBank]:
    torch.manual_seed(0)
    model = tiny_bert().to(dtype)
    bank = AdapterBank(model, AdapterConfig(target_modules=["query", "value"], r=4, init_lora_weights="gaussian",
                                            autocast_adapter_dtype=autocast))
    bank.add_task(0)
    bank.freeze_task(0)
    bank.add_task(1, rank=2)
    return model.to(device), bank


def _forward_backward(device: str) -> tuple[torch.Tensor, list[torch.Tensor]]:
    model, bank = _banked(device)
    out = model(**_inputs(device)).last_hidden_state
    out.square().sum().backward()
    return out.detach().cpu(), [p.grad.cpu() for p in bank.trainable_parameters()]


def test_bank_forward_and_backward_match_the_cpu() -> None:
    out, grads = _forward_backward(DEVICE)
    ref_out, ref_grads = _forward_backward("cpu")
    torch.testing.assert_close(out, ref_out, atol=1e-4, rtol=1e-4)
    # Task 1's A and B on query and value of 2 layers; task 0 is frozen.
    assert len(grads) == len(ref_grads) == 8 and all(g.norm() > 0 for g in grads)
    for g, ref in zip(grads, ref_grads):
        torch.testing.assert_close(g, ref, atol=1e-3 * float(ref.abs().max()), rtol=1e-3)


@pytest.mark.parametrize(("dtype", "autocast"), [(torch.float32, True), (torch.bfloat16, True),
                                               (torch.bfloat16, False)])
def test_merge_equals_unmerged_and_fold_restores_the_weight_bit_for_bit(dtype: torch.dtype, autocast: bool) -> None:
    model, bank = _banked(DEVICE, dtype, autocast)
    inputs = _inputs(DEVICE)
    pristine = {n: p.detach().clone() for n, p in model.named_parameters() if n.endswith("base_layer.weight")}
    with torch.no_grad():
        adapted = model(**inputs).last_hidden_state.float()
        # task 0's adapters into a working copy of the weights, where they share the weight's dtype
        # (float32 adapters of a bfloat16 weight run as LoRA: folding would round them)
        assert (bank.fold_frozen() > 0) == (dtype == torch.float32 or not autocast)
        folded = model(**inputs).last_hidden_state.float()
        bank.unfold_frozen()
        restored = {n: p.detach().clone() for n, p in model.named_parameters() if n in pristine}
        bank.merge_adapters(safe_merge=True)
        merged = model(**inputs).last_hidden_state.float()
        bank.unmerge_adapters()
        unmerged = model(**inputs).last_hidden_state.float()
    # bf16 keeps 8 bits of mantissa: a merged weight rounds once more than the unmerged path.
    tol = 1e-5 if dtype == torch.float32 else 5e-2
    for out in (folded, merged, unmerged):
        torch.testing.assert_close(out, adapted, atol=tol, rtol=tol)
    assert restored.keys() == pristine.keys() and pristine
    assert all(torch.equal(restored[n], pristine[n]) for n in pristine)  # unfold puts back the very weight


def _rank_scores(device: str) -> tuple[list[list[list[float]]], list[int]]:
    from litelora.benchmarks import build_benchmark
    from litelora.generative.causal import CausalLM
    from litelora.generative.codec import ByteCodec
    from litelora.generative.zoo import tiny_llama_lm

    model = CausalLM(tiny_llama_lm(), ByteCodec(), max_length=160)
    stream = build_benchmark("tiny-text")
    model.attach(stream)
    model.to(device).eval()
    task = stream.tasks[1]
    batch = {k: v.to(device) for k, v in model.collate(task.test[:6], task).items()}
    return model.option_log_likelihoods(batch, task), model.rank_options(batch, task)


def test_rank_scoring_matches_the_cpu() -> None:
    scores, choices = _rank_scores(DEVICE)
    ref_scores, ref_choices = _rank_scores("cpu")
    assert choices == ref_choices
    torch.testing.assert_close(torch.tensor(scores), torch.tensor(ref_scores), atol=1e-4, rtol=1e-4)


def _config(out: object) -> object:
    from litelora.training.config import RunConfig

    return RunConfig.from_dict({
        "benchmark": {"name": "tiny-text"}, "model": {"name": "tiny-bert", "max_length": 16},
        "train": {"epochs": 2, "batch_size": 8, "progress": False, "lr": 5e-3, "checkpoint_every": 2,
                  "num_threads": 1, "device": DEVICE},
        "output_dir": str(out)})


def test_a_run_resumed_on_the_device_ends_as_an_uninterrupted_one(tmp_path, monkeypatch) -> None:
    from litelora.training.build import build_trainer

    ref, out = tmp_path / "ref", tmp_path / "run"
    build_trainer(_config(ref)).run()
    crash_then_resume(monkeypatch, lambda: _config(out), 3)
    results = [json.loads((d / "results.json").read_text()) for d in (ref, out)]
    assert all(r["run_info"]["config"]["train"]["device"] == DEVICE for r in results)
    R = [r["train_info"]["accuracy_matrix"] for r in results]
    assert R[0] == R[1]
    a, b = (load_file(str(d / "adapters" / "adapters.safetensors")) for d in (ref, out))
    assert a.keys() == b.keys() and a
    for key in a:
        torch.testing.assert_close(a[key], b[key], atol=1e-5, rtol=1e-4)
