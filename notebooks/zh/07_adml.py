# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 07 · 对抗元学习：MAML、ADML，以及其鲁棒性从何而来
#
# **元学习器**（meta-learner）学的不是某一个任务，而是一个起点 $\theta$：从这个起点出发，同一族中的*任何*任务只需少量样本就能学会。MAML（Finn 等，2017）寻找这个起点的办法是让训练*穿过*适应（adaptation）过程：对于一个带有小规模支持集（support set）和查询集（query set）的任务，
#
# $$\theta'_i = \theta - \alpha \nabla_\theta \mathcal L^{\text{support}}_i(\theta), \qquad
#   \theta \leftarrow \theta - \beta \nabla_\theta \sum_i \mathcal L^{\text{query}}_i(\theta'_i).$$
#
# 外层梯度（gradient）要经过 $\theta'_i$，因此其中含有 Hessian 项
# $(I - \alpha \nabla^2_\theta \mathcal L^{\text{support}}_i)$：这就是*二阶* MAML。一阶 MAML 则把这一项丢掉。
#
# **ADML**（Yin 等，2018；种子文章 `003`：本套件起源的五篇中文博客之一，即 README 中 seed 一栏的编号，不是随机种子）要求起点既能很好地适应，*又*保持鲁棒（robust）。对每个任务，它针对当前的 $\theta$ 为支持集和查询集各构造一份快速梯度符号法（FGSM）对抗样本（adversarial example）副本，做两次适应，再把两组**交叉**配对：
#
# $$\theta'_{\text{clean}} = \theta - \alpha\nabla_\theta \mathcal L(\theta; D^{\text{train}}_{\text{clean}}), \quad
#   \theta'_{\text{adv}} = \theta - \alpha\nabla_\theta \mathcal L(\theta; D^{\text{train}}_{\text{adv}}),$$
# $$\theta \leftarrow \theta - \beta \nabla_\theta \sum_i \Big[\mathcal L(\theta'_{\text{clean},i}; D^{\text{test}}_{\text{adv},i})
#   + \mathcal L(\theta'_{\text{adv},i}; D^{\text{test}}_{\text{clean},i})\Big].$$
#
# （Yin 等的 Algorithm 1 把这两项作为先后两次更新，各有自己的步长 $\beta_1$ 和 $\beta_2$；我们把它们加起来做一次外层更新，这里由 Adam 执行。对于普通梯度步且 $\beta_1 = \beta_2$ 时，两者在 $\beta$ 的一阶上一致。）
#
# 在干净数据上适应得到的模型必须抵御对抗查询，在对抗数据上适应得到的模型仍须答对干净查询。这里的任务是 **MNIST 上的 2-way 5-shot episode**：在数字 0–5 上元训练，在没见过的数字 6–9 上元测试。
#
# **起作用的是交叉吗？** 如果 ADML 最终比 MAML 更鲁棒，这是因为交叉，还是仅仅因为它在元训练中用到了对抗样本？有两个基线方法同样看到对抗数据，却不做任何交叉。但二者都无法单独分离出交叉的作用：MAML-AD 还去掉了干净数据，AQ 还换了攻击（针对 $\theta'$ 的 PGD，而不是针对 $\theta$ 的 FGSM）；只改变交叉、其余不变的消融实验见延伸思考第 3 题。
#
# * **MAML-AD**：用对抗样本元训练的 MAML（这个名字出自 ADML 论文，指其中的基线）。我们的实现是：取支持集*和*查询集的 FGSM 副本（与 ADML 一样针对 $\theta$ 构造），只做一次适应，没有干净项：
#   $\mathcal L(\theta'_{\text{adv}}; D^{\text{test}}_{\text{adv}})$。
# * **对抗查询**（adversarial querying, AQ；Goldblum, Fowl & Goldstein, NeurIPS 2020）：先在*干净*支持集上适应，再用投影梯度下降（PGD）针对**适应后**的参数攻击查询集，并在这一最坏情况上做元训练，
#   $\min_\theta \mathbb E\big[\max_{\|\delta\|_\infty \le \epsilon}
#   \mathcal L(\theta'(\theta); x^{\text{query}} + \delta)\big]$；梯度会流经干净适应
#   $\theta'(\theta)$，而攻击本身只被当作数据。
#
# ADML 本身的动机场景是另一种威胁：**支持集**本身是对抗性的——攻击者对任务赖以学习的那几个样本投毒（poisoning）。第 6 节在这一场景下测量全部四种元学习器。

# %% tags=["parameters"]
quick = None  # None：跟随环境变量 ADVLAB_QUICK（由 `make test` 设置）；False：完整运行
solutions = None  # 评分练习：None 表示无人值守时（nbval、报告）填入参考答案；False 表示保留空白
seed = 0
n_way = 2
k_shot = 5
n_query = 10  # 每个类别的查询图像数
meta_iterations = None  # None：每种方法 1500（完整模式）或 600（快速模式）
meta_batch = 4  # 每个外层步骤的 episode 数
inner_lr = 0.4
inner_steps = 1
outer_lr = 1e-3
eps = 0.15  # ADML 与 MAML-AD 训练用的 FGSM eps、AQ 的 PGD eps，以及评估用的 eps
aq_steps = 3  # 对抗查询训练攻击的 PGD 步数（随机起点，步长 2.5 eps / steps）
n_test_episodes = None  # None：200（完整模式）或 50（快速模式）
n_baseline_episodes = None  # 基线（以及第 6 节）用来打分的前若干个测试 episode；None：n_test_episodes 的一半
sine_iterations = None  # None：600（完整模式）或 300（快速模式）
n_pool = None  # 抽取 episode 所用的训练图像数；None：4,000（另加 1,000 张测试图像）；"all"：整个数据划分
source = "auto"
retrain = False  # True：重新训练并评估一切，而不是加载已存储的运行

# %%
import math
import time

import matplotlib.pyplot as plt
import numpy as np
import torch
from ipywidgets import FloatSlider
from torch import nn

from advlab import attacks, config, data, evaluate, flops, meta, plots, reports, runs, stats
from advlab.liveplot import History, LivePlot
from advlab.models import SmallCNN, count_parameters
from advlab.progress import progress_bar
from advlab.widgets import Explorer

quick = config.quick_mode(quick)
runs.set_retrain(retrain)
meta_iterations = meta_iterations or (600 if quick else 1500)
n_test_episodes = n_test_episodes or (50 if quick else 200)
n_baseline_episodes = min(n_baseline_episodes or n_test_episodes // 2, n_test_episodes)
sine_iterations = sine_iterations or (300 if quick else 600)
n_pool = data.sample_size(n_pool, quick, full=data.TRAIN_PAIRS, small=data.TRAIN_PAIRS)
config.seed_everything(seed)
device = config.get_device()
if device.type == "cpu":
    torch.set_num_threads(1)  # episode 很小：在 CPU 上，线程间交接的开销大于它省下的时间
print(f"quick mode: {quick}, meta-iterations: {meta_iterations}, device: {device}")

# %% [markdown]
# ## 1 · 一图看懂 MAML 与 ADML
#
# 左：MAML。每个任务从 $\theta$ 出发，在自己的支持集上走一步梯度（细箭头），并在 $\theta'_i$ 处用自己的查询集打分；元梯度把 $\theta$ 移到这样一个点：从这里出发的所有这些步都能落到好的位置。右：ADML。每个任务产生*两个*适应后的点，各自在*另一种*查询集上打分：这就是交叉。

# %%
def draw_maml_and_adml():
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.6))
    theta = np.array([0.0, 0.0])
    for ax in (left, right):
        ax.set(xlim=(-1.7, 2.4), ylim=(-1.7, 1.7), xticks=[], yticks=[])
        ax.plot(*theta, "ko", ms=8)
        ax.annotate(r"$\theta$", theta, (-0.25, -0.25), fontsize=13)
    for k, (angle, color) in enumerate([(0.4, "tab:blue"), (2.2, "tab:orange"), (4.2, "tab:green")]):
        target = 1.1 * np.array([np.cos(angle), np.sin(angle)])
        left.annotate("", target, theta, arrowprops=dict(arrowstyle="->", color=color, lw=1.5))
        left.annotate(rf"$\theta'_{k + 1}$", target, target * 1.12, color=color, fontsize=12)
        left.plot(*(target * 1.35), "*", color=color, ms=12)
    left.annotate("", (-0.35, 0.25), (0.45, -0.45), arrowprops=dict(arrowstyle="->", ls="--", color="k"))
    left.text(0.5, -0.75, r"$-\beta\nabla_\theta\sum_i \mathcal{L}^{query}_i(\theta'_i)$", fontsize=10)
    left.text(-1.6, -1.6, "★ = the best parameters of task i", fontsize=9)
    left.set_title("MAML: adapt per task, score on its query set")
    clean, adv = np.array([1.0, 0.6]), np.array([1.0, -0.6])
    for point, name, color in [(clean, "clean", "tab:purple"), (adv, "adv", "tab:pink")]:
        right.annotate("", point, theta, arrowprops=dict(arrowstyle="->", color=color, lw=1.5))
        right.annotate(rf"$\theta'_{{{name}}}$", point, point + np.array([-0.3, 0.18 * np.sign(point[1])]),
                       color=color, fontsize=12)
    boxes = {"adversarial query": np.array([1.95, -0.6]), "clean query": np.array([1.95, 0.6])}
    for name, at in boxes.items():
        right.text(*at, name, ha="center", va="center", fontsize=9, bbox=dict(boxstyle="round", fc="0.92"))
    right.annotate("", boxes["adversarial query"] + [-0.5, 0.1], clean, arrowprops=dict(arrowstyle="->", color="tab:purple", ls="--"))
    right.annotate("", boxes["clean query"] + [-0.5, -0.1], adv, arrowprops=dict(arrowstyle="->", color="tab:pink", ls="--"))
    right.set_title("ADML: the two adaptations score on crossed query sets")
    fig.tight_layout()
    return fig


