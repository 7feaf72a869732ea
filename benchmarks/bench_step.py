"""Time one training step (forward + backward + AdamW step) of LoRA variants on CPU.

Measured, per model, for four variants built from deep copies of the same base model:

* ``frozen-floor``: no adapters. Every weight is frozen; a single trainable scalar gain
  multiplies the embeddings' output, so backward still runs through every layer (the
  activation gradients LoRA also needs) while no weight gradient is computed. It is the
  floor any LoRA step pays; the optimizer steps that one scalar.
* ``peft-lora``: ``peft.get_peft_model`` with ``LoraConfig(r=8, lora_alpha=16,
  target_modules=["query", "value"])``.
* ``litelora-1task``: ``AdapterBank`` (same targets, r, alpha) with one candidate task.
* ``litelora-6tasks``: the same bank holding 5 earlier, frozen tasks plus the candidate:
  the cost of a growing bank.

Loss: ``(last_hidden_state * R).sum()`` with a fixed random ``R``, so every gradient is
non-trivial. Variants run round-robin (a, b, c, d, a, b, ...) so that drift in machine
load hits all of them alike; the first ``--warmup`` rounds are discarded and the median
of the timed rounds is reported (p25/p75 in the JSON). Only time is measured: peak memory
on a CPU torch has no cheap per-step counter (max RSS is process-wide and monotone).

Run from the repository root::

    python benchmarks/bench_step.py                      # both models, 5 + 30 rounds
    python benchmarks/bench_step.py --models tiny-bert --rounds 50 --threads 1
"""

from __future__ import annotations

import argparse
import copy
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from _common import load_model, meta_info, quantile, run_info  # benchmarks/ is on sys.path when run as a script

from litelora._io import write_json

VARIANTS = ("frozen-floor", "peft-lora", "litelora-1task", "litelora-6tasks")
TARGETS = ["query", "value"]
Step = Callable[[], None]




def build_variant(base: nn.Module, variant: str) -> tuple[nn.Module, list[nn.Parameter]]:
    """A deep copy of ``base`` set up as ``variant``; returns (model, trainable params)."""
    model = copy.deepcopy(base)
    if variant == "frozen-floor":
        for p in model.parameters():
            p.requires_grad_(False)
        gain = nn.Parameter(torch.ones(()))
        # Kept on the model so it lives as long as the hook that reads it.
        model.register_parameter("bench_gain", gain)
        model.embeddings.register_forward_hook(lambda _m, _i, out: out * gain)  # type: ignore[union-attr]
        return model, [gain]
    if variant == "peft-lora":
        from peft import LoraConfig, get_peft_model

        model = get_peft_model(model, LoraConfig(r=8, lora_alpha=16, target_modules=TARGETS))
        return model, [p for p in model.parameters() if p.requires_grad]
    from litelora.adapters import AdapterBank, AdapterConfig

    bank = AdapterBank(model, AdapterConfig(target_modules=TARGETS, r=8, lora_alpha=16))
    earlier = 5 if variant == "litelora-6tasks" else 0
    for task in range(earlier):
        params = bank.add_task(task)
        # Earlier tasks must hold non-zero B, as after training; zero B would be untypical.
        with torch.no_grad():
            for p in params[1::2]:
                p.normal_(std=0.02)
    params = bank.add_task(earlier)
    return model, params


def make_step(model: nn.Module, params: list[nn.Parameter], batch: dict[str, torch.Tensor],
              target: torch.Tensor) -> Step:
    opt = torch.optim.AdamW(params, lr=1e-4)
    model.train()

    def step() -> None:
        opt.zero_grad(set_to_none=True)
        out = model(**batch).last_hidden_state
        (out * target).sum().backward()
        opt.step()

    return step




