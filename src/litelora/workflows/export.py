"""Export a finished run: one PEFT LoRA folder (or a merged model), its classifier head, a model
card and, on request, the model after each task; built beside the target and swapped in whole."""

from __future__ import annotations

import os
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from litelora._io import atomic_dir, read_json, write_json, write_text
from litelora._paths import confined, refuse_inside
from litelora.adapters import export_peft
from litelora.errors import ConfigError
from litelora.models.backbone import hub_id
from litelora.models.text import TextBackbone
from litelora.models.vision import ImageBackbone
from litelora.reporting import RunDirectory
from litelora.reporting.model_card import model_card
from litelora.reporting.progress_bar import tqdm
from litelora.workflows.head_meta import head_record, model_pooling
from litelora.workflows.runs import load_run
from litelora.workflows.snapshots import export_snapshots

FORMATS = ("peft", "merged")


@dataclass
class ExportResult:
    """Where the export went, the per-task snapshot folders, and a note when they are not exact."""

    out: Path
    snapshots: list[Path] = field(default_factory=list)
    note: str | None = None


def export_run(run_dir: str | os.PathLike[str], out_dir: str | os.PathLike[str], *, fmt: str = "peft",
               per_task: bool = False, base_model: str | None = None, overwrite: bool = False,
               allow_download: bool = False, progress: bool = False) -> ExportResult:
    """Write ``out_dir`` from the finished run ``run_dir`` (``fmt``: ``peft`` or ``merged``).

    ``base_model`` names the base in ``adapter_config.json`` (default: the run's hub id or folder);
    a non-empty ``out_dir`` needs ``overwrite``, and is replaced as a whole. ``progress`` shows a
    bar over the stages (load, write, head and card, each per-task snapshot) on stderr.
    """
    if fmt not in FORMATS:
        raise ConfigError(f"export format must be one of {list(FORMATS)}, got {fmt!r}")
    if per_task and fmt != "peft":
        raise ConfigError("--per-task writes PEFT folders: use it with --format peft")
    out, run_dir = Path(out_dir), Path(run_dir)
    if out.exists() and (not out.is_dir() or any(out.iterdir())) and not overwrite:
        raise ConfigError(f"{out} is not empty; pass --force (or --overwrite) to replace it")
    refuse_inside(out, run_dir, "exported", replaces=True)
    with tqdm(total=3, desc="export", unit="stage", disable=not progress, leave=False) as bar:
        bar.set_postfix_str("loading the run")
        loaded = load_run(run_dir, allow_download=allow_download)
        config, bank = loaded.config, loaded.bank
        bar.update()
        bar.set_postfix_str(f"writing {fmt}")
        base = base_model or hub_id(config.model.name)
        targets = sorted({spec.module_name for spec in bank.specs.values()})  # before a merge unwraps them
        result = ExportResult(out)
        # Everything is built in a folder beside OUT that then replaces OUT whole: a kill leaves the
        # old OUT (or none), never a mix of two exports or an adapter without its head.
        _remove_stale_staging(out)
        with atomic_dir(out) as staging:
            if fmt == "peft":
                # Generative runs say which PEFT model class loads them (SEQ_2_SEQ_LM, CAUSAL_LM).
                export_peft(bank, staging, base_model_name_or_path=base,
                            task_type=getattr(loaded.model, "peft_task_type", None), overwrite=True)
            else:
                encoder = bank.merge_and_unload()
                if not hasattr(encoder, "save_pretrained"):
                    raise ConfigError(f"model {config.model.name!r} is not a transformers model; use --format peft")
                encoder.save_pretrained(staging, safe_serialization=True)
                tokenizer = _tokenizer(loaded.model)
                if tokenizer is not None:  # without it transformers falls back to a tokenizer that knows no word
                    tokenizer.save_pretrained(staging)
            bar.update()
            bar.set_postfix_str("head and model card")
            # The growing head travels beside the adapters (generative runs have no head).
            head = RunDirectory(run_dir).head
            if confined(head, "head.safetensors").is_file():
                (staging / "litelora_head").mkdir()
                shutil.copyfile(confined(head, "head.safetensors"), staging / "litelora_head" / "head.safetensors")
                # What the head was trained on travels with it, so eval --peft can refuse a mismatch.
                record = head_record(loaded.model.head.class_ids, loaded.stream, model_pooling(loaded.model))
                write_json(staging / "litelora_head" / "head.json", {**read_json(confined(head, "head.json")), **record})
            write_text(staging / "README.md", model_card(
                base=base, fmt=fmt, run=RunDirectory(run_dir).read_json("results.json"), targets=targets,
                task=_hub_task(loaded.model), head=(staging / "litelora_head").is_dir()))
            bar.update()
            if per_task:
                bar.total += len(loaded.stream.tasks)
                bar.set_postfix_str("per-task snapshots")
                written = export_snapshots(loaded, staging, base_model_name_or_path=base, overwrite=True,
                                           on_written=lambda _: bar.update())
                result.snapshots = [out / f.name for f in written]
                info = read_json(written[0] / "snapshot.json") if written else {"exact": True}
                result.note = None if info["exact"] else info["note"]
    return result


def _remove_stale_staging(out: Path) -> None:
    """Delete the staging folders a killed export to ``out`` left beside it (``.OUT.XXXXXXXX.tmp``
    / ``.old``, the names ``atomic_dir`` gives them)."""
    stale = re.compile(rf"\.{re.escape(out.name)}\.[a-z0-9_]{{8}}\.(tmp|old)")
    if out.parent.is_dir():
        for entry in out.parent.iterdir():
            if stale.fullmatch(entry.name) and entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry)


def _tokenizer(model: object) -> object | None:
    """The run's transformers tokenizer, if its model has one (a text encoder or a generative LM)."""
    backbone = getattr(model, "backbone", model)
    tokenizer = getattr(backbone, "tokenizer", None) or getattr(getattr(model, "codec", None), "tokenizer", None)
    return tokenizer if hasattr(tokenizer, "save_pretrained") else None


def _hub_task(model: object) -> str | None:
    """The Hugging Face task an export's evaluation result is filed under (``None``: no Hub task fits)."""
    generative = {"CAUSAL_LM": "text-generation", "SEQ_2_SEQ_LM": "text2text-generation"}
    task_type = getattr(model, "peft_task_type", None)
    if task_type in generative:
        return generative[task_type]
    backbone = getattr(model, "backbone", None)
    if isinstance(backbone, TextBackbone):
        return "text-classification"
    return "image-classification" if isinstance(backbone, ImageBackbone) else None