draw_maml_and_adml()
plt.show()

# %% [markdown]
# ## 2 · 从 MNIST 构造小样本 episode
#
# `meta.EpisodeSampler` 从图像池中抽取 $N$ 个数字类别，再为每个类别抽取 $K$ 张支持图像和 `n_query` 张查询图像，并把类别重新命名为 $0..N-1$（任务永远不知道自己涉及的是哪几个数字）。元训练从 MNIST *训练*集中数字 0–5 的图像里抽取；元测试从其*测试*集中数字 6–9 的图像里抽取：类别是新的，图像也是新的。

# %%
train_images, train_labels = data.mnist10("train", n=n_pool, seed=seed, source=source)
test_images, test_labels = data.mnist10("test", n=n_pool and n_pool // 4, seed=seed, source=source)
print(f"episode pools: {len(train_labels):,} training and {len(test_labels):,} test images "
      f"from {data.describe_source(source)}")
train_classes, test_classes = tuple(range(6)), tuple(range(6, 10))
train_tasks = meta.EpisodeSampler(train_images, train_labels, train_classes, n_way, k_shot, n_query, seed=seed)
test_tasks = meta.EpisodeSampler(test_images, test_labels, test_classes, n_way, k_shot, n_query, seed=seed + 1)
test_episodes = [episode.to(device) for episode in test_tasks.batch(n_test_episodes)]

example = train_tasks.sample()
fig, (ax_s, ax_q) = plt.subplots(2, 1, figsize=(9, 2.6))
plots.image_strip(ax_s, example.support_x, [f"{y}" for y in example.support_y.tolist()], ylabel="support")
plots.image_strip(ax_q, example.query_x[::2], [f"{y}" for y in example.query_y[::2].tolist()], ylabel="query")
fig.suptitle(f"one {n_way}-way {k_shot}-shot episode: digits {example.classes} renamed 0..{n_way - 1}")
plt.show()
# 这是演示，不是检查：每个采样器只从自己的类别列表中抽取，所以下面这些按构造成立
test_digits = sorted({c for e in test_episodes for c in e.classes})
print(f"demonstration (true by construction): support set {tuple(example.support_x.shape)}, "
      f"meta-training digits {example.classes} from {train_classes}, meta-test digits {test_digits}, "
      f"shared with meta-training: {sorted(set(test_digits) & set(train_classes))}")

# %% [markdown]
# ## 3 · 从零实现 MAML，再对照 advlab 的版本
#
# 借助 `torch.func.functional_call`，一次内层步骤只需三行：参数是一个字典，适应后的参数是*由*这些参数构造出的新张量，因此从不复制模型，外层梯度也能穿过这一步（`create_graph=True`）。网络是一个小型 CNN（`meta.few_shot_cnn`，两个 3x3、步幅为 2 的卷积）：在 CPU 上，让二阶元梯度穿过本套件的 SmallCNN（两个 5x5 卷积）代价更高；本单元格末尾会打印两者在你机器上的耗时及其比值（不做 assert：耗时取决于硬件）。

# %%
from torch.func import functional_call
import torch.nn.functional as F

model = meta.few_shot_cnn(n_way).to(device)
episode = example.to(device)
theta = dict(model.named_parameters())
support_loss = F.cross_entropy(functional_call(model, theta, (episode.support_x,)), episode.support_y)
grads = torch.autograd.grad(support_loss, list(theta.values()), create_graph=True)
theta_prime = {name: p - inner_lr * g for (name, p), g in zip(theta.items(), grads)}
query_loss = F.cross_entropy(functional_call(model, theta_prime, (episode.query_x,)), episode.query_y)
our_meta_gradient = torch.autograd.grad(query_loss, list(theta.values()))

advlab_meta_gradient = meta.meta_gradient(model, episode, "maml", inner_lr=inner_lr, inner_steps=1)
first_order_gradient = meta.meta_gradient(model, episode, "maml", inner_lr=inner_lr, inner_steps=1, first_order=True)
for ours, name in zip(our_meta_gradient, advlab_meta_gradient):
    torch.testing.assert_close(ours, advlab_meta_gradient[name])
def flat(gradients):
    return torch.cat([g.flatten() for g in gradients.values()])


gap = ((flat(advlab_meta_gradient) - flat(first_order_gradient)).norm() / flat(advlab_meta_gradient).norm()).item()
print(f"from-scratch and advlab meta-gradients agree; the first-order one differs by {gap:.1%} (relative L2 distance)")
# 一个较低的下限，远低于上面打印的差距：低于它，二阶项就无关紧要了
assert gap > 0.05, "the second-order term must matter"


def seconds_per_meta_gradient(net, repeats=3):
    started = time.perf_counter()
    for _ in range(repeats):
        meta.meta_gradient(net, episode, "maml", inner_lr=inner_lr)
    return (time.perf_counter() - started) / repeats


few_shot_seconds = seconds_per_meta_gradient(model)
small_cnn_seconds = seconds_per_meta_gradient(SmallCNN(num_classes=n_way).to(device))
print(f"few_shot_cnn: {count_parameters(model):,} parameters, {1000 * few_shot_seconds:.0f} ms per meta-gradient; "
      f"SmallCNN: {count_parameters(SmallCNN(n_way)):,} parameters, {1000 * small_cnn_seconds:.0f} ms "
      f"({small_cnn_seconds / few_shot_seconds:.1f}x)")

# %% [markdown]
# ## 4 · 实时观看 MAML、ADML 与两个基线的元训练
#
# 四种方法都从同一个随机 $\theta$ 出发，在相同次数的元迭代中看到相同的 episode。图中显示元损失（meta-loss；ADML 的元损失是两项之和：我们将其减半，使曲线可比），以及适应后的模型在各方法自己训练所用的那种查询集上的查询准确率（ADML：其两个交叉查询集上的平均；MAML-AD：FGSM 查询；AQ：PGD 查询），按每 25 次元迭代一块取平均。ADML 和 MAML-AD 用 $\epsilon = $ `eps` 针对当前的 $\theta$ 构造 FGSM 样本；AQ 从随机起点出发，针对适应后的 $\theta'$ 运行 `aq_steps` 步 PGD（全部 detach：它们只是数据）。
#
# 每次元训练都经过运行缓存（run cache，`runs.cached`）：`meta_train` 训练传给它的模型，并返回纯数据——最终权重和逐次迭代的曲线。因此第二次 Run All 会直接加载这四次运行（每次打印一行），重画相同的曲线并打印相同的数字，包括当初运行时测得的训练秒数。图会随着方法一个接一个地补全。

# %%
def meta_train(model, method, iterations=meta_iterations):
    """Meta-train `model` in place with `method` for `iterations` meta-iterations; its final weights, per-iteration curves and seconds, as plain data."""
    optimizer = torch.optim.Adam(model.parameters(), lr=outer_lr)
    sampler = meta.EpisodeSampler(train_images, train_labels, train_classes, n_way, k_shot, n_query, seed=seed)
    aq_generator = torch.Generator(device).manual_seed(seed)  # AQ 的随机起点
    losses, accuracies, started = [], [], time.perf_counter()
    bar = progress_bar(iterations, f"meta-training {method}")
    for iteration in range(1, iterations + 1):
        episodes = [e.to(device) for e in sampler.batch(meta_batch)]
        loss, acc = meta.meta_step(model, optimizer, episodes, method, inner_lr, inner_steps, eps=eps,
                                   attack_steps=aq_steps, generator=aq_generator)
        losses.append(loss / (2 if method == "adml" else 1))
        accuracies.append(acc)
        bar.update(1)
    bar.close()
    return {"state": {name: value.detach().cpu().clone() for name, value in model.state_dict().items()},
            "losses": losses, "accuracies": accuracies, "seconds": time.perf_counter() - started}


history = History()
live = LivePlot(title=f"meta-training on digits 0-5 ({n_way}-way {k_shot}-shot)", xlabel="meta-iteration")
block = 25
names = {"maml": "MAML", "adml": "ADML", "maml_ad": "MAML-AD", "adv_query": "AQ"}
models, train_seconds = {}, {}
for method in names:
    torch.manual_seed(seed)
    models[method] = meta.few_shot_cnn(n_way).to(device)
    run = runs.cached(f"{names[method]} meta-training", meta_train, models[method], method)
    models[method].load_state_dict(run["state"])
    losses, accuracies = run["losses"], run["accuracies"]
    for iteration in range(block, meta_iterations + 1, block):  # 每 25 次元迭代一块，取平均
        history.log(f"{names[method]} meta loss", iteration, np.mean(losses[iteration - block : iteration]))
        history.log(f"{names[method]} query acc", iteration, np.mean(accuracies[iteration - block : iteration]))
    live.update(history)
    train_seconds[method] = run["seconds"]
live.update(history, final=True)
print("training time: " + ", ".join(f"{names[m]} {s:.1f} s ({s / train_seconds['maml']:.1f}x MAML)"
                                    for m, s in train_seconds.items()))
print(f"query accuracy on its own training queries, last {block} meta-iterations: "
      + ", ".join(f"{names[m]} {history.last(f'{names[m]} query acc'):.1%}" for m in models))

# %% [markdown]
# ## 5 · 在没见过的数字 6–9 上：干净查询与对抗查询
#
# 对每个留出的 episode，每个元学习得到的起点都先在干净支持集上适应（`inner_steps` 步），再回答查询集：干净查询、FGSM 攻击下、PGD-10 攻击下（每张图像两个随机起点，保留更差的结果：从 $x$ 本身出发的攻击可能被梯度掩蔽（gradient masking）骗过），以及笔记本（notebook）08 中 AutoAttack 风格集成（ensemble）的最坏情况（worst case）下，扰动（perturbation）预算均为 $\epsilon$ = `eps`。该集成以缩减后的预算运行（见下方打印）：PGD-10 带 2 个随机起点，APGD-CE 和 APGD-margin 的步数少于 AutoAttack 的 100 步，Square 的查询次数远少于 AutoAttack 的 5,000 次。因此它的最坏情况是鲁棒准确率的一个上界，更大的预算可能把它压得更低。攻击者对回答查询的那个**适应后**模型拥有白盒（white-box）权限（这比 ADML 和 MAML-AD 训练时所用的、针对 $\theta$ 的攻击更强；它正是 AQ 训练时所对抗的攻击，只是步数更多）。PGD-10 是该集成中的第一个攻击，会在每个被正确回答的查询上运行，因此它这一列与最坏情况来自同一次运行。
#
# **各模型的评测范围。** MAML 和 ADML 在全部 `n_test_episodes` 个留出 episode 上打分（下面的自检用的就是这些）；为了把本笔记本的运行时间控制在合理范围内，两个基线只在其中前 `n_baseline_episodes` 个上打分，而凡是与基线的比较，四个模型都使用这同一批 episode（第一张表）。

# %%
def fgsm_attack(f, x, y, eps=eps):
    return attacks.fgsm(f, x, y, eps)


# 笔记本 08 的 AutoAttack 风格最坏情况（缩减预算），针对每个适应后的模型：只有当带重启的 PGD、
# APGD-CE、APGD-margin 和无需梯度的 Square 攻击在某个查询上全部失败时，该查询才算数
apgd_steps, square_queries = (20, 100) if quick else (50, 250)
ensemble = evaluate.default_ensemble("inf", pgd_steps=10, pgd_restarts=2, apgd_steps=apgd_steps,
                                     square_queries=square_queries)
pgd_column = next(iter(ensemble))  # "PGD-10 x2"：alpha = 2.5 eps / 10，随机起点，2 次重启
print(f"the ensemble at reduced budgets: {pgd_column}, APGD-CE and APGD-margin with {apgd_steps} steps, "
      f"Square with {square_queries} queries")
columns = ["clean", "FGSM", "PGD-10", "worst case"]


def query_accuracies(m, episodes):
    """Per episode: adapt on the clean support, then query accuracy clean, under FGSM, PGD-10 and in the worst case (lists)."""
    rows = {"FGSM": meta.adapted_accuracies(m, episodes, inner_lr, inner_steps, fgsm_attack),
            "clean": [], "PGD-10": [], "worst case": []}
    for k, episode in enumerate(episodes):
        adapted = meta.Functional(m, meta.adapted_parameters(m, episode, inner_lr, inner_steps))
        worst = evaluate.worst_case_accuracy(adapted, episode.query_x, episode.query_y, eps, attacks=ensemble,
                                             seed=seed + k, progress=False)
        rows["clean"].append(worst.clean_accuracy)
        rows["PGD-10"].append(worst.per_attack[pgd_column])  # 回答正确且 PGD 失败（级联的第一列）
        rows["worst case"].append(worst.accuracy)
    return {column: [float(value) for value in rows[column]] for column in columns}


baselines = ["maml_ad", "adv_query"]
per_episode = {}  # 方法 -> 列 -> 每个 episode 的准确率
for method, m in models.items():
    scored = test_episodes[:n_baseline_episodes] if method in baselines else test_episodes
    rows = runs.cached(f"{names[method]} on {len(scored)} held-out episodes", query_accuracies, m, scored)
    per_episode[method] = {column: np.array(values) for column, values in rows.items()}
results = {method: {column: float(values.mean()) for column, values in rows.items()} for method, rows in per_episode.items()}
shared = {method: {column: float(values[:n_baseline_episodes].mean()) for column, values in rows.items()}
          for method, rows in per_episode.items()}  # 四个模型都用相同的前 n_baseline_episodes 个 episode


def print_table(table, title):
    print(title)
    print(" " * 9 + "".join(f"{column:>12s}" for column in columns))
    for method, r in table.items():
        print(f"  {names[method]:7s}" + "".join(f"{r[column]:12.1%}" for column in columns))


print_table(shared, f"query accuracy on digits 6-9, all four on the same {n_baseline_episodes} episodes (eps = {eps}):")
print_table({m: results[m] for m in ["maml", "adml"]}, f"MAML and ADML on all {n_test_episodes} episodes:")

# %% [markdown]
# **自检。** ADML 的起点在适应后更鲁棒：在训练用的 $\epsilon$ 下，它的 FGSM 查询准确率比 MAML 高出至少 10 个百分点，PGD 和最坏情况准确率也是如此；而鲁棒性（robustness）在干净准确率（clean accuracy）上的代价至多 5 个百分点（打印的区间说明本次运行的代价能否与零区分开）。这些下限是在笔记本的 `seed` 下、**每种方法只做一次元训练运行**来检查的，而不是跨多个训练随机种子：每个差距旁打印的 ± 是基于测试 episode 的 95 % 区间（`stats.paired_comparison`），它涵盖的是抽到哪些 episode，而不是用哪个随机种子训练。差距有多大取决于训练随机种子和 $\epsilon$（第 7 节画出了本次运行随 $\epsilon$ 变化的曲线）；要对 ADML 做一般性的断言，需要每种方法做多次元训练运行，本笔记本没有运行这些。
#
# **目前还不是算力对等的比较。** 四种方法在相同的 episode 上运行了相同次数的元迭代，但工作量并不相同（ADML 在每个任务上适应两次，并构造两批 FGSM 样本）。因此 ADML 的领先既可能来自方法本身，也同样可能来自额外的计算；下面归因分析之后的算力对等比较会给 MAML 与 ADML 相同的工作量，并检验这一点。

# %%
fgsm_gain = results["adml"]["FGSM"] - results["maml"]["FGSM"]
pgd_gain = results["adml"]["PGD-10"] - results["maml"]["PGD-10"]
worst_gain = results["adml"]["worst case"] - results["maml"]["worst case"]
clean_gap = results["adml"]["clean"] - results["maml"]["clean"]
for column in ["FGSM", "PGD-10", "worst case", "clean"]:
    difference = stats.paired_comparison(per_episode["adml"][column], per_episode["maml"][column])
    print(f"ADML - MAML {column}: {difference.mean:+.1%} ± {difference.half_width:.1%} "
          f"(95 % interval over {difference.n} test episodes, one meta-training run per method, seed {seed})")
# 下面的下限是在本次运行中每种方法的一次元训练运行上检查的（差距已在上面打印）
assert fgsm_gain >= 0.10, f"ADML should beat MAML under FGSM by 10 points, got {fgsm_gain:+.1%}"
assert pgd_gain >= 0.10, f"ADML should beat MAML under PGD by 10 points, got {pgd_gain:+.1%}"
assert worst_gain >= 0.10, f"ADML should beat MAML in the worst case by 10 points, got {worst_gain:+.1%}"
assert clean_gap >= -0.05, f"ADML's clean accuracy should stay within 5 points of MAML's, got {clean_gap:+.1%}"

# %% [markdown]
# **归因：ADML 对比两个基线。** 对两个看到对抗数据、却没有 ADML 式交叉的方法做同样的比较。四个模型回答的是*同一批* episode，所以本单元格逐个 episode 地比较它们：给出逐 episode 差值的均值及其 95 % 区间（$\pm t_{n-1,\,0.975}$ 个标准误，基于 $n$ 个 episode，Student t 分布：`advlab.stats.paired_comparison`）；区间包含 0，说明这些 episode 无法区分两者。它还在 **MAML-AD 自己的训练设定**中为每个模型打分：支持集*和*查询集都换成针对 $\theta$ 构造的 FGSM 副本；然后再用 $\theta$ 的*预测*标签代替真实标签来构造这些副本，再打一次分，这是 Kurakin 等针对标签泄漏（label leaking）的对照（不用标签构造的扰动无法携带标签）。与 Kurakin 等训练好的分类器不同，$\theta$ 尚未适应这个 episode，而 episode 的标签是把其数字重命名为 $0..N-1$ 的结果，所以它预测的标签未必比随机猜测准多少（准确的频率会打印出来）：这里的对照是一个不用标签构造的扰动，而不是一个由大体正确的猜测构造的扰动。打印出的结论句是根据本次运行的数字写出的。
#
# **自检**（下面的断言在本次运行中检查它）：ADML 比 MAML-AD 高出至少 20 个百分点（干净准确率或最坏情况准确率，二者取其一）；MAML-AD 并不比常数预测更鲁棒，而且它在自己的训练设定中的得分高于在干净数据上的得分，当 FGSM 副本改用预测标签构造时，这一得分至少下降 20 个百分点（它读取的正是扰动中的标签）；AQ 在最坏情况下至少和 ADML 一样鲁棒（打印的结论句与断言用同一个判据）。这一比较并不能说明交叉的作用：AQ 与 ADML 的不同既在于缺少的那一半，也在于攻击方式。AQ 能否保持 ADML 的干净准确率只打印、不检查：这一点随数据来源而变。当 AQ 的干净准确率跌到接近常数预测的水平时，它的最坏情况也就是常数预测的水平：这种鲁棒性是靠放弃任务换来的，届时打印的结论句会指出这一点。

# %%
def paired_difference(a, b, column):
    """accuracy(a) - accuracy(b) in `column`, paired over the shared episodes (mean, 95 % half-width, verdict)."""
    return stats.paired_comparison(per_episode[a][column][:n_baseline_episodes],
                                   per_episode[b][column][:n_baseline_episodes])


def verdict(a, b, column):
    difference = paired_difference(a, b, column)
    judged = difference.verdict_as(f"{names[a]} ahead", f"{names[b]} ahead", "no difference these episodes can resolve")
    return f"{names[a]} - {names[b]} {column}: {difference.mean:+.1%} ± {difference.half_width:.1%} ({judged})"


def fgsm_everywhere(m, episodes, predicted=False):
    """MAML-AD's training game on test episodes: support and query both FGSM copies crafted against θ.
    predicted=True crafts the copies from θ's predicted labels instead of the true ones (Kurakin et al.'s control)."""
    crafted = episodes
    if predicted:
        with torch.no_grad():
            crafted = [meta.Episode(e.support_x, m(e.support_x).argmax(1), e.query_x, m(e.query_x).argmax(1))
                       for e in episodes]
    copies = meta.fgsm_copies(m, meta.parameters_of(m), crafted, eps)
    return [meta.Episode(support, e.support_y, query, e.query_y) for (support, query), e in zip(copies, episodes)]


def own_game_accuracies(models, episodes, predicted=False):
    return {method: float(np.mean(meta.adapted_accuracies(m, fgsm_everywhere(m, episodes, predicted), inner_lr,
                                                           inner_steps)))
            for method, m in models.items()}


shared_episodes = test_episodes[:n_baseline_episodes]
own_game = runs.cached("MAML-AD's training game", own_game_accuracies, models, shared_episodes)
own_game_predicted = runs.cached("MAML-AD's training game, FGSM from predicted labels", own_game_accuracies, models,
                                 shared_episodes, True)
for baseline in baselines:
    for column in ["clean", "PGD-10", "worst case"]:
        print(verdict("adml", baseline, column))
print("support and query both FGSM against θ (MAML-AD's training game), crafted from the true labels: "
      + ", ".join(f"{names[m]} {own_game[m]:.1%}" for m in models))
print("the same game, FGSM crafted from θ's predicted labels (the control for label leaking): "
      + ", ".join(f"{names[m]} {own_game_predicted[m]:.1%}" for m in models))
with torch.no_grad():  # θ before adapting: how often its predicted labels are the episode's true ones
    theta_agreement = {method: np.mean([(m(torch.cat([e.support_x, e.query_x])).argmax(1)
                                         == torch.cat([e.support_y, e.query_y])).float().mean().item()
                                        for e in shared_episodes])
                       for method, m in models.items()}
print("θ's predicted labels (no adaptation) agree with the true ones on: "
      + ", ".join(f"{names[m]} {theta_agreement[m]:.1%}" for m in models) + f" (chance {1 / n_way:.0%})")

chance = 1 / n_way  # 常数预测在类别均衡的查询上的得分，无论是否受到攻击
ad, aq, adml = shared["maml_ad"], shared["adv_query"], shared["adml"]
leak = own_game["maml_ad"] - ad["clean"]
leak_control = own_game["maml_ad"] - own_game_predicted["maml_ad"]  # what the true label in the perturbation adds
print(f"\nMAML-AD (adversarial data, no crossing): clean {ad['clean']:.1%}, worst case {ad['worst case']:.1%}, "
      + (f"no better than the {chance:.0%} of a constant answer" if ad["worst case"] <= chance + 0.05
         else f"above the {chance:.0%} of a constant answer")
      + f"; in its own training game {own_game['maml_ad']:.1%}, {leak:+.1%} against its clean accuracy, and "
      + f"{own_game_predicted['maml_ad']:.1%} ({-leak_control:+.1%}) when the FGSM copies are crafted from θ's "
      + "predicted labels instead of the true ones. "
      + ("FGSM crafted with the true label moves each image along a direction that depends on that label, so "
         "adversarial support and query together carry the answer (label leaking, Kurakin et al. 2017): "
         "MAML-AD learned to read the perturbation, not to resist it; without the label in the perturbation "
         "its score falls." if leak >= 0.05 and leak_control >= 0.10 else
         "The predicted-label control does not show label leaking in this run."))
aq_versus_adml = paired_difference("adv_query", "adml", "worst case")
aq_gain, aq_half = aq_versus_adml.mean, aq_versus_adml.half_width
aq_at_least_adml = aq_gain >= 0.0  # 下面的结论句与本单元格末尾的断言共用这一个判据
print(f"AQ (clean adaptation, PGD query against the adapted model, no crossing): worst case {aq['worst case']:.1%} "
      f"against ADML's {adml['worst case']:.1%} ({aq_gain:+.1%} ± {aq_half:.1%}), clean {aq['clean']:.1%} against "
      f"{adml['clean']:.1%}. "
      + ("AQ's mean worst case is at least ADML's in this run" if aq_at_least_adml else
         "AQ's mean worst case is below ADML's in this run")
      + ("; its clean accuracy is near the {:.0%} of a constant answer, so its worst case is a constant answer's: "
         "it gave up the task rather than learning to resist.".format(chance) if aq["clean"] <= chance + 0.10 else ".")
      + " AQ differs from ADML in its attack (PGD against θ' rather than FGSM against θ) as well as in the missing "
        "half of the crossing (θ'_adv on clean queries), so this comparison cannot isolate the crossing; the "
        "ablation that would is Going further, item 3.")

# ADML - MAML-AD：取干净与最坏情况两个差距中的较大者（MAML-AD 要么失去鲁棒性，
# 要么退化为常数预测）
adml_over_ad = max(adml["clean"] - ad["clean"], adml["worst case"] - ad["worst case"])
assert adml_over_ad >= 0.20, f"ADML should beat MAML-AD by 20 points clean or in the worst case, got {adml_over_ad:+.1%}"
# MAML-AD 的最坏情况对比常数预测的得分
assert ad["worst case"] <= chance + 0.05, f"MAML-AD should be no more robust than a constant answer, got {ad['worst case']:.1%}"
# 标签泄漏：MAML-AD 在自己训练设定中的得分减去其干净准确率
assert leak >= 0.05, f"MAML-AD should score above its clean accuracy in its own training game, got {leak:+.1%}"
# 对照：MAML-AD 在用真实标签构造 FGSM 时的自身训练设定得分，减去用预测标签构造时的得分
assert leak_control >= 0.20, (f"MAML-AD's own-game score should fall by 20 points without the true label in the "
                              f"FGSM copies, got {leak_control:+.1%}")
# 最坏情况下 AQ 减去 ADML
assert aq_at_least_adml, f"AQ should be at least as robust as ADML in the worst case, got {aq_gain:+.1%}"
# 干净查询上 ADML 减 AQ 只在上面打印、不做 assert：在完整规模的替代数据上，AQ 可能退化为
# 常数预测，一旦发生，上面打印的句子会报告这一点

# %% [markdown]
# **算力对等的比较：给 MAML 与 ADML 相同的工作量。** 在每个任务上，ADML 要适应两次（在干净支持集和对抗支持集上）、构造两批 FGSM 样本并计算两个查询损失；MAML-AD 在 FGSM 数据上适应一次；AQ 适应一次，并针对适应后的模型运行 `aq_steps` 步 PGD。下面的单元用 `flops.count_flops` 统计每种方法每次元迭代的浮点运算量（FLOPs）：所有矩阵乘法和卷积，前向与反向，包括 MAML 的二阶项。与第 4 节打印的秒数不同，这个计数只取决于张量形状，与机器和同时运行的其他程序无关，所以对等的预算在每次运行中都相同。然后从相同的起点、在相同的 episode 流上再元训练一次 MAML，迭代次数取使它得到 ADML 的 FLOPs 所需的次数，并在共享的 episode 上用相同的攻击评估。如果 ADML 的鲁棒性只是来自额外的计算，这个 MAML 就会追平差距。
#
# **自检。** 在最坏情况下，ADML 至少领先算力对等的 MAML 10 个百分点（assert）；额外的元迭代是否改变了 MAML 的干净准确率、ADML 在干净查询上是否仍然领先，都连同区间一起打印，不做 assert。

# %%
def flops_per_meta_iteration(method):
    """FLOPs of one meta_step of `method` on a throwaway model (the shapes decide the count, not the weights)."""
    with torch.random.fork_rng(devices=[]):  # 一次性模型不得改变笔记本的随机数流
        model = meta.few_shot_cnn(n_way).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=outer_lr)
    sampler = meta.EpisodeSampler(train_images, train_labels, train_classes, n_way, k_shot, n_query, seed=seed)
    episodes = [e.to(device) for e in sampler.batch(meta_batch)]
    _, counted = flops.count_flops(meta.meta_step, model, optimizer, episodes, method, inner_lr, inner_steps, eps=eps,
                                   attack_steps=aq_steps, generator=torch.Generator(device).manual_seed(seed))
    return counted