def bench_model(name: str, base: nn.Module, rounds: int, warmup: int, batch: int, seq: int) -> dict[str, Any]:
    g = torch.Generator().manual_seed(0)
    cfg = base.config  # type: ignore[union-attr]
    inputs = {"input_ids": torch.randint(0, cfg.vocab_size, (batch, seq), generator=g),
              "attention_mask": torch.ones(batch, seq, dtype=torch.long)}
    target = torch.randn(batch, seq, cfg.hidden_size, generator=g)
    steps: dict[str, Step] = {}
    n_params: dict[str, int] = {}
    for v in VARIANTS:
        model, params = build_variant(base, v)
        steps[v] = make_step(model, params, inputs, target)
        n_params[v] = sum(p.numel() for p in params)
    times: dict[str, list[float]] = {v: [] for v in VARIANTS}
    for i in range(warmup + rounds):
        for v in VARIANTS:
            t0 = time.perf_counter()
            steps[v]()
            dt = time.perf_counter() - t0
            if i >= warmup:
                times[v].append(dt * 1e3)
    med = {v: statistics.median(times[v]) for v in VARIANTS}
    return {
        "model": name, "batch": batch, "seq_len": seq, "hidden": cfg.hidden_size,
        "layers": cfg.num_hidden_layers, "base_params": sum(p.numel() for p in base.parameters()),
        "variants": {
            v: {
                "median_ms": round(med[v], 3),
                "p25_ms": round(quantile(times[v], 0.25), 3),
                "p75_ms": round(quantile(times[v], 0.75), 3),
                "ratio_to_peft": round(med[v] / med["peft-lora"], 4),
                "ratio_to_floor": round(med[v] / med["frozen-floor"], 4),
                "trainable_params": n_params[v],
                "times_ms": [round(t, 3) for t in times[v]],
            }
            for v in VARIANTS
        },
    }


def markdown(results: list[dict[str, Any]]) -> str:
    lines = ["| model | variant | median ms/step | ratio to PEFT | ratio to frozen floor | trainable params |",
             "|---|---|---:|---:|---:|---:|"]
    for r in results:
        for v, s in r["variants"].items():
            lines.append(f"| {r['model']} | {v} | {s['median_ms']:.2f} | {s['ratio_to_peft']:.3f} | "
                         f"{s['ratio_to_floor']:.3f} | {s['trainable_params']:,} |")
    return "\n".join(lines)




def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--models", default="tiny-bert,minilm", help="comma list: tiny-bert, minilm")
    ap.add_argument("--rounds", type=int, default=30, help="timed round-robin rounds")
    ap.add_argument("--warmup", type=int, default=5, help="discarded round-robin rounds")
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--seq-len", type=int, default=64)
    ap.add_argument("--threads", type=int, default=2, help="torch intra-op threads")
    ap.add_argument("--json", default="benchmarks/results/bench_step.json", help="results file ('' = none)")
    args = ap.parse_args(argv)
    if args.rounds < 1 or args.warmup < 0:
        ap.error("--rounds must be >= 1 and --warmup >= 0")
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)

    results = []
    for name in [m.strip() for m in args.models.split(",") if m.strip()]:
        base = load_model(name)
        if base is None:
            continue
        print(f"{name}: {args.warmup} warm-up + {args.rounds} timed rounds ...", file=sys.stderr, flush=True)
        results.append(bench_model(name, base, args.rounds, args.warmup, args.batch, args.seq_len))
    if not results:
        print("no model could be benchmarked", file=sys.stderr)
        return 1
    print(markdown(results))

    if args.json:
        write_json(args.json, {
            "run_info": run_info(argv, {
                "rounds": args.rounds, "warmup": args.warmup, "batch": args.batch, "seq_len": args.seq_len,
                "lora": {"r": 8, "lora_alpha": 16, "target_modules": TARGETS},
            }),
            "train_info": {r["model"]: r for r in results},
            "meta_info": meta_info(("torch", "transformers", "peft", "litelora")),
        })
        print(f"wrote {args.json}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
