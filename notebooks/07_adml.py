# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 07 · Adversarial meta-learning: MAML, ADML and what its robustness comes from
#
# A **meta-learner** does not learn one task; it learns a starting point $\theta$ from which
# *any* task of a family can be learned from a handful of examples. MAML (Finn et al., 2017)
# finds that starting point by training *through* the adaptation: for a task with a small
# support set and a query set,
#
# $$\theta'_i = \theta - \alpha \nabla_\theta \mathcal L^{\text{support}}_i(\theta), \qquad
#   \theta \leftarrow \theta - \beta \nabla_\theta \sum_i \mathcal L^{\text{query}}_i(\theta'_i).$$
#
# The outer gradient flows through $\theta'_i$, so it contains the Hessian term
# $(I - \alpha \nabla^2_\theta \mathcal L^{\text{support}}_i)$: *second-order* MAML.
# First-order MAML drops it.
#
# **ADML** (Yin et al., 2018; seed `003`: one of the five Chinese blog posts this suite grew from, the
# number in the README's seed column, not a random seed) asks for a starting point that
# adapts well *and* stays robust. Per task it crafts FGSM adversarial copies of the support and
# query sets against the current $\theta$, adapts twice, and **crosses** the pairs:
#
# $$\theta'_{\text{clean}} = \theta - \alpha\nabla_\theta \mathcal L(\theta; D^{\text{train}}_{\text{clean}}), \quad
#   \theta'_{\text{adv}} = \theta - \alpha\nabla_\theta \mathcal L(\theta; D^{\text{train}}_{\text{adv}}),$$
# $$\theta \leftarrow \theta - \beta \nabla_\theta \sum_i \Big[\mathcal L(\theta'_{\text{clean},i}; D^{\text{test}}_{\text{adv},i})
#   + \mathcal L(\theta'_{\text{adv},i}; D^{\text{test}}_{\text{clean},i})\Big].$$
#
# (Yin et al.'s Algorithm 1 applies the two terms as two successive updates with their own rates
# $\beta_1$ and $\beta_2$; we sum them into one outer step, taken by Adam here. For plain gradient
# steps with $\beta_1 = \beta_2$ the two agree to first order in $\beta$.)
#
# A model adapted on clean data must resist adversarial queries, and a model adapted on
# adversarial data must still answer clean queries. Here the tasks are **2-way 5-shot MNIST
# episodes**: meta-train on digits 0–5, meta-test on the unseen digits 6–9.
#
# **Is it the crossing?** If ADML ends up more robust than MAML, is that because of the
# crossing, or simply because it meta-trains on adversarial examples at all? Two baselines see
# adversarial data without any crossing. Neither isolates the crossing by itself: MAML-AD also
# drops the clean data, and AQ also changes the attack (PGD against $\theta'$ rather than FGSM
# against $\theta$); the ablation that changes only the crossing is Going further, item 3.
#
# * **MAML-AD**, MAML meta-trained on adversarial samples (the name is the ADML paper's, for its
#   baseline). We implement it as: the FGSM copies of the support *and* query sets (crafted
#   against $\theta$, as ADML's are), one adaptation, no clean term:
#   $\mathcal L(\theta'_{\text{adv}}; D^{\text{test}}_{\text{adv}})$.
# * **Adversarial querying** (AQ; Goldblum, Fowl & Goldstein, NeurIPS 2020): adapt on the
#   *clean* support, then attack the query set with PGD against the **adapted** parameters, and
#   meta-train on that worst case,
#   $\min_\theta \mathbb E\big[\max_{\|\delta\|_\infty \le \epsilon}
#   \mathcal L(\theta'(\theta); x^{\text{query}} + \delta)\big]$; the gradient flows through the
#   clean adaptation $\theta'(\theta)$, the attack itself is data.
#
# ADML's own motivating case is a different threat: the **support set** itself is adversarial
# (an attacker poisons the few examples a task is learned from). Section 6 measures all four
# meta-learners there.

# %% tags=["parameters"]
quick = None  # None: follow the ADVLAB_QUICK environment variable (set by `make test`); False: full run
solutions = None  # graded exercises: None fills in the reference answers when nobody watches (nbval, reports); False leaves the blanks
seed = 0
n_way = 2
k_shot = 5
n_query = 10  # query images per class
meta_iterations = None  # None: 1500 (full) or 600 (quick), for each method
meta_batch = 4  # episodes per outer step
inner_lr = 0.4
inner_steps = 1
outer_lr = 1e-3
eps = 0.15  # the FGSM eps of ADML and MAML-AD training, the PGD eps of AQ, and the evaluation eps
aq_steps = 3  # PGD steps of the adversarial-querying training attack (random start, step size 2.5 eps / steps)
n_test_episodes = None  # None: 200 (full) or 50 (quick)
n_baseline_episodes = None  # the first test episodes the baselines (and section 6) are scored on; None: half of n_test_episodes
sine_iterations = None  # None: 600 (full) or 300 (quick)
n_pool = None  # training images the episodes are drawn from; None: 4,000 (and 1,000 test images); "all": whole splits
source = "auto"
retrain = False  # True: train and evaluate everything again instead of loading stored runs

# %%
import math
import time

import matplotlib.pyplot as plt
import numpy as np
import torch
from ipywidgets import FloatSlider
from torch import nn

from advlab import attacks, config, data, evaluate, flops, meta, plots, reports, runs, stats
from advlab.liveplot import History, LivePlot
from advlab.models import SmallCNN, count_parameters
from advlab.progress import progress_bar
from advlab.widgets import Explorer

quick = config.quick_mode(quick)
runs.set_retrain(retrain)
meta_iterations = meta_iterations or (600 if quick else 1500)
n_test_episodes = n_test_episodes or (50 if quick else 200)
n_baseline_episodes = min(n_baseline_episodes or n_test_episodes // 2, n_test_episodes)
sine_iterations = sine_iterations or (300 if quick else 600)
n_pool = data.sample_size(n_pool, quick, full=data.TRAIN_PAIRS, small=data.TRAIN_PAIRS)
config.seed_everything(seed)
device = config.get_device()
if device.type == "cpu":
    torch.set_num_threads(1)  # episodes are tiny: on CPU, thread hand-offs cost more than they save
print(f"quick mode: {quick}, meta-iterations: {meta_iterations}, device: {device}")

# %% [markdown]
# ## 1 · MAML and ADML in a picture
#
# Left: MAML. From $\theta$ each task takes one gradient step on its support set (thin
# arrows) and is scored on its query set at $\theta'_i$; the meta-gradient moves $\theta$ to a
# point from which all these steps land well. Right: ADML. Each task produces *two* adapted
# points, and each is scored on the *other* kind of query set: the crossing.

# %%
def draw_maml_and_adml():
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.6))
    theta = np.array([0.0, 0.0])
    for ax in (left, right):
        ax.set(xlim=(-1.7, 2.4), ylim=(-1.7, 1.7), xticks=[], yticks=[])
        ax.plot(*theta, "ko", ms=8)
        ax.annotate(r"$\theta$", theta, (-0.25, -0.25), fontsize=13)
    for k, (angle, color) in enumerate([(0.4, "tab:blue"), (2.2, "tab:orange"), (4.2, "tab:green")]):
        target = 1.1 * np.array([np.cos(angle), np.sin(angle)])
        left.annotate("", target, theta, arrowprops=dict(arrowstyle="->", color=color, lw=1.5))
        left.annotate(rf"$\theta'_{k + 1}$", target, target * 1.12, color=color, fontsize=12)
        left.plot(*(target * 1.35), "*", color=color, ms=12)
    left.annotate("", (-0.35, 0.25), (0.45, -0.45), arrowprops=dict(arrowstyle="->", ls="--", color="k"))
    left.text(0.5, -0.75, r"$-\beta\nabla_\theta\sum_i \mathcal{L}^{query}_i(\theta'_i)$", fontsize=10)
    left.text(-1.6, -1.6, "★ = the best parameters of task i", fontsize=9)
    left.set_title("MAML: adapt per task, score on its query set")
    clean, adv = np.array([1.0, 0.6]), np.array([1.0, -0.6])
    for point, name, color in [(clean, "clean", "tab:purple"), (adv, "adv", "tab:pink")]:
        right.annotate("", point, theta, arrowprops=dict(arrowstyle="->", color=color, lw=1.5))
        right.annotate(rf"$\theta'_{{{name}}}$", point, point + np.array([-0.3, 0.18 * np.sign(point[1])]),
                       color=color, fontsize=12)
    boxes = {"adversarial query": np.array([1.95, -0.6]), "clean query": np.array([1.95, 0.6])}
    for name, at in boxes.items():
        right.text(*at, name, ha="center", va="center", fontsize=9, bbox=dict(boxstyle="round", fc="0.92"))
    right.annotate("", boxes["adversarial query"] + [-0.5, 0.1], clean, arrowprops=dict(arrowstyle="->", color="tab:purple", ls="--"))
    right.annotate("", boxes["clean query"] + [-0.5, -0.1], adv, arrowprops=dict(arrowstyle="->", color="tab:pink", ls="--"))
    right.set_title("ADML: the two adaptations score on crossed query sets")
    fig.tight_layout()
    return fig