work = {method: flops_per_meta_iteration(method) for method in models}
matched_iterations = math.ceil(meta_iterations * work["adml"] / work["maml"])
print("work per meta-iteration (matrix products and convolutions, forward and backward): "
      + ", ".join(f"{names[m]} {w / 1e6:.0f} MFLOP ({w / work['maml']:.2f}x MAML)" for m, w in work.items()))
print(f"seconds measured in section 4 on this machine: ADML {train_seconds['adml'] / train_seconds['maml']:.2f}x MAML")
print(f"compute-matched MAML: {matched_iterations} meta-iterations instead of {meta_iterations}")

torch.manual_seed(seed)
maml_matched = meta.few_shot_cnn(n_way).to(device)  # 与上面四个模型相同的起点 θ
run = runs.cached(f"MAML meta-training, {matched_iterations} meta-iterations", meta_train, maml_matched, "maml",
                  matched_iterations)
maml_matched.load_state_dict(run["state"])
matched_rows = runs.cached(f"compute-matched MAML on {n_baseline_episodes} held-out episodes", query_accuracies,
                           maml_matched, shared_episodes)
per_episode["maml_matched"] = {column: np.array(values) for column, values in matched_rows.items()}
names["maml_matched"] = "MAML-CM"  # 算力对等（compute-matched）；在此之前 names 只有四次训练的键
matched_table = {m: {c: float(per_episode[m][c][:n_baseline_episodes].mean()) for c in columns}
                 for m in ["maml", "maml_matched", "adml"]}
