"""Time one training step (forward + backward + AdamW step) of LoRA variants on CPU, count
its FLOPs and measure its peak memory.

Variants, each from its own deep copy of the same base model, all with rank 8, alpha 16 on the
query and value projections (``query``/``value``; ``q_proj``/``v_proj`` in ViT), same batch:

* ``frozen-floor`` (a): no adapters, every weight frozen. One trainable scalar gain
  multiplies every target's output, so backward runs through every layer down to the
  first layer's targets (the activation gradients any LoRA step needs) and computes no
  weight gradient. The floor of a LoRA step: a LoRA step adds only its adapters' work.
  (A gain on the targets' inputs would also pay the input gradients of the first layer's
  frozen linears, which LoRA does not need: a floor above PEFT's FLOPs.)
* ``peft-lora`` (b): ``peft.get_peft_model`` with ``LoraConfig(r=8, lora_alpha=16,
  target_modules=<the same two>)``. Every ratio is also given against it.
* ``litelora-1task``: ``AdapterBank`` with one candidate: the same work as (b).
* ``inclora-6tasks`` (c): the bank holding 5 earlier, frozen tasks (non-zero B) plus the
  candidate, as inclora has it at task 6. ``AdapterSlot`` runs the 5 frozen adapters as one
  rank-40 concatenated LoRA with no weight gradients, the candidate as a second pair.
* ``gate-search`` (d): (c) with the ``hard_concrete`` gate (lam 0.01) in its search phase:
  a sampled gate per candidate each step, the expected-L0 penalty in the loss, the gate
  logits in the optimizer.
* ``gate-decided`` (e): (d) after ``apply_decision`` closed every other candidate (half).

Time: variants run round-robin (a, b, ..., a, b, ...) so that drift in machine load hits
all alike; ``--warmup`` rounds are discarded, the median of the timed rounds is reported
with its ratio to (b) and to (a), and the paired ratio (median over rounds of the ratio
within the round). FLOPs: ``torch.utils.flop_counter`` counts the matmul FLOPs of one
whole step (forward + backward) per variant; FLOPs / floor FLOPs is the ideal time ratio.
Memory: each variant runs ``--memory-steps`` steps in a fresh subprocess per (model,
variant). The child resets its peak RSS (``/proc/self/clear_refs``) once the model is
built and reports the peak RSS of the steps and its rise over the RSS before them;
``wait4`` also gives the child's whole-life ``ru_maxrss``.

Run from the repository root::

    python perf/bench_step.py                    # MiniLM and ViT-B/16, ~5 min on 2 quiet cores
    python perf/bench_step.py --quick            # tiny BERT and tiny ViT, seconds
    python perf/bench_step.py --models minilm --rounds minilm=30 --no-memory
    python perf/bench_step.py --models minilm --dtype bfloat16 --rounds 4 --no-memory \
        --json perf/results/bench_step_bf16.json   # a bfloat16 base: both keep float32 adapters
"""

from __future__ import annotations

import argparse
import copy
import gc
import json
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from _common import (  # perf/ is on sys.path when run as a script
    child_json, load_model, make_inputs, quantile, qv_targets, reset_peak_rss, rss_bytes, run_child,
    per_model, run_info,
)
from litelora.reporting.environment import environment_info

from litelora._io import write_json

VARIANTS = ("frozen-floor", "peft-lora", "litelora-1task", "inclora-6tasks", "gate-search", "gate-decided")
R, ALPHA, OLD_TASKS, GATE_LAM = 8, 16, 5, 0.01
DEFAULT = {"models": "minilm,vit-b16", "batch": "minilm=16,vit-b16=1", "rounds": "minilm=12,vit-b16=4"}
QUICK = {"models": "tiny-bert,tiny-vit", "batch": "tiny-bert=8,tiny-vit=8", "rounds": "tiny-bert=3,tiny-vit=3"}


@dataclass
class Variant:
    """A model set up for one variant: what the optimizer trains, and the gate's hooks."""

    model: nn.Module
    groups: list[dict[str, Any]]
    penalty: Callable[[], torch.Tensor | None] = lambda: None
    after_step: Callable[[], None] = lambda: None
    keep: list[Any] = field(default_factory=list)  # objects the hooks need alive

    @property
    def trainable(self) -> int:
        return sum(p.numel() for g in self.groups for p in g["params"])


