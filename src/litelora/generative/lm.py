"""GenerativeModel: a language model that learns a task stream as prompts -> label words.

There is no classifier head: the target of an example is its class name as text
(``templates.target_text``), the loss is the token cross-entropy on the target only, and an
example counts as right when the greedy generation matches the target exactly after
normalisation. The frozen LM is the ``encoder`` the adapter bank wraps. Subclasses
(``seq2seq.Seq2SeqLM``, ``causal.CausalLM``) say how prompt and target become tensors.
"""

from __future__ import annotations

import contextlib
import inspect
import warnings
from collections.abc import Sequence
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from litelora.benchmarks.stream import Example, Task, TaskStream
from litelora.errors import ConfigError, DataError
from litelora.generative.codec import TextCodec
from litelora.models.config import GenerationConfig
from litelora.generative.decoding import until_eos
from litelora.generative.exact_match import exact_match, normalize_answer
from litelora.models.templates import PromptTemplates, label_source, target_text
from litelora.models.task_model import TaskModel

IGNORE = -100  # label of a position that carries no loss (prompt, padding)
AUTOCAST_DTYPES = {"bfloat16": torch.bfloat16, "float16": torch.float16}

# Module-name pairs that mark a family's usual LoRA targets, most specific first.
_USUAL_TARGETS = (["q", "v"], ["q_proj", "v_proj"], ["query", "value"], ["c_attn"])


def usual_targets(lm: nn.Module) -> list[str]:
    """The family's usual LoRA targets found in ``lm``: T5 ``q, v``; LLaMA-style ``q_proj, v_proj``."""
    leaves = {name.rsplit(".", 1)[-1] for name, _ in lm.named_modules()}
    for names in _USUAL_TARGETS:
        if set(names) <= leaves:
            return list(names)
    raise ConfigError(f"{type(lm).__name__}: no usual attention projections (q/v, q_proj/v_proj) found; "
                      "set adapter.target_modules")


def supported_kwargs(lm: nn.Module, **extra: Any) -> dict[str, Any]:
    """The ``extra`` keyword arguments ``lm.forward`` takes (``logits_to_keep`` is not in every
    version or family; without it the forward returns every position's logits)."""
    params = inspect.signature(lm.forward).parameters
    return {k: v for k, v in extra.items() if k in params}


def cache_kwargs(lm: nn.Module, cache: Any, **extra: Any) -> dict[str, Any]:
    """Keyword arguments passing a KV cache to ``lm.forward``: transformers 5 names it ``cache``,
    earlier versions ``past_key_values``; ``extra`` entries the forward does not take are dropped."""
    params = inspect.signature(lm.forward).parameters
    return {"cache" if "cache" in params else "past_key_values": cache, **supported_kwargs(lm, **extra)}


def returned_cache(output: Any) -> Any:
    return output["cache"] if "cache" in output else output["past_key_values"]


def pad_rows(rows: Sequence[Sequence[int]], value: int, *, left: bool = False) -> torch.Tensor:
    """Rows of ids as one (B, longest) tensor, padded with ``value`` on the right (or left)."""
    width = max((len(r) for r in rows), default=0)
    out = torch.full((len(rows), width), value, dtype=torch.long)
    for i, row in enumerate(rows):
        if row:
            ids = torch.tensor(list(row), dtype=torch.long)
            if left:
                out[i, width - len(row) :] = ids
            else:
                out[i, : len(row)] = ids
    return out


def decisive_lengths(options: Sequence[Sequence[int]]) -> list[int]:
    """Per option, how many of its leading tokens ``rank_options`` can read: up to the first token
    no other option shares (its longest common prefix with another option, plus one), at most
    its length. Options whose first tokens all differ need one token each."""
    def shared(a: Sequence[int], b: Sequence[int]) -> int:
        n = 0
        while n < min(len(a), len(b)) and a[n] == b[n]:
            n += 1
        return n

    return [min(len(o), 1 + max((shared(o, p) for j, p in enumerate(options) if j != k), default=0))
            for k, o in enumerate(options)]


