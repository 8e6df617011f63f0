"""Gradient reversal (Ganin & Lempitsky 2015; DANN, JMLR 2016) and the models and loss terms built on it.

The gradient reversal layer (GRL) is the identity on the way forward and multiplies the
gradient by -lambda on the way back:

    R_lambda(x) = x,        dR_lambda/dx = -lambda * I

Put a head behind it and train that head to predict something (the domain, or the seed's
flipped label): the head *minimises* its loss, while the features in front of the GRL
receive the reversed gradient and so *maximise* it. One backward pass plays the min-max game

    min_{F, G_y} max_{G_d}  L_y(G_y(F(x)), y)  -  lambda * L_d(G_d(F(x)), d).

DANN ramps lambda from 0 to 1 over the training progress p in [0, 1] and anneals the
learning rate:

    lambda(p) = 2 / (1 + exp(-gamma p)) - 1        (gamma = 10)
    mu(p)     = mu_0 / (1 + alpha p)^beta          (alpha = 10, beta = 0.75)

The loss terms below plug into ``advlab.train.fit(..., extra_losses={...})``.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from .checks import check_images, check_int, check_labels, check_number
from .models import FEATURE_DIM, SmallCNN, eval_mode, model_device


# ----------------------------------------------------------------------------- the layer
class _GradReverse(torch.autograd.Function):
    """Identity forward, -lambda * grad backward."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, lambd: float) -> torch.Tensor:
        ctx.lambd = lambd
        return x.view_as(x)  # a view: same values, but a new node whose backward we own

    @staticmethod
    def backward(ctx, grad_output: torch.Tensor):
        return -ctx.lambd * grad_output, None


def _check_lambda(lambd) -> float:
    return check_number("lambd", lambd, minimum=0)


def grad_reverse(x: torch.Tensor, lambd: float = 1.0) -> torch.Tensor:
    """The gradient reversal R_lambda: returns x unchanged; backward maps grad g to -lambda * g.

    lambd >= 0 (0 blocks the gradient; a negative value would stop reversing, so it is refused).
    """
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"x must be a torch.Tensor, got {type(x).__name__}")
    return _GradReverse.apply(x, _check_lambda(lambd))


class GradientReversal(nn.Module):
    """Layer form of :func:`grad_reverse`; ``layer.lambd`` may be changed between steps (schedules)."""

    def __init__(self, lambd: float = 1.0):
        super().__init__()
        self.lambd = _check_lambda(lambd)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return grad_reverse(x, self.lambd)

    def extra_repr(self) -> str:
        return f"lambd={self.lambd}"


# ----------------------------------------------------------------------------- schedules
def _check_progress(p) -> float:
    p = check_number("p", p, minimum=0)
    if p > 1:
        raise ValueError(f"p must be a training progress in [0, 1], got {p}")
    return p


def dann_lambda(p: float, gamma: float = 10.0) -> float:
    """DANN's GRL weight at training progress p in [0, 1]: lambda(p) = 2 / (1 + exp(-gamma p)) - 1.

    lambda(0) = 0 (the noisy early domain signal is ignored), rising monotonically towards 1
    (reached at p = 1 up to 2 exp(-gamma) / (1 + exp(-gamma)); 9e-5 for gamma = 10).
    """
    p = _check_progress(p)
    gamma = check_number("gamma", gamma, minimum=0, strict=True)
    return 2.0 / (1.0 + math.exp(-gamma * p)) - 1.0


def dann_lr_factor(p: float, alpha: float = 10.0, beta: float = 0.75) -> float:
    """DANN's learning-rate annealing factor mu(p) / mu_0 = 1 / (1 + alpha p)^beta.

    Pass it as ``fit(..., lr_schedule=dann_lr_factor)``: the loop multiplies the base lr by it.
    """
    p = _check_progress(p)
    alpha = check_number("alpha", alpha, minimum=0)
    beta = check_number("beta", beta, minimum=0)
    return (1.0 + alpha * p) ** -beta