def build_variant(base: nn.Module, variant: str, *, copy_base: bool = True) -> Variant:
    """``base`` (or a deep copy) set up as ``variant``."""
    model = copy.deepcopy(base) if copy_base else base
    targets = qv_targets(model)
    if variant == "frozen-floor":
        model.requires_grad_(False)
        gain = nn.Parameter(torch.ones(()))
        model.register_parameter("bench_gain", gain)  # kept on the model, which outlives the hooks
        for name, module in model.named_modules():
            if name.rsplit(".", 1)[-1] in targets:
                module.register_forward_hook(lambda _m, _i, out: out * gain)
        return Variant(model, [{"params": [gain]}])
    if variant == "peft-lora":
        from peft import LoraConfig, get_peft_model

        model = get_peft_model(model, LoraConfig(r=R, lora_alpha=ALPHA, target_modules=targets))
        return Variant(model, [{"params": [p for p in model.parameters() if p.requires_grad]}])

    from litelora.adapters import AdapterBank, AdapterConfig

    bank = AdapterBank(model, AdapterConfig(target_modules=targets, r=R, lora_alpha=ALPHA))
    earlier = 0 if variant == "litelora-1task" else OLD_TASKS
    for task in range(earlier):
        params = bank.add_task(task)
        with torch.no_grad():  # trained tasks hold non-zero B
            for p in params[1::2]:
                p.normal_(std=0.02)
        bank.freeze_task(task)
    params = bank.add_task(earlier)
    if not variant.startswith("gate-"):
        return Variant(model, [{"params": params}], keep=[bank])
    return _gated(model, bank, earlier, decided=variant == "gate-decided")


def _gated(model: nn.Module, bank: Any, task: int, decided: bool) -> Variant:
    from litelora.gates import GateConfig, HardConcreteGate
    from litelora.methods.base import TaskContext

    gate = HardConcreteGate(GateConfig(kind="hard_concrete", params={"lam": GATE_LAM}), num_tasks=task + 1)
    ctx = TaskContext(task_id=task, num_tasks=task + 1, bank=bank)
    gate_groups = gate.before_task(ctx)
    if decided:
        n = len(gate.groups)
        gate.apply_decision(ctx, [g % 2 == 0 for g in range(n)], [1.0] * n)
        return Variant(model, [{"params": bank.trainable_parameters()}], keep=[bank, gate])
    # A step far from the decision point: after_step only resamples the gates.
    return Variant(model, [{"params": bank.trainable_parameters()}, *gate_groups], penalty=gate.penalty,
                   after_step=lambda: gate.after_step(ctx, 0, 1 << 30), keep=[bank, gate, ctx])


def make_step(v: Variant, inputs: dict[str, torch.Tensor], target: torch.Tensor) -> Callable[[], None]:
    opt = torch.optim.AdamW(v.groups, lr=1e-4)
    v.model.train()

    def step() -> None:
        opt.zero_grad(set_to_none=True)
        loss = (v.model(**inputs).last_hidden_state * target).sum()
        pen = v.penalty()
        (loss if pen is None else loss + pen).backward()
        opt.step()
        v.after_step()

    return step


def fixed_target(model: nn.Module, inputs: dict[str, torch.Tensor]) -> torch.Tensor:
    """A fixed random ``R`` for the loss ``(last_hidden_state * R).sum()``: every gradient non-trivial."""
    with torch.no_grad():
        shape = model(**inputs).last_hidden_state.shape
    return torch.randn(shape, generator=torch.Generator().manual_seed(1))


def step_flops(step: Callable[[], None]) -> int:
    """Matmul FLOPs of one step, forward and backward, counted by torch."""
    with FlopCounterMode(display=False) as counter:
        step()
    return int(counter.get_total_flops())


def typed_inputs(base: nn.Module, batch: int, seq: int) -> dict[str, torch.Tensor]:
    """``make_inputs`` with float inputs (pixels) in the base model's dtype."""
    dtype = next(base.parameters()).dtype
    return {k: v.to(dtype) if v.is_floating_point() else v for k, v in make_inputs(base, batch, seq).items()}