draw_maml_and_adml()
plt.show()

# %% [markdown]
# ## 2 · Few-shot episodes from MNIST
#
# `meta.EpisodeSampler` draws $N$ digit classes from a pool, then $K$ support and
# `n_query` query images of each, and renames the classes $0..N-1$ (a task never knows which
# digits it is about). Meta-training draws from MNIST's *training* images of digits 0–5;
# meta-testing from its *test* images of digits 6–9: new classes and new images.

# %%
train_images, train_labels = data.mnist10("train", n=n_pool, seed=seed, source=source)
test_images, test_labels = data.mnist10("test", n=n_pool and n_pool // 4, seed=seed, source=source)
print(f"episode pools: {len(train_labels):,} training and {len(test_labels):,} test images "
      f"from {data.describe_source(source)}")
train_classes, test_classes = tuple(range(6)), tuple(range(6, 10))
train_tasks = meta.EpisodeSampler(train_images, train_labels, train_classes, n_way, k_shot, n_query, seed=seed)
test_tasks = meta.EpisodeSampler(test_images, test_labels, test_classes, n_way, k_shot, n_query, seed=seed + 1)
test_episodes = [episode.to(device) for episode in test_tasks.batch(n_test_episodes)]

example = train_tasks.sample()
fig, (ax_s, ax_q) = plt.subplots(2, 1, figsize=(9, 2.6))
plots.image_strip(ax_s, example.support_x, [f"{y}" for y in example.support_y.tolist()], ylabel="support")
plots.image_strip(ax_q, example.query_x[::2], [f"{y}" for y in example.query_y[::2].tolist()], ylabel="query")
fig.suptitle(f"one {n_way}-way {k_shot}-shot episode: digits {example.classes} renamed 0..{n_way - 1}")
plt.show()
# a demonstration, not a check: each sampler draws only from its own class list, so these hold by construction
test_digits = sorted({c for e in test_episodes for c in e.classes})
print(f"demonstration (true by construction): support set {tuple(example.support_x.shape)}, "
      f"meta-training digits {example.classes} from {train_classes}, meta-test digits {test_digits}, "
      f"shared with meta-training: {sorted(set(test_digits) & set(train_classes))}")

# %% [markdown]
# ## 3 · MAML from scratch, then advlab's version
#
# One inner step is three lines with `torch.func.functional_call`: the parameters are a
# dict, and the adapted parameters are new tensors built *from* them, so no copy of the
# model is ever made and the outer gradient flows through the step (`create_graph=True`).
# The network is a small CNN (`meta.few_shot_cnn`, two 3x3 stride-2 convolutions): a
# second-order meta-gradient through the suite's SmallCNN (two 5x5 convolutions) costs more
# on a CPU; the end of the cell prints both timings and their ratio on your machine (no assert:
# timings depend on the hardware).

# %%
from torch.func import functional_call
import torch.nn.functional as F

model = meta.few_shot_cnn(n_way).to(device)
episode = example.to(device)
theta = dict(model.named_parameters())
support_loss = F.cross_entropy(functional_call(model, theta, (episode.support_x,)), episode.support_y)
grads = torch.autograd.grad(support_loss, list(theta.values()), create_graph=True)
theta_prime = {name: p - inner_lr * g for (name, p), g in zip(theta.items(), grads)}
query_loss = F.cross_entropy(functional_call(model, theta_prime, (episode.query_x,)), episode.query_y)
our_meta_gradient = torch.autograd.grad(query_loss, list(theta.values()))

advlab_meta_gradient = meta.meta_gradient(model, episode, "maml", inner_lr=inner_lr, inner_steps=1)
first_order_gradient = meta.meta_gradient(model, episode, "maml", inner_lr=inner_lr, inner_steps=1, first_order=True)
for ours, name in zip(our_meta_gradient, advlab_meta_gradient):
    torch.testing.assert_close(ours, advlab_meta_gradient[name])
def flat(gradients):
    return torch.cat([g.flatten() for g in gradients.values()])


gap = ((flat(advlab_meta_gradient) - flat(first_order_gradient)).norm() / flat(advlab_meta_gradient).norm()).item()
print(f"from-scratch and advlab meta-gradients agree; the first-order one differs by {gap:.1%} (relative L2 distance)")
# a small floor, far under the gap printed above: below it the second-order term would not matter
assert gap > 0.05, "the second-order term must matter"


def seconds_per_meta_gradient(net, repeats=3):
    started = time.perf_counter()
    for _ in range(repeats):
        meta.meta_gradient(net, episode, "maml", inner_lr=inner_lr)
    return (time.perf_counter() - started) / repeats


few_shot_seconds = seconds_per_meta_gradient(model)
small_cnn_seconds = seconds_per_meta_gradient(SmallCNN(num_classes=n_way).to(device))
print(f"few_shot_cnn: {count_parameters(model):,} parameters, {1000 * few_shot_seconds:.0f} ms per meta-gradient; "
      f"SmallCNN: {count_parameters(SmallCNN(n_way)):,} parameters, {1000 * small_cnn_seconds:.0f} ms "
      f"({small_cnn_seconds / few_shot_seconds:.1f}x)")

# %% [markdown]
# ## 4 · Meta-training MAML, ADML and the two baselines, live
#
# All four start from the same random $\theta$, see the same episodes for the same number of
# meta-iterations. The plot shows the meta-loss (ADML's is a sum of two terms: we halve it so
# the curves are comparable) and the query accuracy of the adapted models on the query set each
# method trains on (ADML: the mean over its two crossed query sets; MAML-AD: FGSM queries; AQ:
# PGD queries), averaged over blocks of 25 meta-iterations. ADML and MAML-AD craft their FGSM
# examples with $\epsilon = $ `eps` against the current $\theta$; AQ runs `aq_steps` steps of PGD
# from a random start against the adapted $\theta'$ (all detached: they are data).
#
# Each meta-training run goes through the run cache (`runs.cached`): `meta_train` trains the
# model it is given and returns plain data, its final weights and its per-iteration curves, so a
# second Run All loads the four runs (one printed line each), redraws the same curves and prints
# the same numbers, including the training seconds measured when they ran. The plot grows
# method by method.

# %%
def meta_train(model, method, iterations=meta_iterations):
    """Meta-train `model` in place with `method` for `iterations` meta-iterations; its final weights, per-iteration curves and seconds, as plain data."""
    optimizer = torch.optim.Adam(model.parameters(), lr=outer_lr)
    sampler = meta.EpisodeSampler(train_images, train_labels, train_classes, n_way, k_shot, n_query, seed=seed)
    aq_generator = torch.Generator(device).manual_seed(seed)  # AQ's random starts
    losses, accuracies, started = [], [], time.perf_counter()
    bar = progress_bar(iterations, f"meta-training {method}")
    for iteration in range(1, iterations + 1):
        episodes = [e.to(device) for e in sampler.batch(meta_batch)]
        loss, acc = meta.meta_step(model, optimizer, episodes, method, inner_lr, inner_steps, eps=eps,
                                   attack_steps=aq_steps, generator=aq_generator)
        losses.append(loss / (2 if method == "adml" else 1))
        accuracies.append(acc)
        bar.update(1)
    bar.close()
    return {"state": {name: value.detach().cpu().clone() for name, value in model.state_dict().items()},
            "losses": losses, "accuracies": accuracies, "seconds": time.perf_counter() - started}


history = History()
live = LivePlot(title=f"meta-training on digits 0-5 ({n_way}-way {k_shot}-shot)", xlabel="meta-iteration")
block = 25
names = {"maml": "MAML", "adml": "ADML", "maml_ad": "MAML-AD", "adv_query": "AQ"}
models, train_seconds = {}, {}
for method in names:
    torch.manual_seed(seed)
    models[method] = meta.few_shot_cnn(n_way).to(device)
    run = runs.cached(f"{names[method]} meta-training", meta_train, models[method], method)
    models[method].load_state_dict(run["state"])
    losses, accuracies = run["losses"], run["accuracies"]
    for iteration in range(block, meta_iterations + 1, block):  # means over blocks of 25 meta-iterations
        history.log(f"{names[method]} meta loss", iteration, np.mean(losses[iteration - block : iteration]))
        history.log(f"{names[method]} query acc", iteration, np.mean(accuracies[iteration - block : iteration]))
    live.update(history)
    train_seconds[method] = run["seconds"]
live.update(history, final=True)
print("training time: " + ", ".join(f"{names[m]} {s:.1f} s ({s / train_seconds['maml']:.1f}x MAML)"
                                    for m, s in train_seconds.items()))
print(f"query accuracy on its own training queries, last {block} meta-iterations: "
      + ", ".join(f"{names[m]} {history.last(f'{names[m]} query acc'):.1%}" for m in models))

# %% [markdown]
# ## 5 · On unseen digits 6–9: clean and adversarial queries
#
# For each of the held-out episodes, every meta-learned starting point adapts on the clean
# support set (`inner_steps` steps), then answers the query set: clean, under FGSM, under
# PGD-10 (two random starts per image, the worse kept: a start at $x$ can be fooled by a masked
# gradient), and in the worst case of notebook 08's AutoAttack-style ensemble, all at
# $\epsilon$ = `eps`. The ensemble runs at reduced budgets, printed below: PGD-10 with 2 random
# starts, APGD-CE and APGD-margin with fewer steps than AutoAttack's 100, Square with far fewer
# queries than AutoAttack's 5,000. Its worst case is an upper bound on robust accuracy that a
# larger budget could lower. The attacker is white-box against the **adapted** model that answers the
# queries (a stronger test than ADML's and MAML-AD's training attack, which used $\theta$; it is
# the attack AQ trains against, with more steps). PGD-10 is the ensemble's first attack and runs
# on every correctly answered query, so its column comes from the same run as the worst case.
#
# **What each model got.** MAML and ADML are scored on all `n_test_episodes` held-out episodes
# (the self-check below uses those); to keep the notebook's run time in bounds, the two baselines
# are scored on the first `n_baseline_episodes` of them only, and every comparison with a
# baseline uses those same episodes for all four models (the first table).

# %%
def fgsm_attack(f, x, y, eps=eps):
    return attacks.fgsm(f, x, y, eps)


# notebook 08's AutoAttack-style worst case at reduced budgets, per adapted model: a query counts only if
# PGD with restarts, APGD-CE, APGD-margin and the gradient-free Square attack all fail on it
apgd_steps, square_queries = (20, 100) if quick else (50, 250)
ensemble = evaluate.default_ensemble("inf", pgd_steps=10, pgd_restarts=2, apgd_steps=apgd_steps,
                                     square_queries=square_queries)
pgd_column = next(iter(ensemble))  # "PGD-10 x2": alpha = 2.5 eps / 10, random start, 2 restarts
print(f"the ensemble at reduced budgets: {pgd_column}, APGD-CE and APGD-margin with {apgd_steps} steps, "
      f"Square with {square_queries} queries")
columns = ["clean", "FGSM", "PGD-10", "worst case"]


def query_accuracies(m, episodes):
    """Per episode: adapt on the clean support, then query accuracy clean, under FGSM, PGD-10 and in the worst case (lists)."""
    rows = {"FGSM": meta.adapted_accuracies(m, episodes, inner_lr, inner_steps, fgsm_attack),
            "clean": [], "PGD-10": [], "worst case": []}
    for k, episode in enumerate(episodes):
        adapted = meta.Functional(m, meta.adapted_parameters(m, episode, inner_lr, inner_steps))
        worst = evaluate.worst_case_accuracy(adapted, episode.query_x, episode.query_y, eps, attacks=ensemble,
                                             seed=seed + k, progress=False)
        rows["clean"].append(worst.clean_accuracy)
        rows["PGD-10"].append(worst.per_attack[pgd_column])  # correct and PGD failed (the cascade's first column)
        rows["worst case"].append(worst.accuracy)
    return {column: [float(value) for value in rows[column]] for column in columns}


baselines = ["maml_ad", "adv_query"]
per_episode = {}  # method -> column -> accuracy per episode
for method, m in models.items():
    scored = test_episodes[:n_baseline_episodes] if method in baselines else test_episodes
    rows = runs.cached(f"{names[method]} on {len(scored)} held-out episodes", query_accuracies, m, scored)
    per_episode[method] = {column: np.array(values) for column, values in rows.items()}
results = {method: {column: float(values.mean()) for column, values in rows.items()} for method, rows in per_episode.items()}
shared = {method: {column: float(values[:n_baseline_episodes].mean()) for column, values in rows.items()}
          for method, rows in per_episode.items()}  # all four on the same first n_baseline_episodes


def print_table(table, title):
    print(title)
    print(" " * 9 + "".join(f"{column:>12s}" for column in columns))
    for method, r in table.items():
        print(f"  {names[method]:7s}" + "".join(f"{r[column]:12.1%}" for column in columns))


print_table(shared, f"query accuracy on digits 6-9, all four on the same {n_baseline_episodes} episodes (eps = {eps}):")
print_table({m: results[m] for m in ["maml", "adml"]}, f"MAML and ADML on all {n_test_episodes} episodes:")

# %% [markdown]
# **Self-check.** ADML's starting point is more robust after adaptation: its FGSM query
# accuracy beats MAML's at the training $\epsilon$ by at least 10 points, so do its PGD and
# worst-case accuracies, and robustness costs at most 5 points of clean accuracy (the printed
# interval says whether this run's cost can be told from zero). These floors are checked on **one
# meta-training run of each method** at the notebook's `seed`, not over training seeds: the ± printed
# with each gap is a 95 % interval over the test episodes (`stats.paired_comparison`), so it covers
# which episodes were drawn, not which training seed ran. How large the gap is depends on the
# training seed and on $\epsilon$ (section 7 draws this run's curves over $\epsilon$); a claim
# about ADML in general would need several meta-training runs of each method, which this notebook
# does not run.
#
# **Not yet a compute-matched comparison.** All four methods ran the same number of meta-iterations
# on the same episodes, but not the same work (ADML adapts twice per task and crafts two FGSM
# batches). So a lead of ADML's may come from extra compute as much as from the method; the
# compute-matched comparison after the attribution below gives MAML ADML's work and tests that.

# %%
fgsm_gain = results["adml"]["FGSM"] - results["maml"]["FGSM"]
pgd_gain = results["adml"]["PGD-10"] - results["maml"]["PGD-10"]
worst_gain = results["adml"]["worst case"] - results["maml"]["worst case"]
clean_gap = results["adml"]["clean"] - results["maml"]["clean"]
for column in ["FGSM", "PGD-10", "worst case", "clean"]:
    difference = stats.paired_comparison(per_episode["adml"][column], per_episode["maml"][column])
    print(f"ADML - MAML {column}: {difference.mean:+.1%} ± {difference.half_width:.1%} "
          f"(95 % interval over {difference.n} test episodes, one meta-training run per method, seed {seed})")
# the floors below are checked on this run's one meta-training run of each method (the gaps are printed above)
assert fgsm_gain >= 0.10, f"ADML should beat MAML under FGSM by 10 points, got {fgsm_gain:+.1%}"
assert pgd_gain >= 0.10, f"ADML should beat MAML under PGD by 10 points, got {pgd_gain:+.1%}"
assert worst_gain >= 0.10, f"ADML should beat MAML in the worst case by 10 points, got {worst_gain:+.1%}"
assert clean_gap >= -0.05, f"ADML's clean accuracy should stay within 5 points of MAML's, got {clean_gap:+.1%}"

# %% [markdown]
# **Attribution: ADML against the baselines.** The same comparison for the two methods that see
# adversarial data without ADML's crossing. All four models answered the *same* episodes, so the
# cell compares them episode by episode: the mean of the per-episode differences and a 95 %
# interval for it ($\pm t_{n-1,\,0.975}$ standard errors over the $n$ episodes, Student's t:
# `advlab.stats.paired_comparison`); an interval that contains 0 means these episodes cannot tell
# the two apart. It also scores every model in **MAML-AD's own
# training game**: support *and* query sets replaced by their FGSM copies crafted against $\theta$;
# and again with the copies crafted from $\theta$'s *predicted* labels instead of the true ones,
# Kurakin et al.'s control for label leaking (a perturbation made without the label cannot carry it).
# Unlike Kurakin et al.'s trained classifier, $\theta$ has not adapted to the episode, whose labels
# are its digits renamed $0..N-1$, so its predicted labels need not be right much more often than
# chance (how often they are is printed): here the control is a perturbation made without the label,
# not one made from a mostly right guess.
# The sentences are written from this run's numbers.
#
# **Self-check** (the asserts below check it in this run): ADML beats
# MAML-AD by at least 20 points, clean or in the worst case; MAML-AD is no more robust than a
# constant answer and scores higher in its own training game than on clean data, and its
# own-game score falls by at least 20 points when the FGSM copies are crafted from predicted
# labels (the label in the perturbation is what it reads); AQ is at least
# as robust as ADML in the worst case (the printed sentence uses the assert's criterion). That
# comparison says nothing about the crossing: AQ differs from ADML in its attack as well as in the
# missing half. Whether AQ keeps ADML's clean accuracy is printed, not
# checked: it changed with the data source. When AQ's clean accuracy falls to near a
# constant answer's, its worst case is a constant answer's too: robustness bought by giving up the
# task, which the printed sentence then says.

# %%
def paired_difference(a, b, column):
    """accuracy(a) - accuracy(b) in `column`, paired over the shared episodes (mean, 95 % half-width, verdict)."""
    return stats.paired_comparison(per_episode[a][column][:n_baseline_episodes],
                                   per_episode[b][column][:n_baseline_episodes])


def verdict(a, b, column):
    difference = paired_difference(a, b, column)
    judged = difference.verdict_as(f"{names[a]} ahead", f"{names[b]} ahead", "no difference these episodes can resolve")
    return f"{names[a]} - {names[b]} {column}: {difference.mean:+.1%} ± {difference.half_width:.1%} ({judged})"


def fgsm_everywhere(m, episodes, predicted=False):
    """MAML-AD's training game on test episodes: support and query both FGSM copies crafted against θ.
    predicted=True crafts the copies from θ's predicted labels instead of the true ones (Kurakin et al.'s control)."""
    crafted = episodes
    if predicted:
        with torch.no_grad():
            crafted = [meta.Episode(e.support_x, m(e.support_x).argmax(1), e.query_x, m(e.query_x).argmax(1))
                       for e in episodes]
    copies = meta.fgsm_copies(m, meta.parameters_of(m), crafted, eps)
    return [meta.Episode(support, e.support_y, query, e.query_y) for (support, query), e in zip(copies, episodes)]


def own_game_accuracies(models, episodes, predicted=False):
    return {method: float(np.mean(meta.adapted_accuracies(m, fgsm_everywhere(m, episodes, predicted), inner_lr,
                                                           inner_steps)))
            for method, m in models.items()}


shared_episodes = test_episodes[:n_baseline_episodes]
own_game = runs.cached("MAML-AD's training game", own_game_accuracies, models, shared_episodes)
own_game_predicted = runs.cached("MAML-AD's training game, FGSM from predicted labels", own_game_accuracies, models,
                                 shared_episodes, True)
for baseline in baselines:
    for column in ["clean", "PGD-10", "worst case"]:
        print(verdict("adml", baseline, column))
print("support and query both FGSM against θ (MAML-AD's training game), crafted from the true labels: "
      + ", ".join(f"{names[m]} {own_game[m]:.1%}" for m in models))
print("the same game, FGSM crafted from θ's predicted labels (the control for label leaking): "
      + ", ".join(f"{names[m]} {own_game_predicted[m]:.1%}" for m in models))
with torch.no_grad():  # θ before adapting: how often its predicted labels are the episode's true ones
    theta_agreement = {method: np.mean([(m(torch.cat([e.support_x, e.query_x])).argmax(1)
                                         == torch.cat([e.support_y, e.query_y])).float().mean().item()
                                        for e in shared_episodes])
                       for method, m in models.items()}
print("θ's predicted labels (no adaptation) agree with the true ones on: "
      + ", ".join(f"{names[m]} {theta_agreement[m]:.1%}" for m in models) + f" (chance {1 / n_way:.0%})")

chance = 1 / n_way  # what a constant answer scores on balanced queries, attacked or not
ad, aq, adml = shared["maml_ad"], shared["adv_query"], shared["adml"]
leak = own_game["maml_ad"] - ad["clean"]
leak_control = own_game["maml_ad"] - own_game_predicted["maml_ad"]  # what the true label in the perturbation adds
print(f"\nMAML-AD (adversarial data, no crossing): clean {ad['clean']:.1%}, worst case {ad['worst case']:.1%}, "
      + (f"no better than the {chance:.0%} of a constant answer" if ad["worst case"] <= chance + 0.05
         else f"above the {chance:.0%} of a constant answer")
      + f"; in its own training game {own_game['maml_ad']:.1%}, {leak:+.1%} against its clean accuracy, and "
      + f"{own_game_predicted['maml_ad']:.1%} ({-leak_control:+.1%}) when the FGSM copies are crafted from θ's "
      + "predicted labels instead of the true ones. "
      + ("FGSM crafted with the true label moves each image along a direction that depends on that label, so "
         "adversarial support and query together carry the answer (label leaking, Kurakin et al. 2017): "
         "MAML-AD learned to read the perturbation, not to resist it; without the label in the perturbation "
         "its score falls." if leak >= 0.05 and leak_control >= 0.10 else
         "The predicted-label control does not show label leaking in this run."))
aq_versus_adml = paired_difference("adv_query", "adml", "worst case")
aq_gain, aq_half = aq_versus_adml.mean, aq_versus_adml.half_width
aq_at_least_adml = aq_gain >= 0.0  # one criterion for the sentence below and the assert at the end of this cell
print(f"AQ (clean adaptation, PGD query against the adapted model, no crossing): worst case {aq['worst case']:.1%} "
      f"against ADML's {adml['worst case']:.1%} ({aq_gain:+.1%} ± {aq_half:.1%}), clean {aq['clean']:.1%} against "
      f"{adml['clean']:.1%}. "
      + ("AQ's mean worst case is at least ADML's in this run" if aq_at_least_adml else
         "AQ's mean worst case is below ADML's in this run")
      + ("; its clean accuracy is near the {:.0%} of a constant answer, so its worst case is a constant answer's: "
         "it gave up the task rather than learning to resist.".format(chance) if aq["clean"] <= chance + 0.10 else ".")
      + " AQ differs from ADML in its attack (PGD against θ' rather than FGSM against θ) as well as in the missing "
        "half of the crossing (θ'_adv on clean queries), so this comparison cannot isolate the crossing; the "
        "ablation that would is Going further, item 3.")

# ADML - MAML-AD, the larger of the clean and worst-case gaps (MAML-AD either loses its robustness or
# collapses to a constant answer)
adml_over_ad = max(adml["clean"] - ad["clean"], adml["worst case"] - ad["worst case"])
assert adml_over_ad >= 0.20, f"ADML should beat MAML-AD by 20 points clean or in the worst case, got {adml_over_ad:+.1%}"
# MAML-AD's worst case against a constant answer's
assert ad["worst case"] <= chance + 0.05, f"MAML-AD should be no more robust than a constant answer, got {ad['worst case']:.1%}"
# label leaking: MAML-AD's own game minus its clean accuracy
assert leak >= 0.05, f"MAML-AD should score above its clean accuracy in its own training game, got {leak:+.1%}"
# the control: MAML-AD's own game with true-label FGSM minus the same game with predicted-label FGSM
assert leak_control >= 0.20, (f"MAML-AD's own-game score should fall by 20 points without the true label in the "
                              f"FGSM copies, got {leak_control:+.1%}")
# AQ minus ADML in the worst case
assert aq_at_least_adml, f"AQ should be at least as robust as ADML in the worst case, got {aq_gain:+.1%}"
# ADML minus AQ on clean queries is printed above, not asserted: on the full-size stand-in data AQ can collapse to
# a constant answer, which the sentence above reports when it happens

# %% [markdown]
# **A compute-matched comparison: MAML given ADML's work.** Per task ADML adapts twice (on clean and
# on adversarial support), crafts two FGSM batches and scores two query losses; MAML-AD adapts once
# on FGSM data; AQ adapts once and runs `aq_steps` PGD steps against the adapted model. The cell
# counts each method's work per meta-iteration in floating-point operations with
# `flops.count_flops`: every matrix product and convolution, forward and backward, MAML's
# second-order term included. Unlike the seconds printed in section 4, the count depends on the
# shapes only, not on the machine or on what else runs, so the matched budget is the same on every
# run. Then MAML is meta-trained once more, from the same start on the same episode stream, for as
# many meta-iterations as give it ADML's FLOPs, and scored on the shared episodes with the same
# attacks. If ADML's robustness were its extra compute, this MAML would close the gap.
#
# **Self-check.** ADML stays at least 10 points ahead of the compute-matched MAML in the worst case
# (the assert); whether the extra meta-iterations changed MAML's clean accuracy, and whether ADML
# still leads on clean queries, is printed with its interval, not asserted.

# %%
def flops_per_meta_iteration(method):
    """FLOPs of one meta_step of `method` on a throwaway model (the shapes decide the count, not the weights)."""
    with torch.random.fork_rng(devices=[]):  # the throwaway model must not move the notebook's random stream
        model = meta.few_shot_cnn(n_way).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=outer_lr)
    sampler = meta.EpisodeSampler(train_images, train_labels, train_classes, n_way, k_shot, n_query, seed=seed)
    episodes = [e.to(device) for e in sampler.batch(meta_batch)]
    _, counted = flops.count_flops(meta.meta_step, model, optimizer, episodes, method, inner_lr, inner_steps, eps=eps,
                                   attack_steps=aq_steps, generator=torch.Generator(device).manual_seed(seed))
    return counted


