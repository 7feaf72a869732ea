"""``litelora export RUN_DIR OUT``: the final model as a PEFT LoRA folder or a merged model."""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

from litelora.errors import ConfigError


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("export", help="export a run's final adapters as a PEFT LoRA folder, or a merged model")
    p.add_argument("run_dir")
    p.add_argument("out_dir")
    p.add_argument("--format", choices=["peft", "merged"], default="peft",
                   help="peft: adapter_config.json + adapter_model.safetensors (all tasks concatenated "
                        "exactly); merged: the backbone with every adapter folded in (save_pretrained)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing non-empty OUT")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from litelora.adapters import export_peft
    from litelora.training.build import load_run

    loaded = load_run(args.run_dir)
    config, bank = loaded.config, loaded.bank
    out = Path(args.out_dir)
    if args.format == "peft":
        base = config.model.name[3:] if config.model.name.startswith("hf:") else config.model.name
        export_peft(bank, out, base_model_name_or_path=base, overwrite=args.overwrite)
    else:
        if out.exists() and any(out.iterdir()) and not args.overwrite:
            raise ConfigError(f"{out} is not empty; pass --overwrite to replace it")
        encoder = bank.merge_and_unload()
        if not hasattr(encoder, "save_pretrained"):
            raise ConfigError(f"model {config.model.name!r} is not a transformers model; use --format peft")
        encoder.save_pretrained(out, safe_serialization=True)
    # The growing head and litelora's own state travel beside the adapters.
    head_dir = out / "litelora_head"
    if head_dir.exists():
        shutil.rmtree(head_dir)
    shutil.copytree(Path(args.run_dir) / "head", head_dir)
    print(f"exported {args.format} model to {out}")
    return 0