def bench_model(name: str, base: nn.Module, rounds: int, warmup: int, batch: int, seq: int) -> dict[str, Any]:
    inputs = typed_inputs(base, batch, seq)
    target = fixed_target(base, inputs)
    steps, n_params, flops = {}, {}, {}
    for v in VARIANTS:
        torch.manual_seed(0)
        var = build_variant(base, v)
        steps[v] = make_step(var, inputs, target)
        n_params[v] = var.trainable
        flops[v] = step_flops(steps[v])
    times: dict[str, list[float]] = {v: [] for v in VARIANTS}
    for i in range(warmup + rounds):
        for v in VARIANTS:
            t0 = time.perf_counter()
            steps[v]()
            if i >= warmup:
                times[v].append((time.perf_counter() - t0) * 1e3)
    med = {v: statistics.median(times[v]) for v in VARIANTS}
    cfg = base.config  # type: ignore[union-attr]
    return {
        "model": name, "dtype": str(next(base.parameters()).dtype).removeprefix("torch."),
        "targets": qv_targets(base), "batch": batch, "seq_len": int(target.shape[1]),
        "hidden": cfg.hidden_size,
        "layers": cfg.num_hidden_layers, "base_params": sum(p.numel() for p in base.parameters()),
        "variants": {
            v: {
                "median_ms": round(med[v], 3),
                "p25_ms": round(quantile(times[v], 0.25), 3),
                "p75_ms": round(quantile(times[v], 0.75), 3),
                "ratio_to_peft": round(med[v] / med["peft-lora"], 4),
                "ratio_to_floor": round(med[v] / med["frozen-floor"], 4),
                "paired_ratio_to_peft": round(statistics.median(
                    t / p for t, p in zip(times[v], times["peft-lora"])), 4),
                "step_flops": flops[v],
                "adapter_flops": flops[v] - flops["frozen-floor"],
                "flops_ratio_to_floor": round(flops[v] / flops["frozen-floor"], 4),
                "flops_ratio_to_peft": round(flops[v] / flops["peft-lora"], 4),
                "trainable_params": n_params[v],
                "times_ms": [round(t, 3) for t in times[v]],
            }
            for v in VARIANTS
        },
    }


def child_memory(model_name: str, variant: str, batch: int, seq: int, steps: int,
                 dtype: str = "float32") -> dict[str, Any]:
    """In a fresh process: build, reset the peak RSS, train ``steps`` steps, report bytes."""
    base = load_model(model_name)
    if base is None:
        raise SystemExit(2)
    base = base.to(getattr(torch, dtype))
    inputs = typed_inputs(base, batch, seq)
    target = fixed_target(base, inputs)
    torch.manual_seed(0)
    step = make_step(build_variant(base, variant, copy_base=False), inputs, target)
    gc.collect()
    reset_ok = reset_peak_rss()
    before = rss_bytes()
    for _ in range(steps):
        step()
    peak = rss_bytes("VmHWM")
    return {"rss_before_steps": before, "peak_rss_steps": peak, "peak_rise": peak - before, "peak_reset": reset_ok}


def measure_memory(models: list[str], batches: dict[str, int], seq: int, steps: int,
                   threads: int, dtype: str) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for name in models:
        out[name] = {}
        for v in VARIANTS:
            run = run_child([sys.executable, __file__, "--child", name, v, "--batch", str(batches[name]),
                             "--seq-len", str(seq), "--memory-steps", str(steps), "--threads", str(threads), "--dtype", dtype])
            res = child_json(run, f"memory child {name}/{v}")
            out[name][v] = {**res, "process_max_rss": run.max_rss_bytes}
            print(f"  memory {name}/{v}: peak {res['peak_rss_steps'] / 2**20:.0f} MiB, "
                  f"rise {res['peak_rise'] / 2**20:.0f} MiB", file=sys.stderr, flush=True)
        peft = out[name]["peft-lora"]
        for rec in out[name].values():
            rec["peak_ratio_to_peft"] = round(rec["peak_rss_steps"] / peft["peak_rss_steps"], 4)
            rec["rise_ratio_to_peft"] = round(rec["peak_rise"] / max(1, peft["peak_rise"]), 4)
    return out