work = {method: flops_per_meta_iteration(method) for method in models}
matched_iterations = math.ceil(meta_iterations * work["adml"] / work["maml"])
print("work per meta-iteration (matrix products and convolutions, forward and backward): "
      + ", ".join(f"{names[m]} {w / 1e6:.0f} MFLOP ({w / work['maml']:.2f}x MAML)" for m, w in work.items()))
print(f"seconds measured in section 4 on this machine: ADML {train_seconds['adml'] / train_seconds['maml']:.2f}x MAML")
print(f"compute-matched MAML: {matched_iterations} meta-iterations instead of {meta_iterations}")

torch.manual_seed(seed)
maml_matched = meta.few_shot_cnn(n_way).to(device)  # the same starting θ as the four above
run = runs.cached(f"MAML meta-training, {matched_iterations} meta-iterations", meta_train, maml_matched, "maml",
                  matched_iterations)
maml_matched.load_state_dict(run["state"])
matched_rows = runs.cached(f"compute-matched MAML on {n_baseline_episodes} held-out episodes", query_accuracies,
                           maml_matched, shared_episodes)
per_episode["maml_matched"] = {column: np.array(values) for column, values in matched_rows.items()}
names["maml_matched"] = "MAML-CM"  # compute-matched; names has the four training runs' keys until now
matched_table = {m: {c: float(per_episode[m][c][:n_baseline_episodes].mean()) for c in columns}
                 for m in ["maml", "maml_matched", "adml"]}
