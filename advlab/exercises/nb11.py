"""Graded exercises of notebook 11 (attacks without the model's gradients): MI-FGSM's momentum update,
HopSkipJump's gradient direction from labels, and the binary search to the decision boundary."""

from __future__ import annotations

import math

import torch

from . import fixtures
from .attack_checks import input_gradient
from .core import Findings, Wrong, call, describe_difference, exercise, expect_tensor, fail_if
from .language import Text, text

MOMENTUM_DECAY = 0.8  # not 1, so that a decay applied to the wrong term shows
DIRECTION_SAMPLES = 101  # odd: the labels' mean is never exactly 0, so a missing baseline shows
DIRECTION_DELTA = 0.5  # radius of the probes around the boundary point
BOUNDARY_THETA = 1e-3  # blend precision of the binary search


def _mutated(inputs, originals) -> bool:
    return not all(torch.equal(a, b) for a, b in zip(inputs, originals))


def _close(value: torch.Tensor, expected: torch.Tensor, rtol: float = 1e-4) -> bool:
    """Equal up to `rtol` of the largest entry (the momentum's entries are ~1/784: an absolute tolerance is useless)."""
    return value.shape == expected.shape and bool((value - expected).abs().max() <= rtol * expected.abs().max())


# ----------------------------------------------------------------------------- 11.momentum
def reference_momentum_step(g, grad, decay):
    """g_{t+1} = decay · g_t + grad / ||grad||_1, the L1 norm taken per sample (Dong et al., 2018, Eq. 6)."""
    l1 = grad.flatten(1).abs().sum(dim=1).clamp_min(1e-12)
    return decay * g + grad / l1.view(-1, *[1] * (grad.dim() - 1))


def _momentum_inputs():
    """The momentum after two MI-FGSM steps on 8 real pairs, and the real gradient at the iterate reached."""
    model = fixtures.trained_cnn()
    x, y = fixtures.batch(8)
    eps, alpha = 0.2, 0.05
    x_adv, g = x.clone(), torch.zeros_like(x)
    for _ in range(2):
        g = reference_momentum_step(g, input_gradient(model, x_adv, y), MOMENTUM_DECAY)
        x_adv = (x + (x_adv + alpha * g.sign() - x).clamp(-eps, eps)).clamp(0, 1)
    return g, input_gradient(model, x_adv, y)


def _per_sample(values: torch.Tensor) -> torch.Tensor:
    return values.view(-1, 1, 1, 1)


MOMENTUM_MISTAKES = [
    ("no_normalisation", lambda g, grad, mu: mu * g + grad,
     text("you added the raw gradient: divide it by its L1 norm first, per sample. Otherwise one step's large "
          "gradient drowns the directions the momentum has accumulated (the point of MI-FGSM).")),
    ("l2", lambda g, grad, mu: mu * g + grad / _per_sample(grad.flatten(1).norm(dim=1)),
     text("you divided by the L2 norm: Dong et al. normalise by the L1 norm, ||grad||_1 = sum of |grad|, per "
          "sample.")),
    ("batch_norm", lambda g, grad, mu: mu * g + grad / grad.abs().sum(),
     text("you took one L1 norm over the whole batch: normalise each sample by its own, "
          "`grad.flatten(1).abs().sum(dim=1)`.")),
    ("mean_abs", lambda g, grad, mu: mu * g + grad / _per_sample(grad.flatten(1).abs().mean(dim=1)),
     text("you divided by the mean |grad| (as the paper's code does): that is d times the L1 normalisation. Used "
          "from the first step on it only scales g, but the g you were given was built with the L1 norm: use the "
          "sum.")),
    ("decay_on_gradient", lambda g, grad, mu: g + mu * reference_momentum_step(torch.zeros_like(g), grad, 0.0),
     text("the decay multiplies the momentum so far, not the new gradient: g <- decay·g + grad/||grad||_1.")),
    ("sign", lambda g, grad, mu: mu * g + grad.sign(),
     text("you accumulated the gradient's sign: the momentum sums normalised gradients; the sign is taken only "
          "when stepping, x <- x + alpha·sign(g).")),
]