def markdown(results: list[dict[str, Any]], memory: dict[str, dict[str, Any]]) -> str:
    lines = ["| model (batch) | variant | median ms/step | / PEFT | paired / PEFT | / floor | FLOPs / floor "
             "| adapter GFLOP | peak RSS MiB | rise MiB | peak / PEFT | trainable |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in results:
        for v, s in r["variants"].items():
            m = memory.get(r["model"], {}).get(v)
            mem = (f"{m['peak_rss_steps'] / 2**20:.0f} | {m['peak_rise'] / 2**20:.0f} | "
                   f"{m['peak_ratio_to_peft']:.3f}") if m else "- | - | -"
            dtype = "" if r.get("dtype", "float32") == "float32" else f", {r['dtype']}"
            lines.append(f"| {r['model']} ({r['batch']}{dtype}) | {v} | {s['median_ms']:.1f} | {s['ratio_to_peft']:.3f} | "
                         f"{s['paired_ratio_to_peft']:.3f} | {s['ratio_to_floor']:.3f} | "
                         f"{s['flops_ratio_to_floor']:.3f} | {s['adapter_flops'] / 1e9:.2f} | {mem} | "
                         f"{s['trainable_params']:,} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="tiny BERT and tiny ViT, a few rounds (smoke run)")
    ap.add_argument("--models", help=f"comma list (default {DEFAULT['models']})")
    ap.add_argument("--batch", help=f"one int or model=int pairs (default {DEFAULT['batch']})")
    ap.add_argument("--rounds", help=f"timed rounds: one int or model=int pairs (default {DEFAULT['rounds']})")
    ap.add_argument("--warmup", type=int, default=1, help="discarded round-robin rounds")
    ap.add_argument("--seq-len", type=int, default=64, help="tokens per text example (a ViT has its 197)")
    ap.add_argument("--threads", type=int, default=2, help="torch intra-op threads")
    ap.add_argument("--memory-steps", type=int, default=2, help="steps per memory subprocess")
    ap.add_argument("--dtype", default="float32", choices=("float32", "bfloat16", "float16"),
                    help="the base model's dtype (adapters stay float32 in both libraries' defaults)")
    ap.add_argument("--no-memory", action="store_true", help="skip the per-variant memory subprocesses")
    ap.add_argument("--json", default="perf/results/bench_step.json", help="results file ('' = none)")
    ap.add_argument("--child", nargs=2, metavar=("MODEL", "VARIANT"), help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    if args.child:
        print(json.dumps(child_memory(args.child[0], args.child[1], int(args.batch), args.seq_len,
                                      args.memory_steps, args.dtype)))
        return 0
    preset = QUICK if args.quick else DEFAULT
    models = [m.strip() for m in (args.models or preset["models"]).split(",") if m.strip()]
    try:
        batches = per_model(args.batch or preset["batch"], models, "batch")
        rounds = per_model(args.rounds or preset["rounds"], models, "rounds")
    except ValueError as err:
        ap.error(str(err))
    if min(rounds.values()) < 1 or args.warmup < 0 or args.memory_steps < 1:
        ap.error("--rounds and --memory-steps must be >= 1 and --warmup >= 0")

    results = []
    for name in models:
        base = load_model(name)
        if base is None:
            continue
        base = base.to(getattr(torch, args.dtype))
        print(f"{name}: batch {batches[name]}, {args.warmup} warm-up + {rounds[name]} timed rounds ...",
              file=sys.stderr, flush=True)
        results.append(bench_model(name, base, rounds[name], args.warmup, batches[name], args.seq_len))
        del base
    if not results:
        print("no model could be benchmarked", file=sys.stderr)
        return 1
    memory = {} if args.no_memory else measure_memory([r["model"] for r in results], batches, args.seq_len,
                                                      args.memory_steps, args.threads, args.dtype)
    print(markdown(results, memory))
    if args.json:
        write_json(args.json, {
            "run_info": run_info(argv, {
                "rounds": rounds, "warmup": args.warmup, "batch": batches, "seq_len": args.seq_len, "dtype": args.dtype,
                "memory_steps": None if args.no_memory else args.memory_steps,
                "lora": {"r": R, "lora_alpha": ALPHA, "target_modules": "query and value projections"},
                "old_tasks": OLD_TASKS, "gate": {"kind": "hard_concrete", "lam": GATE_LAM,
                                                 "decided": "every other candidate closed"},
                "loss": "(last_hidden_state * R).sum(), R fixed random",
            }),
            "train_info": {r["model"]: {**r, "memory": memory.get(r["model"])} for r in results},
            "meta_info": environment_info(),
        })
        print(f"wrote {args.json}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