print_table(matched_table, f"MAML, compute-matched MAML (MAML-CM) and ADML on the same {n_baseline_episodes} episodes:")
for column in columns:
    print(verdict("adml", "maml_matched", column))
print(verdict("maml_matched", "maml", "clean") + "  <- what the extra meta-iterations did for MAML")

fig, ax = plt.subplots(figsize=(7.5, 3.2))
width = 0.27
for k, method in enumerate(matched_table):
    errors = [stats.standard_error(per_episode[method][c][:n_baseline_episodes]) for c in columns]
    ax.bar(np.arange(len(columns)) + (k - 1) * width, [matched_table[method][c] for c in columns], width,
           yerr=errors, capsize=3, label=names[method])
ax.axhline(chance, color="gray", linestyle=":", label="constant answer")
ax.set(xticks=range(len(columns)), xticklabels=columns, ylabel="query accuracy", ylim=(0, 1),
       title=f"digits 6-9, eps = {eps}: MAML with ADML's FLOPs (bars: ± one standard error over episodes)")
ax.legend(loc="upper right", fontsize=8)
plt.show()

# ADML minus the compute-matched MAML in the worst case
matched_worst_gain = matched_table["adml"]["worst case"] - matched_table["maml_matched"]["worst case"]
assert matched_worst_gain >= 0.10, f"ADML should beat the compute-matched MAML in the worst case by 10 points, got {matched_worst_gain:+.1%}"

