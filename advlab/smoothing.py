"""Randomized smoothing (Cohen, Rosenfeld & Kolter, 2019): an L2 certificate from Gaussian noise.

The smoothed classifier answers the class the base model f predicts most often under noise,

    g(x) = argmax_c  P( f(x + delta) = c ),      delta ~ N(0, sigma^2 I).

If the top class has probability p_A >= 1/2, g cannot change inside the L2 ball of radius

    R = sigma * Phi^{-1}(p_A)        (Cohen et al., Theorem 1, with p_B = 1 - p_A).

p_A is unknown: CERTIFY guesses the top class c_A from n0 noisy copies, counts how often f
answers c_A among n fresh copies, and uses the one-sided Clopper-Pearson lower bound
p_A_lower = Beta(alpha; n_A, n - n_A + 1). It abstains (class -1) when p_A_lower <= 1/2.
With probability at least 1 - alpha, a returned class and radius are right.
PREDICT answers the top class only when a binomial test says it beats the runner-up (p <= alpha).

The noise comes from a torch.Generator the caller passes: the same generator state gives the same answers.
:func:`noise_augmentation` is the matching training term (train f on x + delta, so that g is accurate).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from .checks import check_int, check_number
from .models import eval_mode, model_device
from .train import Batch

ABSTAIN = -1


@torch.no_grad()
def noise_counts(model: nn.Module, x: torch.Tensor, sigma: float, n: int, generator: torch.Generator,
                 batch_size: int = 1000) -> torch.Tensor:
    """How often f(x + delta) answers each class over n noisy copies of ONE sample x [1, ...]: [classes] int64."""
    device = model_device(model)
    counts = None
    with eval_mode(model):
        for start in range(0, n, batch_size):
            size = min(batch_size, n - start)
            noise = torch.randn((size, *x.shape[1:]), generator=generator, dtype=x.dtype) * sigma
            logits = model((x.cpu() + noise).to(device))
            batch_counts = torch.bincount(logits.argmax(dim=1).cpu(), minlength=logits.shape[1])
            counts = batch_counts if counts is None else counts + batch_counts
    return counts


def clopper_pearson_lower(successes: int, trials: int, alpha: float) -> float:
    """One-sided (1 - alpha) lower confidence bound of a binomial proportion: Beta(alpha; k, n - k + 1)."""
    from scipy.stats import beta

    return 0.0 if successes == 0 else float(beta.ppf(alpha, successes, trials - successes + 1))


def smoothed_predict(model: nn.Module, x: torch.Tensor, sigma: float, n: int = 1000, alpha: float = 0.001,
                     generator: torch.Generator | None = None, batch_size: int = 1000) -> torch.Tensor:
    """Cohen et al.'s PREDICT for each sample of x [N, ...]: the class, or -1 (abstain), [N] int64.

    Top two counts n_A, n_B among n noisy copies; answer c_A when the two-sided binomial test of
    n_A against Bin(n_A + n_B, 1/2) has p-value <= alpha.
    """
    from scipy.stats import binomtest

    sigma, n, alpha, generator = _check(x, sigma, n, alpha, generator)
    answers = []
    for i in range(len(x)):
        counts = noise_counts(model, x[i : i + 1], sigma, n, generator, batch_size)
        top2 = counts.topk(2)
        n_a, n_b = top2.values.tolist()
        significant = binomtest(n_a, n_a + n_b, 0.5).pvalue <= alpha
        answers.append(top2.indices[0].item() if significant else ABSTAIN)
    return torch.tensor(answers, dtype=torch.int64)


@dataclass
class SmoothedCertificate:
    """CERTIFY's answer for a batch: class (-1 = abstain), L2 radius (0 when abstaining), p_A lower bound."""

    prediction: torch.Tensor  # [N] int64
    radius: torch.Tensor  # [N] float64
    p_lower: torch.Tensor  # [N] float64
    forward_passes: int  # (n0 + n) per sample: the price of the certificate

    def certified_accuracy(self, y: torch.Tensor, radius: float) -> float:
        """Fraction of samples answered correctly with a certified radius >= `radius`."""
        return ((self.prediction == y.cpu()) & (self.radius >= radius)).float().mean().item()


