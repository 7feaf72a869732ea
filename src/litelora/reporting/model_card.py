"""The README.md model card written beside an export, through ``huggingface_hub.ModelCard``: the
YAML metadata the Hub reads (base model, library, tags, metrics, evaluation results) above a body
rendered from ``templates/model_card.md``."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

TEMPLATE = Path(__file__).with_name("templates") / "model_card.md"
# A Hub repository id (``org/name`` or ``name``); a local folder is not valid ``base_model`` metadata.
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*(/[\w.-]+)?$")


def model_card(*, base: str | None, fmt: str, run: dict[str, Any], targets: list[str], task: str | None = None,
               head: bool = False) -> str:
    """The card's text (``README.md``).

    ``run``: the run's ``results.json``; ``targets``: every module the export holds adapters for
    (for ``fmt="merged"``, every module merged into the weights, listed before merging); ``task``:
    the Hub task the evaluation result is filed under (``text-classification``, ...; ``None``
    leaves it out); ``head``: the export holds ``litelora_head/``.
    """
    from huggingface_hub import EvalResult, ModelCard, ModelCardData

    info, metrics = run.get("run_info", {}), run.get("metrics", {})
    model_cfg = info.get("config", {}).get("model", {})
    benchmark = str(info.get("benchmark"))
    final = metrics.get("final_acc_sample")
    hub_base = base if base and _HUB_ID.match(base) and not Path(base).exists() else None
    results = None
    if task and isinstance(final, (int, float)):
        results = [EvalResult(task_type=task, dataset_type=benchmark, dataset_name=benchmark, metric_type="accuracy",
                              metric_value=round(float(final), 4),
                              metric_name="final accuracy after the last task (sample-weighted)")]
    data = ModelCardData(
        base_model=hub_base, library_name="peft" if fmt == "peft" else "transformers",
        tags=["lora", "continual-learning", "litelora", str(info.get("method"))], metrics=["accuracy"],
        model_name=f"litelora-{info.get('method')}-{benchmark}", eval_results=results,
    )
    names = run.get("train_info", {}).get("class_names") or []
    card = ModelCard.from_template(
        data, template_path=str(TEMPLATE),
        title="LoRA adapters from a litelora continual run" if fmt == "peft" else "Merged model from a litelora "
              "continual run",
        method=info.get("method"), gate=info.get("gate"), benchmark=benchmark, model=info.get("model"),
        how="concatenated into one LoRA per module, exactly" if fmt == "peft" else "merged into the weights",
        targets=targets, metrics=_metric_rows(metrics), loading=_loading(fmt, base), head=head,
        pooling=model_cfg.get("pooling", "mean"), max_length=model_cfg.get("max_length"),
        pooling_text="encoder's last hidden state at the first token" if model_cfg.get("pooling") == "cls"
        else "mean of the encoder's last hidden states over the tokens the attention mask keeps",
        class_names=", ".join(f"`{n}`" for n in names[:50]) + (" ..." if len(names) > 50 else ""),
    )
    return str(card)


def _metric_rows(metrics: dict[str, Any]) -> list[tuple[str, str]]:
    def num(key: str) -> str:
        value = metrics.get(key)
        return f"{value:.4f}" if isinstance(value, (int, float)) else "n/a"

    return [("final accuracy (sample-weighted)", num("final_acc_sample")),
            ("average incremental accuracy", num("aia_sample")),
            ("forgetting of the first task", num("forgetting_first")),
            ("active adapters", f"{metrics.get('active_adapters', 'n/a')} of {metrics.get('max_adapters', 'n/a')}")]


def _loading(fmt: str, base: str | None) -> str:
    """Markdown: how to load the folder, with a network and without one."""
    folder = "PATH/TO/THIS/FOLDER"
    if fmt == "merged":
        return ("The folder is a complete transformers model (weights and config, and the run's tokenizer when it "
                "had a transformers one), so it loads offline as is:\n\n```python\nfrom transformers import AutoModel, AutoTokenizer\n"
                f"model = AutoModel.from_pretrained('{folder}')\ntokenizer = AutoTokenizer.from_pretrained('{folder}')\n```")
    if not base:
        return ("`adapter_config.json` names no base model (the run's model was built in code). Load the base "
                "yourself and apply the adapters:\n\n```python\nfrom peft import PeftModel\n"
                f"model = PeftModel.from_pretrained(base, '{folder}')  # base: the model the run trained on\n```\n\n"
                "or re-export with `litelora export RUN OUT --base-model NAME_OR_FOLDER`, after which "
                "`AutoPeftModel.from_pretrained` loads base and adapters in one call.")
    local = Path(base).exists()
    online = (f"`adapter_config.json` names the base `{base}`" + (" (a local folder)" if local else "")
              + ", so one call loads base and adapters:\n\n```python\nfrom peft import AutoPeftModel\n"
              f"model = AutoPeftModel.from_pretrained('{folder}')\n```")
    offline = ("\n\nOffline, `AutoPeftModel` can only read the base from a local folder or the Hugging Face cache "
               "(set `HF_HUB_OFFLINE=1` so a cached base is not looked up online). With the base in a local "
               "folder, either load it and apply the adapters:\n\n```python\nfrom peft import PeftModel\n"
               "from transformers import AutoModel\n"
               f"model = PeftModel.from_pretrained(AutoModel.from_pretrained('PATH/TO/BASE'), '{folder}')\n```\n\n"
               "or re-export with `litelora export RUN OUT --base-model PATH/TO/BASE`, which writes that folder "
               "into `adapter_config.json`.")
    return online + ("" if local else offline)
