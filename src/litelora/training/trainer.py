"""ContinualTrainer: learn a task stream with a method (and optionally a gate), evaluate the
accuracy matrix, and write the run directory."""

from __future__ import annotations

import contextlib
import math
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import torch
from torch import nn

from litelora.adapters import AdapterBank, AdapterConfig, save_bank
from litelora.benchmarks.stream import Task, TaskStream
from litelora.errors import ConfigError, PathError
from litelora.training.controller import LiteLoRA
from litelora.gates import GateDecision, GatePlugin
from litelora.methods import ContinualMethod
from litelora.reporting import (
    ReadOnlyRunDirectory,
    RunDirectory,
    RunLock,
    environment_info,
)
from litelora.reporting.progress_bar import tqdm
from litelora.reporting.tables import format_decisions
from litelora.models.backbone import Backbone
from litelora.training.callbacks import Callback, LearningCurve, MidTaskCheckpoints, ProgressLog, keyed
from litelora.training.checkpoint import (
    Checkpoint,
    load_latest,
    newest_seq,
    optimizer_from_checkpoint,
    optimizer_to_checkpoint,
    rng_state,
    save_checkpoint,
    seed_everything,
    set_rng_state,
)
from litelora.training.config import RunConfig
from litelora.training.data import epoch_seed, iter_task_batches
from litelora.training.distributed import Distributed, LossModule, check_launch
from litelora.training.evaluation import evaluate_task
from litelora.models.classifier import as_task_model
from litelora.training.guards import check_finite, grad_norm
from litelora.training.optim import apply_schedule, build_optimizer
from litelora.training.pairing import resolve_gate
from litelora.training.progress import (
    Progress,
    live_model_tensors,
    load_live_model_tensors,
    restore_task_start,
    task_start_snapshot,
)
from litelora.training.rehearsal import rehearse
from litelora.training.run_identity import checkpoint_problem, resume_identity, start_identity, task_steps
from litelora.training.run_metrics import run_metrics
from litelora.models.task_model import TaskModel


@dataclass
class RunResult:
    """The outcome of a run: ``R[i][j]``, per-task sample counts and summary metrics."""

    accuracy_matrix: list[list[float]]
    n_test: list[int]
    metrics: dict[str, Any]
    gate_decisions: list[GateDecision] = field(default_factory=list)


