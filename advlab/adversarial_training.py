"""Adversarial training as loss terms of the one training loop, and the gradient-penalty view.

Every method here is a loss term ``term(model, batch) -> scalar`` for
``advlab.train.fit(model, (x, y), clean_weight=w, extra_losses={name: term})``, whose step
minimises ``w * CE(model(x), y) + term``. :func:`setup` gives both pieces at once:

    fit(model, (x, y), **adversarial_training.setup("pgd", eps=0.1))

=========  ==========================================================  ============
method     loss                                                        clean_weight
=========  ==========================================================  ============
``fgsm``   ½·CE(x) + ½·CE(fgsm(x, eps))            (Goodfellow 2015)   ½
``fgm``    ½·CE(x) + ½·CE(fgm(x, eps)), an L2 step of length eps       ½
``pgd``    CE(pgd(x, eps, alpha, steps, random start))   (Madry 2018)  0
``fast``   CE(x_adv), x_adv = one step of 1.25·eps from a uniform      0
           random start in [-eps, eps], clipped to the ball and [0, 1]
           (Wong, Rice & Kolter 2020, "fast is better than free")
=========  ==========================================================  ============

``random_start=False`` makes ``fast`` start from x itself: with ``alpha=eps`` that is pure
FGSM training, the single-step recipe that overfits catastrophically (notebook 04, section 4).

The adversarial example is built by ``advlab.attacks`` (eval mode, ``autograd.grad`` with
respect to the input only) and is a detached tensor, so the only gradient that reaches the
parameters is the one of CE(model(x_adv), y). Random starts come from a ``torch.Generator``
the term owns, seeded by `seed`: the same seed gives the same numbers.

The gradient penalty (seed 004) is the first-order view of the same idea: for a step of
length eps along the gradient g = grad_x L,

    L(x + eps·g/||g||_2) ≈ L(x) + eps·||g||_2          (FGM, the L2 step)
    L(x + eps·sign(g))   ≈ L(x) + eps·||g||_1          (FGSM, the L-inf step)

so training on ``L + eps·||grad_x L||`` (the dual norm of the attack's ball) is adversarial
training to first order. :func:`gradient_penalty` computes it by double backprop.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from . import attacks
from .checks import check_choice, check_int, check_number
from .train import Batch, LossTerm

METHODS = ("fgsm", "fgm", "pgd", "fast")
CLEAN_WEIGHTS = {"fgsm": 0.5, "fgm": 0.5, "pgd": 0.0, "fast": 0.0}
PENALTY_NORMS = ("2", "1")


@dataclass
class AdversarialLoss:
    """The adversarial part of one AT method: ``adv_weight * CE(model(x_adv), y)``.

    A stateful loss term: it owns the generator of its random starts (PGD, fast), seeded
    by `seed`, and remembers the last adversarial batch in ``last_x_adv`` (for plots).
    """

    method: str
    eps: float
    alpha: float
    steps: int
    seed: int = 0
    random_start: bool = True

    def __post_init__(self):
        self.generator = torch.Generator().manual_seed(self.seed)
        self.last_x_adv: torch.Tensor | None = None

    @property
    def clean_weight(self) -> float:
        return CLEAN_WEIGHTS[self.method]

    @property
    def adv_weight(self) -> float:
        return 1.0 - self.clean_weight

    @property
    def attack_passes(self) -> int:
        """Forward+backward passes the attack itself makes per batch (one per step)."""
        return {"fgsm": 1, "fgm": 1, "pgd": self.steps, "fast": 1}[self.method]

    @property
    def passes_per_batch(self) -> int:
        """Forward+backward passes per training batch that carry a gradient: the attack's,
        the adversarial training pass, and the clean one when the clean loss is part of the
        objective. `advlab.train.fit` also runs a clean *forward* pass on every batch (for its
        training accuracy) even at clean weight 0: see :attr:`forward_passes_per_batch`."""
        return self.attack_passes + 1 + (1 if self.clean_weight else 0)

    @property
    def forward_passes_per_batch(self) -> int:
        """Forward passes per training batch in `advlab.train.fit`: the attack's, the
        adversarial one and the clean one, which the loop always runs."""
        return self.attack_passes + 2

    @property
    def backward_passes_per_batch(self) -> int:
        """Backward passes per training batch: the attack's, and the training step's through
        the adversarial forward (and the clean forward when its weight is not 0)."""
        return self.passes_per_batch

    def attack(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """The detached adversarial batch this method trains on."""
        if self.method == "fgsm":
            x_adv = attacks.fgsm(model, x, y, self.eps)
        elif self.method == "fgm":
            x_adv = attacks.fgm(model, x, y, self.eps)
        else:  # pgd, and fast = PGD with one step of alpha (from a random start unless told otherwise)
            x_adv = attacks.pgd(model, x, y, self.eps, self.alpha, self.steps, random_start=self.random_start,
                                generator=self.generator)
        return x_adv.detach()

    def __call__(self, model: nn.Module, batch: Batch) -> torch.Tensor:
        x_adv = self.attack(model, batch.x, batch.y)
        self.last_x_adv = x_adv
        return self.adv_weight * F.cross_entropy(model(x_adv), batch.y)


def adversarial_loss(method: str, eps: float, *, alpha: float | None = None, steps: int | None = None,
                     random_start: bool | None = None, seed: int = 0) -> AdversarialLoss:
    """The loss term of `method` in {"fgsm", "fgm", "pgd", "fast"} at budget `eps` (see the module table).

    PGD: `steps` (default 7) steps of `alpha` from a random start. The default alpha =
    2.5·eps/steps (a total reach of 2.5·eps: enough to cross the ball from any start and move
    along its edge) is the convention of the MadryLab `robustness` library (Engstrom et al.,
    2019), not of Madry et al. (2018), who used 40 steps of 0.01 at eps = 0.3 on MNIST. Fast: one step of `alpha` (default 1.25·eps) from a random start.
    ``random_start=False`` starts PGD and fast from x instead. FGSM and FGM are one step of
    eps from x: they take no alpha, steps or random_start. Pair the term with
    ``clean_weight=term.clean_weight``.
    """
    check_choice("method", method, METHODS)
    eps = check_number("eps", eps, minimum=0)
    check_int("seed", seed, minimum=0)
    if method in ("fgsm", "fgm") and (alpha is not None or steps not in (None, 1) or random_start is not None):
        raise ValueError(f"method={method!r} is a single step of eps from x: it takes no alpha, steps or random_start")
    if random_start is not None and not isinstance(random_start, bool):
        raise TypeError(f"random_start must be True or False, got {random_start!r}")
    if method == "fast" and steps not in (None, 1):
        raise ValueError(f"method='fast' takes a single step, got steps={steps}")
    steps = check_int("steps", steps if steps is not None else (7 if method == "pgd" else 1), minimum=1)
    default_alpha = {"pgd": 2.5 * eps / steps, "fast": 1.25 * eps}.get(method, eps)
    alpha = check_number("alpha", alpha if alpha is not None else default_alpha, minimum=0)
    return AdversarialLoss(method, eps, alpha, steps, seed, random_start=random_start is not False)


def setup(method: str, eps: float, **kwargs) -> dict:
    """Keyword arguments for ``fit``: ``{"clean_weight": w, "extra_losses": {"adv loss": term}}``."""
    term = adversarial_loss(method, eps, **kwargs)
    return {"clean_weight": term.clean_weight, "extra_losses": {"adv loss": term}}


# ----------------------------------------------------------------------------- gradient penalty
def input_gradient_norms(model: nn.Module, x: torch.Tensor, y: torch.Tensor, norm: str = "2",
                         create_graph: bool = False) -> torch.Tensor:
    """Per-sample ||grad_{x_i} CE(model(x_i), y_i)||_p for p = 2 or 1, [N].

    The losses are summed (not averaged) so that sample i's gradient is its own loss's.
    With ``create_graph=True`` the norms stay differentiable in the parameters (double backprop).
    """
    check_choice("norm", str(norm), PENALTY_NORMS)
    return input_gradients(model, x, y, create_graph).norm(p=int(norm), dim=1)


def gradient_penalty(eps: float, norm: str = "2") -> LossTerm:
    """Loss term ``eps · mean_i ||grad_{x_i} CE(model(x_i), y_i)||_p`` with double backprop.

    p = 2 is the first-order equivalent of FGM training (an L2 step of length eps), p = 1 the
    one of FGSM training (an L-inf step of size eps): L(x + delta) ≈ L(x) + eps·||g||_dual.
    Use it with ``clean_weight=1``.
    """
    eps = check_number("eps", eps, minimum=0)
    check_choice("norm", str(norm), PENALTY_NORMS)

    def penalty(model: nn.Module, batch: Batch) -> torch.Tensor:
        return eps * input_gradient_norms(model, batch.x, batch.y, str(norm), create_graph=True).mean()

    return penalty


# ----------------------------------------------------------------------------- GradAlign
def grad_align(eps: float, weight: float, seed: int = 0) -> LossTerm:
    """GradAlign (Andriushchenko & Flammarion, 2020), a regulariser against catastrophic overfitting:

        weight · (1 - mean_i cos( grad_x CE(x_i), grad_x CE(x_i + eta_i) )),   eta_i ~ U[-eps, eps]^d

    Single-step training fails when the loss is no longer linear inside the eps ball: the
    gradient at x stops predicting the gradient elsewhere in the ball. This term keeps the two
    aligned. As in the authors' code, the gradient at x is a constant (detached) and only the one
    at the random point is differentiated (double backprop); samples whose gradient is exactly
    zero are left out of the mean. Add it to a single-step recipe:
    ``extra_losses={"adv loss": adversarial_loss("fast", eps), "grad align": grad_align(eps, 0.2)}``.
    """
    eps = check_number("eps", eps, minimum=0)
    weight = check_number("weight", weight, minimum=0)
    check_int("seed", seed, minimum=0)
    generator = torch.Generator().manual_seed(seed)

    def alignment_penalty(model: nn.Module, batch: Batch) -> torch.Tensor:
        eta = (torch.rand(batch.x.shape, generator=generator) * 2 - 1).to(batch.x.device) * eps
        at_x = input_gradients(model, batch.x, batch.y, create_graph=False)
        in_ball = input_gradients(model, (batch.x + eta).clamp(0, 1), batch.y, create_graph=True)
        nonzero = (at_x.norm(dim=1) > 0) & (in_ball.norm(dim=1) > 0)
        if not nonzero.any():
            return in_ball.sum() * 0.0  # keeps the graph, adds nothing
        cosine = F.cosine_similarity(at_x[nonzero], in_ball[nonzero], dim=1)
        return weight * (1 - cosine.mean())

    return alignment_penalty


def input_gradients(model: nn.Module, x: torch.Tensor, y: torch.Tensor, create_graph: bool) -> torch.Tensor:
    """Per-sample grad_{x_i} CE(model(x_i), y_i), flattened to [N, d] (losses summed, so each row is its own)."""
    x = x.detach().requires_grad_(True)
    with torch.enable_grad():
        (grad,) = torch.autograd.grad(F.cross_entropy(model(x), y, reduction="sum"), x, create_graph=create_graph)
    return grad.flatten(1) if create_graph else grad.detach().flatten(1)


# ----------------------------------------------------------------------------- a model with an embedding
class PixelEmbeddingCNN(nn.Module):
    """A SmallCNN whose first layer is an ``nn.Embedding`` over quantised pixel intensities.

        tokens = round(x · (levels - 1))  in {0..levels-1}   [N, 28, 28]   (like word ids)
        embedding(tokens)                                    [N, 28, 28, dim] -> [N, dim, 28, 28]
        conv dim->16 (5x5) -> ReLU -> pool -> conv 16->32 (5x5) -> ReLU -> pool -> linear

    The input is discrete, so an attack on x makes no sense; as in NLP, one perturbs the
    embedding matrix ``embedding.weight`` instead (``attacks.perturb_parameters``).
    """

    def __init__(self, levels: int = 16, dim: int = 4, num_classes: int = 2):
        super().__init__()
        self.levels = check_int("levels", levels, minimum=2)
        self.embedding = nn.Embedding(levels, check_int("dim", dim, minimum=1))
        self.body = nn.Sequential(
            nn.Conv2d(dim, 16, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(16, 32, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
            nn.Flatten(), nn.Linear(32 * 7 * 7, num_classes),
        )

    def tokens(self, x: torch.Tensor) -> torch.Tensor:
        """Pixel intensities in [0, 1] -> integer levels, [N, 28, 28]."""
        return (x[:, 0] * (self.levels - 1)).round().long()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(self.embedding(self.tokens(x)).permute(0, 3, 1, 2))


def embedding_fgm_step(model: nn.Module, optimizer: torch.optim.Optimizer, x: torch.Tensor, y: torch.Tensor,
                       eps: float, names=("embedding.weight",)) -> tuple[float, float]:
    """One correct FGM-on-embeddings training step; returns (clean loss, adversarial loss).

        1. forward + backward on the clean batch (fills .grad, also of the embedding);
        2. perturb the embedding by eps·g/||g|| (attacks.perturb_parameters);
        3. a NEW forward + backward at the perturbed weights (its gradients add to step 1's);
        4. restore the embedding (on leaving the with block);
        5. optimizer.step() with the summed gradients.
    """
    optimizer.zero_grad(set_to_none=True)
    clean_loss = F.cross_entropy(model(x), y)
    clean_loss.backward()
    with attacks.perturb_parameters(model, names, eps):
        adversarial = F.cross_entropy(model(x), y)  # the new forward pass the seed forgot
        adversarial.backward()
    optimizer.step()
    return clean_loss.item(), adversarial.item()


__all__ = ["METHODS", "AdversarialLoss", "adversarial_loss", "setup", "input_gradient_norms", "gradient_penalty",
           "grad_align", "input_gradients",
           "PixelEmbeddingCNN", "embedding_fgm_step"]
