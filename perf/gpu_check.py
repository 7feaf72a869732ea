"""One check for a lent GPU, in one call of at most 10 minutes, with nothing downloaded.

It uses the machine's own torch, transformers and peft and this repository on ``PYTHONPATH``;
every model has random weights of a real shape. Steps, each recorded in one JSON (written
again after every step, so a run cut short keeps what it measured):

1. ``cuda_tests``: ``pytest -m cuda tests/cuda`` (bank forward and backward, merging and folding
   in fp32 and bf16, rank scoring, a checkpointed run resumed on the device).
2. ``step_vs_peft``: one training step of a LLaMA-shaped model of about 1.2B parameters (the
   shape of Llama-3.2-1B) under bf16 autocast over fp32 weights, batch 8 of up to 92 prompt
   tokens: litelora against PEFT and the frozen floor (``bench_causal_step.py``'s variants),
   medians of interleaved rounds, counted FLOPs, peak device memory.
3. ``gate_probe_cost``: a short generative run (a SmolLM2-shaped LLaMA reading bytes, the
   ``tiny-text`` stream) as the host alone and with ``gate.kind=litelora-v3``, alternating:
   training seconds of each, their ratio, and the candidates the gate closed.

``--dry-run`` runs every step on the CPU with tiny shapes and no timing claims (the tests under
``tests/cuda`` with ``LITELORA_TEST_DEVICE=cpu``): what a test runs, so the script cannot rot.

    PYTHONPATH=src python perf/gpu_check.py                # on the lent device, < 10 min
    PYTHONPATH=src python perf/gpu_check.py --dry-run --json /tmp/gpu_check.json
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).parent))  # bench_causal_step, _common

# LLaMA shapes: about 1.24B parameters (Llama-3.2-1B), SmolLM2-135M, and tiny ones for --dry-run.
LLAMA_1B = {"hidden_size": 2048, "intermediate_size": 8192, "num_hidden_layers": 16, "num_attention_heads": 32,
            "num_key_value_heads": 8, "vocab_size": 128256, "tie_word_embeddings": True}
SMOLLM2 = {"hidden_size": 576, "intermediate_size": 1536, "num_hidden_layers": 30, "num_attention_heads": 9,
           "num_key_value_heads": 3, "vocab_size": 259, "tie_word_embeddings": True}
TINY = {"hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2, "num_attention_heads": 4,
        "num_key_value_heads": 2, "vocab_size": 259, "tie_word_embeddings": False}


def random_llama(shape: dict[str, Any], device: str) -> torch.nn.Module:
    """A LLaMA of ``shape`` with seeded random fp32 weights, built on ``device`` directly."""
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    with torch.device(device):
        return LlamaForCausalLM(LlamaConfig(max_position_embeddings=1024, bos_token_id=2, eos_token_id=1,
                                            pad_token_id=0, architectures=["LlamaForCausalLM"], **shape)).eval()


def cuda_tests(dry: bool, timeout_s: float) -> dict[str, Any]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")])}
    if dry:
        env["LITELORA_TEST_DEVICE"] = "cpu"
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-m", "cuda", "-p", "no:cacheprovider",
                           str(ROOT / "tests" / "cuda")], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=timeout_s)
    lines = proc.stdout.strip().splitlines()
    return {"returncode": proc.returncode, "summary": lines[-1] if lines else "", "seconds": time.perf_counter() - start,
            "failures": [ln for ln in lines if ln.startswith(("FAILED", "ERROR"))]}


def step_vs_peft(dry: bool, device: str, sync: Callable[[], None]) -> dict[str, Any]:
    from bench_causal_step import VARIANTS, build_steps, make_examples, measure

    shape = TINY if dry else LLAMA_1B
    lm = random_llama(shape, device)
    prompts, targets = make_examples(shape["vocab_size"], 2 if dry else 8, 16 if dry else 92)
    steps = build_steps(lm, prompts, targets, VARIANTS, device=device, autocast="bfloat16")
    del lm
    if device.startswith("cuda"):
        torch.cuda.reset_peak_memory_stats()
    results = measure(steps, rounds=1 if dry else 10, warmup=0 if dry else 2, sync=sync)
    peak = torch.cuda.max_memory_allocated() if device.startswith("cuda") else None
    return {"shape": shape, "batch": len(prompts), "prompt_lengths": [len(p) for p in prompts],
            "autocast": "bfloat16", "variants": results, "peak_device_bytes_all_variants": peak}


def gate_probe_cost(dry: bool, device: str, sync: Callable[[], None], rounds: int) -> dict[str, Any]:
    import tempfile

    from litelora.benchmarks import build_benchmark
    from litelora.generative.codec import ByteCodec
    from litelora.generative.zoo import wrap
    from litelora.training.config import RunConfig
    from litelora.training.trainer import ContinualTrainer

    rows = {"host": {"kind": "none"}, "host+gate-v3": {"kind": "litelora-v3"}}
    seconds: dict[str, list[float]] = {name: [] for name in rows}
    closed: dict[str, int] = {}
    for r in range(rounds):
        for name in (list(rows) if r % 2 == 0 else list(reversed(rows))):
            with tempfile.TemporaryDirectory() as tmp:
                config = RunConfig.from_dict({
                    "model": {"name": "tiny-llama", "max_length": 160}, "benchmark": {"name": "tiny-text"},
                    "gate": rows[name], "output_dir": tmp,
                    "train": {"device": device, "max_steps_per_task": 2 if dry else 30, "batch_size": 8,
                              "eval_batch_size": 32, "progress": False}})
                model = wrap(random_llama(TINY if dry else SMOLLM2, "cpu"), ByteCodec(), "causal-lm", config.model)
                trainer = ContinualTrainer(config, build_benchmark("tiny-text"), model)
                sync()
                result = trainer.run()
                sync()
                seconds[name].append(float(result.metrics["train_seconds"]))
                closed[name] = sum(not d.recruit for d in result.gate_decisions)
    med = {k: statistics.median(v) for k, v in seconds.items()}
    return {"train_seconds": seconds, "median_train_seconds": med, "closed_candidates": closed,
            "gate_over_host": med["host+gate-v3"] / med["host"]}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--dry-run", action="store_true", help="every step on the CPU, tiny shapes, no timing claims")
    ap.add_argument("--budget-s", type=float, default=540.0, help="steps not started by then are skipped")
    ap.add_argument("--json", type=Path, default=Path(__file__).parent / "results" / "gpu_check.json")
    args = ap.parse_args(argv)
    from _common import run_info
    from litelora._io import write_json
    from litelora.reporting.environment import environment_info

    device = "cpu" if args.dry_run else "cuda"
    if not args.dry_run and not torch.cuda.is_available():
        print("no CUDA device: run with --dry-run to exercise the steps on the CPU", file=sys.stderr)
        return 2
    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)
    start = time.perf_counter()
    record: dict[str, Any] = {"device": torch.cuda.get_device_name() if device == "cuda" else "cpu (dry run)"}
    steps: dict[str, Callable[[], dict[str, Any]]] = {
        "cuda_tests": lambda: cuda_tests(args.dry_run, max(30.0, args.budget_s - (time.perf_counter() - start))),
        "step_vs_peft": lambda: step_vs_peft(args.dry_run, device, sync),
        "gate_probe_cost": lambda: gate_probe_cost(args.dry_run, device, sync, rounds=1 if args.dry_run else 2),
    }
    failed = False
    for name, fn in steps.items():
        if time.perf_counter() - start > args.budget_s:
            record[name] = {"skipped": f"over the {args.budget_s:.0f} s budget"}
            continue
        t0 = time.perf_counter()
        try:
            record[name] = {**fn(), "wall_s": time.perf_counter() - t0}
        except Exception as err:  # noqa: BLE001 - one failing step must not lose the others' numbers
            record[name] = {"error": f"{type(err).__name__}: {err}", "wall_s": time.perf_counter() - t0}
            failed = True
        failed = failed or record[name].get("returncode", 0) != 0
        write_json(args.json, {"run_info": run_info(argv, {"dry_run": args.dry_run, "budget_s": args.budget_s}),
                               "train_info": record, "meta_info": environment_info()})
        print(f"{name}: {'error' if 'error' in record[name] else 'done'} in {record[name]['wall_s']:.1f} s",
              file=sys.stderr, flush=True)
    if "variants" in record.get("step_vs_peft", {}):
        for v, r in record["step_vs_peft"]["variants"].items():
            print(f"{v:<16} {r['median_ms']:9.1f} ms  / peft-plain {r['ratio_to_peft-plain']:.3f}  "
                  f"/ peft-same-loss {r['ratio_to_peft-same-loss']:.3f}  / floor {r['ratio_to_frozen-floor']:.3f}")
    if "gate_over_host" in record.get("gate_probe_cost", {}):
        print(f"gate v3 / host training seconds: {record['gate_probe_cost']['gate_over_host']:.3f}")
    print(f"wrote {args.json}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
