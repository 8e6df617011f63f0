"""Virtual adversarial training (Miyato et al., TPAMI 2018; seed 000).

The *local distributional smoothness* (LDS) of a model at x is how much its predicted
distribution moves under the worst small perturbation, a perturbation that needs no label:

    r_vadv = argmax_{||r||_2 <= eps} KL( p(.|x) || p(.|x + r) ),    LDS(x) = KL( p(.|x) || p(.|x + r_vadv) )

At r = 0 the KL and its gradient vanish, so KL(r) ~ 1/2 r^T H r and r_vadv is eps times the
top eigenvector of the Hessian H. It is found by power iteration with a finite difference,
as in the official code: d ~ N(0, I), and K times

    d <- xi * d / ||d||,    d <- grad_d KL( p(.|x) || p(.|x + d) )          (H d ~ grad / xi)

then r_vadv = eps * d / ||d||. Norms are per sample (over all pixels); p(.|x) is held fixed
(detached), so only p(.|x + r) carries the gradient into the parameters.

Unlike seed 000, the direction comes from ``torch.autograd.grad`` with respect to d only
(nothing is written into any parameter's ``.grad``), nothing is moved to a hard-coded
device, and the perturbed forward passes leave BatchNorm running statistics untouched.

Defaults: the paper's xi = 1e-6 is too small for float32 at MNIST's pixel scale: the
difference p(.|x + xi d) - p(.|x) drowns in rounding, so float32 no longer computes the float64
direction (notebook 05 measures a cosine near 0 between them). The gradient J^T (q - p) is then a
rounding-driven combination of the class scores' input gradients: still strongly adversarial
(notebook 05 prints its KL at eps beside xi = 1's and a random direction's), but not the top
eigenvector that the power iteration is meant to find. The more confident the model, the larger xi
must be; ``xi`` defaults to 1.0 here (an L2 step of 1 over 784 pixels), which gives the
float64 direction in float32 on the trained models of this suite (the PyTorch ports of VAT
use values up to 10). ``eps`` is in L2 pixel units (an image has 784 pixels in [0, 1]); the paper
used eps = 2.0 on MNIST and seed 000 uses 2.5.
"""

from __future__ import annotations

import contextlib

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm

from .attacks import unit_l2  # per-sample g / max(||g||_2, 1e-12), shared with FGM and L2 PGD
from .checks import check_int, check_number
from .models import model_device

DEFAULT_XI = 1.0
DEFAULT_EPS = 2.0


# ----------------------------------------------------------------------------- building blocks
def kl_from_logits(clean_logits: torch.Tensor, perturbed_logits: torch.Tensor) -> torch.Tensor:
    """Batch mean of KL(p || q) = sum_c p_c (log p_c - log q_c), p = softmax(clean), q = softmax(perturbed).

    The clean logits are detached: p(.|x) is the fixed "virtual label".
    """
    log_p = F.log_softmax(clean_logits.detach(), dim=1)
    log_q = F.log_softmax(perturbed_logits, dim=1)
    return (log_p.exp() * (log_p - log_q)).sum(dim=1).mean()


def entropy_from_logits(logits: torch.Tensor) -> torch.Tensor:
    """Batch mean of the prediction entropy H(p) = -sum_c p_c log p_c (VAT+EntMin minimises it)."""
    log_p = F.log_softmax(logits, dim=1)
    return -(log_p.exp() * log_p).sum(dim=1).mean()


@contextlib.contextmanager
def frozen_batchnorm_stats(model: nn.Module):
    """Inside the block, forward passes do not change any BatchNorm running statistics.

    BatchNorm layers in train mode still normalise with the batch's own statistics (as the
    official code's ``update_batch_stats=False``), but their momentum is 0, so the running
    mean and variance stay put: running <- (1 - 0) running + 0 batch. Momentum and the batch
    counter are restored on exit, also when an exception is raised inside.
    """
    # Momentum 0 rather than copying the old buffers back: train-mode BatchNorm saves its
    # running buffers for the backward pass, and an in-place restore would break that graph.
    layers = [m for m in model.modules() if isinstance(m, _BatchNorm) and m.track_running_stats]
    saved = [(m, m.momentum, None if m.num_batches_tracked is None else m.num_batches_tracked.clone()) for m in layers]
    try:
        for module in layers:
            module.momentum = 0.0
        yield model
    finally:
        for module, momentum, count in saved:
            module.momentum = momentum
            if count is not None:
                module.num_batches_tracked.copy_(count)


