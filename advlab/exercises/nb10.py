"""Graded exercises of notebook 10 (text): FGM on embeddings per example, seed 001's loop, the nearest character."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from . import fixtures
from .core import Wrong, call, exercise, expect_number, expect_tensor, same
from .language import Text, text


# ----------------------------------------------------------------------------- 10.embedding_fgm
def reference_embedding_perturbation(grad, eps):
    """r_i = eps · g_i / ||g_i||_2, the norm over ALL tokens and dimensions of example i (Miyato et al. 2017)."""
    norms = grad.flatten(1).norm(dim=1).clamp_min(1e-12)
    return eps * grad / norms.view(-1, *[1] * (grad.dim() - 1))


def _embedding_gradients() -> torch.Tensor:
    """Real gradients shaped like an embedded batch [N, length, dim]: the CNN's input gradients, rows as tokens."""
    model = fixtures.trained_cnn()
    x, y = fixtures.batch(8)
    x = x.clone().requires_grad_(True)
    (g,) = torch.autograd.grad(F.cross_entropy(model(x), y), x)
    return g.view(8, 28, 28)


@exercise("10.embedding_fgm", "FGM on embeddings", solution=lambda: reference_embedding_perturbation)
def check_embedding_fgm(answer) -> Text:
    grad, eps = _embedding_gradients(), 1.0
    value = expect_tensor(call(answer, grad.clone(), eps), grad.shape, text("the perturbation"))
    expected = reference_embedding_perturbation(grad, eps)
    if same(value, expected, 1e-6, 1.0):
        return text("one L2 step of length eps per example, over all its tokens and dimensions")
    if same(value, eps * grad / grad.norm(dim=-1, keepdim=True).clamp_min(1e-12), 1e-6, 1.0):
        raise Wrong(text("you normalised each token (character) separately: every character then moves by eps. The "
                         "norm runs over the whole example: `g.flatten(1).norm(dim=1)`."), mistake="per_token")
    if same(value, eps * grad / grad.norm(), 1e-6, 1.0):
        raise Wrong(text("one norm over the whole batch: normalise per example."), mistake="batch_norm")
    if same(value, eps * grad.sign(), 1e-6, 1.0):
        raise Wrong(text("that is the sign (an L-inf step); FGM divides by the L2 norm."), mistake="sign")
    raise Wrong(text("not eps·g_i/||g_i||_2."), mistake="unrecognised")


# ----------------------------------------------------------------------------- 10.seed_loop
def reference_seed_loop() -> float:
    """Seed 001's loop: loss_adv is computed from the OLD logits, so it equals the clean loss: ratio 1."""
    return 1.0


@exercise("10.seed_loop", "what seed 001's loop trains on", solution=reference_seed_loop)
def check_seed_loop(answer) -> Text:
    answer = expect_number(answer, text("the ratio loss_adv / loss_clean"))
    if math.isclose(answer, 1.0, abs_tol=1e-9):
        return text("loss_adv is computed from the logits of the clean forward pass, so it IS the clean loss (ratio "
                    "1): the loop trains on twice the clean gradient and no adversarial example")
    if answer > 1:
        raise Wrong(text("that would be true with a new forward pass after attack(); look again at which logits "
                         "loss_adv is computed from."), mistake="assumed_new_pass")
    raise Wrong(text("the perturbed embeddings never reach the loss: which logits does loss_adv use?"),
                mistake="unrecognised")


# ----------------------------------------------------------------------------- 10.nearest
def reference_nearest(matrix, vectors):
    """Index of the row of `matrix` [V, D] nearest (L2) to each of `vectors` [N, D] (embedding -> character)."""
    return torch.cdist(vectors, matrix).argmin(dim=1)


def _embedding_table():
    """A 'vocabulary' of 64 real digit images as rows [64, 784], and 8 of them moved by noise."""
    x, _ = fixtures.batch(64)
    matrix = x.flatten(1)
    noise = 0.15 * torch.randn(8, matrix.shape[1], generator=fixtures.generator(9))
    return matrix, matrix[::8] + noise


@exercise("10.nearest", "back from an embedding to a character", solution=lambda: reference_nearest)
def check_nearest(answer) -> Text:
    matrix, vectors = _embedding_table()
    value = expect_tensor(call(answer, matrix.clone(), vectors.clone()), [len(vectors)], text("the indices"),
                          torch.int64)
    expected = reference_nearest(matrix, vectors)
    if torch.equal(value, expected):
        return text("the nearest row (L2) of a 64-row table for 8 perturbed vectors")
    if torch.equal(value, torch.cdist(vectors, matrix).argmax(dim=1)):
        raise Wrong(text("argmax of the distance finds the FARTHEST row: use argmin."), mistake="farthest")
    if torch.equal(value, (vectors @ matrix.T).argmax(dim=1)):
        raise Wrong(text("the largest dot product favours rows with a large norm, not the closest one: compare L2 "
                         "distances (`torch.cdist`)."), mistake="dot_product")
    raise Wrong(text("not the index of the nearest row."), mistake="unrecognised")
