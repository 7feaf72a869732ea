"""ContinualTrainer: learn a task stream with a method (and optionally a gate), evaluate the
accuracy matrix, and write the run directory."""

from __future__ import annotations

import math
import random
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from litelora._io import save_tensors
from litelora.adapters import AdapterBank, save_bank
from litelora.benchmarks.stream import Task, TaskStream
from litelora.errors import LiteLoraError
from litelora.gates import GatePlugin, build_gate
from litelora.methods import ContinualMethod, TaskContext, create_method
from litelora.metrics import adapter_reduction, summarize
from litelora.reporting import RunDirectory, environment_info
from litelora.reporting.tables import format_decisions
from litelora.training.backbones import Backbone
from litelora.training.config import RunConfig
from litelora.training.data import iter_batches
from litelora.training.evaluation import evaluate_task
from litelora.training.model import ContinualModel
from litelora.training.optim import build_optimizer


@dataclass
class RunResult:
    """The outcome of a run: ``R[i][j]``, per-task sample counts and summary metrics."""

    accuracy_matrix: list[list[float]]
    n_test: list[int]
    metrics: dict[str, Any]
    gate_decisions: list[dict[str, Any]] = field(default_factory=list)


class ContinualTrainer:
    """Runs ``config`` on ``stream`` with ``backbone``; ``run()`` trains every task in order."""

    def __init__(self, config: RunConfig, stream: TaskStream, backbone: Backbone) -> None:
        self.config = config
        self.stream = stream.validate()
        self.method: ContinualMethod = create_method(config.method.name, config.method.params)
        self.gate: GatePlugin | None = build_gate(config.gate, self.method, num_tasks=len(stream.tasks))
        self.device = torch.device(config.train.device)
        self.model = ContinualModel(backbone)
        self.bank = AdapterBank(self.model.backbone.encoder, config.adapter)
        self.model.to(self.device)
        self.run_dir = RunDirectory(config.output_dir)

    def _context(self, task: Task) -> TaskContext:
        bs = self.config.train.batch_size
        return TaskContext(
            task_id=task.task_id,
            num_tasks=len(self.stream.tasks),
            bank=self.bank,
            train_inputs=lambda: (b for b, _ in iter_batches(self.model.backbone, task.train, bs, device=self.device)),
            run_model=lambda batch: self.model.backbone(**batch),
        )

    # ------------------------------------------------------------------ loop
    def run(self) -> RunResult:
        cfg = self.config
        if cfg.train.num_threads:
            torch.set_num_threads(cfg.train.num_threads)
        _seed_everything(cfg.train.seed)
        self.run_dir.create()
        self.run_dir.write_config(cfg.to_dict())
        self.run_dir.write_json("stream.json", self.stream.summary())
        self.run_dir.reset_events()
        T = len(self.stream.tasks)
        R = [[0.0] * T for _ in range(T)]
        n_test = [len(t.test) for t in self.stream.tasks]
        wall: list[float] = []
        trainable_per_task: list[int] = []
        decisions: list[dict[str, Any]] = []
        for task in self.stream.tasks:
            t0 = time.perf_counter()
            trainable_per_task.append(self._train_task(task))
            if self.gate is not None:
                decisions.extend(self.gate.decisions_for(task.task_id))
            wall.append(time.perf_counter() - t0)
            for j in range(task.task_id + 1):
                R[task.task_id][j] = self.evaluate(self.stream.tasks[j])
                self.run_dir.event("eval", after_task=task.task_id, task=j, accuracy=R[task.task_id][j],
                                   n=n_test[j])
            self.run_dir.write_matrix(R[: task.task_id + 1])
            self.run_dir.event("task_end", task=task.task_id, seconds=wall[-1],
                               active_adapters=self.bank.num_active(), row=R[task.task_id][: task.task_id + 1])
            if self.gate is not None:
                self.run_dir.write_json("gates.json", decisions)
                if cfg.train.progress:
                    tqdm.write(format_decisions(self.gate.decisions_for(task.task_id)))
        metrics = self._metrics(R, n_test, wall, trainable_per_task)
        save_bank(self.bank, self.run_dir.adapters)
        self._save_head()
        self.run_dir.write_matrix(R)
        self.run_dir.write_json("results.json", {
            "schema_version": 1,
            "run_info": {"created_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "total_time_s": sum(wall),
                         "method": cfg.method.name, "gate": cfg.gate.kind, "benchmark": self.stream.name,
                         "model": cfg.model.name, "config": cfg.to_dict()},
            "train_info": {"accuracy_matrix": R, "n_test": n_test, "task_seconds": wall,
                           "trainable_params_per_task": trainable_per_task,
                           "class_order": self.stream.class_order, "seed": self.stream.seed},
            "meta_info": environment_info(),
            "metrics": metrics,
        })
        return RunResult(R, n_test, metrics, decisions)

    def _train_task(self, task: Task) -> int:
        cfg = self.config.train
        ctx = self._context(task)
        head_params = self.model.head.add_task(task.classes)
        method_params = self.method.before_task(ctx)
        gate_groups = self.gate.before_task(ctx) if self.gate is not None else []
        groups = [
            {"params": list(method_params), "lr": cfg.lr, "name": "adapters"},
            {"params": head_params, "lr": cfg.head_lr, "name": "head"},
            *gate_groups,
        ]
        optimizer = build_optimizer(groups, cfg.weight_decay)
        n_trainable = sum(p.numel() for g in groups for p in g["params"])
        columns = self.model.head.columns(task.classes).to(self.device)
        target_of = {c: i for i, c in enumerate(task.classes)}
        steps_per_epoch = math.ceil(len(task.train) / cfg.batch_size)
        total = max(1, round(steps_per_epoch * cfg.epochs))
        if cfg.max_steps_per_task is not None:
            total = min(total, cfg.max_steps_per_task)
        self.run_dir.event("task_start", task=task.task_id, steps=total, trainable_params=n_trainable,
                           classes=list(task.classes))
        self.model.train()
        bar = tqdm(total=total, desc=f"task {task.task_id}", disable=not cfg.progress, leave=False)
        step, seen, t_window, losses = 0, 0, time.perf_counter(), []
        epoch = 0
        while step < total:
            seed = cfg.seed * 100_003 + task.task_id * 101 + epoch
            for batch, labels in iter_batches(self.model.backbone, task.train, cfg.batch_size, shuffle=True,
                                              seed=seed, device=self.device):
                if step >= total:
                    break
                logits = self.model(batch)[:, columns]
                targets = torch.tensor([target_of[int(y)] for y in labels], device=self.device)
                loss = F.cross_entropy(logits, targets)
                extra = self.method.extra_loss(ctx)
                if extra is not None:
                    loss = loss + extra
                if self.gate is not None:
                    penalty = self.gate.penalty()
                    if penalty is not None:
                        loss = loss + penalty
                if not torch.isfinite(loss):
                    raise LiteLoraError(f"non-finite loss {loss.item()} at task {task.task_id}, step {step}; "
                                        "lower train.lr or check the data")
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                step += 1
                seen += len(labels)
                losses.append(loss.item())
                if self.gate is not None and self.gate.after_step(ctx, step, total):
                    optimizer = build_optimizer(groups, cfg.weight_decay, previous=optimizer)
                bar.update(1)
                if step % cfg.log_every == 0 or step == total:
                    dt = time.perf_counter() - t_window
                    rate = seen / dt if dt > 0 else float("nan")
                    bar.set_postfix(loss=f"{np.mean(losses):.3f}", sps=f"{rate:.1f}")
                    self.run_dir.event("train", task=task.task_id, step=step, loss=float(np.mean(losses)),
                                       samples_per_s=rate)
                    seen, t_window, losses = 0, time.perf_counter(), []
            epoch += 1
        bar.close()
        if self.gate is not None:
            self.gate.after_training(ctx)
        self.method.after_task(ctx)
        if self.gate is not None:
            self.gate.after_task(ctx)
        self.model.head.add_task([])  # freezes every head block
        return n_trainable

    def evaluate(self, task: Task) -> float:
        return evaluate_task(self.model, task, self.stream.scenario, self.config.train.eval_batch_size)

    def _metrics(self, R: list[list[float]], n_test: list[int], wall: list[float],
                 trainable: list[int]) -> dict[str, Any]:
        summary = self.bank.summary()
        T, modules = len(R), len(self.bank.targets)
        active = int(summary["active_adapters"])  # type: ignore[arg-type]
        per_task = [self.bank.num_active(t) for t in self.bank.tasks]
        reduction = adapter_reduction(active, T, modules) if self.method.adds_candidates else None
        return {
            **summarize(np.array(R), n_test=n_test),
            "active_adapters": active,
            "active_adapters_per_task": per_task,
            "max_adapters": T * modules,
            "adapter_reduction": reduction,
            "adapter_params": summary["adapter_params"],
            "adapter_bytes": summary["adapter_bytes"],
            "reuse_params": summary["reuse_params"],
            "trainable_params_per_task": trainable,
            "train_seconds": sum(wall),
        }

    def _save_head(self) -> None:
        save_tensors(self.run_dir.head / "head.safetensors", self.model.head.state_tensors())
        self.run_dir.write_json("head/head.json", {"feature_dim": self.model.head.feature_dim,
                                                   "blocks": self.model.head.structure()})


def _seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)