# %% [markdown]
# ## 6 · When the support set is the attack
#
# ADML's motivating case: the few examples a task is *learned from* are adversarial. Here the
# attacker perturbs each test episode's support set against the meta-learned $\theta$ (FGSM, and
# PGD-10 from a random start, at $\epsilon$ = `eps`, white-box), every model adapts on the poisoned
# support and answers the *clean* queries (`meta.adversarial_support_accuracies`), on the same
# `n_baseline_episodes` episodes as above. The attack maximises the support loss at $\theta$, the
# kind of adversarial support ADML trains on; it is not the strongest poisoning attack, which
# would aim at the query loss *after* adaptation (Going further, item 6).
#
# **Self-check.** The worse of the two poisoned supports costs MAML and ADML less than half of
# what PGD-10 on the queries costs them (both costs and their ratio are printed, and how many of the
# poisoned-support costs cannot be told from zero with these episodes). How far below half the
# ratio falls changes a lot from seed to seed, so the check is half, not a tighter fraction. Whether ADML, which
# meta-trains on adversarial supports, resists them better than MAML is left to the printed
# comparison: it changed from seed to seed.

# %%
def poisoned_support_accuracies(models, episodes, poison_generator):
    """Per model and episode: clean-query accuracy after adapting on an FGSM and on a PGD-10 support (lists).
    PGD's random starts come from `poison_generator`, one generator for all four models in turn."""

    def pgd_poison(f, x, y):
        return attacks.pgd(f, x, y, eps, alpha=eps / 4, steps=10, random_start=True, generator=poison_generator)

    return {method: {"FGSM support": meta.adversarial_support_accuracies(m, episodes, inner_lr, inner_steps, fgsm_attack),
                     "PGD-10 support": meta.adversarial_support_accuracies(m, episodes, inner_lr, inner_steps, pgd_poison)}
            for method, m in models.items()}


support_columns = ["clean support", "FGSM support", "PGD-10 support"]
poisoned = runs.cached("poisoned supports", poisoned_support_accuracies, models, shared_episodes,
                       torch.Generator().manual_seed(seed))
support_per_episode = {
    method: {"clean support": per_episode[method]["clean"][:n_baseline_episodes],
             "FGSM support": np.array(poisoned[method]["FGSM support"]),
             "PGD-10 support": np.array(poisoned[method]["PGD-10 support"])}
    for method in models
}
support_results = {method: {column: float(values.mean()) for column, values in rows.items()}
                   for method, rows in support_per_episode.items()}
print(f"clean-query accuracy on digits 6-9 after adapting on a poisoned support set ({n_baseline_episodes} episodes, eps = {eps}):")
print(" " * 9 + "".join(f"{column:>16s}" for column in support_columns))
for method, r in support_results.items():
    print(f"  {names[method]:7s}" + "".join(f"{r[column]:16.1%}" for column in support_columns))


def poison_loss(method, column):
    """Mean over episodes of (clean-support accuracy - poisoned-support accuracy) and its 95 % half-width."""
    lost = stats.paired_comparison(support_per_episode[method]["clean support"], support_per_episode[method][column])
    return lost.mean, lost.half_width


print("\naccuracy lost to a poisoned support (± 95 % half-width over the episodes), and to attacked queries (section 5):")
for method in models:
    lost = [poison_loss(method, column) for column in support_columns[1:]]
    print(f"  {names[method]:7s} FGSM support {lost[0][0]:+6.1%} ± {lost[0][1]:.1%}   "
          f"PGD-10 support {lost[1][0]:+6.1%} ± {lost[1][1]:.1%}   "
          f"PGD-10 queries {shared[method]['clean'] - shared[method]['PGD-10']:+6.1%}")
poison_cost = {method: max(poison_loss(method, column)[0] for column in support_columns[1:]) for method in models}
query_cost = {method: shared[method]["clean"] - shared[method]["PGD-10"] for method in models}