class ContinualTrainer:
    """Runs ``config`` on ``stream`` with ``model``; ``run()`` trains every task in order.

    ``model`` is a TaskModel (a classifier or a generative LM), or a feature backbone that gets a
    growing classifier head.
    """

    def __init__(self, config: RunConfig, stream: TaskStream, model: Backbone | TaskModel,
                 callbacks: Sequence[Callback] = ()) -> None:
        self.stream = stream.validate()
        for problem in self.stream.problems():
            warnings.warn(f"{stream.name}: {problem}; that task cannot reach full accuracy "
                          "(litelora benchmark check lists every such class)", stacklevel=2)
        check_launch(config.train.device)
        self.dist = Distributed(config.train.device, config.train.sharding)
        self.device = self.dist.device
        self.model = as_task_model(model, config.model.head, config.model.alignment, config.train.seed)
        self.model.attach(self.stream)
        # gate.kind auto is resolved here, where the model is known, so that the run records the gate that ran.
        headless = not self.model.trains_head and all(len(t.classes) > 1 for t in self.stream.tasks)
        self.config = config = resolve_gate(config, headless)
        # The bank, the host method and the gate: the object a user's own loop drives as well.
        self.lite = LiteLoRA(self.model.encoder, resolve_targets(config.adapter, self.model), config.method.name,
                             config.gate, num_tasks=len(stream.tasks), lr=config.train.lr, seed=config.train.seed,
                             method_params=config.method.params)
        if self.dist.enabled:
            self.lite.refuse_kept_probe("each process's probe would train its own head, and rank 0's would win")
        self.model.to(self.device)
        if self.dist.fsdp and getattr(self.model, "peft_task_type", None) == "SEQ_2_SEQ_LM":
            raise ConfigError("train.sharding=fsdp supports causal LMs and encoders; a seq2seq model calls its "
                              "encoder outside the sharded root: use train.sharding=none")
        # The transformers model is the root unit: its own forward unshards the embeddings.
        self.sharded_units = self.dist.shard_model(self.model.encoder)
        # Every rank reads the run directory (resume); only rank 0 writes it.
        self.run_dir = RunDirectory(config.output_dir) if self.dist.is_main else ReadOnlyRunDirectory(config.output_dir)
        self.progress = Progress()
        cfg = config.train
        self.curve = LearningCurve(self.run_dir, cfg.curve_points, self.evaluate) if cfg.curve_points else None
        # Mid-task checkpoints come last, so every other callback's state includes the step saved.
        self.callbacks: list[Callback] = [ProgressLog(self.run_dir, cfg.log_every, cfg.progress), *callbacks,
                                          *([self.curve] if self.curve else []),
                                          MidTaskCheckpoints(cfg.checkpoint_every, self._save_live)]
        self._ckpt_seq = 0
        self._identity: dict[str, Any] | None = None
        self._start: tuple[dict[str, Any], dict[str, dict[str, torch.Tensor]]] = ({}, {})

    @property
    def bank(self) -> AdapterBank:
        return self.lite.bank

    @property
    def method(self) -> ContinualMethod:
        return self.lite.method

    @property
    def gate(self) -> GatePlugin | None:
        return self.lite.gate

    # ------------------------------------------------------------------ loop
    def run(self, resume: bool = False, allow_changes: Sequence[str] = (), force: bool = False) -> RunResult:
        """Train every task not yet done.

        The run directory must be empty or new, unless ``resume`` (continue from its newest intact
        checkpoint; a fresh start when the run never wrote one; ``PathError`` when every checkpoint
        is damaged) or ``force`` (delete the earlier run and start over). A resumed config that
        differs from the saved one is refused unless the fields are in ``allow_changes``.
        """
        cfg = self.config
        if cfg.train.num_threads:
            torch.set_num_threads(cfg.train.num_threads)
        self.run_dir.create()
        with RunLock(self.run_dir.root) if self.dist.is_main else contextlib.nullcontext():
            if self.dist.is_main:
                self.run_dir.remove_leftovers()  # temp files of writes a kill interrupted
            identity = (resume_identity(self.run_dir, cfg.to_dict(), self.stream, allow_changes)
                        if resume else None)
            ckpt = self._resume_point(force, identity) if resume else None
            if ckpt is None:
                seed_everything(cfg.train.seed)
                self.run_dir.start_fresh(force=force, after_crash=resume)
                # config.yaml first: a folder killed after it is a run that --resume starts over.
                self.run_dir.write_config(cfg.to_dict())
                self.run_dir.write_json("stream.json", self.stream.summary())
                self._identity = start_identity(self.run_dir, cfg.to_dict(), self.stream)
                self.run_dir.reset_events()
                T = len(self.stream.tasks)
                self.progress = Progress(R=[[0.0] * T for _ in range(T)])
                live = None
            else:
                self._identity = self._continue(identity, ckpt)
                restore_task_start(self, ckpt.state["start"], ckpt.tensors)
                self._start = (ckpt.state["start"], {k: v for k, v in ckpt.tensors.items() if k.startswith("start_")})
                live = ckpt.state.get("live")
                self._restore_callbacks(ckpt.state.get("callbacks") or {})
                # Above every folder there, damaged ones included, so pruning never drops the new one.
                self._ckpt_seq = max(ckpt.seq, newest_seq(self.run_dir.checkpoints))
                self.run_dir.event("resume", checkpoint=ckpt.path.name, task=self.progress.next_task,
                                   step=live["step"] if live else 0)
            while self.progress.next_task < len(self.stream.tasks):
                self._run_task(self.stream.tasks[self.progress.next_task], live, ckpt.tensors if live else None)
                live = None
            return self._finish()

    def _resume_point(self, force: bool, identity: dict[str, Any] | None) -> Checkpoint | None:
        try:
            return load_latest(self.run_dir.checkpoints,
                               lambda state: checkpoint_problem(state, identity, self.stream, self.config.train))
        except PathError:
            if force:
                return None  # every checkpoint is damaged and the user asked to start over
            raise

    def _continue(self, identity: dict[str, Any] | None, ckpt: Checkpoint) -> dict[str, Any] | None:
        """Bring the run directory back to the checkpoint: events after it are dropped (they are
        logged again), and the config the run now continues with is recorded."""
        if identity is None:
            warnings.warn(f"{self.run_dir.root} has no run.json (started by an older litelora): its config and data "
                          "cannot be compared with what the run was started on", stacklevel=3)
        run = ckpt.state.get("run") or {}
        if self.dist.is_main and isinstance(run.get("events_bytes"), int):
            self.run_dir.truncate_events(run["events_bytes"])
        self.run_dir.write_config(self.config.to_dict())
        return identity

    def _run_task(self, task: Task, live: dict[str, Any] | None, tensors: dict[str, Any] | None) -> None:
        p = self.progress
        if live is None:
            self._start = task_start_snapshot(self)
        t0 = time.perf_counter()
        p.trainable.append(self._train_task(task, live, tensors))
        if self.gate is not None:
            p.decisions.extend(d.to_dict() for d in self.gate.decisions_for(task.task_id))
        p.wall.append(time.perf_counter() - t0 + (live or {}).get("elapsed", 0.0))
        row = p.R[task.task_id]
        for j in range(task.task_id + 1):
            row[j] = self.evaluate(self.stream.tasks[j])
            self.run_dir.event("eval", after_task=task.task_id, task=j, accuracy=row[j], n=len(self.stream.tasks[j].test))
        self.run_dir.write_matrix(p.R[: task.task_id + 1])
        self.run_dir.event("task_end", task=task.task_id, seconds=p.wall[-1],
                           active_adapters=self.bank.num_active(), row=row[: task.task_id + 1])
        if self.gate is not None:
            self.run_dir.write_json("gates.json", p.decisions)
            if self.config.train.progress:
                tqdm.write(format_decisions([d.to_dict() for d in self.gate.decisions_for(task.task_id)]))
        p.next_task += 1
        self._save_checkpoint(*task_start_snapshot(self))

    def _save_checkpoint(self, start_state: dict[str, Any], start_tensors: dict[str, dict[str, torch.Tensor]],
                         live: dict[str, Any] | None = None,
                         live_tensors: dict[str, dict[str, torch.Tensor]] | None = None) -> None:
        self._ckpt_seq += 1
        if not self.dist.is_main:
            return
        callbacks = {key: cb.state_dict() for key, cb in keyed(self.callbacks)}
        run = {"id": (self._identity or {}).get("run_id"), "events_bytes": self.run_dir.events_size()}
        save_checkpoint(self.run_dir.checkpoints, self._ckpt_seq,
                        {"run": run, "start": start_state, "live": live, "callbacks": callbacks},
                        {**start_tensors, **(live_tensors or {})})

    def _restore_callbacks(self, saved: dict[str, dict[str, Any]]) -> None:
        """Give each callback the state it had in the checkpoint (matched by class and by its
        place among the callbacks of that class); one the checkpoint does not know starts afresh."""
        for key, cb in keyed(self.callbacks):
            if key in saved:
                cb.load_state_dict(saved[key])
            elif cb.state_dict():
                warnings.warn(f"callback {key} has no state in the checkpoint: it starts afresh", stacklevel=2)

    def _finish(self) -> RunResult:
        cfg, p = self.config, self.progress
        n_test = [len(t.test) for t in self.stream.tasks]
        metrics = run_metrics(self.bank, self.method, p.R, n_test, p.wall, p.trainable,
                              self.gate.decisions if self.gate is not None else ())
        if self.dist.is_main:
            save_bank(self.bank, self.run_dir.adapters)
            self.model.save(self.run_dir.root)
        self.run_dir.write_matrix(p.R)
        self.run_dir.write_json("results.json", {
            "schema_version": 1,
            "run_info": {"created_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "total_time_s": sum(p.wall),
                         "world_size": self.dist.world_size, "fsdp_units": self.sharded_units,
                         "method": cfg.method.name, "gate": cfg.gate.kind, "benchmark": self.stream.name,
                         "model": cfg.model.name, "config": cfg.to_dict()},
            "train_info": {"accuracy_matrix": p.R, "n_test": n_test, "task_seconds": p.wall,
                           "trainable_params_per_task": p.trainable,
                           "class_order": self.stream.class_order, "class_names": list(self.stream.class_names),
                           "seed": self.stream.seed,
                           **({"task_curves": self.curve.task_curves(len(self.stream.tasks))} if self.curve else {}),
                           **self.model.report()},
            "meta_info": environment_info(),
            "metrics": metrics,
        })
        return RunResult(p.R, n_test, metrics, [GateDecision.from_dict(row) for row in p.decisions])

    def _train_task(self, task: Task, live: dict[str, Any] | None = None,
                    tensors: dict[str, Any] | None = None) -> int:
        cfg = self.config.train
        head_params = self.model.add_task(task)

        def task_batches() -> Iterator[tuple[dict[str, torch.Tensor], torch.Tensor]]:
            # The task's training data in order, this process's share: what a model measures.
            return iter_task_batches(self.model, task, self.dist.eval_shard(task.train), cfg.eval_batch_size,
                                     device=self.device)

        self.model.begin_task(task, task_batches)
        steps_per_epoch = math.ceil(len(task.train) / cfg.batch_size)
        total = task_steps(cfg, task)
        self.lite.start_task(
            task.task_id, total, forward=self.model.run,
            train_inputs=lambda: (b for b, _ in iter_task_batches(self.model, task, task.train, cfg.batch_size,
                                                                  device=self.device)),
            rehearse_fn=lambda n, on_step, keep=False: self._rehearse(task, head_params, n, on_step, keep),
            num_classes=len(task.classes) if len(task.classes) > 1 else None)
        ctx = self.lite.context
        groups = [*self.lite.groups, {"params": head_params, "lr": cfg.head_lr, "name": "head"}]
        n_trainable = sum(p.numel() for g in groups for p in g["params"] if p.requires_grad)
        if n_trainable == 0:
            # A generative model with every candidate closed (gate.reuse=frozen) has nothing left
            # to learn this task with; that is a legitimate outcome, not an error.
            warnings.warn(f"task {task.task_id}: nothing trains (every candidate adapter closed with "
                          f"gate.reuse={self.config.gate.reuse!r} and no trainable head); the task is "
                          "evaluated with the model as it stands", stacklevel=2)
            total = 0
        step = min(ctx.consumed, total)  # a gate that kept its probe took the task's first steps
        if live is not None and tensors is not None:
            if self.gate is not None:
                self.gate.load_live_state(ctx, live["gate"], tensors.get("live_gate", {}))
            load_live_model_tensors(self.model, tensors["live_model"])
            step = live["step"]
        optimizer = build_optimizer(groups, cfg.weight_decay)
        loss_fn, outside = self._wrap(task, groups)
        if live is not None and tensors is not None:
            optimizer_from_checkpoint(optimizer, live["optimizer"], tensors["live_optim"])
            set_rng_state(live["rng"], tensors["live_rng"])
        if live is None:
            self.run_dir.event("task_start", task=task.task_id, steps=total, first_step=step,
                               trainable_params=n_trainable, classes=list(task.classes))
        self.model.train()
        for cb in self.callbacks:
            cb.on_task_start(task, total, step, (live or {}).get("elapsed", 0.0))
        with self.bank.frozen_folded(cfg.fold_frozen and not self.dist.fsdp):  # a sharded weight cannot fold
            while step < total:
                epoch, offset = divmod(step, steps_per_epoch)
                # An epoch a kept probe began is drawn in the probe's order, so the loop goes on
                # with the batches the probe had not reached rather than some of them again.
                order = epoch_seed(cfg.seed, task.task_id, epoch if epoch * steps_per_epoch >= ctx.consumed else -1)
                for batch, labels in iter_task_batches(self.model, task, task.train, cfg.batch_size, shuffle=True,
                                                       seed=order, device=self.device, skip=offset, shard=self.dist.shard):
                    if step >= total:
                        break
                    loss = loss_fn(batch, labels)
                    for term in self.lite.loss_terms():
                        loss = loss + term
                    check_finite(loss, task.task_id, step, "loss")
                    optimizer.zero_grad(set_to_none=True)
                    loss.backward()
                    self.dist.average_grads(outside)
                    check_finite(grad_norm(optimizer), task.task_id, step, "gradient norm")
                    apply_schedule(optimizer, cfg.lr_schedule, step, total)
                    optimizer.step()
                    step += 1
                    if self.lite.after_step(step):
                        # The trainable set changed: identical decisions on every rank, then a new
                        # optimizer and a new DDP wrapper over what still trains.
                        self.dist.check_same([d.to_dict() for d in self.gate.decisions_for(task.task_id)], "gate decisions")
                        optimizer = build_optimizer(groups, cfg.weight_decay, previous=optimizer)
                        loss_fn, outside = self._wrap(task, groups)
                    for cb in self.callbacks:
                        cb.on_step_end(task, step, loss.item(), len(labels), optimizer)
        for cb in self.callbacks:
            cb.on_task_end(task)
        self.lite.end_task()
        self.model.end_task(task, task_batches)
        return n_trainable

    def _rehearse(self, task: Task, head_params: list[nn.Parameter], steps: int,
                  on_step: Callable[[int, float], None] | None, keep: bool = False) -> list[float]:
        """``steps`` training steps of what requires gradients now, undone afterwards unless
        ``keep`` (see ``training.rehearsal``); batches in an order of their own (the epoch seed
        before the task's first), this process's shard. A kept rehearsal's order is the task's
        first epoch's: the task's loop continues it."""
        cfg = self.config.train
        loss = LossModule(self.model, task)

        def batches() -> Iterator[tuple[dict[str, torch.Tensor], torch.Tensor]]:
            return iter_task_batches(self.model, task, task.train, cfg.batch_size, shuffle=True,
                                     seed=epoch_seed(cfg.seed, task.task_id, -1), device=self.device,
                                     shard=self.dist.shard)

        lrs = {**self.lite.context.lrs, **{id(p): cfg.head_lr for p in head_params}}
        return rehearse(self.model, loss, batches, steps, lrs, cfg.lr, on_step, keep=keep)

    def _wrap(self, task: Task, groups: list[dict[str, Any]]) -> tuple[nn.Module, list[nn.Parameter]]:
        """The loss as a (DDP-wrapped when distributed) module over what trains now, and the
        trainable parameters outside the model (the gate's), whose gradients are averaged by hand."""
        module = LossModule(self.model, task)
        inside = set() if self.dist.fsdp else {id(p) for p in self.model.parameters()}
        outside = [p for g in groups for p in g["params"] if p.requires_grad and id(p) not in inside]
        return self.dist.wrap(module), outside

    def _save_live(self, step: int, optimizer: torch.optim.Optimizer, elapsed: float) -> None:
        optim_json, optim_tensors = optimizer_to_checkpoint(optimizer)
        rng_json, rng_tensors = rng_state()
        gate_json, gate_tensors = self.gate.live_state() if self.gate is not None else ({}, {})
        live = {"step": step, "optimizer": optim_json, "rng": rng_json, "gate": gate_json, "elapsed": elapsed}
        self._save_checkpoint(*self._start, live, {
            "live_model": live_model_tensors(self.model), "live_optim": optim_tensors,
            "live_rng": rng_tensors, "live_gate": gate_tensors,
        })

    def evaluate(self, task: Task) -> float:
        return evaluate_task(self.model, task, self.stream.scenario, self.config.train.eval_batch_size, self.dist)


def resolve_targets(adapter: AdapterConfig, model: TaskModel) -> AdapterConfig:
    """``adapter`` with the model's usual LoRA targets when ``target_modules`` is left at its default
    (as PEFT does per model type: BERT query/value, T5 q/v, LLaMA q_proj/v_proj)."""
    if adapter.target_modules != AdapterConfig().target_modules or not model.default_targets:
        return adapter
    return replace(adapter, target_modules=list(model.default_targets))


