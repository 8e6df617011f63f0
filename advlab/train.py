"""The one training loop every notebook uses, with a progress bar and a live plot.

Each step minimises

    loss = clean_weight * CE(model(x), y)  +  sum_k  term_k(model, batch)

where the ``extra_losses`` terms are the seam through which later notebooks plug in their
method without a new loop: an adversarial loss CE(model(x_adv), y) (notebook 04), the VAT
smoothness loss on unlabelled data (05), the domain loss behind a gradient reversal layer
(06). A term is any callable ``term(model, batch) -> scalar tensor``; ``batch`` is a
:class:`Batch` holding the inputs, the labels, the clean logits (with their graph) and the
training progress p in [0, 1] (for schedules such as DANN's lambda(p)).

``metrics`` are evaluated at the end of every epoch (model in eval mode) and plotted
beside the training accuracy, e.g. ``{"test acc": lambda m: accuracy(m, x_test, y_test)}``.
They only observe: they run on a copy of torch's random-number state, so a metric that draws
random numbers never changes the training run (the same weights with or without metrics).
``advlab.runs.fit`` is this loop through the run cache: trained once, then loaded.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from .checks import check_int, check_labels, check_number
from .liveplot import History, LivePlot
from .models import eval_mode, model_device
from .progress import progress_bar


@dataclass
class Batch:
    """What a loss term sees at one training step."""

    x: torch.Tensor  # inputs, on the model's device
    y: torch.Tensor  # labels
    logits: torch.Tensor  # model(x) in train mode, still attached to the graph
    progress: float  # fraction of training done, in [0, 1]


LossTerm = Callable[[nn.Module, Batch], torch.Tensor]
Metric = Callable[[nn.Module], float]


def minibatches(n: int, batch_size: int, generator: torch.Generator) -> list[torch.Tensor]:
    """A shuffled partition of range(n) into index batches of `batch_size` (the last may be smaller)."""
    return list(torch.randperm(n, generator=generator).split(batch_size))


def fit(
    model: nn.Module,
    train_data: tuple[torch.Tensor, torch.Tensor],
    *,
    epochs: int = 5,
    batch_size: int = 64,
    lr: float = 1e-3,
    clean_weight: float = 1.0,
    extra_losses: Mapping[str, LossTerm] | None = None,
    metrics: Mapping[str, Metric] | None = None,
    optimizer: torch.optim.Optimizer | None = None,
    lr_schedule: Callable[[float], float] | None = None,
    seed: int = 0,
    live: bool = True,
    progress: bool = True,
    title: str | None = None,
    points_per_epoch: int = 20,
    on_epoch_end: Callable[[nn.Module, int], None] | None = None,
) -> History:
    """Train `model` in place on ``train_data = (x, y)``; return the History of its curves.

    ``x`` is a float tensor (images) or an int64 tensor (token ids for a model that starts with
    an embedding, such as ``text.CharCNN``); batches keep their dtype, nothing is cast.

    Optimizer: Adam(lr) unless one is given. ``lr_schedule(p)`` multiplies the learning
    rate at progress p. The same `seed` gives the same batches and the same numbers.
    ``on_epoch_end(model, epoch)`` is called after each epoch's metrics (the run cache keeps
    the weights of every epoch through it).
    """
    x, y = train_data
    if not isinstance(x, torch.Tensor) or not (x.is_floating_point() or x.dtype == torch.int64):
        raise TypeError("train_data[0] must be a float tensor of inputs or an int64 tensor of token ids, "
                        f"got {x.dtype if isinstance(x, torch.Tensor) else type(x).__name__}")
    check_labels("train_data[1]", y, len(x))
    check_int("epochs", epochs, minimum=1)
    check_int("batch_size", batch_size, minimum=1)
    check_number("lr", lr, minimum=0, strict=True)
    check_number("clean_weight", clean_weight, minimum=0)
    check_int("seed", seed, minimum=0)
    extra_losses = dict(extra_losses or {})
    metrics = dict(metrics or {})
    if clean_weight == 0 and not extra_losses:
        raise ValueError("clean_weight=0 with no extra_losses leaves nothing to minimise")

    torch.manual_seed(seed)  # for terms that draw random numbers (random starts, VAT's d)
    generator = torch.Generator().manual_seed(seed)
    device = model_device(model)
    optimizer = optimizer or torch.optim.Adam(model.parameters(), lr=lr)
    base_lrs = [group["lr"] for group in optimizer.param_groups]
    steps_per_epoch = -(-len(x) // batch_size)
    log_every = max(1, steps_per_epoch // points_per_epoch)

    history = History()
    plot = LivePlot(title=title) if live else None
    bar = progress_bar(epochs * steps_per_epoch, title or "training", disable=not progress)
    for epoch in range(epochs):
        started, cpu_started = time.perf_counter(), time.process_time()
        model.train()
        running: dict[str, float] = {}
        steps_logged, correct = 0, 0
        for step, index in enumerate(minibatches(len(x), batch_size, generator)):
            done = epoch + step / steps_per_epoch
            if lr_schedule is not None:
                _scale_learning_rate(optimizer, base_lrs, lr_schedule(done / epochs))
            values, batch_correct = _train_step(
                model, optimizer, x[index].to(device), y[index].to(device), clean_weight, extra_losses, done / epochs
            )
            correct += batch_correct
            for name, value in values.items():
                running[name] = running.get(name, 0.0) + value
            steps_logged += 1
            if (step + 1) % log_every == 0 or step + 1 == steps_per_epoch:
                for name, total in running.items():
                    history.log(name, epoch + (step + 1) / steps_per_epoch, total / steps_logged)
                running, steps_logged = {}, 0
                if plot:
                    plot.update(history)
            bar.update(1)
            bar.set_postfix(loss=f"{values['train loss']:.3f}", epoch=epoch + 1, refresh=False)
        history.log("train acc", epoch + 1, correct / len(x))
        history.epoch_seconds.append(time.perf_counter() - started)
        history.epoch_cpu_seconds.append(time.process_time() - cpu_started)
        _log_metrics(model, metrics, history, epoch + 1)
        if on_epoch_end is not None:
            on_epoch_end(model, epoch + 1)
        if plot:
            plot.update(history, force=True, final=epoch + 1 == epochs)
    bar.close()
    optimizer.zero_grad(set_to_none=True)  # leave no stale gradients behind for the caller
    history.figure = plot.fig if plot else None
    return history


def _train_step(model, optimizer, x, y, clean_weight, extra_losses, progress) -> tuple[dict[str, float], int]:
    """One optimisation step; returns the logged loss values and the number of correct predictions."""
    logits = model(x)
    clean_loss = F.cross_entropy(logits, y)
    total = clean_weight * clean_loss if clean_weight else torch.zeros((), device=x.device)
    values = {"clean loss": clean_loss.item()} if extra_losses else {}
    batch = Batch(x=x, y=y, logits=logits, progress=progress)
    for name, term in extra_losses.items():
        term_loss = term(model, batch)
        total = total + term_loss
        values[name] = term_loss.item()
    optimizer.zero_grad(set_to_none=True)  # after the terms: whatever they did, only `total` trains
    total.backward()
    optimizer.step()
    values["train loss"] = total.item()
    return values, (logits.argmax(dim=1) == y).sum().item()


def _log_metrics(model: nn.Module, metrics: Mapping[str, Metric], history: History, epoch: int) -> None:
    if not metrics:
        return
    device = model_device(model)
    with eval_mode(model), torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        for name, metric in metrics.items():
            history.log(name, epoch, metric(model))


def _scale_learning_rate(optimizer: torch.optim.Optimizer, base_lrs: list[float], factor: float) -> None:
    for group, base_lr in zip(optimizer.param_groups, base_lrs):
        group["lr"] = base_lr * factor