def smoothed_certify(model: nn.Module, x: torch.Tensor, sigma: float, n0: int = 100, n: int = 1000,
                     alpha: float = 0.001, generator: torch.Generator | None = None,
                     batch_size: int = 1000) -> SmoothedCertificate:
    """Cohen et al.'s CERTIFY for each sample of x [N, ...].

        c_A = most frequent class of f(x + delta) over n0 copies (selection)
        n_A = count of c_A over n fresh copies (estimation)
        p_A_lower = Clopper-Pearson lower bound at level alpha
        p_A_lower > 1/2:  (c_A, R = sigma * Phi^{-1}(p_A_lower))     else  abstain (-1, 0)
    """
    from scipy.stats import norm

    sigma, n, alpha, generator = _check(x, sigma, n, alpha, generator)
    check_int("n0", n0, minimum=1)
    predictions, radii, lowers = [], [], []
    for i in range(len(x)):
        guess = noise_counts(model, x[i : i + 1], sigma, n0, generator, batch_size).argmax().item()
        n_a = noise_counts(model, x[i : i + 1], sigma, n, generator, batch_size)[guess].item()
        p_lower = clopper_pearson_lower(n_a, n, alpha)
        lowers.append(p_lower)
        if p_lower > 0.5:
            predictions.append(guess), radii.append(sigma * float(norm.ppf(p_lower)))
        else:
            predictions.append(ABSTAIN), radii.append(0.0)
    return SmoothedCertificate(torch.tensor(predictions, dtype=torch.int64), torch.tensor(radii, dtype=torch.float64),
                               torch.tensor(lowers, dtype=torch.float64), len(x) * (n0 + n))


def _check(x, sigma, n, alpha, generator):
    if not isinstance(x, torch.Tensor) or not x.is_floating_point() or x.dim() < 2:
        raise TypeError(f"x must be a float tensor batch [N, ...], got {type(x).__name__}")
    if not torch.isfinite(x).all():
        raise ValueError("x must hold finite values (found NaN or inf)")
    sigma = check_number("sigma", sigma, minimum=0, strict=True)
    check_int("n", n, minimum=1)
    alpha = check_number("alpha", alpha, minimum=0, strict=True)
    if alpha >= 1:
        raise ValueError(f"alpha must be in (0, 1), got {alpha}")
    if generator is None:
        generator = torch.Generator().manual_seed(0)
    elif not isinstance(generator, torch.Generator):
        raise TypeError(f"generator must be a torch.Generator or None, got {type(generator).__name__}")
    return sigma, n, alpha, generator


# ----------------------------------------------------------------------------- training for smoothing
@dataclass
class NoiseAugmentation:
    """Loss term CE(f(x + delta), y), delta ~ N(0, sigma^2 I), for ``fit(..., clean_weight=0, extra_losses=...)``.

    Cohen et al. train the base classifier on noisy copies at the sigma it will be smoothed with;
    the noise comes from a generator the term owns, seeded by `seed`.
    """

    sigma: float
    seed: int = 0

    def __post_init__(self):
        check_number("sigma", self.sigma, minimum=0)
        check_int("seed", self.seed, minimum=0)
        self.generator = torch.Generator().manual_seed(self.seed)

    def __call__(self, model: nn.Module, batch: Batch) -> torch.Tensor:
        noise = torch.randn(batch.x.shape, generator=self.generator, dtype=batch.x.dtype).to(batch.x.device)
        return F.cross_entropy(model(batch.x + self.sigma * noise), batch.y)


def noise_setup(sigma: float, seed: int = 0) -> dict:
    """Keyword arguments for ``fit``: train only on Gaussian-noise copies at `sigma`."""
    return {"clean_weight": 0.0, "extra_losses": {"noise loss": NoiseAugmentation(sigma, seed)}}


__all__ = ["ABSTAIN", "noise_counts", "clopper_pearson_lower", "smoothed_predict", "SmoothedCertificate",
           "smoothed_certify", "NoiseAugmentation", "noise_setup"]
