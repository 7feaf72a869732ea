"""Generative step time and peak memory: a causal LM with rank-8 LoRA on q_proj/v_proj.

One training step of litelora's causal-LM path (collated prompt + target batch, loss on the
target tokens only, backward, AdamW on the adapters) for a tiny LLaMA and a ~100M-parameter
LLaMA built from a config (random weights), in fp32, under bf16 autocast, and loaded in bf16,
with gradient checkpointing off and on. Each variant runs in its own process so its peak
memory (RSS on CPU, ``max_memory_allocated`` on CUDA) is its own.

    python perf/bench_generative.py                 # both models, CPU
    python perf/bench_generative.py --device cuda   # the same on a GPU
    python perf/bench_generative.py --quick         # tiny model only (smoke run)
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import child_json, reset_peak_rss, rss_bytes, run_child, run_info  # noqa: E402
from litelora.reporting.environment import environment_info

from litelora._io import write_json  # noqa: E402

# name -> LlamaConfig overrides; "llama-100m" is GPT-2-small-sized (97M parameters).
MODELS = {
    "tiny-llama": {"vocab_size": 259, "hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2,
                   "num_attention_heads": 4, "num_key_value_heads": 4},
    "llama-100m": {"vocab_size": 16000, "hidden_size": 768, "intermediate_size": 2048, "num_hidden_layers": 12,
                   "num_attention_heads": 12, "num_key_value_heads": 12},
}
# variant -> (model.dtype, model.autocast, model.gradient_checkpointing)
VARIANTS = {
    "fp32": ("float32", None, False), "fp32+gc": ("float32", None, True),
    "bf16-autocast": ("float32", "bfloat16", False), "bf16-autocast+gc": ("float32", "bfloat16", True),
    "bf16-weights": ("bfloat16", None, False), "bf16-weights+gc": ("bfloat16", None, True),
}
R, ALPHA = 8, 16


def child(model_name: str, variant: str, batch: int, seq_len: int, steps: int, device: str) -> dict[str, object]:
    from transformers import LlamaConfig, LlamaForCausalLM

    from litelora.adapters import AdapterBank, AdapterConfig
    from litelora.generative.causal import CausalLM
    from litelora.generative.codec import ByteCodec
    from litelora.generative.lm import IGNORE
    from litelora.generative.zoo import DTYPES

    dtype, autocast, gc = VARIANTS[variant]
    process_rss = rss_bytes()  # the interpreter, torch and transformers, before any model exists
    torch.manual_seed(0)
    cfg = LlamaConfig(**MODELS[model_name], max_position_embeddings=2 * seq_len, tie_word_embeddings=True)
    lm = LlamaForCausalLM(cfg).to(device=device, dtype=DTYPES[dtype])
    model = CausalLM(lm, ByteCodec(), autocast=autocast, gradient_checkpointing=gc)
    bank = AdapterBank(model.encoder, AdapterConfig(target_modules=["q_proj", "v_proj"], r=R, lora_alpha=ALPHA))
    params = bank.add_task(0)
    optimizer = torch.optim.AdamW(params, lr=1e-4)
    n_params = sum(p.numel() for p in lm.parameters())
    n_lora = sum(p.numel() for p in params)
    # Half prompt (no loss), half target, as collate makes them; row i is i tokens shorter (padding).
    ids = torch.randint(3, cfg.vocab_size, (batch, seq_len))
    mask = torch.ones_like(ids)
    labels = ids.clone()
    labels[:, : seq_len // 2] = IGNORE
    for i in range(batch):
        if i:
            mask[i, -i:] = 0
            labels[i, -i:] = IGNORE
    data = {"input_ids": ids.to(device), "attention_mask": mask.to(device), "labels": labels.to(device)}
    model.train()

    def step() -> None:
        loss = model.loss(data, torch.zeros(batch, dtype=torch.long), None)  # type: ignore[arg-type]
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    cuda = device.startswith("cuda")
    step()  # warm-up: allocator, autocast caches, optimizer state
    if cuda:
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    base_rss = rss_bytes()
    reset_ok = reset_peak_rss()
    times = []
    for _ in range(steps):
        t0 = time.perf_counter()
        step()
        if cuda:
            torch.cuda.synchronize()
        times.append(time.perf_counter() - t0)
    if cuda:
        peak = torch.cuda.max_memory_allocated()
    else:
        peak = rss_bytes("VmHWM") if reset_ok else None
    base_grads = sum(p.grad is not None for n, p in model.named_parameters() if ".slots." not in n)
    return {"model": model_name, "variant": variant, "params": n_params, "lora_params": n_lora,
            "batch": batch, "seq_len": seq_len, "device": device, "step_s": sorted(times)[len(times) // 2],
            "peak_bytes": peak, "process_bytes": None if cuda else process_rss,
            "resident_after_warmup_bytes": None if cuda else base_rss,
            "base_params_with_grad": base_grads}


def model_peak(row: dict[str, object]) -> int | None:
    """Peak memory of the model and its training (on CPU: the peak RSS less the process's own)."""
    peak = row["peak_bytes"]
    if peak is None:
        return None
    return int(peak) - int(row["process_bytes"] or 0)  # type: ignore[call-overload]


def markdown(rows: list[dict[str, object]]) -> str:
    out = ["| model | params | variant | step (s) | peak memory (MiB) | peak / 1B params (GiB) |",
           "|---|---:|---|---:|---:|---:|"]
    for r in rows:
        peak = model_peak(r)
        per_b = f"{peak / 2**30 / (r['params'] / 1e9):.1f}" if peak else "n/a"  # type: ignore[operator]
        mib = f"{peak / 2**20:.0f}" if peak else "n/a"
        out.append(f"| {r['model']} | {r['params'] / 1e6:.1f}M | {r['variant']} | {r['step_s']:.3f} | {mib} | "
                   f"{per_b} |")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="tiny model only")
    ap.add_argument("--models", default=",".join(MODELS), help="comma list of " + ", ".join(MODELS))
    ap.add_argument("--variants", default=",".join(VARIANTS), help="comma list of " + ", ".join(VARIANTS))
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--seq-len", type=int, default=128, help="tokens per example (half prompt, half target)")
    ap.add_argument("--steps", type=int, default=3, help="timed steps per variant (median reported)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--json", default="perf/results/bench_generative.json", help="results file ('' = none)")
    ap.add_argument("--child", nargs=2, metavar=("MODEL", "VARIANT"), help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    if args.child:
        print(json.dumps(child(*args.child, args.batch, args.seq_len, args.steps, args.device)))
        return 0
    models = ["tiny-llama"] if args.quick else [m for m in args.models.split(",") if m]
    variants = [v for v in args.variants.split(",") if v]
    unknown = sorted(set(models) - set(MODELS)) + sorted(set(variants) - set(VARIANTS))
    if unknown:
        ap.error(f"unknown models/variants {unknown}")
    rows = []
    for m in models:
        for v in variants:
            print(f"{m} {v} ...", file=sys.stderr, flush=True)
            run = run_child([sys.executable, __file__, "--child", m, v, "--batch", str(args.batch), "--seq-len",
                             str(args.seq_len), "--steps", str(args.steps), "--threads", str(args.threads),
                             "--device", args.device])
            rows.append(child_json(run, f"{m} {v}"))
            print(json.dumps(rows[-1]), file=sys.stderr, flush=True)  # survives an interrupted sweep
    print(markdown(rows))
    if args.json:
        write_json(args.json, {
            "run_info": run_info(argv, {"batch": args.batch, "seq_len": args.seq_len, "steps": args.steps,
                                        "device": args.device,
                                        "lora": {"r": R, "lora_alpha": ALPHA, "target_modules": ["q_proj", "v_proj"]},
                                        "peak": "VmHWM over the timed steps less the RSS before the model "
                                                "was built (CPU), or max_memory_allocated (CUDA)"}),
            "train_info": [{**r, "model_peak_bytes": model_peak(r)} for r in rows],
            "meta_info": environment_info(),
        })
        print(f"wrote {args.json}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
