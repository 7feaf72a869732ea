"""The README.md model card written beside an export."""

from __future__ import annotations

from typing import Any


def model_card(*, base: str | None, fmt: str, run: dict[str, Any], targets: list[str], loader: str) -> str:
    """Markdown: what the folder holds, how to load it, and the run's numbers (``run``: the
    run's ``results.json``)."""
    info, metrics = run.get("run_info", {}), run.get("metrics", {})
    cfg = info.get("config", {})
    names = run.get("train_info", {}).get("class_names") or []
    how = "concatenated into one LoRA per module, exactly" if fmt == "peft" else "merged into the weights"

    def num(key: str) -> str:
        value = metrics.get(key)
        return f"{value:.4f}" if isinstance(value, (int, float)) else "n/a"

    lines = [
        "---",
        "library_name: peft" if fmt == "peft" else "library_name: transformers",
        f"base_model: {base}" if base else "base_model: unknown (set it with litelora export --base-model)",
        "tags: [lora, continual-learning, litelora]",
        "---",
        "",
        f"# {'LoRA adapters' if fmt == 'peft' else 'Merged model'} from a litelora continual run",
        "",
        f"Trained with litelora: method `{info.get('method')}`, gate `{info.get('gate')}`, benchmark "
        f"`{info.get('benchmark')}`, base model `{info.get('model')}`.",
        f"Every task's adapters are in this folder ({how}); {len(targets)} target modules.",
        "",
        "| metric | value |",
        "|---|---|",
        f"| final accuracy (sample-weighted) | {num('final_acc_sample')} |",
        f"| average incremental accuracy | {num('aia_sample')} |",
        f"| forgetting of the first task | {num('forgetting_first')} |",
        f"| active adapters | {metrics.get('active_adapters', 'n/a')} of {metrics.get('max_adapters', 'n/a')} |",
        "",
        "## Loading",
        "",
        "```python",
        loader,
        "```",
        "",
    ]
    if names:
        lines += ["Classes, in head-column order: " + ", ".join(f"`{n}`" for n in names[:50])
                  + (" ..." if len(names) > 50 else ""), ""]
    model = cfg.get("model", {})
    if model:
        lines += [f"Inputs: `max_length` {model.get('max_length')}, pooling `{model.get('pooling')}` "
                  "(the classifier head in `litelora_head/` reads pooled features).", ""]
    return "\n".join(lines)