@exercise("11.momentum", "MI-FGSM's momentum update", solution=lambda: reference_momentum_step)
def check_momentum(answer) -> Findings:
    g, grad = _momentum_inputs()
    inputs = [g.clone(), grad.clone()]
    value = call(answer, *inputs, MOMENTUM_DECAY)
    findings = Findings()
    findings.verify(text("the new momentum"), _new_momentum, value, g, grad)
    findings.verify(text("the inputs untouched"), fail_if, _mutated(inputs, (g, grad)),
                    text("you mutated g or grad in place (e.g. `g.mul_(decay)`, `g += ...`): return a new tensor; "
                         "the attack still needs the old values."), "mutated_input")
    return findings


def _new_momentum(value, g, grad) -> Text:
    value = expect_tensor(value, g.shape, text("the new momentum"))
    expected = reference_momentum_step(g, grad, MOMENTUM_DECAY)
    if _close(value, expected):
        return text("decay·g + grad/||grad||_1 per sample (decay={decay}) on the momentum of two MI-FGSM steps on 8 "
                    "real pairs", decay=MOMENTUM_DECAY)
    for key, wrong, hint in MOMENTUM_MISTAKES:
        if _close(value, wrong(g, grad, MOMENTUM_DECAY)):
            raise Wrong(hint, mistake=key)
    difference = describe_difference(value, expected, 1e-4 * expected.abs().max().item())
    raise Wrong(text("not the momentum update: {difference}.", difference=difference), mistake="unrecognised")


# ----------------------------------------------------------------------------- 11.direction
def reference_direction(u, phi):
    """HopSkipJump's estimate (Chen et al., 2020, Eq. 16): g = mean_b (phi_b - mean(phi)) u_b, returned as g / ||g||_2."""
    g = ((phi - phi.mean()).view(-1, *[1] * (u.dim() - 1)) * u).mean(dim=0)
    return g / g.norm().clamp_min(1e-12)


def _bisect(model, x, x_adv, y, steps=40):
    """The blend (1 - a) x + a x_adv at the decision boundary (a to 2^-steps), its adversarial side."""
    low, high = 0.0, 1.0
    with torch.no_grad():
        for _ in range(steps):
            mid = (low + high) / 2
            if model(((1 - mid) * x + mid * x_adv)[None]).argmax(1).item() != y:
                high = mid
            else:
                low = mid
    return high


def _pairs(model, count):
    """`count` (x, y, x_other) of real test pairs: x classified right, x_other an image the model labels otherwise,
    the segment between them crossing the decision boundary once (checked on 200 points)."""
    x, y = fixtures.batch(64)
    with torch.no_grad():
        predicted = model(x).argmax(1)
    right = (predicted == y).nonzero().squeeze(1).tolist()
    found = []
    for i in right:
        others = [j for j in right if y[j] != y[i]]
        for j in others[:3]:
            blends = torch.linspace(0, 1, 201).view(-1, 1, 1, 1)
            with torch.no_grad():
                labels = model((1 - blends) * x[i] + blends * x[j]).argmax(1)
            if (labels[1:] != labels[:-1]).sum() == 1:
                found.append((x[i], int(y[i]), x[j]))
                break
        if len(found) == count:
            return found
    raise RuntimeError("the fixture model has too few single-crossing pairs (a bug in advlab.exercises)")


def _direction_inputs():
    """(u [B,1,28,28], phi [B] in {-1,+1}, the true gradient direction) at a real boundary point of the fixture CNN."""
    model = fixtures.trained_cnn()
    x, y, x_other = _pairs(model, 1)[0]
    boundary = (lambda a: (1 - a) * x + a * x_other)(_bisect(model, x, x_other, y))
    u = torch.randn((DIRECTION_SAMPLES, *boundary.shape), generator=fixtures.generator(11))
    u = u / u.flatten(1).norm(dim=1).view(-1, 1, 1, 1)
    points = (boundary + DIRECTION_DELTA * u).clamp(0, 1)
    u = (points - boundary) / DIRECTION_DELTA  # the directions actually taken after the clip
    with torch.no_grad():
        phi = (model(points).argmax(1) != y).float() * 2 - 1
    probe = boundary[None].clone().requires_grad_(True)
    logits = model(probe)[0]
    (true_grad,) = torch.autograd.grad(logits[1 - y] - logits[y], probe)  # S(x) > 0 exactly when adversarial
    return u, phi, true_grad[0] / true_grad.norm()