print_table(matched_table, f"MAML, compute-matched MAML (MAML-CM) and ADML on the same {n_baseline_episodes} episodes:")
for column in columns:
    print(verdict("adml", "maml_matched", column))
print(verdict("maml_matched", "maml", "clean") + "  <- what the extra meta-iterations did for MAML")

fig, ax = plt.subplots(figsize=(7.5, 3.2))
width = 0.27
for k, method in enumerate(matched_table):
    errors = [stats.standard_error(per_episode[method][c][:n_baseline_episodes]) for c in columns]
    ax.bar(np.arange(len(columns)) + (k - 1) * width, [matched_table[method][c] for c in columns], width,
           yerr=errors, capsize=3, label=names[method])
ax.axhline(chance, color="gray", linestyle=":", label="constant answer")
ax.set(xticks=range(len(columns)), xticklabels=columns, ylabel="query accuracy", ylim=(0, 1),
       title=f"digits 6-9, eps = {eps}: MAML with ADML's FLOPs (bars: ± one standard error over episodes)")
ax.legend(loc="upper right", fontsize=8)
plt.show()

# 最坏情况下 ADML 减去算力对等的 MAML
matched_worst_gain = matched_table["adml"]["worst case"] - matched_table["maml_matched"]["worst case"]
assert matched_worst_gain >= 0.10, f"ADML should beat the compute-matched MAML in the worst case by 10 points, got {matched_worst_gain:+.1%}"