# ----------------------------------------------------------------------------- the model
class GRLNet(nn.Module):
    """SmallCNN (features + label head) with a second, adversarial head behind a GRL.

        logits           = head(F(x))                           (model(x), what fit trains)
        adversary logits = adversary(R_lambda(F(x)))            (domain, or the seed's flipped label)

    ``hidden=0`` makes the adversary one linear layer (the seed's ``advout``); DANN's MNIST
    domain classifier is 1764 -> 100 -> ReLU -> 2 (``hidden=100``, the default).
    """

    def __init__(self, num_classes: int = 10, adversary_classes: int = 2, hidden: int = 100):
        super().__init__()
        check_int("adversary_classes", adversary_classes, minimum=2)
        check_int("hidden", hidden, minimum=0)
        self.cnn = SmallCNN(num_classes)  # built first: same seed, same extractor as a plain SmallCNN
        if hidden:
            self.adversary = nn.Sequential(
                nn.Linear(FEATURE_DIM, hidden), nn.ReLU(), nn.Linear(hidden, adversary_classes)
            )
        else:
            self.adversary = nn.Linear(FEATURE_DIM, adversary_classes)

    @property
    def head(self) -> nn.Module:
        return self.cnn.head

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The shared features F(x), [N, 1764]."""
        return self.cnn.features(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Label logits head(F(x))."""
        return self.cnn(x)

    def adversary_logits(self, x: torch.Tensor, lambd: float = 1.0) -> torch.Tensor:
        """adversary(R_lambda(F(x))): the head learns normally, F receives -lambda times its gradient."""
        return self.adversary(grad_reverse(self.features(x), lambd))


# ----------------------------------------------------------------------------- loss terms
class _LambdaSchedule:
    """lambda_max * dann_lambda(p, gamma) if `schedule`, else the constant lambda_max."""

    def __init__(self, lambd: float, gamma: float, schedule: bool):
        self.lambd = _check_lambda(lambd)
        self.gamma = check_number("gamma", gamma, minimum=0, strict=True)
        self.schedule = bool(schedule)
        self.last_lambda = 0.0 if schedule else self.lambd

    def weight(self, progress: float) -> float:
        self.last_lambda = self.lambd * dann_lambda(progress, self.gamma) if self.schedule else self.lambd
        return self.last_lambda


class FlippedLabelLoss(_LambdaSchedule):
    """Seed 002's adversarial term: the GRL head learns to predict the *flipped* label 1 - y.

        term = CE(adversary(R_lambda(F(x))), 1 - y)

    The seed fixes lambda = 1 (``schedule=False``, the default here); ``schedule=True``
    ramps it with DANN's lambda(p). Needs a :class:`GRLNet` with ``adversary_classes=2``.
    """

    def __init__(self, lambd: float = 1.0, gamma: float = 10.0, schedule: bool = False):
        super().__init__(lambd, gamma, schedule)

    def __call__(self, model: GRLNet, batch) -> torch.Tensor:
        logits = model.adversary_logits(batch.x, self.weight(batch.progress))
        return F.cross_entropy(logits, 1 - batch.y)


class DomainAdversarialLoss(_LambdaSchedule):
    """DANN's domain term, holding the unlabelled target images and drawing a batch from them each step.

        term = CE(G_d(R_lambda(F([x_s; x_t]))), [0...0; 1...1]),   lambda = lambd * lambda(p)

    x_s is the training (source) batch, x_t as many target images, drawn without
    replacement in shuffled passes by the term's own generator (same seed, same draws).
    """

    def __init__(
        self, target_x: torch.Tensor, lambd: float = 1.0, gamma: float = 10.0, schedule: bool = True, seed: int = 0
    ):
        super().__init__(lambd, gamma, schedule)
        self.target_x = check_images("target_x", target_x)
        if len(target_x) == 0:
            raise ValueError("target_x must hold at least one image")
        self.generator = torch.Generator().manual_seed(check_int("seed", seed, minimum=0))
        self._order = torch.empty(0, dtype=torch.int64)

    def draw_target(self, count: int) -> torch.Tensor:
        """The next `count` target images (CPU), in shuffled passes over target_x."""
        while len(self._order) < count:
            self._order = torch.cat([self._order, torch.randperm(len(self.target_x), generator=self.generator)])
        index, self._order = self._order[:count], self._order[count:]
        return self.target_x[index]

    def __call__(self, model: GRLNet, batch) -> torch.Tensor:
        x_target = self.draw_target(len(batch.x)).to(batch.x.device)
        x = torch.cat([batch.x, x_target])
        domain = torch.cat([torch.zeros(len(batch.x)), torch.ones(len(x_target))]).long().to(x.device)
        return F.cross_entropy(model.adversary_logits(x, self.weight(batch.progress)), domain)