def poison_verdict(column):
    """ADML's advantage over MAML on a `column` support: MAML's loss - ADML's, paired over the episodes."""
    rows_maml, rows_adml = support_per_episode["maml"], support_per_episode["adml"]
    advantage = stats.paired_comparison(rows_maml["clean support"] - rows_maml[column],
                                        rows_adml["clean support"] - rows_adml[column])
    judged = advantage.verdict_as("ADML resists it better", "MAML resists it better",
                                  "no difference these episodes can resolve")
    return f"{column}: ADML's advantage over MAML {advantage.mean:+.1%} ± {advantage.half_width:.1%} ({judged})"


unresolved = [(names[method], column) for method in models for column in support_columns[1:]
              if abs(poison_loss(method, column)[0]) <= poison_loss(method, column)[1]]
print(f"\n{len(unresolved)} of the {len(models) * 2} poisoned-support costs above are within their 95 % interval "
      f"of zero: not resolvable from no cost with {n_baseline_episodes} episodes.")
print(f"The worse of the two poisoned supports costs MAML {poison_cost['maml']:+.1%}, ADML {poison_cost['adml']:+.1%} "
      f"and AQ {poison_cost['adv_query']:+.1%}, against {query_cost['maml']:.1%}, {query_cost['adml']:.1%} and "
      f"{query_cost['adv_query']:.1%} for PGD-10 on the queries. "
      + "; ".join(poison_verdict(column) for column in support_columns[1:])
      + ". MAML-AD, meta-trained to adapt on FGSM supports, "
      + (f"gains {-poison_cost['maml_ad']:.1%}" if poison_cost["maml_ad"] < 0 else f"loses {poison_cost['maml_ad']:.1%}")
      + " with the worse of the two.")

# a poisoned support moves only the weights the task adapts to, an attacked query moves every answer:
# the poison should cost MAML and ADML less than half of what PGD-10 on the queries costs them
for method in ["maml", "adml"]:
    print(f"{names[method]}: poisoned support / attacked query = {poison_cost[method] / query_cost[method]:.2f}")
    assert poison_cost[method] <= 0.5 * query_cost[method], (
        f"a poisoned support should cost {names[method]} less than half of an attacked query: "
        f"{poison_cost[method]:+.1%} against {query_cost[method]:.1%}")


# %% [markdown]
# ## 7 · Explore $\epsilon$
#
# The accuracy curves of all four meta-learners over an $\epsilon$ grid are computed once (FGSM
# on a few held-out episodes); the slider marks its $\epsilon$ and shows the FGSM queries the
# adapted MAML and ADML models see for one episode.

# %%
eps_grid = np.round(np.arange(0, 0.301, 0.025), 3)
curve_episodes = test_episodes[:20]


def fgsm_curves(models, episodes):
    """Per model: the mean FGSM query accuracy after adaptation at every eps of eps_grid."""
    return {method: [float(np.mean(meta.adapted_accuracies(m, episodes, inner_lr, inner_steps,
                                                            (lambda f, x, y, e=e: attacks.fgsm(f, x, y, e)) if e else None)))
                     for e in eps_grid]
            for method, m in models.items()}


curves = runs.cached("FGSM curves", fgsm_curves, models, curve_episodes)
shown = {}
for method in ("maml", "adml"):
    m = models[method]
    adapted = meta.adapted_parameters(m, curve_episodes[0], inner_lr, inner_steps)
    f = meta.Functional(m, adapted)
    shown[method] = [attacks.fgsm(f, curve_episodes[0].query_x[::2], curve_episodes[0].query_y[::2], e).cpu() for e in eps_grid]


def draw_eps(fig, eps):
    i = int(np.argmin(np.abs(eps_grid - eps)))
    ax, strip_maml, strip_adml = fig.subplots(3, 1, gridspec_kw={"height_ratios": [2.2, 1, 1]})
    for method, color, style in [("maml", "tab:blue", "o-"), ("adml", "tab:red", "o-"),
                                 ("maml_ad", "tab:olive", "s--"), ("adv_query", "tab:purple", "^--")]:
        ax.plot(eps_grid, curves[method], style, ms=3, color=color, label=f"{names[method]}: {curves[method][i]:.0%}")
    ax.axvline(eps_grid[i], color="k", ls="--")
    ax.set(xlabel="FGSM eps", ylabel="query accuracy", ylim=(0, 1.02), title=f"digits 6-9 after adaptation, eps = {eps_grid[i]:.3f}")
    ax.legend(loc="lower left", fontsize="small")
    plots.image_strip(strip_maml, shown["maml"][i], ylabel="MAML")
    plots.image_strip(strip_adml, shown["adml"][i], ylabel="ADML")


explorer = Explorer(draw_eps, figsize=(7, 5.2), eps=FloatSlider(value=eps, min=0, max=0.3, step=0.025, description="eps"))
explorer.set(eps=0.1)
explorer.set(eps=eps)
print(f"redraw: {explorer.last_seconds * 1000:.0f} ms")
explorer

# %%
train_index = int(np.argmin(np.abs(eps_grid - eps)))
assert curves["adml"][train_index] > curves["maml"][train_index], "at the training eps, ADML's curve is above MAML's"
print(f"FGSM query accuracy from eps 0 to {eps_grid[-1]}: MAML {curves['maml'][0]:.1%} -> {curves['maml'][-1]:.1%}, "
      f"ADML {curves['adml'][0]:.1%} -> {curves['adml'][-1]:.1%}")
assert curves["maml"][-1] < 0.5 * curves["maml"][0], "at eps 0.3 FGSM takes more than half of MAML's accuracy"

# %% [markdown]
# ## 8 · Spot the bugs: the seed's ADML code
#
# Seed `003` (the ADML blog post among the five this suite grew from) ships this (abridged,
# comments translated) as its PyTorch ADML. It runs without an
# error, and it cannot work. How many problems can you find before opening the answers?
#
# ```python
# def sample_point(k):
#     x = np.random.rand(k, 50)
#     y = np.random.choice([0, 1], size=k, p=[.5, .5]).reshape([-1, 1])
#     return torch.from_numpy(x).float(), torch.from_numpy(y).float()
#
# fgsmModel = FGSM(50, 1)          # a separate nn.Linear(50, 1)
# admlModel = ADML(50, 1)          # W: [50, 1]
# ori_theta = torch.rand(size=[50, 1])
# meta_gradient_adv = torch.zeros_like(ori_theta)
# meta_gradient_clean = torch.zeros_like(ori_theta)
#
# def train(epoch):
#     global ori_theta, meta_gradient_adv, meta_gradient_clean
#     for i in range(tasks):
#         x_train, y_train = sample_point(10)
#         x_train = Variable(x_train, requires_grad=True)
#         optimerf.zero_grad()
#         loss_fgsm_pre = loss_functionf(y_train, fgsmModel(x_train))
#         loss_fgsm_pre.backward(); optimerf.step()
#         x_adv = x_train + epsilon * torch.sign(x_train.grad.detach_())
#
#         admlModel.W.data = ori_theta.data            # inner step on clean data
#         optimera.zero_grad()
#         loss_functiona(y_train, admlModel(x_train)).backward(); optimera.step()
#         theta_martix_clean[i, :] = admlModel.W
#         admlModel.W.data = ori_theta.data            # inner step on adversarial data
#         ...
#         theta_martix_adv[i, :] = admlModel.W
#     for i in range(tasks):
#         x_test, y_test = sample_point(10)            # new random points, new random labels
#         ...                                          # x_adv_test from fgsmModel again
#         admlModel.W.data = theta_martix_clean[i]
#         loss_functiona(y_test, admlModel(x_adv_test)).backward(); optimera.step()
#         meta_gradient_adv = meta_gradient_adv + admlModel.W
#         admlModel.W.data = theta_martix_adv[i]
#         loss_functiona(y_test, admlModel(x_test)).backward(); optimera.step()
#         meta_gradient_clean = meta_gradient_clean + admlModel.W
#     ori_theta = ori_theta - betac * meta_gradient_clean
#     ori_theta = ori_theta - betaa * meta_gradient_adv
# ```
#
# <details><summary>Answers</summary>
#
# 1. **The FGSM gradient comes from a surrogate.** `x_train.grad` is the input gradient of a
#    *separate* linear model (`fgsmModel`), which is itself trained on the side. ADML's
#    adversarial examples must attack the model being meta-learned, at its current $\theta$
#    (`meta.fgsm_against(model, theta, x, y, eps)` here).
# 2. **"meta_gradient" accumulates weights, not gradients.** `meta_gradient_adv + admlModel.W`
#    adds the *parameters after a step*; the outer update then subtracts $\beta$ times a sum of
#    weights, i.e. it shrinks $\theta$ towards zero whatever the data say.
# 3. **It is never reset.** The two accumulators are globals that keep growing across epochs,
#    so the "update" grows without bound.
# 4. **No second-order terms, and not even first-order MAML.** `.data` assignments and an
#    optimizer step cut every path from the query loss back to `ori_theta`; the outer step is
#    not a gradient of the meta-loss at all. (Here: `meta.adapt(..., first_order=False)`, its
#    default, which keeps the inner gradients' graph, and one `backward` of the crossed loss.)
# 5. **Nothing to learn.** `sample_point` draws labels independently of `x`, and new random
#    "tasks" for the test phase, so no method can beat guessing: the loss printed by the seed
#    can only wander. Section 9 shows a toy where learning is possible.
# 6. **θ is overwritten by its own inner steps.** `admlModel.W.data = ori_theta.data` does not
#    copy: it makes `W` a second name for `ori_theta`'s storage. Every inner `optimera.step()`
#    then writes into `ori_theta` itself, so $\theta'_{\text{adv}}$ starts from $\theta'_{\text{clean}}$
#    instead of $\theta$, and each task starts where the previous one ended: the tasks chain
#    into $\theta$. (Shown in the cell below.)
# 7. Smaller ones: the Adam optimizer `optimera` is stepped inside the inner *and* the outer
#    loop (its moment estimates mix both); the support and the "test" sets of a task are
#    unrelated draws; `x_adv` is not clipped to the data range.
#
# </details>

