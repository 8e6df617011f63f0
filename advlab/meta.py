"""Meta-learning: few-shot episodes from MNIST, MAML (Finn et al., 2017) and ADML (Yin et al., 2018).

**Episodes.** An N-way K-shot episode draws N digit classes from a class pool, then K support
and Q query images of each; labels are re-indexed 0..N-1 in the order the classes were drawn.
Meta-train and meta-test use disjoint class pools (e.g. digits 0-5 versus 6-9).

**MAML.** With parameters θ, inner learning rate α and support loss L_s, one inner step is

    θ' = θ - α ∇_θ L_s(θ)

(repeated `inner_steps` times) and the meta-loss of a task is the query loss L_q(θ'). Its
gradient with respect to θ goes *through* the inner steps (second order, Hessian-vector
products of L_s); ``first_order=True`` treats ∇_θ L_s as a constant (FOMAML), so
∇_θ L_q(θ') becomes ∇_θ' L_q(θ').

**ADML.** Per task, FGSM adversarial copies of the support and query images are crafted
against the *current* parameters θ (as in the paper's Algorithm 1, before adaptation):

    x_adv = clip_[0,1](x + eps · sign(∇_x L(θ; x, y)))          (detached: they are data)

then θ adapts twice, on the clean support (θ'_clean) and on the adversarial support
(θ'_adv), and the meta-loss **crosses** them:

    L_ADML = L_q(θ'_clean; adversarial query) + L_q(θ'_adv; clean query)

**Baselines that attribute ADML's robustness** (notebook 07):

* **MAML-AD**, the ADML paper's baseline as this module defines it: ordinary MAML meta-trained
  on adversarial data, support and query both FGSM copies crafted against θ, no crossing:

      L_MAML-AD = L_q(θ'_adv; adversarial query),   θ'_adv = adapt(θ, FGSM support)

* **Adversarial querying** (Goldblum, Fowl & Goldstein, 2020): adapt on the clean support, then
  attack the query set with PGD against the *adapted* parameters θ' and score θ' on it:

      L_AQ = L_q(θ'; x_q + δ*),   δ* = argmax_{‖δ‖∞ ≤ eps} L_q(θ'; x_q + δ) (PGD, detached)

  the outer gradient flows through the clean adaptation θ'(θ) only; the attack is data.

**Adversarial support at meta-test time** (ADML's motivating case): the attacker poisons the
support set, FGSM or PGD against the meta-learned θ, the model adapts on it, and answers clean
queries (:func:`adversarial_support_accuracies`).

Everything is functional (``torch.func.functional_call`` on a dict of parameters), so no
task ever deep-copies the model; the model's own parameters are the meta-parameters θ.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call

from . import attacks
from .checks import check_choice, check_int, check_number

Params = dict[str, torch.Tensor]
LossFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
METHODS = ("maml", "adml", "maml_ad", "adv_query")


# ----------------------------------------------------------------------------- episodes
@dataclass
class Episode:
    """One few-shot task: support and query sets; `classes` are the original labels behind 0..N-1."""

    support_x: torch.Tensor
    support_y: torch.Tensor
    query_x: torch.Tensor
    query_y: torch.Tensor
    classes: tuple = ()

    def to(self, device) -> Episode:
        return Episode(self.support_x.to(device), self.support_y.to(device), self.query_x.to(device),
                       self.query_y.to(device), self.classes)


class EpisodeSampler:
    """Draws N-way K-shot episodes (Q queries per class) from the images of the digits in `classes`.

    ``sampler.sample()`` gives the next episode; the sequence depends only on `seed`.
    Support and query images of an episode are distinct images.
    """

    def __init__(self, images: torch.Tensor, labels: torch.Tensor, classes: Sequence[int], n_way: int,
                 k_shot: int, n_query: int = 5, seed: int = 0):
        check_int("n_way", n_way, minimum=2)
        check_int("k_shot", k_shot, minimum=1)
        check_int("n_query", n_query, minimum=1)
        check_int("seed", seed, minimum=0)
        classes = tuple(int(c) for c in classes)
        if len(set(classes)) != len(classes):
            raise ValueError(f"classes must not repeat a class, got {classes}")
        if n_way > len(classes):
            raise ValueError(f"n_way={n_way} needs at least {n_way} classes, got {len(classes)}: {classes}")
        self.members = {c: (labels == c).nonzero().squeeze(1) for c in classes}
        for c, members in self.members.items():
            if len(members) < k_shot + n_query:
                raise ValueError(f"k_shot + n_query = {k_shot + n_query} exceeds the {len(members)} images of class {c}")
        self.images, self.classes = images, classes
        self.n_way, self.k_shot, self.n_query = n_way, k_shot, n_query
        self.generator = torch.Generator().manual_seed(seed)

    def sample(self) -> Episode:
        """x_s [N*K, 1, 28, 28], y_s [N*K] and x_q [N*Q, ...], y_q [N*Q], labels in 0..N-1."""
        order = torch.randperm(len(self.classes), generator=self.generator)[: self.n_way]
        chosen = tuple(self.classes[i] for i in order)
        support, query = [], []
        for members in (self.members[c] for c in chosen):
            picked = members[torch.randperm(len(members), generator=self.generator)[: self.k_shot + self.n_query]]
            support.append(picked[: self.k_shot])
            query.append(picked[self.k_shot :])
        return Episode(
            self.images[torch.cat(support)], torch.arange(self.n_way).repeat_interleave(self.k_shot),
            self.images[torch.cat(query)], torch.arange(self.n_way).repeat_interleave(self.n_query), chosen,
        )

    def batch(self, count: int) -> list[Episode]:
        """The next `count` episodes."""
        check_int("count", count, minimum=1)
        return [self.sample() for _ in range(count)]


def sine_episode(generator: torch.Generator, k_shot: int = 10, n_query: int = 10) -> Episode:
    """A sine-wave regression task (MAML's toy): y = A sin(x - φ), A ~ U[0.1, 5], φ ~ U[0, π], x ~ U[-5, 5].

    `classes` holds (A, φ). Shapes: x, y [K, 1] and [Q, 1].
    """
    check_int("k_shot", k_shot, minimum=1)
    check_int("n_query", n_query, minimum=1)
    amplitude = 0.1 + 4.9 * torch.rand((), generator=generator).item()
    phase = math.pi * torch.rand((), generator=generator).item()
    x = torch.rand(k_shot + n_query, 1, generator=generator) * 10 - 5
    y = amplitude * torch.sin(x - phase)
    return Episode(x[:k_shot], y[:k_shot], x[k_shot:], y[k_shot:], (amplitude, phase))


# ----------------------------------------------------------------------------- model
def few_shot_cnn(n_way: int) -> nn.Module:
    """A small CNN for N-way episodes (1.2k conv + 785·N head parameters; a meta-gradient
    through SmallCNN costs several times more: notebook 07, section 3, prints the ratio on your machine).

        x [N,1,28,28] -> conv 1->8 (3x3, stride 2) -> ReLU -> conv 8->16 (3x3, stride 2) -> ReLU
                      -> flatten [N,784] -> linear 784 -> n_way
    """
    check_int("n_way", n_way, minimum=2)
    return nn.Sequential(
        nn.Conv2d(1, 8, kernel_size=3, stride=2, padding=1), nn.ReLU(),
        nn.Conv2d(8, 16, kernel_size=3, stride=2, padding=1), nn.ReLU(),
        nn.Flatten(), nn.Linear(16 * 7 * 7, n_way),
    )


# ----------------------------------------------------------------------------- functional pieces
def parameters_of(model: nn.Module) -> Params:
    """θ: the model's trainable parameters by name (the tensors themselves, so gradients reach them)."""
    return {name: p for name, p in model.named_parameters() if p.requires_grad}


def functional_loss(model: nn.Module, params: Params, x: torch.Tensor, y: torch.Tensor,
                    loss_fn: LossFn = F.cross_entropy) -> torch.Tensor:
    """L(θ; x, y) = loss_fn(f_θ(x), y) with f_θ = functional_call(model, θ)."""
    return loss_fn(functional_call(model, params, (x,)), y)


def adapt(model: nn.Module, params: Params, x: torch.Tensor, y: torch.Tensor, inner_lr: float,
          inner_steps: int = 1, first_order: bool = False, loss_fn: LossFn = F.cross_entropy) -> Params:
    """Inner loop: θ_{t+1} = θ_t - α ∇_θ L(θ_t; x, y), `inner_steps` times; returns θ'.

    With ``first_order=False`` the result stays differentiable in θ through the gradients
    (create_graph); with ``first_order=True`` the inner gradients are constants.
    """
    check_number("inner_lr", inner_lr, minimum=0)
    check_int("inner_steps", inner_steps, minimum=0)
    _check_bool("first_order", first_order)
    names = list(params)
    with torch.enable_grad():  # an inner step needs gradients even when called under no_grad
        for _ in range(inner_steps):
            loss = functional_loss(model, params, x, y, loss_fn)
            grads = torch.autograd.grad(loss, [params[n] for n in names], create_graph=not first_order)
            params = {n: params[n] - inner_lr * (g.detach() if first_order else g) for n, g in zip(names, grads)}
    return params


class Functional(nn.Module):
    """``f_θ`` as a module: forward(x) = functional_call(model, params, x), for the attacks."""

    def __init__(self, model: nn.Module, params: Params):
        super().__init__()
        self.model = model
        self.params = {n: p.detach() for n, p in params.items()}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return functional_call(self.model, self.params, (x,))


def fgsm_against(model: nn.Module, params: Params, x: torch.Tensor, y: torch.Tensor, eps: float) -> torch.Tensor:
    """FGSM against f_θ: clip_[0,1](x + eps · sign(∇_x L(θ; x, y))), detached (no path back to θ)."""
    return attacks.fgsm(Functional(model, params), x, y, eps).detach()


AdversarialCopies = tuple[torch.Tensor, torch.Tensor]


def fgsm_copies(model: nn.Module, params: Params, episodes: Sequence[Episode], eps: float) -> list[AdversarialCopies]:
    """(FGSM support, FGSM query) of every episode against the same θ, crafted in **one** batched attack.

    Per sample the same as :func:`fgsm_against` on each set: FGSM's step sign(∇_x L) of a sample
    does not depend on the other samples of the batch (the network has no batch statistics; the
    batch mean only rescales each sample's gradient). One call instead of two per episode: the
    attacks of a meta-batch cost less on a CPU (fewer, larger calls).
    """
    sets = [(x, y) for e in episodes for x, y in ((e.support_x, e.support_y), (e.query_x, e.query_y))]
    x_adv = fgsm_against(model, params, torch.cat([x for x, _ in sets]), torch.cat([y for _, y in sets]), eps)
    pieces = x_adv.split([len(x) for x, _ in sets])
    return list(zip(pieces[0::2], pieces[1::2]))


# ----------------------------------------------------------------------------- meta-losses
@dataclass
class TaskLoss:
    """A task's meta-loss (differentiable in θ) and the query accuracy of the adapted model(s)."""

    loss: torch.Tensor
    accuracy: float


def maml_task_loss(model: nn.Module, params: Params, episode: Episode, inner_lr: float, inner_steps: int = 1,
                   first_order: bool = False, loss_fn: LossFn = F.cross_entropy) -> TaskLoss:
    """MAML: L_q(θ') with θ' = adapt(θ, support)."""
    adapted = adapt(model, params, episode.support_x, episode.support_y, inner_lr, inner_steps, first_order, loss_fn)
    logits = functional_call(model, adapted, (episode.query_x,))
    return TaskLoss(loss_fn(logits, episode.query_y), _accuracy(logits, episode.query_y))


def adml_task_loss(model: nn.Module, params: Params, episode: Episode, inner_lr: float, eps: float,
                   inner_steps: int = 1, first_order: bool = False) -> TaskLoss:
    """ADML: L_q(θ'_clean; FGSM query) + L_q(θ'_adv; clean query), FGSM crafted against θ.

    θ'_clean = adapt(θ, clean support), θ'_adv = adapt(θ, FGSM support). The accuracy is the
    mean over the two crossed query sets.
    """
    eps = check_number("eps", eps, minimum=0)
    support_adv, query_adv = _fgsm_pair(model, params, episode, eps)
    theta_clean = adapt(model, params, episode.support_x, episode.support_y, inner_lr, inner_steps, first_order)
    theta_adv = adapt(model, params, support_adv, episode.support_y, inner_lr, inner_steps, first_order)
    logits_clean_on_adv = functional_call(model, theta_clean, (query_adv,))
    logits_adv_on_clean = functional_call(model, theta_adv, (episode.query_x,))
    loss = F.cross_entropy(logits_clean_on_adv, episode.query_y) + F.cross_entropy(logits_adv_on_clean, episode.query_y)
    accuracy = (_accuracy(logits_clean_on_adv, episode.query_y) + _accuracy(logits_adv_on_clean, episode.query_y)) / 2
    return TaskLoss(loss, accuracy)


def maml_ad_task_loss(model: nn.Module, params: Params, episode: Episode, inner_lr: float, eps: float,
                      inner_steps: int = 1, first_order: bool = False) -> TaskLoss:
    """MAML-AD: MAML's loss on adversarial data, L_q(θ'_adv; FGSM query), FGSM crafted against θ.

        θ'_adv = adapt(θ, FGSM support),   L = L_q(θ'_adv; clip_[0,1](x_q + eps·sign(∇_x L(θ; x_q, y_q))))

    The same adversarial copies as ADML's (:func:`fgsm_against`, detached), but no clean data
    and no crossing: one adaptation scored on the query set of its own kind. With eps = 0 it is
    MAML's loss.
    """
    eps = check_number("eps", eps, minimum=0)
    support_adv, query_adv = _fgsm_pair(model, params, episode, eps)
    adversarial = Episode(support_adv, episode.support_y, query_adv, episode.query_y, episode.classes)
    return maml_task_loss(model, params, adversarial, inner_lr, inner_steps, first_order)


def _fgsm_pair(model: nn.Module, params: Params, episode: Episode, eps: float) -> AdversarialCopies:
    return (fgsm_against(model, params, episode.support_x, episode.support_y, eps),
            fgsm_against(model, params, episode.query_x, episode.query_y, eps))


def pgd_queries(model: nn.Module, adapted: Sequence[Params], xs: Sequence[torch.Tensor], ys: Sequence[torch.Tensor],
                eps: float, steps: int, generator: torch.Generator | None = None) -> list[torch.Tensor]:
    """L∞ PGD on each query set xs[i] against its own f_θ'_i, all episodes in one batched pass per step.

    Per episode this is ``attacks.pgd(Functional(model, θ'_i), x_i, y_i, eps, alpha=2.5·eps/steps,
    steps, random_start=True, generator=generator)`` (Madry et al.'s step size), with the random
    starts drawn episode after episode: one step is

        x_i ← clip_[0,1](x_i⁰ + clip_[-eps,eps](x_i + alpha · sign(∇_x mean_j CE(f_θ'_i(x_ij), y_ij)) - x_i⁰))

    and ``torch.func.vmap`` over the episodes' parameters computes every episode's input
    gradient in one call (on a CPU, cheaper for tiny episodes than one call per episode).
    The results are detached: no path back to θ. With eps = 0 the query sets come back as they are.
    """
    eps = check_number("eps", eps, minimum=0)
    check_int("steps", steps, minimum=1)
    if not (len(adapted) == len(xs) == len(ys)) or not xs:
        raise ValueError(f"adapted, xs and ys must hold one entry per episode, got {len(adapted)}, {len(xs)}, {len(ys)}")
    if eps == 0:
        return list(xs)
    if len({tuple(x.shape) for x in xs}) > 1:  # query sets of different sizes: one episode at a time
        return [pgd_queries(model, [a], [x], [y], eps, steps, generator)[0] for a, x, y in zip(adapted, xs, ys)]
    alpha = 2.5 * eps / steps
    x0, y = torch.stack([x.detach() for x in xs]), torch.stack(list(ys))
    noise = torch.stack([torch.rand(x.shape, generator=generator, dtype=x.dtype,
                                    device=generator.device if generator is not None else x.device) for x in xs])
    x_adv = (x0 + noise.to(x0.device).mul_(2).sub_(1).mul_(eps)).clamp(0, 1)
    stacked = {name: torch.stack([a[name].detach() for a in adapted]) for name in adapted[0]}

    def query_loss(params, x, labels):
        return F.cross_entropy(functional_call(model, params, (x,)), labels)

    input_gradients = torch.func.vmap(torch.func.grad(query_loss, argnums=1))
    with torch.enable_grad():
        for _ in range(steps):
            delta = (x_adv + alpha * input_gradients(stacked, x_adv, y).sign() - x0).clamp(-eps, eps)
            x_adv = (x0 + delta).clamp(0, 1)
    return list(x_adv.detach().unbind(0))


def pgd_query(model: nn.Module, params: Params, x: torch.Tensor, y: torch.Tensor, eps: float, steps: int,
              generator: torch.Generator | None = None) -> torch.Tensor:
    """:func:`pgd_queries` for one query set: L∞ PGD against f_θ from a random start, alpha = 2.5·eps/steps, detached."""
    return pgd_queries(model, [params], [x], [y], eps, steps, generator)[0]


def adv_query_task_loss(model: nn.Module, params: Params, episode: Episode, inner_lr: float, eps: float,
                        inner_steps: int = 1, first_order: bool = False, attack_steps: int = 3,
                        generator: torch.Generator | None = None) -> TaskLoss:
    """Adversarial querying (Goldblum, Fowl & Goldstein, 2020): L_q(θ'; PGD query against θ').

        θ' = adapt(θ, clean support),   x_q' = PGD_{θ'}(x_q, y_q; eps, attack_steps),   L = L_q(θ'; x_q')

    The attack runs against the *adapted* parameters θ' (:func:`pgd_query`: random start, alpha
    = 2.5·eps/steps, random numbers from `generator`) and its result is data: the gradient of L
    with respect to θ flows through θ'(θ), the clean adaptation, and not through x_q'. With
    eps = 0 it is MAML's loss.
    """
    eps = check_number("eps", eps, minimum=0)
    check_int("attack_steps", attack_steps, minimum=1)
    adapted = adapt(model, params, episode.support_x, episode.support_y, inner_lr, inner_steps, first_order)
    (query_adv,) = pgd_queries(model, [adapted], [episode.query_x], [episode.query_y], eps, attack_steps, generator)
    logits = functional_call(model, adapted, (query_adv,))
    return TaskLoss(F.cross_entropy(logits, episode.query_y), _accuracy(logits, episode.query_y))


def task_loss(model: nn.Module, params: Params, episode: Episode, method: str = "maml", inner_lr: float = 0.1,
              inner_steps: int = 1, eps: float = 0.0, first_order: bool = False, loss_fn: LossFn = F.cross_entropy,
              attack_steps: int = 3, generator: torch.Generator | None = None) -> TaskLoss:
    """One task's meta-loss for `method` in METHODS ("maml", "adml", "maml_ad", "adv_query").

    `loss_fn` is MAML's only (the adversarial methods attack a classifier: cross-entropy);
    `attack_steps` and `generator` are adversarial querying's PGD.
    """
    check_choice("method", method, METHODS)
    if method == "maml":
        return maml_task_loss(model, params, episode, inner_lr, inner_steps, first_order, loss_fn)
    if loss_fn is not F.cross_entropy:
        raise ValueError(f"loss_fn applies to method 'maml' only; method {method!r} uses cross-entropy")
    if method == "adml":
        return adml_task_loss(model, params, episode, inner_lr, eps, inner_steps, first_order)
    if method == "maml_ad":
        return maml_ad_task_loss(model, params, episode, inner_lr, eps, inner_steps, first_order)
    return adv_query_task_loss(model, params, episode, inner_lr, eps, inner_steps, first_order, attack_steps, generator)


def meta_step(model: nn.Module, optimizer: torch.optim.Optimizer, episodes: Sequence[Episode], method: str = "maml",
              inner_lr: float = 0.1, inner_steps: int = 1, eps: float = 0.0, first_order: bool = False,
              loss_fn: LossFn = F.cross_entropy, attack_steps: int = 3,
              generator: torch.Generator | None = None) -> tuple[float, float]:
    """One outer update θ ← θ - β · Adam(∇_θ (1/B) Σ_i L_i): returns (mean meta-loss, mean query accuracy).

    L_i is :func:`task_loss` for `method` (MAML, ADML, MAML-AD or adversarial querying). When the
    B episodes have the same shapes (an EpisodeSampler's do), all of them are computed at once:
    the inner steps with ``torch.func.grad`` under ``torch.func.vmap`` (the same θ', still
    differentiable in θ), ADML's and MAML-AD's FGSM copies in one batched call
    (:func:`fgsm_copies`), AQ's PGD in one batched pass per step (:func:`pgd_queries`). The
    update equals the mean of the per-task gradients (the tests check it), with B small graphs
    alive at once; on a CPU it costs less than a task-by-task loop. Episodes of
    different shapes go one task at a time.
    """
    check_choice("method", method, METHODS)
    if not episodes:
        raise ValueError("episodes must hold at least one episode")
    if method != "maml" and loss_fn is not F.cross_entropy:
        raise ValueError(f"loss_fn applies to method 'maml' only; method {method!r} uses cross-entropy")
    eps = check_number("eps", eps, minimum=0)
    check_number("inner_lr", inner_lr, minimum=0)
    check_int("inner_steps", inner_steps, minimum=0)
    check_int("attack_steps", attack_steps, minimum=1)
    _check_bool("first_order", first_order)
    params = parameters_of(model)
    optimizer.zero_grad(set_to_none=True)
    if _stackable(episodes):
        losses, accuracies = _batched_task_losses(model, params, episodes, method, inner_lr, inner_steps, eps,
                                                  first_order, loss_fn, attack_steps, generator)
        losses.mean().backward()
        total_loss, total_accuracy = losses.sum().item(), sum(accuracies)
    else:
        total_loss, total_accuracy = 0.0, 0.0
        for episode in episodes:
            task = task_loss(model, params, episode, method, inner_lr, inner_steps, eps, first_order, loss_fn,
                             attack_steps, generator)
            (task.loss / len(episodes)).backward()  # one task's graph at a time: memory stays flat
            total_loss += task.loss.item()
            total_accuracy += task.accuracy
    optimizer.step()
    return total_loss / len(episodes), total_accuracy / len(episodes)


def _stackable(episodes: Sequence[Episode]) -> bool:
    """Whether the episodes' tensors can be stacked into one batch of episodes (same shapes, dtypes, devices)."""
    def signature(e):
        return tuple((t.shape, t.dtype, t.device) for t in (e.support_x, e.support_y, e.query_x, e.query_y))

    return len({signature(e) for e in episodes}) == 1


def _adapt_in_vmap(model, params, x, y, inner_lr, inner_steps, first_order, loss_fn):
    """:func:`adapt` for one episode inside ``torch.func.vmap``: the inner gradient by ``torch.func.grad``."""
    for _ in range(inner_steps):
        grads = torch.func.grad(lambda p: loss_fn(functional_call(model, p, (x,)), y))(params)
        params = {n: params[n] - inner_lr * (grads[n].detach() if first_order else grads[n]) for n in params}
    return params


def _batched_task_losses(model, params, episodes, method, inner_lr, inner_steps, eps, first_order, loss_fn,
                         attack_steps, generator) -> tuple[torch.Tensor, list[float]]:
    """Every episode's :func:`task_loss` at once (vmap over the episodes): (losses [B], query accuracies)."""
    stack = lambda tensors: torch.stack(list(tensors))  # noqa: E731
    xs, ys = stack(e.support_x for e in episodes), stack(e.support_y for e in episodes)
    xq, yq = stack(e.query_x for e in episodes), stack(e.query_y for e in episodes)

    def adapted_from(x, y):
        return _adapt_in_vmap(model, params, x, y, inner_lr, inner_steps, first_order, loss_fn)

    def scored(theta, x, y):
        logits = functional_call(model, theta, (x,))
        return loss_fn(logits, y), logits

    if method in ("adml", "maml_ad"):
        copies = fgsm_copies(model, params, episodes, eps)
        xs_adv, xq_adv = stack(c[0] for c in copies), stack(c[1] for c in copies)
    if method in ("maml", "maml_ad"):
        support, query = (xs, xq) if method == "maml" else (xs_adv, xq_adv)
        losses, logits = torch.func.vmap(lambda a, b, c, d: scored(adapted_from(a, b), c, d))(support, ys, query, yq)
        return losses, [_accuracy(logits[i], yq[i]) for i in range(len(episodes))]
    if method == "adml":
        def crossed(x_s, y_s, x_q, y_q, x_s_adv, x_q_adv):
            loss_clean_on_adv, logits_clean_on_adv = scored(adapted_from(x_s, y_s), x_q_adv, y_q)
            loss_adv_on_clean, logits_adv_on_clean = scored(adapted_from(x_s_adv, y_s), x_q, y_q)
            return loss_clean_on_adv + loss_adv_on_clean, logits_clean_on_adv, logits_adv_on_clean

        losses, on_adv, on_clean = torch.func.vmap(crossed)(xs, ys, xq, yq, xs_adv, xq_adv)
        return losses, [(_accuracy(on_adv[i], yq[i]) + _accuracy(on_clean[i], yq[i])) / 2 for i in range(len(episodes))]
    adapted = torch.func.vmap(adapted_from)(xs, ys)  # adversarial querying: adapt, attack θ'_i (data), score
    per_episode = [{n: p[i] for n, p in adapted.items()} for i in range(len(episodes))]
    queries = pgd_queries(model, per_episode, list(xq.unbind(0)), list(yq.unbind(0)), eps, attack_steps, generator)
    losses, logits = torch.func.vmap(scored)(adapted, stack(queries), yq)
    return losses, [_accuracy(logits[i], yq[i]) for i in range(len(episodes))]


def meta_gradient(model: nn.Module, episode: Episode, method: str = "maml", inner_lr: float = 0.1,
                  inner_steps: int = 1, eps: float = 0.0, first_order: bool = False,
                  loss_fn: LossFn = F.cross_entropy, attack_steps: int = 3,
                  generator: torch.Generator | None = None) -> Params:
    """∇_θ of one task's meta-loss, by name (no optimizer, no `.grad` left behind)."""
    check_choice("method", method, METHODS)
    params = parameters_of(model)
    loss = task_loss(model, params, episode, method, inner_lr, inner_steps, eps, first_order, loss_fn,
                     attack_steps, generator).loss
    grads = torch.autograd.grad(loss, list(params.values()))
    return dict(zip(params, grads))


# ----------------------------------------------------------------------------- evaluation
def adapted_parameters(model: nn.Module, episode: Episode, inner_lr: float, inner_steps: int = 1) -> Params:
    """θ' = adapt(θ, clean support), detached: the adapted parameters a test episode is answered with."""
    params = {n: p.detach().requires_grad_(True) for n, p in parameters_of(model).items()}
    adapted = adapt(model, params, episode.support_x, episode.support_y, inner_lr, inner_steps, first_order=True)
    return {n: p.detach() for n, p in adapted.items()}


@torch.no_grad()
def query_accuracy(model: nn.Module, params: Params, x: torch.Tensor, y: torch.Tensor) -> float:
    """mean(argmax f_θ'(x) == y)."""
    return _accuracy(functional_call(model, params, (x,)), y)


def adapted_accuracies(model: nn.Module, episodes: Sequence[Episode], inner_lr: float, inner_steps: int,
                       attack: Callable[[nn.Module, torch.Tensor, torch.Tensor], torch.Tensor] | None = None) -> list[float]:
    """Per episode: adapt on the clean support, then query accuracy on attack(f_θ', query) (clean if None).

    The attacker is white-box against the *adapted* model f_θ' that answers the queries.
    """
    accuracies = []
    for episode in episodes:
        adapted = adapted_parameters(model, episode, inner_lr, inner_steps)
        x = episode.query_x if attack is None else attack(Functional(model, adapted), episode.query_x, episode.query_y)
        accuracies.append(query_accuracy(model, adapted, x, episode.query_y))
    return accuracies


def poison_support(model: nn.Module, episode: Episode,
                   attack: Callable[[nn.Module, torch.Tensor, torch.Tensor], torch.Tensor]) -> Episode:
    """The episode with its support set replaced by attack(f_θ, support_x, support_y): the attacker poisons
    the data the model will adapt on, white-box against the meta-learned θ (before adaptation).

    A new Episode: the caller's tensors and the model are left as they were; queries stay clean.
    """
    if not callable(attack):
        raise TypeError(f"attack must be a callable attack(model, x, y) -> x_adv, got {type(attack).__name__}")
    theta = {n: p.detach() for n, p in parameters_of(model).items()}
    support_adv = attack(Functional(model, theta), episode.support_x, episode.support_y).detach()
    if support_adv.shape != episode.support_x.shape:
        raise ValueError(f"attack must return a batch shaped like support_x {list(episode.support_x.shape)}, "
                         f"got {list(support_adv.shape)}")
    return Episode(support_adv, episode.support_y, episode.query_x, episode.query_y, episode.classes)


def adversarial_support_accuracies(model: nn.Module, episodes: Sequence[Episode], inner_lr: float, inner_steps: int,
                                   attack: Callable[[nn.Module, torch.Tensor, torch.Tensor], torch.Tensor]) -> list[float]:
    """ADML's motivating case, per episode: adapt on the *poisoned* support (:func:`poison_support`,
    attack against θ), then query accuracy on the clean query set.
    """
    return adapted_accuracies(model, [poison_support(model, e, attack) for e in episodes], inner_lr, inner_steps)


def _accuracy(logits: torch.Tensor, y: torch.Tensor) -> float:
    if y.is_floating_point():  # regression: no accuracy
        return float("nan")
    return (logits.detach().argmax(dim=1) == y).float().mean().item()


def _check_bool(name: str, value) -> None:
    if not isinstance(value, bool):
        raise TypeError(f"{name} must be True or False, got {value!r}")
