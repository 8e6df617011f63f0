"""Adversarial training for text: perturbations in embedding space, as loss terms of ``train.fit``.

Tokens are discrete, so nothing can be added to them; the perturbation goes on the embedded
sequence s = embed(tokens) [N, L, D] (a model with ``embed`` and ``classify``, such as
:class:`advlab.text.CharCNN`). Every term below is a callable ``term(model, batch)`` for
``fit(model, (tokens, y), extra_losses={name: term})`` (int64 token ids), with ``clean_weight=1``
except FreeLB, whose objective replaces the clean loss:

=====================  ============================================================  =================
term                   adversarial loss added to CE(s, y)                            threat model
=====================  ============================================================  =================
:class:`MatrixFGM`     CE at W + eps·G/||G||, G = grad_W CE (one norm for the        one shift of the
                       WHOLE embedding matrix W; seed 001, competition code,         whole vocabulary
                       through ``attacks.perturb_parameters``)
:class:`EmbeddingFGM`  CE(s + r, y), r_i = eps·g_i/||g_i||, g_i = grad_{s_i} CE       each review moved
                       (Miyato, Dai & Goodfellow 2017: per example, normalised        by at most eps
                       embeddings)
:class:`EmbeddingPGD`  CE(s + r_K, y), K steps of alpha·g/||g|| projected on the       same ball, a
                       per-example ball ||r_i|| <= eps (Madry et al. 2018 in          stronger attack
                       embedding space)
:class:`FreeLB`        (1/K) Σ_t CE(s + δ_t, y) over the K points of one ascent         the ball, many
                       path, parameter gradients accumulated along it (Zhu et al.      radii at once
                       2020; replaces the clean loss: ``clean_weight=0``)
:class:`GradientPenalty`  lam·mean_i ||grad_{s_i} CE_i||_2 by double backprop          first order of
                       (seed 004: CE(s + eps·g/||g||) ≈ CE(s) + eps·||g||)            EmbeddingFGM
:class:`TextVAT`       KL(p(.|s) || p(.|s + r_vadv)) on labelled + unlabelled          no labels
                       reviews (Miyato et al. 2017, ``advlab.vat``'s power
                       iteration on embeddings)
=====================  ============================================================  =================

The perturbations of the FGM, PGD and VAT terms are computed with the model in eval mode (no
dropout); FreeLB's come from its train-mode passes (that is what makes them free) and the
gradient penalty differentiates the step's own train-mode loss. Everything goes through
``autograd.grad``: no parameter's ``.grad`` is changed, the model's weights and mode are as
before when a term returns, and perturbations are detached, so what trains is the loss at the
perturbed points.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from . import attacks, vat
from .checks import check_int, check_labels, check_number
from .models import eval_mode, model_device
from .text import nearest_characters, token_mask
from .train import Batch

EMBEDDING_WEIGHT = "embedding.weight"


# ----------------------------------------------------------------------------- perturbations of s
def _tokens(x: torch.Tensor) -> torch.Tensor:
    if not isinstance(x, torch.Tensor) or x.dim() != 2:
        raise ValueError(f"tokens must be a [N, L] tensor of token ids, got {getattr(x, 'shape', type(x).__name__)}")
    return x.long()


def loss_gradient(model: nn.Module, tokens: torch.Tensor, y: torch.Tensor, perturbation: torch.Tensor | None = None):
    """(grad_s CE(classify(s + r), y) with the batch-MEAN loss, per-sample losses), detached; s = embed(tokens).

    Only the embedded sequence is differentiated, in eval mode: the parameters' ``.grad`` and
    the model's mode are left alone.
    """
    tokens = _tokens(tokens)
    check_labels("y", y, len(tokens))
    with eval_mode(model), torch.enable_grad():
        s = model.embed(tokens).detach()
        if perturbation is not None:
            s = s + perturbation
        s.requires_grad_(True)
        losses = F.cross_entropy(model.classify(s, token_mask(tokens)), y, reduction="none")
        (grad,) = torch.autograd.grad(losses.mean(), s)
    return grad, losses.detach()


def embedding_fgm(model: nn.Module, tokens: torch.Tensor, y: torch.Tensor, eps: float) -> torch.Tensor:
    """Per-example FGM on the embedded sequence (Miyato et al. 2017), the perturbation r [N, L, D]:

        r_i = eps · g_i / max(||g_i||_2, 1e-12),   g_i = grad_{s_i} CE(classify(s), y),  norm over L×D

    Padding positions get no gradient (the classifier masks them), so r lives on the real characters.
    """
    eps = check_number("eps", eps, minimum=0)
    grad, _ = loss_gradient(model, tokens, y)
    return eps * attacks.unit_l2(grad)


def embedding_pgd(model: nn.Module, tokens: torch.Tensor, y: torch.Tensor, eps: float, alpha: float, steps: int) -> torch.Tensor:
    """L2 PGD on the embedded sequence from r_0 = 0, per example, the perturbation r_K [N, L, D]:

        r_{t+1} = proj_{||r_i|| <= eps}( r_t + alpha · g_t / ||g_t|| ),   g_t = grad_s CE(classify(s + r_t), y)
    """
    eps = check_number("eps", eps, minimum=0)
    alpha = check_number("alpha", alpha, minimum=0, strict=True)
    check_int("steps", steps, minimum=1)
    r = None
    for _ in range(steps):
        grad, _ = loss_gradient(model, tokens, y, r)
        step = alpha * attacks.unit_l2(grad)
        r = attacks._project_l2(step if r is None else r + step, eps)  # the projection PGD on images uses
    return r


def perturbed_logits(model: nn.Module, tokens: torch.Tensor, perturbation: torch.Tensor) -> torch.Tensor:
    """classify(embed(tokens) + r): differentiable in the parameters, r held fixed."""
    tokens = _tokens(tokens)
    return model.classify(model.embed(tokens) + perturbation.detach(), token_mask(tokens))


# ----------------------------------------------------------------------------- loss terms
class EmbeddingFGM:
    """Loss term ``weight · CE(classify(s + r_fgm), y)``, r per example of L2 norm eps (Miyato et al. 2017)."""

    passes_per_batch = 3  # clean, the gradient for r, the adversarial pass (forward + backward each)

    def __init__(self, eps: float, weight: float = 1.0):
        self.eps = check_number("eps", eps, minimum=0)
        self.weight = check_number("weight", weight, minimum=0)

    def perturbation(self, model, tokens, y):
        return embedding_fgm(model, tokens, y, self.eps)

    def __call__(self, model: nn.Module, batch: Batch) -> torch.Tensor:
        r = self.perturbation(model, batch.x, batch.y)
        return self.weight * F.cross_entropy(perturbed_logits(model, batch.x, r), batch.y)


class EmbeddingPGD(EmbeddingFGM):
    """Loss term ``weight · CE(classify(s + r_pgd), y)``: K steps of alpha, per-example ball of radius eps."""

    def __init__(self, eps: float, steps: int = 3, alpha: float | None = None, weight: float = 1.0):
        super().__init__(eps, weight)
        self.steps = check_int("steps", steps, minimum=1)
        self.alpha = check_number("alpha", alpha if alpha is not None else 2.5 * self.eps / steps, minimum=0, strict=True)
        self.passes_per_batch = 2 + self.steps

    def perturbation(self, model, tokens, y):
        return embedding_pgd(model, tokens, y, self.eps, self.alpha, self.steps)


def freelb_start(mask: torch.Tensor, dim: int, init_mag: float, generator: torch.Generator | None = None) -> torch.Tensor:
    """FreeLB's random start δ_0 [N, L, dim]: U(-1, 1) on the real characters, times init_mag / sqrt(L_i · dim).

    L_i is review i's number of real characters, so ||δ_0,i|| <= init_mag (about init_mag/sqrt(3));
    padding gets 0. Drawn on the CPU from `generator` (the global generator if None).
    """
    init_mag = check_number("init_mag", init_mag, minimum=0)
    noise = torch.rand((*mask.shape, dim), generator=generator).to(mask.device) * 2 - 1
    scale = init_mag / (mask.sum(dim=1).clamp_min(1) * dim).float().sqrt()
    return noise * mask.unsqueeze(-1) * scale.view(-1, 1, 1)


class FreeLB:
    """FreeLB (Zhu et al. 2020) as a loss term: the mean loss over the K points of one ascent path.

    Zhu, Cheng, Gan, Sun, Goldstein & Liu, "FreeLB: Enhanced Adversarial Training for Natural
    Language Understanding", ICLR 2020, Algorithm 1, as the authors' code runs it
    (zhuchen03/FreeLB, ``huggingface-transformers/examples/run_glue_freelb.py``, L2 norm):

        δ_0 = freelb_start(...)                     uniform, scaled by init_mag / sqrt(L_i · D)
        for t = 0 .. K-1:
            L_t = CE(classify(s + δ_t), y)          one forward pass, in train mode
            g_θ += (1/K) ∇_θ L_t                    the parameter gradient, accumulated
            g_δ  = ∇_δ L_t                          from the SAME backward pass ("free")
            δ_{t+1} = Π_{||δ_i|| <= eps}(δ_t + alpha · g_δ,i / ||g_δ,i||)     (not after the last step)
        θ ← optimizer step with g_θ

    so the parameters train on (1/K) Σ_t ∇_θ CE(s + δ_t): K points of increasing strength, each
    at the cost of one forward-backward pass (PGD-K pays K + 2). The term returns a surrogate
    whose value is (1/K) Σ_t L_t and whose gradient is exactly g_θ (the δ_t are constants);
    the parameters' ``.grad`` are not touched. FreeLB's objective has no separate clean loss,
    so train with ``fit(..., clean_weight=0)``; with ``init_mag=0`` its first point is the
    clean review. The K passes share one dropout mask, so they differ only by δ (the paper's
    discussion of dropout; the code passes ``dp_masks`` from one pass to the next; here the term
    restores the random generator before each pass). Unlike the other terms, the perturbation
    comes from train-mode passes: sharing them with the parameter gradient is what makes it free.
    """

    def __init__(self, eps: float, steps: int = 3, alpha: float | None = None, init_mag: float | None = None,
                 generator: torch.Generator | None = None):
        self.eps = check_number("eps", eps, minimum=0)
        self.steps = check_int("steps", steps, minimum=1)
        self.alpha = check_number("alpha", alpha if alpha is not None else self.eps / max(self.steps - 1, 1),
                                  minimum=0, strict=True)
        self.init_mag = check_number("init_mag", init_mag if init_mag is not None else self.alpha, minimum=0)
        self.generator = generator
        self.passes_per_batch = self.steps + 1  # the K forward-backward passes, and fit's clean forward
        self.last_losses: list[float] = []

    def __call__(self, model: nn.Module, batch: Batch) -> torch.Tensor:
        tokens, y = _tokens(batch.x), batch.y
        mask = token_mask(tokens)
        params = [p for p in model.parameters() if p.requires_grad]
        delta, rng = None, None
        accumulated, losses = [None] * len(params), []
        for t in range(self.steps):
            last = t == self.steps - 1
            with torch.enable_grad():
                s = model.embed(tokens)
                if delta is None:
                    delta = attacks._project_l2(freelb_start(mask, s.shape[-1], self.init_mag, self.generator), self.eps)
                    rng = _RandomState(s.device)  # saved after drawing δ_0, before the first dropout mask
                rng.restore()  # one dropout mask for all K passes
                delta.requires_grad_(not last)
                loss = F.cross_entropy(model.classify(s + delta, mask), y)
                grads = torch.autograd.grad(loss / self.steps, params + ([] if last else [delta]), allow_unused=True)
            losses.append(loss.detach())
            for i, grad in enumerate(grads[: len(params)]):
                if grad is not None:
                    accumulated[i] = grad if accumulated[i] is None else accumulated[i] + grad
            if not last:
                step = self.alpha * attacks.unit_l2(grads[-1])
                delta = attacks._project_l2(delta.detach() + step, self.eps)
        self.last_losses = [loss.item() for loss in losses]
        value = torch.stack(losses).mean()
        surrogate = sum((p * g).sum() for p, g in zip(params, accumulated) if g is not None)
        return value + surrogate - surrogate.detach()


class _RandomState:
    """The global random state of `device` (CPU, and CUDA when on a GPU), saved now, restorable later."""

    def __init__(self, device: torch.device):
        self.cuda = device.type == "cuda"
        self.cpu_state = torch.get_rng_state()
        self.cuda_state = torch.cuda.get_rng_state(device) if self.cuda else None
        self.device = device

    def restore(self) -> None:
        torch.set_rng_state(self.cpu_state)
        if self.cuda:
            torch.cuda.set_rng_state(self.cuda_state, self.device)


class MatrixFGM:
    """Competition FGM (seed 001) as a loss term: the loss at W + eps·G/||G||_2, ONE norm for the whole matrix.

    G = grad_W CE(clean logits, y) is taken from the step's clean graph; inside
    ``attacks.perturb_parameters`` a NEW forward pass computes the adversarial loss and its
    gradients with respect to every parameter, at the perturbed weights (what the competition
    loop accumulates with ``loss_adv.backward()``); on leaving the block the matrix is restored,
    also when the pass raises. The term returns a surrogate whose value is the adversarial loss
    and whose gradient is exactly those accumulated gradients: sum_p <p, grad_p loss_adv>.
    The parameters' ``.grad`` are as before when it returns.
    """

    passes_per_batch = 3  # clean, the backward for G, the adversarial pass

    def __init__(self, eps: float, weight: float = 1.0, names=(EMBEDDING_WEIGHT,)):
        self.eps = check_number("eps", eps, minimum=0)
        self.weight = check_number("weight", weight, minimum=0)
        self.names = list(names)
        self.last_delta_norm = float("nan")

    def __call__(self, model: nn.Module, batch: Batch) -> torch.Tensor:
        perturbed = [dict(model.named_parameters())[name] for name in self.names]
        clean_grads = torch.autograd.grad(F.cross_entropy(batch.logits, batch.y), perturbed, retain_graph=True)
        saved = [param.grad for param in perturbed]
        try:
            for param, grad in zip(perturbed, clean_grads):
                param.grad = grad  # perturb_parameters reads the clean gradient from .grad, as the seed's attack()
            with attacks.perturb_parameters(model, self.names, self.eps) as deltas:
                self.last_delta_norm = sum(d.pow(2).sum() for d in deltas.values()).sqrt().item()
                params = [p for p in model.parameters() if p.requires_grad]
                loss_adv = F.cross_entropy(model(batch.x), batch.y)  # the new forward pass the seed forgot
                grads = torch.autograd.grad(loss_adv, params, allow_unused=True)
        finally:
            for param, grad in zip(perturbed, saved):
                param.grad = grad
        surrogate = sum((p * g).sum() for p, g in zip(params, grads) if g is not None)
        return self.weight * (loss_adv.detach() + surrogate - surrogate.detach())


class GradientPenalty:
    """Loss term ``lam · mean_i ||grad_{s_i} CE(classify(s_i), y_i)||_2`` by double backprop (seed 004).

    To first order CE(s + eps·g/||g||) = CE(s) + eps·||g||, so CE + EmbeddingFGM(eps) ≈
    2·CE + eps·||g||, which Adam (invariant to the loss's scale) treats like CE + (eps/2)·||g||:
    ``GradientPenalty(eps / 2)`` is the first-order twin of ``EmbeddingFGM(eps)``.
    The gradient is taken in the step's own mode (train mode: dropout), so it is the gradient
    of the very loss being trained.
    """

    passes_per_batch = 3  # clean, the gradient with its graph, the backward through both

    def __init__(self, lam: float):
        self.lam = check_number("lam", lam, minimum=0)

    def __call__(self, model: nn.Module, batch: Batch) -> torch.Tensor:
        return self.lam * embedding_gradient_norms(model, batch.x, batch.y, create_graph=True).mean()


def embedding_gradient_norms(model: nn.Module, tokens: torch.Tensor, y: torch.Tensor, create_graph: bool = False) -> torch.Tensor:
    """Per-example ||grad_{s_i} CE(classify(s_i), y_i)||_2, [N] (losses summed so each gradient is its own)."""
    tokens = _tokens(tokens)
    with torch.enable_grad():
        s = model.embed(tokens)
        if not create_graph:
            s = s.detach().requires_grad_(True)
        loss = F.cross_entropy(model.classify(s, token_mask(tokens)), y, reduction="sum")
        (grad,) = torch.autograd.grad(loss, s, create_graph=create_graph)
    return grad.flatten(1).norm(dim=1)


# ----------------------------------------------------------------------------- VAT on embeddings
class _OnEmbeddings(nn.Module):
    """``model.classify`` with a fixed mask, as a module s -> logits (so advlab.vat can perturb s)."""

    def __init__(self, model: nn.Module, mask: torch.Tensor):
        super().__init__()
        self.model, self.mask = model, mask

    def forward(self, embedded: torch.Tensor) -> torch.Tensor:
        return self.model.classify(embedded, self.mask)


def text_vat_loss(model: nn.Module, tokens: torch.Tensor, xi: float, eps: float, power_iterations: int = 1,
                  generator: torch.Generator | None = None) -> torch.Tensor:
    """LDS on embeddings, mean_i KL( p(.|s_i) || p(.|s_i + r_vadv,i) ) with ||r_vadv,i||_2 = eps (Miyato et al. 2017).

    r_vadv comes from ``vat.virtual_adversarial_perturbation`` (random d, power iteration,
    gradient w.r.t. d only) run on s -> classify(s, mask). Everything runs in eval mode (no
    dropout), so the loss measures the model's smoothness rather than dropout noise; the
    clean distribution is the fixed target, and the perturbed pass carries the gradient into
    the classifier and the embedding.
    """
    tokens = _tokens(tokens)
    mask = token_mask(tokens)
    with eval_mode(model):
        on_embeddings = _OnEmbeddings(model, mask)
        with torch.no_grad():
            s = model.embed(tokens)
            clean_logits = model.classify(s, mask)
        with torch.enable_grad():  # the power iteration needs gradients, also when called under no_grad
            r = vat.virtual_adversarial_perturbation(on_embeddings, s, xi, eps, power_iterations,
                                                     clean_logits=clean_logits, generator=generator)
        return vat.kl_from_logits(clean_logits, perturbed_logits(model, tokens, r))


class TextVAT(vat.VATLoss):
    """``vat.VATLoss`` on embeddings: alpha · LDS over the step's labelled batch and a batch of unlabelled reviews.

    The unlabelled reviews (int64 token ids [M, L]) are drawn by the term's own seeded generator
    in shuffled passes (VATLoss's machinery); their labels are never seen.
    """

    passes_per_batch = 3  # clean (labelled + unlabelled), the power iteration, the perturbed pass

    def __init__(self, unlabelled_tokens: torch.Tensor | None = None, **kwargs):
        super().__init__(None, **kwargs)
        if unlabelled_tokens is not None:
            if not isinstance(unlabelled_tokens, torch.Tensor) or unlabelled_tokens.dim() != 2 or unlabelled_tokens.is_complex():
                raise TypeError("unlabelled_tokens must be a [M, L] tensor of token ids or None")
            if len(unlabelled_tokens) == 0:
                raise ValueError("unlabelled_tokens must hold at least one review")
            unlabelled_tokens = unlabelled_tokens.long()  # float ids from text.as_inputs still work
        self.unlabelled_x = unlabelled_tokens

    def __call__(self, model: nn.Module, batch: Batch) -> torch.Tensor:
        x = batch.x if self.unlabelled_x is None else torch.cat([batch.x, self.next_unlabelled().to(model_device(model))])
        lds = text_vat_loss(model, x, self.xi, self.eps, self.power_iterations, self.generator)
        self.last_lds = lds.item()
        return self.alpha * lds


# ----------------------------------------------------------------------------- real edits
def greedy_substitution(model: nn.Module, tokens: torch.Tensor, y: torch.Tensor, candidates: torch.Tensor,
                        budget: int, tries: int = 16) -> tuple[torch.Tensor, torch.Tensor]:
    """A greedy character-substitution attack with at most `budget` edits per review.

    Each round scores every (position, candidate) swap to first order, (v_c - v_{x_j})·grad_{s_j} CE
    (HotFlip-style), evaluates the best `tries` swaps exactly and keeps the one that lowers the
    true class's probability most; a review stops as soon as it is misclassified. `candidates`
    [V, m] holds for every character id the ids it may become (e.g. its nearest neighbours in
    embedding space). Padding is never edited, and a position is edited at most once.
    Returns (adversarial tokens [N, L], number of edits used [N]); the model is left unchanged.
    """
    tokens = _tokens(tokens).clone()
    check_labels("y", y, len(tokens))
    check_int("budget", budget, minimum=0)
    check_int("tries", tries, minimum=1)
    if candidates.dim() != 2 or candidates.dtype != torch.int64:
        raise ValueError("candidates must be an int64 [vocab_size, m] table of replacement ids")
    edits = torch.zeros(len(tokens), dtype=torch.int64)
    edited = torch.zeros_like(tokens, dtype=torch.bool)
    with eval_mode(model):
        matrix = model.embedding_matrix().detach()
        for _ in range(budget):
            with torch.no_grad():
                alive = model(tokens).argmax(dim=1) == y
            if not alive.any():
                break
            rows = alive.nonzero().squeeze(1)
            grad, _ = loss_gradient(model, tokens[rows], y[rows])  # [n, L, D]
            options = candidates[tokens[rows]]  # [n, L, m]
            gain = torch.einsum("nlmd,nld->nlm", matrix[options] - matrix[tokens[rows]].unsqueeze(2), grad)
            gain[~token_mask(tokens[rows]) | edited[rows]] = float("-inf")
            gain[options == tokens[rows].unsqueeze(2)] = float("-inf")
            n, length, m = gain.shape
            top = gain.flatten(1).topk(min(tries, length * m), dim=1)
            position, choice = top.indices // m, top.indices % m
            trial = tokens[rows].unsqueeze(1).repeat(1, top.indices.shape[1], 1)  # [n, T, L]
            new_ids = options.gather(1, position.unsqueeze(-1).expand(-1, -1, m)).gather(2, choice.unsqueeze(-1)).squeeze(-1)
            trial.scatter_(2, position.unsqueeze(-1), new_ids.unsqueeze(-1))
            with torch.no_grad():
                probs = model(trial.flatten(0, 1)).softmax(dim=1).view(n, trial.shape[1], -1)
                p_true = probs.gather(2, y[rows].view(-1, 1, 1).expand(-1, trial.shape[1], 1)).squeeze(-1)
            p_true[~torch.isfinite(top.values)] = float("inf")
            best = p_true.argmin(dim=1)
            usable = torch.isfinite(p_true.gather(1, best.unsqueeze(1)).squeeze(1))
            chosen = rows[usable]
            tokens[chosen] = trial[usable, best[usable]]
            edited[chosen, position[usable, best[usable]]] = True
            edits[chosen] += 1
    return tokens, edits


def nearest_neighbour_candidates(model: nn.Module, m: int = 8) -> torch.Tensor:
    """For every character id, its m nearest other characters in the model's normalised embedding space, [V, m]."""
    check_int("m", m, minimum=1)
    with torch.no_grad():
        matrix = model.embedding_matrix()
        ids = nearest_characters(matrix, matrix, k=m + 1)
    same = ids == torch.arange(len(matrix)).view(-1, 1)
    return torch.stack([row[~skip][:m] for row, skip in zip(ids, same)])


__all__ = [
    "loss_gradient", "embedding_fgm", "embedding_pgd", "perturbed_logits", "EmbeddingFGM", "EmbeddingPGD",
    "freelb_start", "FreeLB", "MatrixFGM", "GradientPenalty", "embedding_gradient_norms", "text_vat_loss", "TextVAT", "greedy_substitution",
    "nearest_neighbour_candidates",
]