@exercise("11.direction", "HopSkipJump's gradient direction from labels", solution=lambda: reference_direction)
def check_direction(answer) -> Findings:
    u, phi, true_direction = _direction_inputs()
    inputs = [u.clone(), phi.clone()]
    value = call(answer, *inputs)
    findings = Findings()
    findings.verify(text("the direction"), _direction, value, u, phi, true_direction)
    if isinstance(value, torch.Tensor) and value.shape == u.shape[1:] and value.is_floating_point():
        findings.verify(text("unit length"), _unit_length, value)
    findings.verify(text("the inputs untouched"), fail_if, _mutated(inputs, (u, phi)),
                    text("you mutated u or phi in place: return a new tensor."), "mutated_input")
    return findings


def _cosine(a: torch.Tensor, b: torch.Tensor) -> float:
    return (a.flatten() @ b.flatten() / (a.norm() * b.norm()).clamp_min(1e-12)).item()


def _direction(value, u, phi, true_direction) -> Text:
    value = expect_tensor(value, u.shape[1:], text("the direction"))
    expected = reference_direction(u, phi)
    if _cosine(value, expected) > 0.9999:
        angle = math.degrees(math.acos(max(-1.0, min(1.0, _cosine(expected, true_direction)))))
        return text("mean_b (phi_b - mean phi) u_b from {n} labels at a real boundary point ({adversarial} "
                    "adversarial); it points {angle:.0f}° away from the true gradient of the margin (90° would be a "
                    "random guess in 784 dimensions)", n=len(phi), adversarial=(phi > 0).sum().item(), angle=angle)
    no_baseline = (phi.view(-1, 1, 1, 1) * u).mean(dim=0)
    if _cosine(value, no_baseline) > 0.9999:
        raise Wrong(text("you left out the baseline: subtract mean(phi) (here {mean:+.3f}) from every phi_b before "
                         "weighting u_b. Without it the estimate keeps a share of mean(u), noise that does not depend "
                         "on the boundary (Chen et al., Eq. 16).", mean=phi.mean().item()), mistake="no_baseline")
    if _cosine(value, expected) < -0.9999:
        raise Wrong(text("your direction points the wrong way: phi = +1 marks an adversarial probe, so the estimate "
                         "points towards the adversarial side (the gradient of S, which is > 0 when adversarial)."),
                    mistake="sign")
    raise Wrong(text("not the estimated direction: cosine {cosine:.3f} with the reference.",
                     cosine=_cosine(value, expected)), mistake="unrecognised")


def _unit_length(value) -> Text:
    norm = value.norm().item()
    if abs(norm - 1) > 1e-4:
        raise Wrong(text("your direction has length {norm:.3g}: return g / ||g||_2 (HopSkipJump scales its step "
                         "itself).", norm=norm), mistake="not_unit")
    return text("length 1")


# ----------------------------------------------------------------------------- 11.boundary
def reference_boundary(is_adversarial, x, x_adv, theta):
    """Binary search of the blend (1 - a) x + a x_adv over a in [0, 1]: a = 0 is not adversarial, a = 1 is;
    halve [low, high] until high - low <= theta and return the blend at `high` (adversarial)."""
    low, high = 0.0, 1.0
    while high - low > theta:
        mid = (low + high) / 2
        if is_adversarial(((1 - mid) * x + mid * x_adv)[None])[0]:
            high = mid
        else:
            low = mid
    return (1 - high) * x + high * x_adv


class _Oracle:
    """The model as a decision-only attacker sees it, counting every image it labels."""

    def __init__(self, model, y):
        self.model, self.y, self.queries = model, y, 0

    def __call__(self, points):
        if not isinstance(points, torch.Tensor) or points.dim() != 4:
            raise TypeError("is_adversarial takes a batch of images [k, 1, 28, 28] (use `point[None]` for one)")
        self.queries += len(points)
        with torch.no_grad():
            return self.model(points).argmax(1) != self.y