# %%
def seed_inner_step(copy_theta):
    """One inner SGD step the seed's way (`W.data = theta.data`) or with a copy; returns (W, theta)."""
    generator = torch.Generator().manual_seed(seed)
    theta = torch.rand(50, 1, generator=generator)
    W = nn.Parameter(torch.zeros(50, 1))
    W.data = theta.data.clone() if copy_theta else theta.data  # the seed's line has no clone()
    x_toy, y_toy = torch.rand(10, 50, generator=generator), torch.rand(10, 1, generator=generator)
    theta_before = theta.clone()
    torch.optim.SGD([W], lr=0.1).zero_grad()
    nn.functional.mse_loss(x_toy @ W, y_toy).backward()
    torch.optim.SGD([W], lr=0.1).step()
    return W, theta, theta_before


for copy_theta in (False, True):
    W, theta, theta_before = seed_inner_step(copy_theta)
    same_storage = W.data_ptr() == theta.data_ptr()
    theta_moved = (theta - theta_before).abs().max().item()
    print(("demonstration (true by construction of the copy): " if copy_theta else "")
          + f"{'W.data = theta.data.clone()' if copy_theta else 'W.data = theta.data (seed)':28s}: same storage {same_storage}, "
          f"theta moved by {theta_moved:.3f} after one inner step on W")
    if not copy_theta:
        assert same_storage and theta_moved > 0.01, "the seed's inner step writes into theta itself"

# %% [markdown]
# ## 9 · Warm-up done right: sine waves
#
# MAML's own toy: every task is a sine $y = A\sin(x - \varphi)$ with random amplitude
# $A \in [0.1, 5]$ and phase $\varphi \in [0, \pi]$, seen through $K = 10$ points. Unlike the
# seed's toy, $y$ is a function of $x$, so there is something to learn. A 1-40-40-1 MLP is
# meta-trained for a few hundred iterations; then, on a *new* sine, it takes a few gradient
# steps on 10 points. Two baselines take the same steps on the same 10 points: the MLP from a
# random start (a straw man: it has seen no sine at all), and, Finn et al.'s baseline, the same
# MLP **pretrained on all tasks**: trained as ordinary regression on the same number of sine
# tasks, pooled, then fine-tuned like MAML's start.

# %%
def sine_mlp():
    return nn.Sequential(nn.Linear(1, 40), nn.ReLU(), nn.Linear(40, 40), nn.ReLU(), nn.Linear(40, 1))


sine_lr, sine_steps = 0.02, 5
mse = nn.functional.mse_loss


def weights(model):
    return {name: value.detach().clone() for name, value in model.state_dict().items()}


def meta_train_sines(model):
    """MAML on sine tasks, `model` trained in place: its final weights, meta-losses and seconds (plain data)."""
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
    generator = torch.Generator().manual_seed(seed)
    meta_losses, started = [], time.perf_counter()
    for _ in range(sine_iterations):
        tasks = [meta.sine_episode(generator, 10, 10) for _ in range(10)]
        loss, _ = meta.meta_step(model, optimizer, tasks, "maml", sine_lr, 1, loss_fn=mse)
        meta_losses.append(loss)
    return {"state": weights(model), "losses": meta_losses, "seconds": time.perf_counter() - started}


def pretrain_sines(model):
    """Plain regression on the pooled points of the tasks, `model` trained in place: its final weights."""
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
    generator = torch.Generator().manual_seed(seed)
    for _ in range(sine_iterations):
        tasks = [meta.sine_episode(generator, 10, 10) for _ in range(10)]
        pooled_x = torch.cat([torch.cat([t.support_x, t.query_x]) for t in tasks])
        pooled_y = torch.cat([torch.cat([t.support_y, t.query_y]) for t in tasks])
        optimizer.zero_grad()
        mse(model(pooled_x), pooled_y).backward()
        optimizer.step()
    return weights(model)


torch.manual_seed(seed)
sine_model = sine_mlp()
sine_run = runs.cached("MAML on sines", meta_train_sines, sine_model)  # the run cache: loaded on a second run
sine_model.load_state_dict(sine_run["state"])
sine_history = History()
for iteration, loss in enumerate(sine_run["losses"], start=1):
    sine_history.log("sine meta loss", iteration, loss)
print(f"{sine_iterations} meta-iterations in {sine_run['seconds']:.1f} s; "
      f"meta-loss {np.mean(sine_history.values('sine meta loss')[:20]):.2f} -> {np.mean(sine_history.values('sine meta loss')[-20:]):.2f}")

# Finn et al.'s baseline: the same MLP, the same tasks (same generator seed), ordinary regression on all their points
torch.manual_seed(seed)
pretrained = sine_mlp()
pretrained.load_state_dict(runs.cached("pretraining on pooled sines", pretrain_sines, pretrained))


# %%
def fitted(model, episode, steps):
    params = {n: p.detach().requires_grad_(True) for n, p in model.named_parameters()}
    return meta.adapt(model, params, episode.support_x, episode.support_y, sine_lr, steps, first_order=True, loss_fn=mse)


def query_mse(model, params, episode):
    with torch.no_grad():
        return mse(functional_call(model, params, (episode.query_x,)), episode.query_y).item()


held_out = torch.Generator().manual_seed(seed + 1000)
new_sines = [meta.sine_episode(held_out, 10, 100) for _ in range(50)]
torch.manual_seed(seed + 1)
scratch = sine_mlp()
maml_mse = np.mean([query_mse(sine_model, fitted(sine_model, t, sine_steps), t) for t in new_sines])
scratch_mse = np.mean([query_mse(scratch, fitted(scratch, t, sine_steps), t) for t in new_sines])
pretrained_mse = np.mean([query_mse(pretrained, fitted(pretrained, t, sine_steps), t) for t in new_sines])
print(f"query MSE on 50 new sines after {sine_steps} steps on 10 points: MAML start {maml_mse:.2f}, "
      f"pretrained on all tasks {pretrained_mse:.2f}, random start {scratch_mse:.2f}")

task = new_sines[0]
grid = torch.linspace(-5, 5, 200).unsqueeze(1)
fig, ax = plt.subplots(figsize=(8, 3.4))
amplitude, phase = task.classes
ax.plot(grid, amplitude * torch.sin(grid - phase), "k", lw=2, label="true sine")
with torch.no_grad():
    for steps, style in [(0, ":"), (1, "--"), (sine_steps, "-")]:
        ax.plot(grid, functional_call(sine_model, fitted(sine_model, task, steps), (grid,)), "tab:red", ls=style,
                label=f"MAML start, {steps} step(s)")
    ax.plot(grid, functional_call(scratch, fitted(scratch, task, sine_steps), (grid,)), "tab:gray",
            label=f"random start, {sine_steps} steps")
    ax.plot(grid, functional_call(pretrained, fitted(pretrained, task, sine_steps), (grid,)), "tab:blue",
            label=f"pretrained on all tasks, {sine_steps} steps")