# %% [markdown]
# ## 6 · 当支持集本身就是攻击
#
# ADML 的动机场景：任务*赖以学习*的那几个样本是对抗性的。这里，攻击者针对元学习得到的 $\theta$ 扰动每个测试 episode 的支持集（FGSM，以及从随机起点出发的 PGD-10，$\epsilon$ = `eps`，白盒），每个模型都在被投毒的支持集上适应，再回答*干净*查询（`meta.adversarial_support_accuracies`），使用与上文相同的 `n_baseline_episodes` 个 episode。该攻击最大化的是 $\theta$ 处的支持集损失，也就是 ADML 训练时所用的那类对抗支持集；它不是最强的投毒攻击——最强的投毒攻击会瞄准*适应之后*的查询损失（延伸思考第 6 题）。
#
# **自检。** 两种投毒支持集中更糟的那一种，给 MAML 和 ADML 造成的准确率损失都不到查询集上 PGD-10 所造成损失的一半（两种损失及其比值都会打印出来，还会打印投毒支持集造成的损失中有多少个用这些 episode 无法与零区分开）。这个比值比一半低多少，在不同随机种子之间变化很大，所以检查用的是一半，而不是更紧的比例。ADML 在元训练中见过对抗支持集，它是否比 MAML 更能抵御这类支持集，交给打印出来的比较来回答：这一结论在不同随机种子之间有变化。

# %%
def poisoned_support_accuracies(models, episodes, poison_generator):
    """Per model and episode: clean-query accuracy after adapting on an FGSM and on a PGD-10 support (lists).
    PGD's random starts come from `poison_generator`, one generator for all four models in turn."""

    def pgd_poison(f, x, y):
        return attacks.pgd(f, x, y, eps, alpha=eps / 4, steps=10, random_start=True, generator=poison_generator)

    return {method: {"FGSM support": meta.adversarial_support_accuracies(m, episodes, inner_lr, inner_steps, fgsm_attack),
                     "PGD-10 support": meta.adversarial_support_accuracies(m, episodes, inner_lr, inner_steps, pgd_poison)}
            for method, m in models.items()}


support_columns = ["clean support", "FGSM support", "PGD-10 support"]
poisoned = runs.cached("poisoned supports", poisoned_support_accuracies, models, shared_episodes,
                       torch.Generator().manual_seed(seed))
support_per_episode = {
    method: {"clean support": per_episode[method]["clean"][:n_baseline_episodes],
             "FGSM support": np.array(poisoned[method]["FGSM support"]),
             "PGD-10 support": np.array(poisoned[method]["PGD-10 support"])}
    for method in models
}
support_results = {method: {column: float(values.mean()) for column, values in rows.items()}
                   for method, rows in support_per_episode.items()}
print(f"clean-query accuracy on digits 6-9 after adapting on a poisoned support set ({n_baseline_episodes} episodes, eps = {eps}):")
print(" " * 9 + "".join(f"{column:>16s}" for column in support_columns))
for method, r in support_results.items():
    print(f"  {names[method]:7s}" + "".join(f"{r[column]:16.1%}" for column in support_columns))


def poison_loss(method, column):
    """Mean over episodes of (clean-support accuracy - poisoned-support accuracy) and its 95 % half-width."""
    lost = stats.paired_comparison(support_per_episode[method]["clean support"], support_per_episode[method][column])
    return lost.mean, lost.half_width


print("\naccuracy lost to a poisoned support (± 95 % half-width over the episodes), and to attacked queries (section 5):")
for method in models:
    lost = [poison_loss(method, column) for column in support_columns[1:]]
    print(f"  {names[method]:7s} FGSM support {lost[0][0]:+6.1%} ± {lost[0][1]:.1%}   "
          f"PGD-10 support {lost[1][0]:+6.1%} ± {lost[1][1]:.1%}   "
          f"PGD-10 queries {shared[method]['clean'] - shared[method]['PGD-10']:+6.1%}")
poison_cost = {method: max(poison_loss(method, column)[0] for column in support_columns[1:]) for method in models}
query_cost = {method: shared[method]["clean"] - shared[method]["PGD-10"] for method in models}