@exercise("11.boundary", "the binary search to the boundary", solution=lambda: reference_boundary)
def check_boundary(answer) -> Findings:
    model = fixtures.trained_cnn()
    pairs = _pairs(model, 4)
    results, queries = [], []
    mutated = False
    for x, y, x_other in pairs:
        oracle = _Oracle(model, y)
        inputs = [x.clone(), x_other.clone()]
        results.append(call(answer, oracle, *inputs, BOUNDARY_THETA))
        queries.append(oracle.queries)
        mutated |= _mutated(inputs, (x, x_other))
    budget = math.ceil(math.log2(1 / BOUNDARY_THETA))
    findings = Findings()
    if findings.verify(text("the point is adversarial"), _adversarial, results, pairs, model):
        findings.verify(text("within theta={theta:g} of the boundary", theta=BOUNDARY_THETA), _near_boundary, results,
                        pairs, model)
    findings.verify(text("at most {budget} queries", budget=budget + 1), fail_if, max(queries) > budget + 1,
                    text("you asked the model {queries} times for one image: halving [low, high] needs only "
                         "log2(1/theta) = {needed:.1f} questions; a scan in steps of theta asks 1/theta. Queries are "
                         "what a decision-only attacker pays for.", queries=max(queries),
                         needed=math.log2(1 / BOUNDARY_THETA)), "too_many_queries")
    findings.verify(text("the inputs untouched"), fail_if, mutated,
                    text("you mutated x or x_adv in place: return a new tensor."), "mutated_input")
    return findings


def _blend_of(point, x, x_other) -> tuple[float, float]:
    """(a, distance of `point` from the segment) for the nearest blend (1 - a) x + a x_other."""
    direction = x_other - x
    a = ((point - x).flatten() @ direction.flatten() / direction.flatten().pow(2).sum()).item()
    return a, ((1 - a) * x + a * x_other - point).norm().item()


def _adversarial(results, pairs, model) -> Text:
    for value, (x, y, x_other) in zip(results, pairs):
        value = expect_tensor(value, x.shape, text("the boundary point"))
        with torch.no_grad():
            fooled = model(value[None]).argmax(1).item() != y
        if not fooled:
            a, off = _blend_of(value, x, x_other)
            boundary = _bisect(model, x, x_other, y)
            if off < 1e-3 and boundary - BOUNDARY_THETA - 1e-6 <= a < boundary:
                raise Wrong(text("your point is on the clean side of the boundary: return the blend at `high`, the end "
                                 "of [low, high] that is still adversarial (the attack keeps only adversarial "
                                 "points)."), mistake="low_end")
            if off < 1e-3 and a < boundary:
                raise Wrong(text("your search ended at a = {a:.3g}, far on the clean side of the boundary (a = "
                                 "{boundary:.3g}): when mid is adversarial the boundary lies in [low, mid], so set "
                                 "high = mid; else low = mid.", a=a, boundary=boundary), mistake="wrong_half")
            raise Wrong(text("your point does not fool the model: the answer must be an adversarial point of the "
                             "segment x -> x_adv."), mistake="not_adversarial")
    return text("{n} real pairs, each point misclassified", n=len(results))


def _near_boundary(results, pairs, model) -> Text:
    worst = 0.0
    for value, (x, y, x_other) in zip(results, pairs):
        a, off = _blend_of(value, x, x_other)
        if off > 1e-3:
            raise Wrong(text("your point is not on the segment x -> x_adv: search the blends (1 - a)·x + a·x_adv."),
                        mistake="off_segment")
        worst = max(worst, a - _bisect(model, x, x_other, y))
    if worst > BOUNDARY_THETA + 1e-6:
        raise Wrong(text("your point lies {worst:.3g} (in blend a) past the boundary, more than theta: when mid is "
                         "adversarial the boundary lies in [low, mid], so set high = mid; else low = mid; stop when "
                         "high - low <= theta.", worst=worst), mistake="far_from_boundary")
    return text("at most {worst:.1e} past the boundary in blend a", worst=max(worst, 0.0))