class GenerativeModel(TaskModel):
    """Base class of the generative TaskModels; ``kind`` is ``"seq2seq"`` or ``"causal-lm"``.

    ``max_length`` caps prompt tokens (the example text is cut, never the instruction);
    ``autocast`` (``"bfloat16"``/``"float16"``/``None``) runs forward passes under autocast;
    ``gradient_checkpointing`` recomputes activations in backward to save memory.
    """

    kind: ClassVar[str] = ""
    trains_head: ClassVar[bool] = False
    peft_task_type: ClassVar[str] = ""  # the PEFT task_type an export declares
    # Text put before the target (a causal LM continues "Answer:" with " word").
    target_separator: ClassVar[str] = ""
    # Prompt tokens the subclass adds around the rendered prompt (start or end tokens).
    reserved_prompt_tokens: int = 0

    def __init__(self, lm: nn.Module, codec: TextCodec, *, max_length: int = 64,
                 generation: GenerationConfig | None = None, autocast: str | None = None,
                 gradient_checkpointing: bool = False, default_targets: list[str] | None = None) -> None:
        super().__init__()
        if autocast is not None and autocast not in AUTOCAST_DTYPES:
            raise ConfigError(f"model.autocast must be one of {sorted(AUTOCAST_DTYPES)} or null, got {autocast!r}")
        self.lm = lm
        self.lm.requires_grad_(False)  # the base never trains; the bank's adapters do
        self.codec = codec
        self.generation = generation or GenerationConfig()
        self.templates = PromptTemplates(self.generation.templates, self.generation.task_types)
        self.max_length = max_length
        self.autocast = autocast
        self.default_targets = default_targets or usual_targets(lm)
        self.class_names: list[str] = []
        self.truncated: dict[str, dict[str, int]] = {"targets": {}, "prompts": {}}
        # Token ids of each prompt and label already encoded: every epoch and every row of the
        # accuracy matrix collates the same examples again. Keys hold what the ids depend on.
        self._prompt_cache: dict[tuple[str, tuple[int, ...], str, int, int], tuple[list[int], bool]] = {}
        self._target_cache: dict[tuple[int, int], tuple[list[int], bool]] = {}
        if gradient_checkpointing:
            if not getattr(lm, "supports_gradient_checkpointing", False):
                raise ConfigError(f"model.gradient_checkpointing: {type(lm).__name__} does not support it")
            # Non-reentrant checkpointing works when only adapters (not the inputs) need gradients;
            # transformers 5 renamed the switch.
            options = {"use_reentrant": False}
            if hasattr(lm, "activation_checkpointing_enable"):
                lm.activation_checkpointing_enable(activation_checkpointing_kwargs=options)
            else:
                lm.gradient_checkpointing_enable(gradient_checkpointing_kwargs=options)

    @property
    def encoder(self) -> nn.Module:  # type: ignore[override]
        return self.lm

    @property
    def device(self) -> torch.device:
        return next(self.lm.parameters()).device

    def autocast_context(self) -> contextlib.AbstractContextManager[Any]:
        if self.autocast is None:
            return contextlib.nullcontext()
        return torch.autocast(device_type=self.device.type, dtype=AUTOCAST_DTYPES[self.autocast])

    # ------------------------------------------------------------ text
    def attach(self, stream: TaskStream) -> None:
        """Learn the label words; fail now, before anything is written, if a task's template
        leaves no room for its examples within ``max_length``."""
        self.class_names = list(stream.class_names)
        self._prompt_cache.clear()  # the label words, which the prompts list, may have changed
        self._target_cache.clear()
        for task in stream.tasks:
            self.prompt_ids(task, "", self.reserved_prompt_tokens)
            if self.generation.scoring == "exact_match":
                self._check_answers_differ(task)

    def _check_answers_differ(self, task: Task) -> None:
        """Exact match compares normalised text (case, punctuation and spacing ignored), so within
        one source of labels (a class name's ``task:`` prefix; names without one are one source)
        two label words that normalise alike could never be told apart, and a word that normalises
        to nothing would credit an empty generation. Across sources a shared answer is one label
        recurring (``sports`` of BBC and ``Sports`` of AG News, merged by method joint): allowed."""
        seen: dict[tuple[str, str], str] = {}  # (source, normalised answer) -> the word that gave it
        for label in task.classes:
            name = self.class_names[label]
            word = target_text(name)
            answer = normalize_answer(word)
            if not answer:
                raise DataError(f"task {task.name!r}: label word {word!r} is empty to exact match (case, punctuation "
                                "and spacing are ignored), so an empty generation would count as right; rename "
                                "it, or set model.generation.scoring=rank")
            key = (label_source(name), answer)
            if key in seen:
                raise DataError(f"task {task.name!r}: label words {seen[key]!r} and {word!r} are the same answer "
                                "to exact match (case, punctuation and spacing are ignored); rename one, or "
                                "set model.generation.scoring=rank")
            seen[key] = word

    def target(self, label: int) -> str:
        if not self.class_names:
            raise DataError("the generative model has no label words yet: attach(stream) before training")
        return target_text(self.class_names[label])

    def options(self, task: Task) -> list[str]:
        return [self.target(c) for c in task.classes]

    def prompt_ids(self, task: Task, text: str, reserved: int = 0) -> tuple[list[int], bool]:
        """Prompt tokens (at most ``max_length - reserved``; the example text is cut to fit) and
        whether it was cut. The returned list is shared with later calls: do not modify it."""
        key = (task.name, tuple(task.classes), text, reserved, self.max_length)
        if key not in self._prompt_cache:
            self._prompt_cache[key] = self._encode_prompt(task, text, reserved)
        return self._prompt_cache[key]

    def _encode_prompt(self, task: Task, text: str, reserved: int) -> tuple[list[int], bool]:
        prompt = self.templates.render(task.name, text, self.options(task))
        prefix, suffix = self.codec.encode(prompt.prefix), self.codec.encode(prompt.suffix)
        budget = self.max_length - reserved - len(prefix) - len(suffix)
        if budget < 1:
            raise ConfigError(f"model.max_length={self.max_length} leaves no room for the example of task "
                              f"{task.name!r}: its template ({self.templates.task_type(task.name)}) alone takes "
                              f"{len(prefix) + len(suffix) + reserved} tokens; raise model.max_length")
        body = self.codec.encode(prompt.input)
        return prefix + body[:budget] + suffix, len(body) > budget

    def target_ids(self, label: int) -> tuple[list[int], bool]:
        """Target tokens with the end token, at most ``max_target_length``, and whether it was cut
        (the list is shared with later calls: do not modify it)."""
        keep = self.generation.max_target_length - 1
        if (label, keep) not in self._target_cache:
            ids = self.codec.encode(self.target_separator + self.target(label))
            self._target_cache[label, keep] = (ids[:keep] + [self.codec.eos_id], len(ids) > keep)
        return self._target_cache[label, keep]

    # ------------------------------------------------------------ TaskModel
    def add_task(self, task: Task) -> list[nn.Parameter]:
        """Count (and warn about) the training examples whose target or prompt does not fit."""
        long_targets = {c: self.target_ids(c)[1] for c in task.classes}
        n_targets = sum(long_targets.get(ex.label, False) for ex in task.train)
        n_prompts = sum(self.prompt_ids(task, ex.input, self.reserved_prompt_tokens)[1] for ex in task.train)
        self.truncated["targets"][task.name] = n_targets
        self.truncated["prompts"][task.name] = n_prompts
        if n_targets:
            words = [self.target(c) for c, long in long_targets.items() if long]
            warnings.warn(f"task {task.name!r}: {n_targets} of {len(task.train)} training targets ({words[:3]}) "
                          f"are longer than model.generation.max_target_length="
                          f"{self.generation.max_target_length} tokens and are truncated; raise it", stacklevel=2)
        if n_prompts:
            # The end goes: for a pair input ("premise [SEP] hypothesis") that can be the whole second part.
            warnings.warn(f"task {task.name!r}: {n_prompts} of {len(task.train)} training prompts are longer than "
                          f"model.max_length={self.max_length} tokens; their example text is cut at the end "
                          "(raise model.max_length where the end matters)", stacklevel=2)
        return []

    def collate(self, examples: Sequence[Example], task: Task) -> dict[str, torch.Tensor]:
        prompts = [self.prompt_ids(task, ex.input, self.reserved_prompt_tokens)[0] for ex in examples]
        targets = [self.target_ids(ex.label)[0] for ex in examples]
        return self.make_batch(prompts, targets)

    def eval_order(self, task: Task, examples: Sequence[Example]) -> Sequence[Example]:
        """By prompt length (stable): a row's score does not depend on its batch (padding is masked
        and positions start at each row's first token), so an evaluation batch need not be padded
        to the longest prompt of the test set's own order."""
        return sorted(examples, key=lambda ex: len(self.prompt_ids(task, ex.input, self.reserved_prompt_tokens)[0]))

    def make_batch(self, prompts: list[list[int]], targets: list[list[int]]) -> dict[str, torch.Tensor]:
        """Tensors for training (targets as labels) and for generation (prompts alone)."""
        raise NotImplementedError

    def token_logits(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """Logits (B, L, V) and the token each position should predict (B, L), ``IGNORE`` where no
        loss applies (prompt and padding). ``L`` covers every target token of the batch; it may be
        a suffix of the sequence (the causal LM scores only its target columns)."""
        raise NotImplementedError

    def generate_ids(self, batch: dict[str, torch.Tensor], max_new_tokens: int) -> torch.Tensor:
        """Greedy continuation ids (B, n) of the batch's prompts."""
        raise NotImplementedError

    def run(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        return self.token_logits(batch)[0]

    def loss(self, batch: dict[str, torch.Tensor], labels: torch.Tensor, task: Task) -> torch.Tensor:
        logits, targets = self.token_logits(batch)
        return F.cross_entropy(logits.float().flatten(0, 1), targets.flatten(), ignore_index=IGNORE)

    @torch.no_grad()
    def generate_text(self, batch: dict[str, torch.Tensor], max_new_tokens: int | None = None) -> list[str]:
        ids = self.generate_ids(batch, max_new_tokens or self.generation.decode_length)
        return [self.codec.decode(until_eos(row.tolist(), self.codec.eos_id)) for row in ids]

    def count_correct(self, batch: dict[str, torch.Tensor], labels: torch.Tensor, task: Task, scenario: str) -> int:
        if self.generation.scoring == "rank":
            options = torch.tensor(task.classes)
            return int((options[self.rank_options(batch, task)] == labels.cpu()).sum())
        predictions = self.generate_text(batch)
        return sum(exact_match(p, self.target(int(y))) for p, y in zip(predictions, labels.tolist()))

    @torch.no_grad()
    def option_log_likelihoods(self, batch: dict[str, torch.Tensor], task: Task,
                               decisive: bool = False) -> list[list[list[float]]]:
        """Per prompt of the batch and per label option of the task (with its end token), the
        log-probability of each option token given the prompt and the option's earlier tokens:
        ``[b][k][t]``, from one forward pass over B x K rows. ``decisive``: a model may stop each
        option at its ``decisive_lengths`` (all ``rank_options`` reads); this one scores them all."""
        prompts = self.batch_prompts(batch)
        options = [self.target_ids(c)[0] for c in task.classes]
        rows = self.make_batch([p for p in prompts for _ in options], [o for _ in prompts for o in options])
        logits, targets = self.token_logits({k: v.to(self.device) for k, v in rows.items()})
        logp = torch.log_softmax(logits.float(), dim=-1)
        picked = logp.gather(-1, targets.clamp(min=0).unsqueeze(-1)).squeeze(-1)
        keep = targets != IGNORE
        flat = [picked[i][keep[i]].tolist() for i in range(picked.shape[0])]
        return [flat[b * len(options):(b + 1) * len(options)] for b in range(len(prompts))]

    def rank_options(self, batch: dict[str, torch.Tensor], task: Task) -> list[int]:
        """The option (index into ``task.classes``) each prompt is classified as: options compared
        token by token along their shared prefixes, the likelier next token winning, which is the
        answer greedy decoding gives when it may only spell an option. Where unconstrained greedy
        decoding spells an option, this is that option; where it spells none, this is still one."""
        options = [self.target_ids(c)[0] for c in task.classes]
        choices = []
        for per_option in self.option_log_likelihoods(batch, task, decisive=True):
            alive, t = list(range(len(options))), 0
            while len(alive) > 1:
                best: dict[int, float] = {}
                for k in alive:
                    if t < len(options[k]):
                        token = options[k][t]
                        best[token] = max(best.get(token, float("-inf")), per_option[k][t])
                if not best:
                    break  # identical options
                token = max(best, key=best.__getitem__)
                alive = [k for k in alive if t < len(options[k]) and options[k][t] == token]
                t += 1
            choices.append(alive[0])
        return choices

    def batch_prompts(self, batch: dict[str, torch.Tensor]) -> list[list[int]]:
        """The prompt ids of each row of a collated batch (what ``make_batch`` was given)."""
        raise NotImplementedError

    def state(self) -> tuple[Any, dict[str, torch.Tensor]]:
        return {"truncated": self.truncated}, {}

    def load_state(self, structure: Any, tensors: dict[str, torch.Tensor]) -> None:
        if isinstance(structure, dict) and "truncated" in structure:
            self.truncated = {k: dict(v) for k, v in structure["truncated"].items()}

    def report(self) -> dict[str, Any]:
        return {"generation": {"kind": self.kind, "scoring": self.generation.scoring,
                               "task_types": {t: self.templates.task_type(t) for t in self.truncated["targets"]},
                               "truncated_targets": dict(self.truncated["targets"]),
                               "truncated_prompts": dict(self.truncated["prompts"])}}