def poison_verdict(column):
    """ADML's advantage over MAML on a `column` support: MAML's loss - ADML's, paired over the episodes."""
    rows_maml, rows_adml = support_per_episode["maml"], support_per_episode["adml"]
    advantage = stats.paired_comparison(rows_maml["clean support"] - rows_maml[column],
                                        rows_adml["clean support"] - rows_adml[column])
    judged = advantage.verdict_as("ADML resists it better", "MAML resists it better",
                                  "no difference these episodes can resolve")
    return f"{column}: ADML's advantage over MAML {advantage.mean:+.1%} ± {advantage.half_width:.1%} ({judged})"


unresolved = [(names[method], column) for method in models for column in support_columns[1:]
              if abs(poison_loss(method, column)[0]) <= poison_loss(method, column)[1]]
print(f"\n{len(unresolved)} of the {len(models) * 2} poisoned-support costs above are within their 95 % interval "
      f"of zero: not resolvable from no cost with {n_baseline_episodes} episodes.")
print(f"The worse of the two poisoned supports costs MAML {poison_cost['maml']:+.1%}, ADML {poison_cost['adml']:+.1%} "
      f"and AQ {poison_cost['adv_query']:+.1%}, against {query_cost['maml']:.1%}, {query_cost['adml']:.1%} and "
      f"{query_cost['adv_query']:.1%} for PGD-10 on the queries. "
      + "; ".join(poison_verdict(column) for column in support_columns[1:])
      + ". MAML-AD, meta-trained to adapt on FGSM supports, "
      + (f"gains {-poison_cost['maml_ad']:.1%}" if poison_cost["maml_ad"] < 0 else f"loses {poison_cost['maml_ad']:.1%}")
      + " with the worse of the two.")

# 被投毒的支持集只移动任务适应后的权重，被攻击的查询则移动每一个回答：
# 投毒给 MAML 和 ADML 造成的损失应不到查询集上 PGD-10 所造成损失的一半
for method in ["maml", "adml"]:
    print(f"{names[method]}: poisoned support / attacked query = {poison_cost[method] / query_cost[method]:.2f}")
    assert poison_cost[method] <= 0.5 * query_cost[method], (
        f"a poisoned support should cost {names[method]} less than half of an attacked query: "
        f"{poison_cost[method]:+.1%} against {query_cost[method]:.1%}")


# %% [markdown]
# ## 7 · 探索 $\epsilon$
#
# 四个元学习器在一个 $\epsilon$ 网格上的准确率曲线只计算一次（在少数几个留出 episode 上用 FGSM）；滑块（slider）标出所选的 $\epsilon$，并显示适应后的 MAML 和 ADML 模型在某一个 episode 上看到的 FGSM 查询。

# %%
eps_grid = np.round(np.arange(0, 0.301, 0.025), 3)
curve_episodes = test_episodes[:20]


def fgsm_curves(models, episodes):
    """Per model: the mean FGSM query accuracy after adaptation at every eps of eps_grid."""
    return {method: [float(np.mean(meta.adapted_accuracies(m, episodes, inner_lr, inner_steps,
                                                            (lambda f, x, y, e=e: attacks.fgsm(f, x, y, e)) if e else None)))
                     for e in eps_grid]
            for method, m in models.items()}


curves = runs.cached("FGSM curves", fgsm_curves, models, curve_episodes)
shown = {}
for method in ("maml", "adml"):
    m = models[method]
    adapted = meta.adapted_parameters(m, curve_episodes[0], inner_lr, inner_steps)
    f = meta.Functional(m, adapted)
    shown[method] = [attacks.fgsm(f, curve_episodes[0].query_x[::2], curve_episodes[0].query_y[::2], e).cpu() for e in eps_grid]


def draw_eps(fig, eps):
    i = int(np.argmin(np.abs(eps_grid - eps)))
    ax, strip_maml, strip_adml = fig.subplots(3, 1, gridspec_kw={"height_ratios": [2.2, 1, 1]})
    for method, color, style in [("maml", "tab:blue", "o-"), ("adml", "tab:red", "o-"),
                                 ("maml_ad", "tab:olive", "s--"), ("adv_query", "tab:purple", "^--")]:
        ax.plot(eps_grid, curves[method], style, ms=3, color=color, label=f"{names[method]}: {curves[method][i]:.0%}")
    ax.axvline(eps_grid[i], color="k", ls="--")
    ax.set(xlabel="FGSM eps", ylabel="query accuracy", ylim=(0, 1.02), title=f"digits 6-9 after adaptation, eps = {eps_grid[i]:.3f}")
    ax.legend(loc="lower left", fontsize="small")
    plots.image_strip(strip_maml, shown["maml"][i], ylabel="MAML")
    plots.image_strip(strip_adml, shown["adml"][i], ylabel="ADML")


explorer = Explorer(draw_eps, figsize=(7, 5.2), eps=FloatSlider(value=eps, min=0, max=0.3, step=0.025, description="eps"))
explorer.set(eps=0.1)
explorer.set(eps=eps)
print(f"redraw: {explorer.last_seconds * 1000:.0f} ms")
explorer

# %%
train_index = int(np.argmin(np.abs(eps_grid - eps)))
assert curves["adml"][train_index] > curves["maml"][train_index], "at the training eps, ADML's curve is above MAML's"
print(f"FGSM query accuracy from eps 0 to {eps_grid[-1]}: MAML {curves['maml'][0]:.1%} -> {curves['maml'][-1]:.1%}, "
      f"ADML {curves['adml'][0]:.1%} -> {curves['adml'][-1]:.1%}")
assert curves["maml"][-1] < 0.5 * curves["maml"][0], "at eps 0.3 FGSM takes more than half of MAML's accuracy"

# %% [markdown]
# ## 8 · 找 bug：种子文章的 ADML 代码
#
# 种子文章 `003`（本套件起源的五篇博客中讲 ADML 的那一篇）给出下面这段代码作为它的 PyTorch 版 ADML（有删节，注释已翻译）。它运行时不会报错，但不可能奏效。打开答案之前，你能找出多少个问题？
#
# ```python
# def sample_point(k):
#     x = np.random.rand(k, 50)
#     y = np.random.choice([0, 1], size=k, p=[.5, .5]).reshape([-1, 1])
#     return torch.from_numpy(x).float(), torch.from_numpy(y).float()
#
# fgsmModel = FGSM(50, 1)          # 另一个独立的 nn.Linear(50, 1)
# admlModel = ADML(50, 1)          # W: [50, 1]
# ori_theta = torch.rand(size=[50, 1])
# meta_gradient_adv = torch.zeros_like(ori_theta)
# meta_gradient_clean = torch.zeros_like(ori_theta)
#
# def train(epoch):
#     global ori_theta, meta_gradient_adv, meta_gradient_clean
#     for i in range(tasks):
#         x_train, y_train = sample_point(10)
#         x_train = Variable(x_train, requires_grad=True)
#         optimerf.zero_grad()
#         loss_fgsm_pre = loss_functionf(y_train, fgsmModel(x_train))
#         loss_fgsm_pre.backward(); optimerf.step()
#         x_adv = x_train + epsilon * torch.sign(x_train.grad.detach_())
#
#         admlModel.W.data = ori_theta.data            # 在干净数据上的内层步骤
#         optimera.zero_grad()
#         loss_functiona(y_train, admlModel(x_train)).backward(); optimera.step()
#         theta_martix_clean[i, :] = admlModel.W
#         admlModel.W.data = ori_theta.data            # 在对抗数据上的内层步骤
#         ...
#         theta_martix_adv[i, :] = admlModel.W
#     for i in range(tasks):
#         x_test, y_test = sample_point(10)            # 新的随机点，新的随机标签
#         ...                                          # x_adv_test 仍由 fgsmModel 生成
#         admlModel.W.data = theta_martix_clean[i]
#         loss_functiona(y_test, admlModel(x_adv_test)).backward(); optimera.step()
#         meta_gradient_adv = meta_gradient_adv + admlModel.W
#         admlModel.W.data = theta_martix_adv[i]
#         loss_functiona(y_test, admlModel(x_test)).backward(); optimera.step()
#         meta_gradient_clean = meta_gradient_clean + admlModel.W
#     ori_theta = ori_theta - betac * meta_gradient_clean
#     ori_theta = ori_theta - betaa * meta_gradient_adv
# ```
#
# <details><summary>答案</summary>
#
# 1. **FGSM 的梯度来自一个替代模型（surrogate model）。** `x_train.grad` 是另一个*独立*线性模型（`fgsmModel`）的输入梯度，而这个模型本身还在一旁另行训练。ADML 的对抗样本必须攻击正在被元学习的那个模型，并且是在它当前的 $\theta$ 处（本笔记本中是 `meta.fgsm_against(model, theta, x, y, eps)`）。
# 2. **“meta_gradient” 累加的是权重，不是梯度。** `meta_gradient_adv + admlModel.W` 加的是*走完一步之后的参数*；外层更新随后减去 $\beta$ 乘以一堆权重之和，也就是说，不管数据说什么，它都只是把 $\theta$ 往零收缩。
# 3. **它从不清零。** 这两个累加器是全局变量，跨 epoch 不断增长，所以这个“更新”会无界地增大。
# 4. **没有二阶项，连一阶 MAML 都算不上。** `.data` 赋值和优化器的 step 切断了从查询损失回到 `ori_theta` 的每一条路径；外层步骤根本不是元损失的梯度。（本笔记本中的做法：`meta.adapt(..., first_order=False)`，即它的默认值，保留内层梯度的计算图，再对交叉损失做一次 `backward`。）
# 5. **根本没有东西可学。** `sample_point` 抽取的标签与 `x` 无关，测试阶段又抽取新的随机“任务”，所以任何方法都不可能胜过瞎猜：种子文章打印出的损失只能随机游走。第 9 节给出一个确实可以学习的玩具问题。
# 6. **θ 被它自己的内层步骤覆盖。** `admlModel.W.data = ori_theta.data` 并不复制：它让 `W` 成为 `ori_theta` 底层存储的另一个名字。于是每一次内层 `optimera.step()` 都写进了 `ori_theta` 本身，因此 $\theta'_{\text{adv}}$ 的起点是 $\theta'_{\text{clean}}$ 而不是 $\theta$，并且每个任务都从上一个任务结束的地方开始：各任务被串联进了 $\theta$。（见下方单元格的演示。）
# 7. 较小的问题：Adam 优化器 `optimera` 在内层*和*外层循环中都被 step（它的矩估计把两者混在了一起）；一个任务的支持集和“测试”集是互不相关的两次抽样；`x_adv` 没有被裁剪（clip）到数据范围内。
#
# </details>