@torch.no_grad()
def adversary_accuracy(model: GRLNet, x: torch.Tensor, labels: torch.Tensor, batch_size: int = 1000) -> float:
    """Accuracy of the head behind the GRL: mean(argmax adversary(F(x)) == labels), in eval mode."""
    check_labels("labels", labels, len(x))
    device = model_device(model)
    with eval_mode(model):
        predictions = torch.cat(
            [model.adversary_logits(x[i : i + batch_size].to(device)).argmax(1).cpu() for i in range(0, len(x), batch_size)]
        )
    return (predictions == labels).float().mean().item()


def domain_accuracy(model: GRLNet, x_source: torch.Tensor, x_target: torch.Tensor) -> float:
    """How well the domain head tells the domains apart (domain 0 = source, 1 = target), in eval mode."""
    domains = torch.cat([torch.zeros(len(x_source)), torch.ones(len(x_target))]).long()
    return adversary_accuracy(model, torch.cat([x_source, x_target]), domains)


def proxy_a_distance(source_features: torch.Tensor, target_features: torch.Tensor, seed: int = 0,
                     steps: int = 300) -> float:
    """Proxy A-distance (Ben-David et al. 2007; Ganin et al. 2016) of two sets of frozen features.

    A fresh linear domain classifier is trained (Adam, lr 1e-2, `steps` full-batch steps) on a random
    half of the standardised features of both domains and judged on the other half; with its error e,

        d_A = 2 (1 - 2 e)

    2 when the domains are perfectly separable, about 0 when the judge can only guess.
    """
    for name, features in (("source_features", source_features), ("target_features", target_features)):
        if not isinstance(features, torch.Tensor) or features.dim() != 2 or len(features) < 2:
            raise ValueError(f"{name} must be a [n, d] tensor with n >= 2, got "
                             f"{tuple(features.shape) if isinstance(features, torch.Tensor) else type(features).__name__}")
    if source_features.shape[1] != target_features.shape[1]:
        raise ValueError(f"source_features and target_features need the same width, got "
                         f"{source_features.shape[1]} and {target_features.shape[1]}")
    steps = check_int("steps", steps, minimum=1)
    features = torch.cat([source_features, target_features]).detach().float().cpu()
    features = (features - features.mean(0)) / (features.std(0) + 1e-6)
    domains = torch.cat([torch.zeros(len(source_features)), torch.ones(len(target_features))]).long()
    order = torch.randperm(len(features), generator=torch.Generator().manual_seed(seed))
    fit_part, judge_part = order[: len(order) // 2], order[len(order) // 2 :]
    with torch.random.fork_rng(devices=[]):  # the judge's initial weights come from `seed`; the caller's RNG is untouched
        torch.manual_seed(seed)
        judge = nn.Linear(features.shape[1], 2)
    optimizer = torch.optim.Adam(judge.parameters(), lr=1e-2)
    with torch.enable_grad():
        for _ in range(steps):
            optimizer.zero_grad()
            F.cross_entropy(judge(features[fit_part]), domains[fit_part]).backward()
            optimizer.step()
    with torch.no_grad():
        error = (judge(features[judge_part]).argmax(1) != domains[judge_part]).float().mean().item()
    return 2 * (1 - 2 * error)