ax.plot(task.support_x, task.support_y, "o", color="tab:green", label="the 10 support points")
ax.set(xlabel="x", ylabel="y", title="a new sine from 10 points")
ax.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1, 1))
plt.show()

# the mean of all tasks, E[A sin(x - φ)] = -(2/π) E[A] cos x for φ ~ U[0, π] and A ~ U[0.1, 5] (meta.sine_episode)
mean_amplitude = (0.1 + 5) / 2
with torch.no_grad():
    mean_wave = -(2 / np.pi) * mean_amplitude * torch.cos(grid)
    pretrained_wave = pretrained(grid)
gap_to_mean = (pretrained_wave - mean_wave).pow(2).mean().sqrt().item()
gap_to_flat = pretrained_wave.pow(2).mean().sqrt().item()
print(f"an observation: before any step, the pretrained model is {gap_to_mean:.2f} (RMS over x in [-5, 5]) from the "
      f"tasks' mean {-(2 / np.pi) * mean_amplitude:.2f} cos x, and {gap_to_flat:.2f} from a flat 0")

# %% [markdown]
# **Self-check.** The meta-loss fell, and from the meta-learned start a few steps on 10 points
# fit a new sine far better than the same steps from a random start (at least 2x lower query
# MSE) and better than from the model pretrained on all tasks (at least 2x too). Pooled over
# tasks, the pretrained model learns roughly their mean: with $\varphi$ uniform on $[0, \pi]$,
# $\mathbb E[A\sin(x - \varphi)] = -\frac{2}{\pi}\,\mathbb E[A]\cos x$, one fixed wave that
# matches no particular task (the cell above prints how far the pretrained model is from it). A
# few small steps on 10 points cannot turn that wave into the task's sine; MAML's start is chosen
# so that they can.

# %%
sine_losses = sine_history.values("sine meta loss")
assert np.mean(sine_losses[-20:]) < np.mean(sine_losses[:20]), "the sine meta-loss must fall"
assert maml_mse < scratch_mse / 2, f"MAML's start should halve the query MSE: {maml_mse:.2f} vs {scratch_mse:.2f}"
assert maml_mse < pretrained_mse / 2, f"MAML's start should halve the pretrained model's query MSE: {maml_mse:.2f} vs {pretrained_mse:.2f}"

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
import torch.nn.functional as F

from advlab import exercises

reference_answers = exercises.use_solutions(solutions)
print(f"checking {'the reference answers' if reference_answers else 'your answers'}: {', '.join(exercises.names('07'))}")

# %% [markdown]
# ### 1 · MAML's inner step (find and fix a seed bug)
#
# `my_inner_step(model, params, x, y, inner_lr)`: one step $\theta' = \theta - \alpha \nabla_\theta L(\theta; x, y)$
# on a dict of parameters, without touching θ (seed 003 wrote into it) and keeping θ' differentiable
# in θ (second order). Use `torch.func.functional_call(model, params, (x,))`.

# %%
def my_inner_step(model, params, x, y, inner_lr):
    ...  # your code here: return the dict θ'


if reference_answers:
    my_inner_step = exercises.solution("07.inner_step")
result = exercises.check("07.inner_step", my_inner_step)
assert result.passed or not reference_answers, result.message

# %% [markdown]
# <details><summary>Answer</summary>
#
# ```python
# def my_inner_step(model, params, x, y, inner_lr):
#     loss = F.cross_entropy(torch.func.functional_call(model, params, (x,)), y)
#     grads = torch.autograd.grad(loss, list(params.values()), create_graph=True)
#     return {name: p - inner_lr * g for (name, p), g in zip(params.items(), grads)}
# ```
#
# </details>

# %% [markdown]
# ### 2 · The ADML meta-loss (implement)
#
# `my_adml_loss(model, params, episode, inner_lr, eps)`: FGSM copies of the support and query
# sets crafted against θ (`meta.fgsm_against`), two adaptations (`meta.adapt`), and the crossed sum.

# %%
def my_adml_loss(model, params, episode, inner_lr, eps):
    ...  # your code here: return a scalar


if reference_answers:
    my_adml_loss = exercises.solution("07.adml_loss")
result = exercises.check("07.adml_loss", my_adml_loss)
assert result.passed or not reference_answers, result.message

# %% [markdown]
# <details><summary>Answer</summary>
#
# ```python
# def my_adml_loss(model, params, episode, inner_lr, eps):
#     e = episode
#     support_adv = meta.fgsm_against(model, params, e.support_x, e.support_y, eps)
#     query_adv = meta.fgsm_against(model, params, e.query_x, e.query_y, eps)
#     theta_clean = meta.adapt(model, params, e.support_x, e.support_y, inner_lr)
#     theta_adv = meta.adapt(model, params, support_adv, e.support_y, inner_lr)
#     call = torch.func.functional_call
#     return (F.cross_entropy(call(model, theta_clean, (query_adv,)), e.query_y)
#             + F.cross_entropy(call(model, theta_adv, (e.query_x,)), e.query_y))
# ```
#
# </details>

# %% [markdown]
# ### 3 · Which query set scores which adaptation? (predict)
#
# Fill in `{"theta_clean": ..., "theta_adv": ...}` with `"clean"` or `"adversarial"`: the query set
# each adapted model is scored on in ADML's meta-loss.

# %%
my_pairs = None  # your answer: a dict {"theta_clean": "clean" or "adversarial", "theta_adv": ...}

if reference_answers:
    my_pairs = exercises.solution("07.crossed")
result = exercises.check("07.crossed", my_pairs)
assert result.passed or not reference_answers, result.message

# %% [markdown]
# <details><summary>Answer</summary>
#
# `{"theta_clean": "adversarial", "theta_adv": "clean"}`: crossed, so each adaptation must carry over to the kind of data it did not adapt on.
#
# </details>

# %% [markdown]
# ## Headline numbers
#
# What `make report` lists for this notebook on its index page; each was computed above.

# %%
reports.headline({f"{names[method]}, {attack} query accuracy": results[method][attack]
                  for method in models for attack in ["clean", "worst case"]})

# %% [markdown]
# ## Going further
#
# 1. Set `inner_steps = 3` for both training and evaluation. Does the gap between ADML and
#    MAML under attack grow or shrink?
# 2. ADML crafts its training attacks against $\theta$, the evaluation attacks the adapted
#    $\theta'$. Change `meta.adml_task_loss` to attack $\theta'_{\text{clean}}$ for the query
#    set (the adversarial query then depends on θ: detach it). Does robustness improve?
# 3. Replace the crossing by the "obvious" sum $\mathcal L(\theta'_{\text{clean}}; \text{clean}) +
#    \mathcal L(\theta'_{\text{adv}}; \text{adv})$. Which accuracy suffers? This, not the
#    comparison with AQ, isolates the crossing: the attack (FGSM against $\theta$) stays ADML's.
# 4. Train with `first_order=True` (pass it to `meta.meta_step`). How much faster is it, and
#    what happens to the numbers of section 5?
# 5. Section 5 gave MAML ADML's FLOPs. Give AQ ADML's FLOPs too (more `aq_steps`, or more
#    meta-iterations: `work` holds the counts). Does AQ keep its worst case, and its clean accuracy?
# 6. Poison the support set properly. Section 6's attacker maximises the support loss at $\theta$;
#    a poisoner who knows the learner would maximise the *query* loss after adaptation on the
#    poisoned support: differentiate `meta.functional_loss(model, meta.adapt(model, θ, x_s + δ, y_s, ...), x_q, y_q)`
#    with respect to δ and take a few signed steps inside the eps ball. Which model suffers most now?
# 7. Mix without crossing: train on MAML's loss plus MAML-AD's (clean adaptation on clean
#    queries, adversarial adaptation on adversarial queries: item 3's "obvious" sum).
#    Does adding clean data cure MAML-AD's label leaking, or does the crossing matter?
#
# Our setting differs from the paper's (MiniImageNet and CIFAR-100 with a 4-layer CNN): the
# numbers here are about MNIST digits and a network of a few thousand parameters.