# %%
def seed_inner_step(copy_theta):
    """One inner SGD step the seed's way (`W.data = theta.data`) or with a copy; returns (W, theta)."""
    generator = torch.Generator().manual_seed(seed)
    theta = torch.rand(50, 1, generator=generator)
    W = nn.Parameter(torch.zeros(50, 1))
    W.data = theta.data.clone() if copy_theta else theta.data  # 种子文章的这一行没有 clone()
    x_toy, y_toy = torch.rand(10, 50, generator=generator), torch.rand(10, 1, generator=generator)
    theta_before = theta.clone()
    torch.optim.SGD([W], lr=0.1).zero_grad()
    nn.functional.mse_loss(x_toy @ W, y_toy).backward()
    torch.optim.SGD([W], lr=0.1).step()
    return W, theta, theta_before


for copy_theta in (False, True):
    W, theta, theta_before = seed_inner_step(copy_theta)
    same_storage = W.data_ptr() == theta.data_ptr()
    theta_moved = (theta - theta_before).abs().max().item()
    print(("demonstration (true by construction of the copy): " if copy_theta else "")
          + f"{'W.data = theta.data.clone()' if copy_theta else 'W.data = theta.data (seed)':28s}: same storage {same_storage}, "
          f"theta moved by {theta_moved:.3f} after one inner step on W")
    if not copy_theta:
        assert same_storage and theta_moved > 0.01, "the seed's inner step writes into theta itself"

# %% [markdown]
# ## 9 · 热身的正确做法：正弦波
#
# MAML 自己的玩具问题：每个任务是一条正弦曲线 $y = A\sin(x - \varphi)$，振幅 $A \in [0.1, 5]$ 和相位 $\varphi \in [0, \pi]$ 随机，只通过 $K = 10$ 个点来观察。与种子文章的玩具问题不同，这里 $y$ 是 $x$ 的函数，所以确实有东西可学。一个 1-40-40-1 的 MLP 经过几百次迭代的元训练；然后在一条*新的*正弦曲线上，用 10 个点走几步梯度。两个基线在同样的 10 个点上走同样的步数：一个是从随机起点出发的同一 MLP（稻草人：它根本没见过任何正弦曲线），另一个是 Finn 等的基线——**在所有任务上预训练**的同一 MLP：在相同数量的正弦任务上，把数据汇总起来做普通回归训练，然后像 MAML 的起点一样微调。

# %%
def sine_mlp():
    return nn.Sequential(nn.Linear(1, 40), nn.ReLU(), nn.Linear(40, 40), nn.ReLU(), nn.Linear(40, 1))


sine_lr, sine_steps = 0.02, 5
mse = nn.functional.mse_loss


def weights(model):
    return {name: value.detach().clone() for name, value in model.state_dict().items()}


def meta_train_sines(model):
    """MAML on sine tasks, `model` trained in place: its final weights, meta-losses and seconds (plain data)."""
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
    generator = torch.Generator().manual_seed(seed)
    meta_losses, started = [], time.perf_counter()
    for _ in range(sine_iterations):
        tasks = [meta.sine_episode(generator, 10, 10) for _ in range(10)]
        loss, _ = meta.meta_step(model, optimizer, tasks, "maml", sine_lr, 1, loss_fn=mse)
        meta_losses.append(loss)
    return {"state": weights(model), "losses": meta_losses, "seconds": time.perf_counter() - started}


def pretrain_sines(model):
    """Plain regression on the pooled points of the tasks, `model` trained in place: its final weights."""
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
    generator = torch.Generator().manual_seed(seed)
    for _ in range(sine_iterations):
        tasks = [meta.sine_episode(generator, 10, 10) for _ in range(10)]
        pooled_x = torch.cat([torch.cat([t.support_x, t.query_x]) for t in tasks])
        pooled_y = torch.cat([torch.cat([t.support_y, t.query_y]) for t in tasks])
        optimizer.zero_grad()
        mse(model(pooled_x), pooled_y).backward()
        optimizer.step()
    return weights(model)


torch.manual_seed(seed)
sine_model = sine_mlp()
sine_run = runs.cached("MAML on sines", meta_train_sines, sine_model)  # 运行缓存：第二次运行时直接加载
sine_model.load_state_dict(sine_run["state"])
sine_history = History()
for iteration, loss in enumerate(sine_run["losses"], start=1):
    sine_history.log("sine meta loss", iteration, loss)
print(f"{sine_iterations} meta-iterations in {sine_run['seconds']:.1f} s; "
      f"meta-loss {np.mean(sine_history.values('sine meta loss')[:20]):.2f} -> {np.mean(sine_history.values('sine meta loss')[-20:]):.2f}")

# Finn 等的基线：同一个 MLP、同样的任务（相同的生成器种子），在这些任务的全部点上做普通回归
torch.manual_seed(seed)
pretrained = sine_mlp()
pretrained.load_state_dict(runs.cached("pretraining on pooled sines", pretrain_sines, pretrained))


# %%
def fitted(model, episode, steps):
    params = {n: p.detach().requires_grad_(True) for n, p in model.named_parameters()}
    return meta.adapt(model, params, episode.support_x, episode.support_y, sine_lr, steps, first_order=True, loss_fn=mse)


def query_mse(model, params, episode):
    with torch.no_grad():
        return mse(functional_call(model, params, (episode.query_x,)), episode.query_y).item()


held_out = torch.Generator().manual_seed(seed + 1000)
new_sines = [meta.sine_episode(held_out, 10, 100) for _ in range(50)]
torch.manual_seed(seed + 1)
scratch = sine_mlp()
maml_mse = np.mean([query_mse(sine_model, fitted(sine_model, t, sine_steps), t) for t in new_sines])
scratch_mse = np.mean([query_mse(scratch, fitted(scratch, t, sine_steps), t) for t in new_sines])
pretrained_mse = np.mean([query_mse(pretrained, fitted(pretrained, t, sine_steps), t) for t in new_sines])
print(f"query MSE on 50 new sines after {sine_steps} steps on 10 points: MAML start {maml_mse:.2f}, "
      f"pretrained on all tasks {pretrained_mse:.2f}, random start {scratch_mse:.2f}")

task = new_sines[0]
grid = torch.linspace(-5, 5, 200).unsqueeze(1)
fig, ax = plt.subplots(figsize=(8, 3.4))
amplitude, phase = task.classes
ax.plot(grid, amplitude * torch.sin(grid - phase), "k", lw=2, label="true sine")
with torch.no_grad():
    for steps, style in [(0, ":"), (1, "--"), (sine_steps, "-")]:
        ax.plot(grid, functional_call(sine_model, fitted(sine_model, task, steps), (grid,)), "tab:red", ls=style,
                label=f"MAML start, {steps} step(s)")
    ax.plot(grid, functional_call(scratch, fitted(scratch, task, sine_steps), (grid,)), "tab:gray",
            label=f"random start, {sine_steps} steps")
    ax.plot(grid, functional_call(pretrained, fitted(pretrained, task, sine_steps), (grid,)), "tab:blue",
            label=f"pretrained on all tasks, {sine_steps} steps")
ax.plot(task.support_x, task.support_y, "o", color="tab:green", label="the 10 support points")
ax.set(xlabel="x", ylabel="y", title="a new sine from 10 points")
ax.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1, 1))
plt.show()

