"""Black-box attacks: transfer from surrogates (MI-FGSM) and decision-only search (HopSkipJump).

Two ways to attack a model whose gradients you cannot see:

* **Transfer**: craft the adversarial images on surrogate models you own (white-box) and replay
  them on the target. Momentum iterative FGSM (Dong et al., 2018) transfers better than PGD, and
  an ensemble of surrogates (their logits averaged) better than one: `mifgsm`.
* **Decision-only**: ask the target for labels only, one image at a time, and count every
  question. HopSkipJump (Chen, Jordan & Wainwright, 2020) walks along the decision boundary
  towards x with a gradient direction estimated from labels: `hop_skip_jump`.

Both follow the contract of `advlab.attacks`: they never modify ``x``, ``y`` or the models
(parameters, ``requires_grad`` flags, ``.grad``), run every model in eval mode and give it its
mode back, and return images in [0, 1] on ``x``'s device. `mifgsm` keeps the perturbation in
the L-inf eps ball; `hop_skip_jump` has no ball: it makes the L2 distance as small as it can.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch

from .attacks import Model, _attacking, _check_common, _check_generator, _objective_gradient, perturbation_norms
from .checks import check_images, check_int, check_labels, check_number

QUERY_BATCH = 1000  # images per forward pass when HopSkipJump asks many questions at once


# ----------------------------------------------------------------------------- transfer: MI-FGSM
class _LogitEnsemble:
    """Several models as one: the mean of their logits (Dong et al.'s ensemble in logits, equal weights)."""

    def __init__(self, models: Sequence[Model]):
        self.models = list(models)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return torch.stack([model(x) for model in self.models]).mean(dim=0)


def _as_models(model) -> list[Model]:
    """One model, or a non-empty list/tuple of models (an ensemble), as a list."""
    models = list(model) if isinstance(model, (list, tuple)) else [model]
    if not models:
        raise ValueError("model must be a model or a non-empty list of models, got an empty list")
    for member in models:
        if not callable(member):
            raise TypeError("model must be a torch.nn.Module, a callable x -> logits, or a list of them, "
                            f"got {type(member).__name__}")
    return models


def mifgsm(
    model: Model | Sequence[Model],
    x: torch.Tensor,
    y: torch.Tensor,
    eps: float,
    steps: int,
    decay: float = 1.0,
    alpha: float | None = None,
    *,
    targeted: bool = False,
) -> torch.Tensor:
    """Momentum iterative FGSM (Dong et al., 2018, "Boosting adversarial attacks with momentum"), L-inf.

    Starting at x_0 = x and g_0 = 0, `steps` times:

        grad_t  = grad_x CE(model(x_t), y)
        g_{t+1} = decay * g_t + grad_t / ||grad_t||_1                 (per sample)
        x_{t+1} = clip_[0,1]( x + clip_[-eps,eps]( x_t + alpha * sign(g_{t+1}) - x ) )

    with alpha = eps / steps by default, so the last iterate can just reach the ball's faces.
    The momentum g accumulates *normalised* gradients: one step's direction cannot be drowned
    out by one large gradient, and directions that keep coming back win. That is what makes
    the images transfer to models they were not crafted on. decay = 0 is I-FGSM (PGD without a
    random start).

    ``model`` may be a list of models (an ensemble of surrogates): the attack then climbs the
    cross-entropy of their averaged logits, (1/K) sum_k model_k(x), Dong et al.'s ensemble in
    logits with equal weights. Each model is in eval mode during the attack and gets its own mode
    back. With ``targeted=True``, ``y`` holds target labels and the attack descends their loss.

    Same numbers as adversarial-robustness-toolbox's MomentumIterativeMethod (tests/test_blackbox.py):
    its L1 normalisation, its clip to [0, 1] before the projection (for L-inf the two orders
    agree), its zero for a zero gradient (we divide by max(||grad||_1, 1e-12)). The paper's code
    divides by the mean |grad| instead, d times smaller, which scales every g_t by d and leaves
    the signs unchanged.
    """
    models = _as_models(model)
    x_in, y, eps = _check_common(x, y, eps)
    check_int("steps", steps, minimum=1)
    decay = check_number("decay", decay, minimum=0)
    alpha = eps / steps if alpha is None else check_number("alpha", alpha, minimum=0, strict=True)
    ensemble = _LogitEnsemble(models)

    with contextlib.ExitStack() as stack:
        device = [stack.enter_context(_attacking(member)) for member in models][0]
        x0, y0 = x_in.to(device), y.to(device)
        x_adv, momentum = x0, torch.zeros_like(x0)
        for step in range(steps):
            grad, _, _ = _objective_gradient(ensemble, x_adv, y0, targeted, check_classes=step == 0)
            l1 = grad.flatten(1).abs().sum(dim=1).clamp_min(1e-12)
            momentum = decay * momentum + grad / l1.view(-1, *[1] * (grad.dim() - 1))
            x_adv = (x0 + (x_adv + alpha * momentum.sign() - x0).clamp(-eps, eps)).clamp(0, 1)
    return x_adv.to(x.device)


# ----------------------------------------------------------------------------- decision-only: HopSkipJump
@dataclass
class HopSkipJumpResult:
    """What `hop_skip_jump` returns.

    x_adv:     [N, ...] the closest adversarial image found for each image (x itself where the
               model already misclassifies x, and where no adversarial image was found);
    queries:   [N] int64, the model queries spent on each image (a query = one image classified);
    distances: [N] ||x_adv - x||_2, 0 where x was already misclassified, inf where nothing was found;
    history:   per image, the (queries so far, L2 distance) pairs after the start and after every
               iteration: the curve of distance against queries.
    """

    x_adv: torch.Tensor
    queries: torch.Tensor
    distances: torch.Tensor
    history: list[list[tuple[int, float]]]

    def distance_at(self, budgets: Sequence[int]) -> torch.Tensor:
        """[N, len(budgets)]: the smallest L2 distance each image reached within each query budget (inf if none)."""
        table = torch.full((len(self.history), len(budgets)), math.inf, dtype=torch.float64)
        for i, record in enumerate(self.history):
            for j, budget in enumerate(budgets):
                reached = [distance for queries, distance in record if queries <= budget]
                if reached:
                    table[i, j] = min(reached)
        return table


class _Oracle:
    """The target as a decision-only attacker sees it: "is this image adversarial?", every image counted.

    ``ask(points, owners)`` classifies the points (owners[k] = the index of the image that
    points[k] attacks), charges one query to each owner and answers argmax model(point) != y.
    """

    def __init__(self, model, y: torch.Tensor, max_queries: int):
        self.model, self.y, self.max_queries = model, y, max_queries
        self.queries = torch.zeros(len(y), dtype=torch.int64, device=y.device)

    def left(self, owners: torch.Tensor) -> torch.Tensor:
        return self.max_queries - self.queries[owners]

    def ask(self, points: torch.Tensor, owners: torch.Tensor) -> torch.Tensor:
        if (torch.bincount(owners, minlength=len(self.y)) > self.max_queries - self.queries).any():
            raise RuntimeError("HopSkipJump would go over its query budget (a bug in advlab)")
        self.queries += torch.bincount(owners, minlength=len(self.y))
        labels = torch.cat([self.model(chunk).argmax(dim=1) for chunk in points.split(QUERY_BATCH)])
        return labels != self.y[owners]


def _unit(v: torch.Tensor) -> torch.Tensor:
    """Each sample (row of the first dimension) of v divided by its L2 norm."""
    return v / v.flatten(1).norm(dim=1).clamp_min(1e-12).view(-1, *[1] * (v.dim() - 1))


def _binary_search(oracle, x, adv, owners, theta):
    """Per image, the point of the segment x -> adv nearest x that is still adversarial, to within theta.

    Searches the blend (1 - a) x + a adv over a in [0, 1]: a = 1 (adv) is adversarial, a = 0 (x)
    is not; halve [low, high] until high - low <= theta, ceil(log2(1/theta)) queries. The answer
    is the blend at `high`, always adversarial, also when the budget stops the search early.
    """
    low = torch.zeros(len(x), dtype=x.dtype, device=x.device)
    high = torch.ones_like(low)

    def blend(a, rows):
        a = a[rows].view(-1, *[1] * (x.dim() - 1))
        return (1 - a) * x[rows] + a * adv[rows]

    while True:
        rows = ((high - low > theta) & (oracle.left(owners) > 0)).nonzero().squeeze(1)
        if len(rows) == 0:
            return blend(high, torch.arange(len(x), device=x.device))
        mid = (low + high) / 2
        fooled = oracle.ask(blend(mid, rows), owners[rows])
        high[rows] = torch.where(fooled, mid[rows], high[rows])
        low[rows] = torch.where(fooled, low[rows], mid[rows])


def _gradient_direction(oracle, boundary, owner, n_samples, delta, generator):
    """Monte-Carlo estimate of the direction of grad S at a boundary point, from labels only.

        u_b ~ uniform on the unit sphere,  b = 1..B;   p_b = clip_[0,1](x_t + delta u_b)
        u_b <- (p_b - x_t) / delta       (the direction actually taken after the clip)
        phi_b = +1 if p_b is adversarial else -1
        g = (1/B) sum_b (phi_b - mean(phi)) u_b,   or +-mean(u) when every phi_b agrees
        return g / ||g||_2

    Subtracting mean(phi) (a baseline) lowers the variance (Chen et al., Eq. 16).
    """
    gen_device = generator.device if generator is not None else boundary.device
    u = torch.randn((n_samples, *boundary.shape), generator=generator, dtype=boundary.dtype, device=gen_device)
    u = _unit(u.to(boundary.device))
    points = (boundary + delta * u).clamp(0, 1)
    u = (points - boundary) / delta
    phi = oracle.ask(points, owner.expand(n_samples)).to(boundary.dtype) * 2 - 1
    if phi.mean().abs() == 1:  # every answer the same: no baseline to subtract
        g = phi[0] * u.mean(dim=0)
    else:
        g = ((phi - phi.mean()).view(-1, *[1] * boundary.dim()) * u).mean(dim=0)
    return g / g.norm().clamp_min(1e-12)


def _step_size_search(oracle, boundary, direction, owners, distances, iteration):
    """Geometric step-size search: xi = ||x_t - x||_2 / sqrt(t), halved until x_t + xi v is adversarial.

    Returns the adversarial points found; an image whose budget runs out first stays at x_t
    (which is adversarial).
    """
    xi = distances / math.sqrt(iteration)
    result = boundary.clone()
    searching = torch.ones(len(boundary), dtype=torch.bool, device=boundary.device)
    while True:
        rows = (searching & (oracle.left(owners) > 0)).nonzero().squeeze(1)
        if len(rows) == 0:
            return result
        step = xi[rows].view(-1, *[1] * (boundary.dim() - 1))
        candidate = (boundary[rows] + step * direction[rows]).clamp(0, 1)
        fooled = oracle.ask(candidate, owners[rows])
        result[rows[fooled]] = candidate[fooled]
        searching[rows[fooled]] = False
        xi[rows] = torch.where(fooled, xi[rows], xi[rows] / 2)


def hop_skip_jump(
    model: Model,
    x: torch.Tensor,
    y: torch.Tensor,
    max_queries: int = 1000,
    *,
    init_evals: int = 100,
    max_evals: int = 10_000,
    gamma: float = 1.0,
    init_tries: int = 100,
    x_init: torch.Tensor | None = None,
    generator: torch.Generator | None = None,
) -> HopSkipJumpResult:
    """HopSkipJump, L2, untargeted (Chen, Jordan & Wainwright, 2020): a decision-only attack.

    The attacker only sees labels: S(x') > 0 when the model's label for x' is not y. Every image
    it classifies counts as one query, and no image gets more than `max_queries`.

    1. Start: draw uniform noise in [0, 1]^d until the model misclassifies it (at most
       `init_tries` draws), then binary-search the segment x -> noise for the boundary.
       With `x_init` (an image per image of x, e.g. one the attacker holds of another class,
       as the paper starts its targeted attack and ART's ``x_adv_init``), x_init[i] is asked
       first (one query) and is the start where the model misclassifies it; noise is drawn
       only for the others. On a two-class task the model may label all uniform noise as one
       class, so the images of that class never get a start from noise.
    2. Iteration t = 1, 2, ..., at the boundary point x_t:
       a. gradient direction v_t from B_t = min(init_evals * sqrt(t), max_evals) labels of
          x_t + delta_t u_b, u_b uniform on the unit sphere (see `_gradient_direction`);
          delta_1 = 0.1, then delta_t = sqrt(d) * theta * ||x_t - x||_2;
       b. geometric step-size search: xi_t = ||x_t - x||_2 / sqrt(t), halved until
          x_t + xi_t v_t is adversarial;
       c. binary search of the segment x -> x_t + xi_t v_t back to the boundary: x_{t+1}.
       Binary searches stop at a blend precision theta = gamma / d^(3/2) (the paper's code).
    3. Stop when the budget is spent: the last iteration's estimate gets what is left after a
       binary search and one step are paid for (an iteration cut short keeps x_t).

    Every point the attack keeps was classified adversarial (a binary search returns its
    adversarial end), so every returned image with a finite distance fools the model, and x_adv
    is the closest of them; images in [0, 1] throughout. Images the model already misclassifies
    cost one query and come back as x (distance 0); images with no misclassified start (x_init
    or noise in `init_tries` draws) come back as x (distance inf). All randomness comes from
    `generator`.

    Against ART's HopSkipJump (tests/test_blackbox.py), which uses theta = 0.01 / sqrt(d) and
    returns its last step without the binary search back to the boundary: at equal queries our
    median distance is lower (about 0.8-0.9 of ART's); projected to the boundary, ART's agrees.
    """
    x_in, y, _ = _check_common(x, y, eps=0.0)  # no eps ball here: this checks x and y
    check_int("max_queries", max_queries, minimum=1)
    check_int("init_evals", init_evals, minimum=1)
    check_int("max_evals", max_evals, minimum=init_evals)
    gamma = check_number("gamma", gamma, minimum=0, strict=True)
    check_int("init_tries", init_tries, minimum=1)
    _check_generator(generator)
    if x_init is not None:
        check_images("x_init", x_init, shape=None)
        if x_init.shape != x_in.shape:
            raise ValueError(f"x_init must have the shape of x {list(x_in.shape)}, got {list(x_init.shape)}")
    theta = gamma / x_in[0].numel() ** 1.5

    with _attacking(model) as device, torch.no_grad():
        x0, y0 = x_in.to(device), y.to(device)
        logits = torch.cat([model(chunk) for chunk in x0.split(QUERY_BATCH)])  # the first query: x itself
        check_labels("y", y0, len(x0), num_classes=logits.shape[1])
        oracle = _Oracle(model, y0, max_queries)
        oracle.queries += 1
        best = x0.clone()
        distances = torch.full((len(x0),), math.inf, dtype=torch.float64, device=device)
        history: list[list[tuple[int, float]]] = [[] for _ in range(len(x0))]

        def record(owners, points):
            new = perturbation_norms(points, x0[owners], "2").double()
            closer = new < distances[owners]
            best[owners[closer]] = points[closer]
            distances[owners] = torch.minimum(distances[owners], new)
            for i, dist in zip(owners.tolist(), new.tolist()):
                history[i].append((int(oracle.queries[i]), dist))

        everyone = torch.arange(len(x0), device=device)
        fooled = logits.argmax(dim=1) != y0
        record(everyone[fooled], x0[fooled])
        starts = None if x_init is None else x_init.detach().to(device=device, dtype=x0.dtype)
        owners, boundary = _start(oracle, x0, everyone[~fooled], init_tries, theta, generator, starts)
        record(owners, boundary)
        iteration = 1
        while len(owners):
            owners, boundary = _iteration(oracle, x0, owners, boundary, iteration,
                                          init_evals, max_evals, theta, generator)
            record(owners, boundary)
            iteration += 1
    return HopSkipJumpResult(best.to(x.device), oracle.queries.cpu(), distances.cpu(), history)


def _start(oracle, x, owners, tries, theta, generator, x_init=None):
    """Step 1: x_init where the model misclassifies it, else misclassified uniform noise, for each
    image; then a binary search to the boundary.

    Returns the images that got a start and their boundary points.
    """
    gen_device = generator.device if generator is not None else x.device
    noise = torch.empty_like(x)
    found = torch.zeros(len(x), dtype=torch.bool, device=x.device)
    if x_init is not None:
        todo = owners[oracle.left(owners) > 0]
        if len(todo):
            fooled = oracle.ask(x_init[todo], todo)
            noise[todo[fooled]] = x_init[todo[fooled]]
            found[todo[fooled]] = True
    for _ in range(tries):
        todo = owners[~found[owners] & (oracle.left(owners) > 0)]
        if len(todo) == 0:
            break
        draw = torch.rand(x[todo].shape, generator=generator, dtype=x.dtype, device=gen_device).to(x.device)
        fooled = oracle.ask(draw, todo)
        noise[todo[fooled]] = draw[fooled]
        found[todo[fooled]] = True
    owners = owners[found[owners]]
    return owners, _binary_search(oracle, x[owners], noise[owners], owners, theta)


def _iteration(oracle, x, owners, boundary, t, init_evals, max_evals, theta, generator):
    """Step 2 for the images still in the run: estimate, step, back to the boundary.

    Returns the images that took the step (the others have spent their budget) and their new
    boundary points.
    """
    distances = perturbation_norms(boundary, x[owners], "2")
    if t == 1:
        delta = torch.full_like(distances, 0.1)
    else:
        delta = math.sqrt(x[0].numel()) * theta * distances
    search_cost = math.ceil(math.log2(1 / theta)) if theta < 1 else 0
    wanted = min(int(init_evals * math.sqrt(t)), max_evals)
    samples = torch.clamp(oracle.left(owners) - search_cost - 1, max=wanted)  # the last estimate gets what is left
    keep = samples > 0
    owners, boundary, distances = owners[keep], boundary[keep], distances[keep]
    delta, samples = delta[keep], samples[keep]
    if len(owners) == 0:
        return owners, boundary
    direction = torch.stack([
        _gradient_direction(oracle, boundary[k], owners[k], int(samples[k]), float(delta[k]), generator)
        for k in range(len(owners))
    ])
    stepped = _step_size_search(oracle, boundary, direction, owners, distances, t)
    return owners, _binary_search(oracle, x[owners], stepped, owners, theta)