def random_direction(like: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """d ~ N(0, I) with the shape, dtype and device of `like` (drawn from `generator` if given)."""
    device = generator.device if generator is not None else like.device
    return torch.randn(like.shape, generator=generator, device=device, dtype=like.dtype).to(like.device)


# ----------------------------------------------------------------------------- the method
def virtual_adversarial_perturbation(
    model: nn.Module,
    x: torch.Tensor,
    xi: float = DEFAULT_XI,
    eps: float = DEFAULT_EPS,
    power_iterations: int = 1,
    *,
    clean_logits: torch.Tensor | None = None,
    generator: torch.Generator | None = None,
    d: torch.Tensor | None = None,
) -> torch.Tensor:
    """The virtual adversarial perturbation r_vadv, [N, ...] like x, with ||r_i||_2 = eps per sample.

        d ~ N(0, I);  K times: d <- grad_r KL(p(.|x) || p(.|x + r)) at r = xi d/||d||  (≈ xi H d/||d||);
        r_vadv = eps d/||d||

    The gradient is taken with respect to the step r, not with respect to d through the
    normalisation (that gradient would be orthogonal to d), as in Miyato et al.

    `clean_logits` (model(x), detached here) saves a forward pass when the caller has them.
    `d` replaces the random start (to compare implementations on the same d); otherwise it
    is drawn from `generator`, or from torch's global generator. The model's mode, its
    parameters' ``.grad`` and its BatchNorm running statistics are left as they were, and x
    is not modified. The result is detached. It is not clipped to [0, 1]: r probes the model's
    smoothness around x rather than making a valid image.
    """
    _check_arguments(x, xi, eps, power_iterations)
    if d is None:
        d = random_direction(x, generator)
    elif d.shape != x.shape:
        raise ValueError(f"d must have the shape of x {list(x.shape)}, got {list(d.shape)}")
    x = x.detach()
    with frozen_batchnorm_stats(model):
        if clean_logits is None:
            with torch.no_grad():
                clean_logits = model(x)
        for _ in range(power_iterations):
            d = (xi * unit_l2(d.detach())).requires_grad_(True)
            kl = kl_from_logits(clean_logits, model(x + d))
            (d,) = torch.autograd.grad(kl, d)  # gradient w.r.t. d only: no parameter's .grad is touched
    return eps * unit_l2(d.detach())


def vat_loss(
    model: nn.Module,
    x: torch.Tensor,
    xi: float = DEFAULT_XI,
    eps: float = DEFAULT_EPS,
    power_iterations: int = 1,
    *,
    clean_logits: torch.Tensor | None = None,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """The LDS loss, mean over the batch of KL( p(.|x) || p(.|x + r_vadv) ), differentiable in the parameters.

    p(.|x) is detached (a fixed target); r_vadv comes from :func:`virtual_adversarial_perturbation`.
    The perturbed pass does not update BatchNorm running statistics.
    """
    if clean_logits is None:
        _check_arguments(x, xi, eps, power_iterations)
        with torch.no_grad(), frozen_batchnorm_stats(model):
            clean_logits = model(x)
    r_vadv = virtual_adversarial_perturbation(
        model, x, xi, eps, power_iterations, clean_logits=clean_logits, generator=generator
    )
    with frozen_batchnorm_stats(model):
        return kl_from_logits(clean_logits, model(x.detach() + r_vadv))


def _check_arguments(x, xi, eps, power_iterations) -> None:
    if not isinstance(x, torch.Tensor) or not x.is_floating_point():
        raise TypeError(f"x must be a float torch.Tensor, got {type(x).__name__}")
    if x.dim() < 2 or len(x) == 0:
        raise ValueError(f"x must be a non-empty batch [N, ...], got shape {list(x.shape)}")
    check_number("xi", xi, minimum=0, strict=True)
    check_number("eps", eps, minimum=0)
    check_int("power_iterations", power_iterations, minimum=1)


# ----------------------------------------------------------------------------- plugging into train.fit
class VATLoss:
    """A loss term for ``advlab.train.fit``: alpha * LDS (+ entmin_weight * entropy) on each step.

        term = alpha * LDS(x_l ∪ x_u) + entmin_weight * H(p(.|x_u))

    The LDS is taken on the step's labelled batch (its labels are not used) together with
    `unlabelled_batch_size` images drawn from `unlabelled_x` by the term's own generator
    (seeded with `seed`; shuffled passes, so every image is used equally often). With
    ``unlabelled_x=None`` it is the supervised regulariser on the labelled batch only.
    The last LDS and entropy values are kept in ``last_lds`` and ``last_entropy``.
    """

    def __init__(
        self,
        unlabelled_x: torch.Tensor | None = None,
        unlabelled_batch_size: int = 64,
        eps: float = DEFAULT_EPS,
        xi: float = DEFAULT_XI,
        power_iterations: int = 1,
        alpha: float = 1.0,
        entmin_weight: float = 0.0,
        seed: int = 0,
    ):
        if unlabelled_x is not None and (not isinstance(unlabelled_x, torch.Tensor) or not unlabelled_x.is_floating_point()):
            raise TypeError("unlabelled_x must be a float torch.Tensor or None")
        if unlabelled_x is not None and len(unlabelled_x) == 0:
            raise ValueError("unlabelled_x must hold at least one image")
        self.unlabelled_x = unlabelled_x
        self.unlabelled_batch_size = check_int("unlabelled_batch_size", unlabelled_batch_size, minimum=1)
        self.eps = check_number("eps", eps, minimum=0)
        self.xi = check_number("xi", xi, minimum=0, strict=True)
        self.power_iterations = check_int("power_iterations", power_iterations, minimum=1)
        self.alpha = check_number("alpha", alpha, minimum=0)
        self.entmin_weight = check_number("entmin_weight", entmin_weight, minimum=0)
        self.generator = torch.Generator().manual_seed(check_int("seed", seed, minimum=0))
        self._queue = torch.empty(0, dtype=torch.int64)
        self.last_lds = float("nan")
        self.last_entropy = float("nan")

    def next_unlabelled(self) -> torch.Tensor:
        """The next unlabelled batch (indices from shuffled passes over `unlabelled_x`)."""
        while len(self._queue) < self.unlabelled_batch_size:
            order = torch.randperm(len(self.unlabelled_x), generator=self.generator)
            self._queue = torch.cat([self._queue, order])
        index, self._queue = self._queue[: self.unlabelled_batch_size], self._queue[self.unlabelled_batch_size :]
        return self.unlabelled_x[index]

    def __call__(self, model: nn.Module, batch) -> torch.Tensor:
        if self.unlabelled_x is None:
            x, clean_logits = batch.x, batch.logits
            entropy_logits = batch.logits
        else:
            x_u = self.next_unlabelled().to(model_device(model))
            with torch.set_grad_enabled(self.entmin_weight > 0):
                entropy_logits = model(x_u)  # a clean pass: it may update BatchNorm statistics like any clean batch
            x = torch.cat([batch.x, x_u])
            clean_logits = torch.cat([batch.logits, entropy_logits])
        lds = vat_loss(model, x, self.xi, self.eps, self.power_iterations, clean_logits=clean_logits, generator=self.generator)
        total = self.alpha * lds
        self.last_lds = lds.item()
        if self.entmin_weight > 0:
            entropy = entropy_from_logits(entropy_logits)
            total = total + self.entmin_weight * entropy
            self.last_entropy = entropy.item()
        return total