# 所有任务的均值：φ ~ U[0, π]、A ~ U[0.1, 5]（meta.sine_episode）时，E[A sin(x - φ)] = -(2/π) E[A] cos x
mean_amplitude = (0.1 + 5) / 2
with torch.no_grad():
    mean_wave = -(2 / np.pi) * mean_amplitude * torch.cos(grid)
    pretrained_wave = pretrained(grid)
gap_to_mean = (pretrained_wave - mean_wave).pow(2).mean().sqrt().item()
gap_to_flat = pretrained_wave.pow(2).mean().sqrt().item()
print(f"an observation: before any step, the pretrained model is {gap_to_mean:.2f} (RMS over x in [-5, 5]) from the "
      f"tasks' mean {-(2 / np.pi) * mean_amplitude:.2f} cos x, and {gap_to_flat:.2f} from a flat 0")

# %% [markdown]
# **自检。** 元损失下降了；从元学习得到的起点出发，在 10 个点上走几步，拟合新正弦曲线的效果远好于从随机起点走同样的步数（查询 MSE 至少低 2 倍，即不超过后者的一半），也好于从在所有任务上预训练的模型出发（同样至少低 2 倍）。把所有任务汇总之后，预训练模型学到的大致是它们的均值：当 $\varphi$ 在 $[0, \pi]$ 上均匀分布时，$\mathbb E[A\sin(x - \varphi)] = -\frac{2}{\pi}\,\mathbb E[A]\cos x$，这是一条固定的波，不与任何一个具体任务吻合（上一个单元格打印了预训练模型离它有多远）。在 10 个点上走几小步无法把这条波变成该任务的正弦曲线；MAML 的起点正是为了让这几步能做到这一点而选出的。

# %%
sine_losses = sine_history.values("sine meta loss")
assert np.mean(sine_losses[-20:]) < np.mean(sine_losses[:20]), "the sine meta-loss must fall"
assert maml_mse < scratch_mse / 2, f"MAML's start should halve the query MSE: {maml_mse:.2f} vs {scratch_mse:.2f}"
assert maml_mse < pretrained_mse / 2, f"MAML's start should halve the pretrained model's query MSE: {maml_mse:.2f} vs {pretrained_mse:.2f}"

# %% [markdown]
# ## 评分练习
#
# 每个练习都有一个留给你填写的单元格（替换其中的 `...` 或 `None`），以及一个检查：它会打印 ✓ 和它验证了什么，或者打印 ✗ 和针对它所识别出的错误的提示。检查会在固定的真实数字图像和它自带的小模型上运行你的答案，并与 `advlab.exercises` 中保存的参考答案对照。答案折叠在每个练习下方。
#
# *当 `solutions = None`（见参数单元格）时，无人值守的运行（CI、`make report`）会填入参考答案，从而让检查本身也得到测试；设 `solutions = True` 可以在这里看到它们通过，设 `False` 则始终保留空白。*

# %%
import torch.nn.functional as F

from advlab import exercises

reference_answers = exercises.use_solutions(solutions)
print(f"checking {'the reference answers' if reference_answers else 'your answers'}: {', '.join(exercises.names('07'))}")

# %% [markdown]
# ### 1 · MAML 的内层步骤（找出并修复种子文章中的一个 bug）
#
# `my_inner_step(model, params, x, y, inner_lr)`：在一个参数字典上走一步 $\theta' = \theta - \alpha \nabla_\theta L(\theta; x, y)$，不改动 θ（种子文章 003 就曾写进 θ），并保持 θ' 对 θ 可微（二阶）。使用 `torch.func.functional_call(model, params, (x,))`。

# %%
def my_inner_step(model, params, x, y, inner_lr):
    ...  # 在此写你的代码：返回字典 θ'


if reference_answers:
    my_inner_step = exercises.solution("07.inner_step")
result = exercises.check("07.inner_step", my_inner_step)
assert result.passed or not reference_answers, result.message

# %% [markdown]
# <details><summary>答案</summary>
#
# ```python
# def my_inner_step(model, params, x, y, inner_lr):
#     loss = F.cross_entropy(torch.func.functional_call(model, params, (x,)), y)
#     grads = torch.autograd.grad(loss, list(params.values()), create_graph=True)
#     return {name: p - inner_lr * g for (name, p), g in zip(params.items(), grads)}
# ```
#
# </details>

# %% [markdown]
# ### 2 · ADML 元损失（实现）
#
# `my_adml_loss(model, params, episode, inner_lr, eps)`：针对 θ 构造支持集和查询集的 FGSM 副本（`meta.fgsm_against`），做两次适应（`meta.adapt`），再求交叉和。

# %%
def my_adml_loss(model, params, episode, inner_lr, eps):
    ...  # 在此写你的代码：返回一个标量


if reference_answers:
    my_adml_loss = exercises.solution("07.adml_loss")
result = exercises.check("07.adml_loss", my_adml_loss)
assert result.passed or not reference_answers, result.message

# %% [markdown]
# <details><summary>答案</summary>
#
# ```python
# def my_adml_loss(model, params, episode, inner_lr, eps):
#     e = episode
#     support_adv = meta.fgsm_against(model, params, e.support_x, e.support_y, eps)
#     query_adv = meta.fgsm_against(model, params, e.query_x, e.query_y, eps)
#     theta_clean = meta.adapt(model, params, e.support_x, e.support_y, inner_lr)
#     theta_adv = meta.adapt(model, params, support_adv, e.support_y, inner_lr)
#     call = torch.func.functional_call
#     return (F.cross_entropy(call(model, theta_clean, (query_adv,)), e.query_y)
#             + F.cross_entropy(call(model, theta_adv, (e.query_x,)), e.query_y))
# ```
#
# </details>

# %% [markdown]
# ### 3 · 哪个查询集给哪个适应结果打分？（预测）
#
# 在 `{"theta_clean": ..., "theta_adv": ...}` 中填入 `"clean"` 或 `"adversarial"`：即在 ADML 的元损失中，每个适应后的模型是在哪个查询集上打分的。

# %%
my_pairs = None  # 你的答案：一个字典 {"theta_clean": "clean" 或 "adversarial", "theta_adv": ...}

if reference_answers:
    my_pairs = exercises.solution("07.crossed")
result = exercises.check("07.crossed", my_pairs)
assert result.passed or not reference_answers, result.message

# %% [markdown]
# <details><summary>答案</summary>
#
# `{"theta_clean": "adversarial", "theta_adv": "clean"}`：交叉配对，因此每个适应结果都必须能推广到它没有在其上适应过的那类数据。
#
# </details>

# %% [markdown]
# ## 核心结果
#
# `make report` 在索引页上为本笔记本列出的数字；每一个都已在上文算出。

# %%
reports.headline({f"{names[method]}, {attack} query accuracy": results[method][attack]
                  for method in models for attack in ["clean", "worst case"]})

# %% [markdown]
# ## 延伸思考
#
# 1. 在训练和评估中都设 `inner_steps = 3`。在攻击下，ADML 与 MAML 之间的差距是变大还是变小？
# 2. ADML 针对 $\theta$ 构造训练用的攻击，而评估攻击的是适应后的 $\theta'$。修改 `meta.adml_task_loss`，让查询集的攻击针对 $\theta'_{\text{clean}}$（这样对抗查询就依赖于 θ：把它 detach 掉）。鲁棒性会提高吗？
# 3. 把交叉换成“显而易见”的和 $\mathcal L(\theta'_{\text{clean}}; \text{clean}) +
#    \mathcal L(\theta'_{\text{adv}}; \text{adv})$。哪一项准确率会受损？能分离出交叉作用的是这个实验，而不是与 AQ 的比较：攻击（针对 $\theta$ 的 FGSM）仍是 ADML 的。
# 4. 用 `first_order=True` 训练（把它传给 `meta.meta_step`）。速度快了多少？第 5 节的数字会怎样变化？
# 5. 第 5 节已经给了 MAML 与 ADML 相同的 FLOPs。再给 AQ 与 ADML 相同的 FLOPs（更多的 `aq_steps`，或更多的元迭代：`work` 里有各方法的计数）。AQ 能否保住它的最坏情况准确率，以及干净准确率？
# 6. 正确地给支持集投毒。第 6 节的攻击者最大化的是 $\theta$ 处的支持集损失；了解学习器的投毒者则会最大化在被投毒的支持集上适应*之后*的*查询*损失：对 δ 求 `meta.functional_loss(model, meta.adapt(model, θ, x_s + δ, y_s, ...), x_q, y_q)` 的梯度，并在 eps 球内走几步符号梯度步。现在哪个模型受损最严重？
# 7. 混合而不交叉：用 MAML 的损失加上 MAML-AD 的损失来训练（干净适应配干净查询，对抗适应配对抗查询：即第 3 题中“显而易见”的和）。加入干净数据能治好 MAML-AD 的标签泄漏（label leaking）吗，还是说交叉才是关键？
#
# 我们的设定与论文不同（论文使用 MiniImageNet 和 CIFAR-100，以及一个 4 层 CNN）：这里的数字针对的是 MNIST 数字和一个只有几千个参数的网络。
