"""One causal-LM training step (forward + backward + AdamW): litelora against a plain PEFT LoRA
loop on the same model and batch, and against the frozen model's floor; FLOPs counted.

Every variant adapts ``q_proj`` and ``v_proj`` of every layer with rank 8, alpha 16, on its own
deep copy of the same base model, and sees the same examples: ``--batch`` prompts of varied
length (``--prompt-len`` down to about 60 % of it) each followed by a 2-4 token target and the
end token, the loss on the target tokens only.

* ``frozen-floor``: no adapters, every weight frozen, one trainable scalar gain on every
  target's output, litelora's loss (the LM head on the target columns only). Backward runs
  through every layer down to the first layer's targets and computes no weight gradient: the
  least any LoRA step on this loss can cost.
* ``peft-plain``: ``peft.get_peft_model`` with ``LoraConfig(r=8, lora_alpha=16)``, the batch
  right-padded and the loss from ``model(..., labels=labels)`` as a plain transformers loop
  computes it: logits at every position.
* ``peft-same-loss``: the same PEFT model on litelora's batch and loss (left-padded, the LM head
  on the target columns only): PEFT's adapters against litelora's doing the same work.
* ``litelora``: ``CausalLM.loss`` with an ``AdapterBank`` holding one candidate, as a run's
  first task trains.
* ``litelora-6tasks``: five earlier tasks frozen in the bank (non-zero B, folded into the weight
  as the trainer folds them) and the candidate: task 6 of an inclora run.

Variants run round-robin (``--warmup`` rounds discarded); reported: median ms per step, samples
per second, ratios to ``peft-plain``, ``peft-same-loss`` and the floor, the paired ratio to PEFT
(median over rounds of the ratio within a round), counted FLOPs and their ratio to the floor.

    python perf/bench_causal_step.py                 # SmolLM2-135M, a few minutes on 2 cores
    python perf/bench_causal_step.py --quick         # tiny random LLaMA, seconds
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from _common import run_info  # perf/ is on sys.path when run as a script

VARIANTS = ("frozen-floor", "peft-plain", "peft-same-loss", "litelora", "litelora-6tasks")
R, ALPHA, OLD_TASKS, TARGETS = 8, 16, 5, ["q_proj", "v_proj"]


def load_lm(name: str) -> tuple[nn.Module, int]:
    """The causal LM by name and its vocabulary size: ``tiny-llama`` (random, 64 wide),
    ``smollm2`` (SmolLM2-135M-Instruct, from the litelora cache)."""
    from litelora.generative import zoo

    if name == "tiny-llama":
        return zoo.tiny_llama_lm(), 259
    if name == "smollm2":
        from litelora.models.config import ModelConfig

        model = zoo.smollm2(ModelConfig(name="smollm2"))
        return model.lm, model.codec.vocab_size
    raise SystemExit(f"unknown model {name!r}: tiny-llama or smollm2")


def make_examples(vocab: int, batch: int, prompt_len: int, seed: int = 0) -> tuple[list[list[int]], list[list[int]]]:
    """``batch`` prompts (token ids 3.., lengths from ``prompt_len`` down to 60 % of it) and targets
    of 2-4 tokens plus the end token (id 1)."""
    g = torch.Generator().manual_seed(seed)
    lengths = [prompt_len - (i * (prompt_len * 2 // 5)) // max(1, batch - 1) for i in range(batch)]
    prompts = [torch.randint(3, vocab, (n,), generator=g).tolist() for n in lengths]
    targets = [[*torch.randint(3, vocab, (2 + i % 3,), generator=g).tolist(), 1] for i in range(batch)]
    return prompts, targets


class _Codec:
    """Just the ids ``CausalLM.make_batch`` reads (no text is tokenised here)."""

    pad_id, eos_id, bos_id, vocab_size = 0, 1, None, 0


def causal(lm: nn.Module, autocast: str | None = None) -> Any:
    from litelora.generative.causal import CausalLM

    return CausalLM(lm, _Codec(), max_length=4096, autocast=autocast, default_targets=TARGETS)


def plain_batch(prompts: list[list[int]], targets: list[list[int]]) -> dict[str, torch.Tensor]:
    """Right-padded rows with ``labels`` -100 outside the targets: what a plain loop feeds ``model(**batch)``."""
    from litelora.generative.lm import pad_rows

    rows = [p + t for p, t in zip(prompts, targets)]
    return {"input_ids": pad_rows(rows, 0), "attention_mask": pad_rows([[1] * len(r) for r in rows], 0),
            "labels": pad_rows([[-100] * len(p) + t for p, t in zip(prompts, targets)], -100)}


def build_steps(lm: nn.Module, prompts: list[list[int]], targets: list[list[int]], variants: tuple[str, ...] = VARIANTS,
                device: str = "cpu", autocast: str | None = None) -> dict[str, tuple[Callable[[], float], int]]:
    """Per variant: a function running one training step (returns the loss) and its trainable
    parameter count. ``autocast`` (``"bfloat16"``) runs forwards under autocast, as
    ``model.autocast`` does."""
    steps: dict[str, tuple[Callable[[], float], int]] = {}
    for name in variants:
        torch.manual_seed(0)
        model = copy.deepcopy(lm).to(device)
        params, loss_fn, keep = _variant(name, model, prompts, targets, device, autocast)
        opt = torch.optim.AdamW(params, lr=1e-4)

        def step(loss_fn: Callable[[], torch.Tensor] = loss_fn, opt: torch.optim.Optimizer = opt) -> float:
            opt.zero_grad(set_to_none=True)
            loss = loss_fn()
            loss.backward()
            opt.step()
            return loss.item()

        step.keep = keep  # type: ignore[attr-defined]  # the bank and the fold outlive this loop
        steps[name] = (step, sum(p.numel() for p in params))
    return steps


def _variant(name: str, model: nn.Module, prompts: list[list[int]], targets: list[list[int]], device: str,
             autocast: str | None) -> tuple[list[nn.Parameter], Callable[[], torch.Tensor], list[Any]]:
    ctx = torch.autocast(device_type=torch.device(device).type, dtype=torch.bfloat16) if autocast \
        else contextlib.nullcontext()
    if name == "peft-plain":
        from peft import LoraConfig, get_peft_model

        peft = get_peft_model(model, LoraConfig(r=R, lora_alpha=ALPHA, target_modules=TARGETS))
        batch = {k: v.to(device) for k, v in plain_batch(prompts, targets).items()}

        def plain() -> torch.Tensor:
            with ctx:
                return peft(**batch, use_cache=False).loss
        return [p for p in peft.parameters() if p.requires_grad], plain, [peft]
    if name == "peft-same-loss":
        from peft import LoraConfig, get_peft_model

        peft = get_peft_model(model, LoraConfig(r=R, lora_alpha=ALPHA, target_modules=TARGETS))
        # The transformers model with PEFT's LoRA layers in it (PeftModel.forward would hide
        # ``logits_to_keep`` behind **kwargs); CausalLM freezes every parameter it wraps.
        task_model = causal(peft.base_model.model, autocast)
        params = [p for n, p in peft.named_parameters() if "lora_" in n]
        for p in params:
            p.requires_grad_(True)
    else:
        task_model = causal(model, autocast)
        params, keep = _litelora_or_floor(name, model)
    batch = {k: v.to(device) for k, v in task_model.make_batch(prompts, targets).items()}
    loss = lambda: task_model.loss(batch, batch["labels"], None)  # noqa: E731
    return params, loss, [task_model, *(keep if name != "peft-same-loss" else [])]


def _litelora_or_floor(name: str, model: nn.Module) -> tuple[list[nn.Parameter], list[Any]]:
    if name == "frozen-floor":
        gain = nn.Parameter(torch.ones((), device=next(model.parameters()).device))
        model.register_parameter("bench_gain", gain)
        for module_name, module in model.named_modules():
            if module_name.rsplit(".", 1)[-1] in TARGETS:
                module.register_forward_hook(lambda _m, _i, out: out * gain)
        return [gain], []
    from litelora.adapters import AdapterBank, AdapterConfig

    bank = AdapterBank(model, AdapterConfig(target_modules=TARGETS, r=R, lora_alpha=ALPHA))
    earlier = OLD_TASKS if name == "litelora-6tasks" else 0
    for task in range(earlier):
        with torch.no_grad():
            for p in bank.add_task(task)[1::2]:
                p.normal_(std=0.02)  # trained tasks hold non-zero B
        bank.freeze_task(task)
    params = bank.add_task(earlier)
    fold = contextlib.ExitStack()
    fold.enter_context(bank.frozen_folded(True))  # as the trainer runs a task (train.fold_frozen)
    return params, [bank, fold]


def step_flops(step: Callable[[], float]) -> int:
    with FlopCounterMode(display=False) as counter:
        step()
    return int(counter.get_total_flops())


def measure(steps: dict[str, tuple[Callable[[], float], int]], rounds: int, warmup: int,
            sync: Callable[[], None] = lambda: None, flops: bool = True) -> dict[str, dict[str, Any]]:
    """Round-robin timing (ms) of every step, FLOPs of one step each, and the ratios."""
    counted = {v: step_flops(s) if flops else 0 for v, (s, _) in steps.items()}
    times: dict[str, list[float]] = {v: [] for v in steps}
    for i in range(warmup + rounds):
        for v, (step, _) in steps.items():
            sync()
            t0 = time.perf_counter()
            step()
            sync()
            if i >= warmup:
                times[v].append((time.perf_counter() - t0) * 1e3)
    med = {v: statistics.median(t) for v, t in times.items()}
    out: dict[str, dict[str, Any]] = {}
    for v in steps:
        rec: dict[str, Any] = {"median_ms": round(med[v], 3), "times_ms": [round(t, 3) for t in times[v]],
                               "trainable_params": steps[v][1], "step_flops": counted[v]}
        for peer in ("peft-plain", "peft-same-loss", "frozen-floor"):
            if peer in med:
                rec[f"ratio_to_{peer}"] = round(med[v] / med[peer], 4)
                rec[f"paired_ratio_to_{peer}"] = round(statistics.median(
                    t / p for t, p in zip(times[v], times[peer])), 4)
                if flops and counted[peer]:
                    rec[f"flops_ratio_to_{peer}"] = round(counted[v] / counted[peer], 4)
        out[v] = rec
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="tiny random LLaMA, 2 rounds (smoke run)")
    ap.add_argument("--model", default=None, help="tiny-llama or smollm2 (default smollm2; --quick: tiny-llama)")
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--prompt-len", type=int, default=92, help="longest prompt, tokens")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--json", type=Path, default=Path(__file__).parent / "results" / "bench_causal_step.json")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    name = args.model or ("tiny-llama" if args.quick else "smollm2")
    if args.quick:
        args.batch, args.prompt_len, args.rounds, args.warmup = 4, 24, 2, 0
    lm, vocab = load_lm(name)
    prompts, targets = make_examples(vocab, args.batch, args.prompt_len)
    results = measure(build_steps(lm, prompts, targets), args.rounds, args.warmup)
    for rec in results.values():
        rec["samples_per_s"] = round(args.batch / rec["median_ms"] * 1e3, 3)
    from litelora._io import write_json
    from litelora.reporting.environment import environment_info

    write_json(args.json, {
        "run_info": run_info(argv, {"model": name, "batch": args.batch, "prompt_len": args.prompt_len,
                                    "prompt_lengths": [len(p) for p in prompts],
                                    "target_lengths": [len(t) for t in targets], "rounds": args.rounds,
                                    "warmup": args.warmup, "lora": {"r": R, "lora_alpha": ALPHA, "targets": TARGETS}}),
        "train_info": {"model": name, "base_params": sum(p.numel() for p in lm.parameters()), "variants": results},
        "meta_info": environment_info(),
    })
    print("| variant | median ms/step | samples/s | / peft-plain | paired | / peft-same-loss | / floor | "
          "FLOPs / floor | FLOPs / peft-plain |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for v, r in results.items():
        print(f"| {v} | {r['median_ms']:.1f} | {r['samples_per_s']:.2f} | {r['ratio_to_peft-plain']:.3f} | "
              f"{r['paired_ratio_to_peft-plain']:.3f} | {r['ratio_to_peft-same-loss']:.3f} | "
              f"{r['ratio_to_frozen-floor']:.3f} | {r['flops_ratio_to_frozen-floor']:.3f} | "
              f"{r['flops_ratio_to_peft-plain']:.3f} |")
    print(f"wrote {args.json}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
