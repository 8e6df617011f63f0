"""The Chinese catalogue of the exercises: English template -> Chinese template (see :mod:`.language`).

Rules for every entry (``tests/test_exercises_language.py`` checks the first three):

* the same fields as the English template (``{eps}``, ``{accuracy:.1%}``: names and format specs kept),
  and the same numbers in its fixed text;
* Chinese characters in it: an English template has no place here;
* every English template used in ``advlab.exercises`` has an entry, and no entry is unused;
* the terms of ``docs/glossary.zh.md`` (扰动, 投影, 鲁棒准确率, 查询, ...); code, formulas and names from
  code unchanged (`x.clamp(0, 1)`, eps·sign(g), θ'_clean, train/eval mode); "seed NNN", the source blog
  post the notebooks quote, is 种子文章 NNN; full-width punctuation around Chinese prose.

A new hint: write the English ``text("...")`` in the checker, then add its line here.
"""

CATALOGUE: dict[str, str] = {
    # ---------------------------------------- attack_checks.py
    "you left the model in train mode: on a model with dropout your attack gives random images. Attack in eval "
    "mode and restore the mode after: `was_training = model.training; model.eval(); ...; "
    "model.train(was_training)`.":
        "你让模型停留在 train 模式：在带 dropout 的模型上，你的攻击会给出随机的图像。请在 eval 模式下攻击，之后"
        "恢复原来的模式：`was_training = model.training; model.eval(); ...; model.train(was_training)`。",
    "eval mode is used inside":
        "攻击内部使用了 eval 模式",
    "the images match the reference":
        "图像与参考答案一致",
    "the adversarial batch":
        "对抗批次",
    "same {what} as the reference on {n} real test pairs ({settings})":
        "{what}与参考答案相同，基于 {n} 对真实测试样本（{settings}）",
    "not the reference {what}: {difference}.":
        "{what}不对：{difference}。",
    "eval mode inside the attack":
        "攻击内部使用 eval 模式",
    "some pixels lie outside [0, 1]: clip the result with `.clamp(0, 1)`.":
        "有些像素超出了 [0, 1]：用 `.clamp(0, 1)` 裁剪结果。",
    # ---------------------------------------- core.py
    "{share:.1%} of the entries differ from the reference (largest difference {largest:.3g})":
        "{share:.1%} 的元素与参考答案不同（最大差异 {largest:.3g}）",
    "you mutated the input: x changed in place (e.g. `x += ...`, `x.add_()`, `x.data = ...`, or "
    "`x.requires_grad_()` on the caller's tensor). Work on a copy: `x = x.clone()` or `x_adv = x + ...`.":
        "你原地修改了输入：x 被就地改变了（例如 `x += ...`、`x.add_()`、`x.data = ...`，或在调用者的张量上 "
        "`x.requires_grad_()`）。请在副本上操作：`x = x.clone()` 或 `x_adv = x + ...`。",
    "gradients were left in the model's parameters (`.grad` is set): you took the gradient with respect to the "
    "parameters too, e.g. with `loss.backward()`. Ask for the input's gradient only: `(grad,) = "
    "torch.autograd.grad(loss, x)`.":
        "模型参数上留下了梯度（`.grad` 已被设置）：你把对参数的梯度也算了，例如用了 `loss.backward()`。只求输入"
        "的梯度：`(grad,) = torch.autograd.grad(loss, x)`。",
    "the model's parameters changed: an attack or a loss must not train or edit the model (no optimizer step, "
    "no in-place edits of the weights).":
        "模型的参数变了：攻击或损失不能训练或修改模型（不做优化器步，不原地修改权重）。",
    "the model's train/eval mode changed: put it back as you found it (`was_training = model.training; "
    "model.eval(); ...; model.train(was_training)`).":
        "模型的 train/eval 模式变了：请恢复成你拿到时的样子（`was_training = model.training; model.eval(); "
        "...; model.train(was_training)`）。",
    " (line {line}: `{code}`)":
        "（第 {line} 行：`{code}`）",
    "the result":
        "结果",
    "your answer":
        "你的答案",
    "the input untouched":
        "输入未被修改",
    "the parameters untouched":
        "参数未被修改",
    "no .grad left":
        "没有残留 .grad",
    "the model's mode restored":
        "模型的模式已恢复",
    "no hooks, dtype or requires_grad changed on the model":
        "模型的钩子、dtype 和 requires_grad 均未改变",
    "not attempted yet: replace the blank (None or `...`) with your answer, then run this cell again.{note}":
        "尚未作答：把空白处（None 或 `...`）换成你的答案，然后重新运行这个单元格。{note}",
    "your answer computed for {seconds:g} s of CPU time without returning: look for a loop that never ends "
    "(`while True:`, or a condition that never changes).":
        "你的答案计算了 {seconds:g} 秒 CPU 时间仍未返回：检查是否有永不结束的循环（`while True:`，或一个永远不变的条件）。",
    "the checker could not use your answer ({kind}: {error}).":
        "检查器无法使用你的答案（{kind}: {error}）。",
    "expected a function, got {kind} {value}.":
        "这里需要一个函数，你给的是 {kind} {value}。",
    " (Your function returned None: is a `return` missing?)":
        "（你的函数返回了 None：是不是漏了 `return`？）",
    "{what} should be a torch.Tensor, got {kind}.":
        "{what}：应为 torch.Tensor，实际是 {kind}。",
    "{what} has shape {shape}; expected {expected}.":
        "{what}：形状为 {shape}，应为 {expected}。",
    "{what} has dtype {dtype}; expected a float tensor ({expected}).":
        "{what}：dtype 为 {dtype}，应为浮点张量（{expected}）。",
    "{what} has dtype {dtype}; expected {expected}.":
        "{what}：dtype 为 {dtype}，应为 {expected}。",
    "{what} contains NaN or infinite values.":
        "{what}：含有 NaN 或无穷大的值。",
    "{what} should be a number, got {kind} {value}.":
        "{what}：应为一个数，实际是 {kind} {value}。",
    "hooks on its modules went from {before} to {now} (remove a hook with the handle `register_forward_hook` "
    "returned: `handle.remove()`)":
        "模块上的钩子从 {before} 个变成了 {now} 个（用 `register_forward_hook` 返回的句柄移除钩子："
        "`handle.remove()`）",
    "its dtype or device changed (e.g. `model.double()`; convert the input, not the model)":
        "它的 dtype 或设备变了（例如 `model.double()`；应转换输入，而不是模型）",
    "the requires_grad flags of its parameters changed (an attack needs the input's gradient only; leave the "
    "parameters' flags alone)":
        "它的参数的 requires_grad 标志变了（攻击只需要输入的梯度；不要改动参数的标志）",
    "your answer changed the model: {changes}.":
        "你的答案修改了模型：{changes}。",
    "{count} problems, the most fundamental first:":
        "{count} 个问题，最根本的在前：",
    "held: {properties}.":
        "已满足：{properties}。",
    "your code raised {kind}: {error}{where}.":
        "你的代码抛出了 {kind}: {error}{where}。",
    # ---------------------------------------- nb00.py
    "the labels":
        "标签",
    "the right label for {n} real digit pairs, int64 as cross_entropy wants":
        "{n} 对真实数字对的标签全部正确，且是 cross_entropy 需要的 int64",
    "{wrong} of {n} labels are wrong.":
        "{n} 个标签中有 {wrong} 个错误。",
    "the mixed images":
        "混合图像",
    "the inputs untouched":
        "输入未被修改",
    "you mutated the input images (an in-place `+=` or `clamp_`): return a new tensor.":
        "你原地修改了输入图像（原地的 `+=` 或 `clamp_`）：请返回一个新张量。",
    "the sum of 8 real 3s and 8s, clipped to [0, 1]":
        "真实的 3 和 8 各 8 张之和，裁剪到 [0, 1]",
    "not the clipped sum of the two images.":
        "不是两张图像之和裁剪后的结果。",
    "the number of parameters":
        "参数数量",
    "SmallCNN(num_classes={classes}) has {expected:,} parameters: the same convolutions, a head 5 times wider":
        "SmallCNN(num_classes={classes}) 有 {expected:,} 个参数：卷积层相同，输出头宽 5 倍",
    "{value:,.0f} is not it. Count weights and biases layer by layer: conv1 16x1x5x5 + 16, conv2 36x16x5x5 + "
    "36, head 1764x10 + 10.":
        "{value:,.0f} 不对。逐层数权重和偏置：conv1 16x1x5x5 + 16，conv2 36x16x5x5 + 36，输出头 1764x10 + 10。",
    "the labels' values":
        "标签的取值",
    "int64 labels":
        "int64 标签",
    "your labels are booleans: cross_entropy needs int64 class indices, add `.long()`.":
        "你的标签是布尔值：cross_entropy 需要 int64 类别索引，加上 `.long()`。",
    "you looked at the first digit only: the 0 can be either of the two digits.":
        "你只看了第一个数字：0 可能是两个数字中的任意一个。",
    "your label is 1 only when BOTH digits are 0: it should be 1 when one of them is (any, not all).":
        "你的标签只在两个数字都是 0 时才为 1：只要其中一个是，就应为 1（any，而不是 all）。",
    "your labels are inverted: 1 means 'the picture contains a 0'.":
        "你的标签反了：1 表示“图中含有一个 0”。",
    "pixel values go above 1 (up to 2): you kept the seed's bug. Clip the sum back to [0, 1].":
        "像素值超过了 1（最高到 2）：你保留了种子文章的 bug。把和裁剪回 [0, 1]。",
    "you averaged the two images: every stroke is then half as bright. The task ADDS them, then clips to [0, "
    "1].":
        "你对两张图像取了平均：每一笔的亮度都只剩一半。任务是把它们相加，再裁剪到 [0, 1]。",
    "torch.maximum keeps the brighter of the two pixels; the task adds them (where two faint strokes overlap, "
    "the sum is brighter), then clips to [0, 1].":
        "torch.maximum 保留两个像素中较亮的那个；任务是把它们相加（两条淡笔画重叠处，和会更亮），再裁剪到 [0, "
        "1]。",
    "{value:,.0f}: that is the 2-class model of section 2. The convolutions stay the same; only the head "
    "grows, to 1764 x 10 weights + 10 biases.":
        "{value:,.0f}：这是第 2 节的 2 类模型。卷积层保持不变；只有输出头变大，为 1764 x 10 个权重 + 10 个偏置"
        "。",
    "{value:,.0f}: you left out the biases: one per output channel and one per class (16 + 36 + 10).":
        "{value:,.0f}：你漏掉了偏置：每个输出通道一个，每个类别一个（16 + 36 + 10）。",
    "{value:,.0f}: those are the two conv layers only: add the linear head, 1764 x 10 weights + 10 biases.":
        "{value:,.0f}：这只是两个卷积层：还要加上线性输出头，1764 x 10 个权重 + 10 个偏置。",
    "{value:,.0f}: that is the head only: the conv layers (5x5 kernels, 1 -> 16 and 16 -> 36 channels, plus "
    "biases) are still there.":
        "{value:,.0f}：这只是输出头：卷积层（5x5 卷积核，1 -> 16 和 16 -> 36 个通道，外加偏置）也还在。",
    # ---------------------------------------- nb01.py
    "at eps = {eps} FGSM accuracy is {accuracy:.1%} (< 50 %), at eps = {below} it is {accuracy_below:.1%}, on "
    "the notebook's {n} test pairs":
        "eps = {eps} 时 FGSM 准确率为 {accuracy:.1%}（< 50 %），eps = {below} 时为 {accuracy_below:.1%}，基于笔"
        "记本（notebook）中的 {n} 对测试样本",
    "you forgot the clip to [0, 1]: x + eps·sign(g) leaves the image range; add `.clamp(0, 1)`.":
        "你忘了裁剪到 [0, 1]：x + eps·sign(g) 会超出图像范围；加上 `.clamp(0, 1)`。",
    "you stepped along the gradient itself, not its sign: the gradient is tiny (~1e-3), so the images barely "
    "move. FGSM takes eps·sign(g): every pixel moves by exactly eps.":
        "你沿梯度本身走了一步，而不是沿它的符号：梯度很小（~1e-3），图像几乎不动。FGSM 取 eps·sign(g)：每个像素"
        "恰好移动 eps。",
    "wrong sign: you walked DOWN the loss of the true label (x - eps·sign(g)), which makes the model more "
    "confident. An untargeted attack climbs the loss: x + eps·sign(g).":
        "符号错了：你沿真实标签的损失向下走（x - eps·sign(g)），这会让模型更自信。无目标攻击要让损失上升：x + "
        "eps·sign(g)。",
    "wrong sign for a targeted attack: you climbed the loss of the TARGET, pushing the model away from it. "
    "Walk down the target's loss: x - eps·sign(grad_x CE(model(x), target)).":
        "目标攻击的符号错了：你让目标类的损失上升，把模型推离了目标。应让目标类的损失下降：x - eps·sign(grad_x "
        "CE(model(x), target))。",
    "you forgot the clip to [0, 1]; add `.clamp(0, 1)`.":
        "你忘了裁剪到 [0, 1]；加上 `.clamp(0, 1)`。",
    "FGSM images":
        "FGSM 图像",
    "targeted FGSM images":
        "目标 FGSM 图像",
    "eps = {eps:g} is more than the whole pixel range: eps is in pixel units (0.1, not 10 or 10 %).":
        "eps = {eps:g} 超过了整个像素范围：eps 以像素为单位（是 0.1，而不是 10 或 10 %）。",
    "eps = {eps:g}: give a non-negative value on the 0.01 grid (e.g. 0.12).":
        "eps = {eps:g}：请给出 0.01 网格上的非负值（例如 0.12）。",
    "at eps = {eps} the FGSM accuracy is still {accuracy:.1%}, not below 50 %: go higher.":
        "eps = {eps} 时 FGSM 准确率仍为 {accuracy:.1%}，没有低于 50 %：再调大一些。",
    "eps = {eps} works ({accuracy:.1%}), but {below} already gives {accuracy_below:.1%}: find where the curve "
    "crosses 50 % (the first eps below it).":
        "eps = {eps} 可以（{accuracy:.1%}），但 {below} 已经给出 {accuracy_below:.1%}：找到曲线穿过 50 % 的位置"
        "（第一个低于它的 eps）。",
    # ---------------------------------------- nb02.py
    "you normalised over the whole batch: one norm for all images, so each image's step is much shorter than "
    "eps. Normalise per sample: `g.flatten(1).norm(dim=1)`, reshaped to [N, 1, 1, 1].":
        "你在整个批次上做了归一化：所有图像共用一个范数，于是每张图像的步长都远小于 eps。请逐样本归一化："
        "`g.flatten(1).norm(dim=1)`，再 reshape 成 [N, 1, 1, 1]。",
    "you took the sign of the gradient: that is FGSM (an L-inf step). FGM divides the gradient by its L2 norm: "
    "eps·g/||g||_2, per sample.":
        "你取了梯度的符号：那是 FGSM（L∞ 步）。FGM 用梯度除以它的 L2 范数：eps·g/||g||_2，逐样本计算。",
    "you forgot to normalise: eps·g is tiny. FGM's step is eps·g/||g||_2, a step of length eps.":
        "你忘了归一化：eps·g 很小。FGM 的一步是 eps·g/||g||_2，长度为 eps。",
    "the normalised gradients":
        "归一化后的梯度",
    "the gradient untouched":
        "梯度未被修改",
    "you mutated the gradient in place (`g /= ...`): return a new tensor.":
        "你原地修改了梯度（`g /= ...`）：请返回一个新张量。",
    "the normalised gradient":
        "归一化后的梯度",
    "every sample has L2 norm 1 (the zero gradient stays 0), on 8 real input gradients":
        "每个样本的 L2 范数都是 1（零梯度保持为 0），基于 8 个真实的输入梯度",
    "not g_i/||g_i||_2: {difference}.":
        "不是 g_i/||g_i||_2：{difference}。",
    "the change of each pixel":
        "每个像素的变化量",
    "{eps}/sqrt({pixels}) = {expected:.2f}: the same L2 length spread over fewer pixels moves each of them "
    "further":
        "{eps}/sqrt({pixels}) = {expected:.2f}：同样的 L2 长度分摊到更少的像素上，每个像素就移动得更远",
    "{value:g} is not it: n pixels moving by d each make an L2 length of sqrt(n)·d.":
        "{value:g} 不对：n 个像素各移动 d，构成的 L2 长度是 sqrt(n)·d。",
    "FGM images":
        "FGM 图像",
    "you normalised each pixel by its own size: that is sign(g), not g/||g||_2. The norm runs over all pixels "
    "of one sample: `g.flatten(1).norm(dim=1)`.":
        "你用每个像素自身的大小去归一化它：那是 sign(g)，不是 g/||g||_2。范数要在一个样本的所有像素上计算："
        "`g.flatten(1).norm(dim=1)`。",
    "{value:g}: that is the whole step's L2 length; it is shared among the pixels: n·d² = eps².":
        "{value:g}：这是整步的 L2 长度；它要由各像素分摊：n·d² = eps²。",
    "{value:g}: dividing by n shares the L1 length; L2 adds squares: n·d² = eps², so d = eps/sqrt(n).":
        "{value:g}：除以 n 分摊的是 L1 长度；L2 是平方相加：n·d² = eps²，所以 d = eps/sqrt(n)。",
    "{value:g}: that spreads the step over all 784 pixels; here only 196 of them have a gradient.":
        "{value:g}：这是把一步分摊到全部 784 个像素上；这里只有其中 196 个有梯度。",
    "sample 3 has a zero gradient and your version gives 0/0 = NaN for it: divide by `norms.clamp_min(1e-12)` "
    "so a vanishing gradient stays 0.":
        "样本 3 的梯度为零，你的实现在它上面得到 0/0 = NaN：请除以 `norms.clamp_min(1e-12)`，让消失的梯度保持为"
        " 0。",
    # ---------------------------------------- nb03.py
    "you projected before stepping (or not at all, or only clipped the step itself): the new iterate then "
    "leaves the eps ball around the clean x. Step first, then project the new delta: clip_[-eps,eps](x_adv + "
    "alpha·sign(g) - x), then clip to [0, 1].":
        "你先投影后迈步（或者根本没投影，或者只裁剪了这一步本身）：新的迭代点会离开干净 x 周围的 eps 球。先迈步"
        "，再投影新的 delta：clip_[-eps,eps](x_adv + alpha·sign(g) - x)，然后裁剪到 [0, 1]。",
    "you forgot the clip to [0, 1] after the projection; add `.clamp(0, 1)`.":
        "你在投影之后忘了裁剪到 [0, 1]；加上 `.clamp(0, 1)`。",
    "you stepped along the gradient, not its sign: L-inf PGD moves every pixel by alpha·sign(g).":
        "你沿梯度走了一步，而不是沿它的符号：L∞ PGD 让每个像素移动 alpha·sign(g)。",
    "the next iterate":
        "下一个迭代点",
    "you mutated one of the inputs in place: return a new tensor.":
        "你原地修改了某个输入：请返回一个新张量。",
    "the next iterate from a corner of the eps ball (eps={eps}, alpha={alpha}) on 8 real images: step, project "
    "on the ball around x, clip to [0, 1]":
        "从 eps 球的一个角出发的下一个迭代点（eps={eps}，alpha={alpha}），基于 8 张真实图像：迈步，投影到 x 周"
        "围的球上，裁剪到 [0, 1]",
    "not the PGD step: {difference}.":
        "不是 PGD 的一步：{difference}。",
    "your perturbation leaves the eps ball: after a few steps of alpha it is larger than eps. Project every "
    "iterate: x + clip_[-eps,eps](x_adv + alpha·sign(g) - x).":
        "你的扰动离开了 eps 球：走了几步 alpha 之后，它就比 eps 大了。每个迭代点都要投影：x + "
        "clip_[-eps,eps](x_adv + alpha·sign(g) - x)。",
    "each of your steps starts again from the clean x: the iterate must accumulate, x_adv <- project(x_adv + "
    "alpha·sign(g)).":
        "你的每一步都重新从干净的 x 出发：迭代点必须累积，x_adv <- project(x_adv + alpha·sign(g))。",
    "the projected deltas":
        "投影后的 delta",
    "delta untouched":
        "delta 未被修改",
    "you mutated delta in place: return a new tensor.":
        "你原地修改了 delta：请返回一个新张量。",
    "the projected delta":
        "投影后的 delta",
    "deltas of L2 length 0.5 to 2.5 projected on the unit ball: the long ones shortened, the short ones kept":
        "L2 长度从 0.5 到 2.5 的 delta 投影到单位球上：长的被缩短，短的保持不变",
    "not the L2 projection: {difference}. (Clamping each pixel would be the L-inf projection; the L2 ball "
    "rescales the whole sample.)":
        "不是 L2 投影：{difference}。（逐像素截断是 L∞ 投影；L2 球要缩放整个样本。）",
    "PGD images":
        "PGD 图像",
    "you rescaled every delta to length eps: the short ones (inside the ball) must stay as they are. The "
    "factor is min(1, eps/||delta_i||).":
        "你把每个 delta 都缩放到了长度 eps：短的（在球内的）必须保持原样。缩放因子是 min(1, eps/||delta_i||)。",
    "you took one norm over the whole batch: project each sample on its own ball, "
    "`delta.flatten(1).norm(dim=1)`.":
        "你在整个批次上只取了一个范数：请把每个样本投影到它自己的球上，`delta.flatten(1).norm(dim=1)`。",
    "you returned delta unchanged: the deltas longer than eps must be scaled back onto the ball.":
        "你原样返回了 delta：长于 eps 的 delta 必须缩放回球面上。",
    # ---------------------------------------- nb04.py
    "the input gradient must itself be differentiable, `torch.autograd.grad(loss, x, create_graph=True)` "
    "(double backprop).":
        "输入梯度本身必须可微，`torch.autograd.grad(loss, x, create_graph=True)`（二阶反向传播）。",
    "{what} carries no gradient to the parameters (it was computed under no_grad, detached, or with "
    "`.item()`): training could not minimise it.":
        "{what}没有把梯度传到参数（它是在 no_grad 下算的、被 detach 了，或用了 `.item()`）：训练无法最小化它。",
    "the same gradient for every parameter":
        "每个参数的梯度都与参考答案相同",
    "{what} carries no gradient to the parameters: {double_backprop}":
        "{what}没有把梯度传到参数：{double_backprop}",
    "{what} is a scalar":
        "{what}是标量",
    "the loss":
        "损失",
    "the value is right but the parameters' gradient is not: the attack's graph leaks into the loss. Detach "
    "the adversarial batch (`x_adv.detach()`) so the gradient reaches θ through model(x_adv) only.":
        "值是对的，但对参数的梯度不对：攻击的计算图泄漏进了损失。把对抗批次 detach（`x_adv.detach()`），让梯度"
        "只经由 model(x_adv) 到达 θ。",
    "loss {value:.4f} = CE(model(FGSM(x)), y) at eps={eps} on 16 real pairs":
        "损失 {value:.4f} = CE(model(FGSM(x)), y)，eps={eps}，基于 16 对真实样本",
    "loss {value:.4f}, expected {expected:.4f} (CE of the FGSM batch, eps={eps}).":
        "损失为 {value:.4f}，应为 {expected:.4f}（FGSM 批次的交叉熵，eps={eps}）。",
    "the penalty":
        "惩罚项",
    "the value is right but its gradient with respect to the parameters is not: {double_backprop}":
        "值是对的，但它对参数的梯度不对：{double_backprop}",
    "penalty {value:.4f} = eps·mean_i ||grad_x_i CE||_2 at eps={eps} on 16 real pairs":
        "惩罚项 {value:.4f} = eps·mean_i ||grad_x_i CE||_2，eps={eps}，基于 16 对真实样本",
    "penalty {value:.4g}, expected {expected:.4g}.":
        "惩罚项为 {value:.4g}，应为 {expected:.4g}。",
    "the number of passes":
        "传播次数",
    "PGD-{steps} training costs {expected} forward+backward passes per batch: {steps} for the attack, 1 to "
    "train on x_adv (Madry's objective has no clean term)":
        "PGD-{steps} 训练每个批次需要 {expected} 次前向+反向传播：{steps} 次用于攻击，1 次用于在 x_adv 上训练（"
        "Madry 的目标函数没有干净项）",
    "{value:g} is not it: count the attack's gradient passes, then the training pass.":
        "{value:g} 不对：先数攻击的梯度传播次数，再加上训练那一次。",
    "{what} should be a scalar tensor (one number for the batch), got {shape}.":
        "{what}应为标量张量（整个批次一个数），实际是 {shape}。",
    "the value of {what}":
        "{what}的值",
    "{what} differentiable":
        "{what}可微",
    "your loss equals the CLEAN loss: it was computed from logits of the clean batch, with no new forward pass "
    "on x_adv (the bug of seed 001's training loop). Call model(x_adv).":
        "你的损失等于干净损失：它是用干净批次的 logits 算的，没有在 x_adv 上重新做前向传播（种子文章 001 训练循"
        "环的 bug）。请调用 model(x_adv)。",
    "your loss has the wrong sign: the attack maximises the loss, but training MINIMISES CE(model(x_adv), y).":
        "你的损失符号错了：攻击最大化损失，而训练要最小化 CE(model(x_adv), y)。",
    "your loss is the SUM over the batch: use the mean (F.cross_entropy's default), so the step size does not "
    "depend on the batch size.":
        "你的损失是对整个批次求和：请用均值（F.cross_entropy 的默认值），这样步长就不依赖于批次大小。",
    "you differentiated the batch MEAN of the losses, which divides every sample's gradient by N. Sum the "
    "losses (`reduction='sum'`) so sample i's gradient is its own loss's.":
        "你对批次损失的均值求导，这会把每个样本的梯度除以 N。请对损失求和（`reduction='sum'`），让样本 i 的梯度"
        "就是它自己损失的梯度。",
    "you took one norm over the whole batch's gradient: the penalty is the MEAN of per-sample norms, "
    "`g.flatten(1).norm(dim=1).mean()`.":
        "你对整个批次的梯度只取了一个范数：惩罚项是逐样本范数的均值，`g.flatten(1).norm(dim=1).mean()`。",
    "that is the L1 norm, the dual of FGSM's L-inf step. The L2 step of FGM pairs with the L2 norm.":
        "那是 L1 范数，即 FGSM 的 L∞ 步的对偶范数。FGM 的 L2 步对应的是 L2 范数。",
    "{value:g}: those are the attack's passes; the training step on x_adv is one more.":
        "{value:g}：这是攻击的传播次数；在 x_adv 上的训练步还要再加一次。",
    "{value:g}: Madry's PGD training trains on the adversarial batch only (clean_weight = 0): no clean pass.":
        "{value:g}：Madry 的 PGD 训练只在对抗批次上训练（clean_weight = 0）：没有干净样本的传播。",
    "{value:g}: that is FGSM training (one attack pass + one training pass); PGD-{steps} needs {steps} attack "
    "passes.":
        "{value:g}：这是 FGSM 训练（一次攻击传播 + 一次训练传播）；PGD-{steps} 需要 {steps} 次攻击传播。",
    "the gradient of {what}":
        "{what}的梯度",
    # ---------------------------------------- nb05.py
    "the value of the KL":
        "KL 的值",
    "differentiable in q":
        "对 q 可微",
    "KL(p||q) = {number:.5f}, mean over 16 real pairs":
        "KL(p||q) = {number:.5f}，16 对真实样本上的均值",
    "KL = {number:.5g}, expected {expected:.5g}.":
        "KL = {number:.5g}，应为 {expected:.5g}。",
    "r_vadv matches the reference":
        "r_vadv 与参考答案一致",
    "r_vadv from one power iteration (xi={xi}, eps={eps}) matches the reference on 16 real pairs":
        "一次幂迭代得到的 r_vadv（xi={xi}，eps={eps}）与参考答案一致，基于 16 对真实样本",
    "not the virtual adversarial direction: {difference}.":
        "不是虚拟对抗方向：{difference}。",
    "KL(p||q) = 0.9·ln(0.9/0.5) + 0.1·ln(0.1/0.5) = {expected:.4f} nats":
        "KL(p||q) = 0.9·ln(0.9/0.5) + 0.1·ln(0.1/0.5) = {expected:.4f} nats（奈特）",
    "{value:.4g} is not it: sum over the two classes of p·ln(p/q).":
        "{value:.4g} 不对：对两个类别求 p·ln(p/q) 之和。",
    "the KL should be a scalar tensor (the batch mean), got {shape}.":
        "KL 应为标量张量（批次均值），实际是 {shape}。",
    "p detached":
        "p 已 detach",
    "your KL carries no gradient to the perturbed logits: VAT trains through q = softmax(perturbed) (no "
    ".item(), no detach of q).":
        "你的 KL 没有把梯度传到扰动后的 logits：虚拟对抗训练（VAT）通过 q = softmax(perturbed) 训练（不要 "
        ".item()，不要 detach q）。",
    "a gradient flows into the clean logits: p(.|x) is the fixed 'virtual label' of VAT, detach it "
    "(`clean_logits.detach()`).":
        "有梯度流进了干净的 logits：p(.|x) 是 VAT 固定的“虚拟标签”，把它 detach（`clean_logits.detach()`）。",
    "KL in the wrong direction: you computed KL(q||p). VAT's LDS is KL(p(.|x) || p(.|x+r)), the clean "
    "distribution first: sum p·(log p - log q). (F.kl_div(input, target) computes KL(target||exp(input)).)":
        "KL 的方向反了：你算的是 KL(q||p)。VAT 的 LDS 是 KL(p(.|x) || p(.|x+r))，干净分布在前：sum p·(log p - "
        "log q)。（F.kl_div(input, target) 计算的是 KL(target||exp(input))。）",
    "you summed over the batch: take the mean over samples (the sum over classes stays).":
        "你对批次求了和：请对样本取均值（对类别的求和保留）。",
    "you averaged over the classes too: sum over classes, then mean over samples (F.kl_div's "
    "reduction='batchmean', not 'mean').":
        "你把类别也平均了：先对类别求和，再对样本取均值（F.kl_div 的 reduction='batchmean'，而不是 'mean'）。",
    "every sample of r should have L2 length eps = {eps}; yours range from {low:.3g} to {high:.3g}.":
        "r 的每个样本的 L2 长度都应为 eps = {eps}；你的从 {low:.3g} 到 {high:.3g} 不等。",
    "{value:.4g}: that is KL(q||p): the direction matters. KL(p||q) weighs the log-ratio by p.":
        "{value:.4g}：这是 KL(q||p)：方向很重要。KL(p||q) 用 p 给对数比加权。",
    "{value:.4g}: that is in bits (log base 2); use the natural log (nats), as torch does.":
        "{value:.4g}：这是以比特为单位（以 2 为底的对数）；请用自然对数（nats），和 torch 一样。",
    "{value:.4g}: a KL is never negative: you flipped the ratio (log q/p weighted by p).":
        "{value:.4g}：KL 永远不会是负的：你把比值颠倒了（用 p 加权 log q/p）。",
    "your r is just the random start d rescaled (seed 000's bug: `d = d.clone()` after backward keeps d, not "
    "its gradient). Use the gradient: `(d_grad,) = torch.autograd.grad(kl, d)`.":
        "你的 r 只是把随机起点 d 重新缩放了一下（种子文章 000 的 bug：backward 之后 `d = d.clone()` 保留的是 "
        "d，而不是它的梯度）。请用梯度：`(d_grad,) = torch.autograd.grad(kl, d)`。",
    "you normalised over the whole batch: r must have length eps for EACH sample (norm over dim 1 after "
    "flatten(1)).":
        "你在整个批次上做了归一化：r 对每个样本的长度都必须是 eps（在 flatten(1) 之后沿维度 1 求范数）。",
    # ---------------------------------------- nb06.py
    "identity forward on real features [{n}, {d}]":
        "在真实特征 [{n}, {d}] 上前向为恒等映射",
    "backward -lambda·grad (lambda = {lambd})":
        "反向为 -lambda·grad（lambda = {lambd}）",
    "the identity forward":
        "前向为恒等映射",
    "lambda(p) = 2/(1+exp(-10p)) - 1 at p = {points}":
        "lambda(p) = 2/(1+exp(-10p)) - 1，在 p = {points} 处",
    "lambda({p:g}) = {value:.4g}, expected {expected:.4g}.":
        "lambda({p:g}) = {value:.4g}，应为 {expected:.4g}。",
    "the accuracy":
        "准确率",
    "the adversarial head is right on {expected:.1%} of 64 real pairs, counted against 1 - y":
        "对抗头在 64 对真实样本中的 {expected:.1%} 上预测正确，以 1 - y 为准计数",
    "{value:.4g}, expected {expected:.4g}.":
        "{value:.4g}，应为 {expected:.4g}。",
    "the layer should return a tensor shaped like its input {expected}, got {shape}.":
        "该层应返回一个与输入形状相同的张量 {expected}，实际是 {shape}。",
    "-lambda·grad backward":
        "反向为 -lambda·grad",
    "you flipped the sign in FORWARD: a GRL is the identity on the way forward (the head sees the real "
    "features); the minus belongs in backward: grad -> -lambda·grad.":
        "你在前向中翻转了符号：梯度反转层（GRL）在前向时是恒等映射（输出头看到的是真实特征）；负号属于反向："
        "grad -> -lambda·grad。",
    "your forward scales the features by lambda: forward is the identity, lambda only scales the reversed "
    "gradient.":
        "你的前向把特征乘以了 lambda：前向是恒等映射，lambda 只缩放反转后的梯度。",
    "forward must return the input unchanged (the identity).":
        "前向必须原样返回输入（恒等映射）。",
    "no gradient flows back through your layer (did you detach?): the GRL passes -lambda·grad.":
        "没有梯度反向流过你的层（是不是 detach 了？）：GRL 传回的是 -lambda·grad。",
    "the gradient comes back unchanged: nothing is reversed. Write a torch.autograd.Function whose backward "
    "returns -lambda·grad_output.":
        "梯度原样传回：什么也没有反转。写一个 torch.autograd.Function，让它的 backward 返回 "
        "-lambda·grad_output。",
    "the gradient is reversed but not scaled: with lambda = {lambd} backward returns -lambda·grad_output.":
        "梯度反转了但没有缩放：lambda = {lambd} 时 backward 返回 -lambda·grad_output。",
    "backward should return -lambda·grad_output.":
        "backward 应返回 -lambda·grad_output。",
    "that is the plain sigmoid: it starts at 0.5. DANN's schedule is 2·sigmoid(10p) - 1, so lambda(0) = 0.":
        "那是普通的 sigmoid：它从 0.5 开始。DANN 的调度是 2·sigmoid(10p) - 1，所以 lambda(0) = 0。",
    "the shape is right but it rises far too slowly: gamma = 10, lambda(p) = 2/(1+exp(-10p)) - 1.":
        "形状是对的，但上升得太慢：gamma = 10，lambda(p) = 2/(1+exp(-10p)) - 1。",
    "sign error in the exponent: exp(-10p), so lambda rises from 0 towards 1 (yours falls below 0).":
        "指数的符号错了：应为 exp(-10p)，这样 lambda 从 0 升向 1（你的降到了 0 以下）。",
    "you compared with the true label y (seed 002's bug): the adversarial head is trained on the flipped label "
    "1 - y, so its accuracy is measured against 1 - y.":
        "你和真实标签 y 作了比较（种子文章 002 的 bug）：对抗头是在翻转后的标签 1 - y 上训练的，所以它的准确率"
        "要对照 1 - y 来衡量。",
    "that is a count: give the accuracy as a fraction in [0, 1] (`.float().mean()`).":
        "这是一个计数：请把准确率表示为 [0, 1] 中的比例（`.float().mean()`）。",
    "backward through your layer failed: {error}":
        "反向传播经过你的层时失败了：{error}",
    # ---------------------------------------- nb07.py
    "the same second-order meta-gradient as the reference":
        "与参考答案相同的二阶元梯度",
    "the values of θ'":
        "θ' 的值",
    "θ untouched":
        "θ 未被修改",
    "θ itself changed: your update wrote into the meta-parameters (seed 003's bug, `W.data = θ.data` shares "
    "storage, so every inner step mutates θ). Build new tensors: `{{n: p - lr * g for ...}}`.":
        "θ 本身被改变了：你的更新写进了元参数（种子文章 003 的 bug，`W.data = θ.data` 共享存储，于是每次内循环"
        "步都会修改 θ）。请构造新张量：`{{n: p - lr * g for ...}}`。",
    "θ' = θ - {lr}·∇L on a real 2-way 5-shot support set":
        "θ' = θ - {lr}·∇L，基于一个真实的 2-way 5-shot 支持集",
    "θ' differs from θ - α·∇_θ L(θ; support).":
        "θ' 与 θ - α·∇_θ L(θ; support) 不同。",
    "the value of the meta-loss":
        "元损失的值",
    "differentiable in θ":
        "对 θ 可微",
    "the meta-loss carries no gradient to θ: it must stay differentiable (no .item(), no detach).":
        "元损失没有把梯度传到 θ：它必须保持可微（不要 .item()，不要 detach）。",
    "meta-loss {number:.4f} = L(θ'_clean; adversarial query) + L(θ'_adv; clean query) on a real 2-way 5-shot "
    "episode (eps={eps})":
        "元损失 {number:.4f} = L(θ'_clean; 对抗查询集) + L(θ'_adv; 干净查询集)，基于一个真实的 2-way 5-shot 任"
        "务（eps={eps}）",
    "meta-loss {number:.4f}, expected {expected:.4f}.":
        "元损失为 {number:.4f}，应为 {expected:.4f}。",
    "θ'_clean answers the adversarial query, θ'_adv the clean one: each adaptation is tested where it did not "
    "train":
        "θ'_clean 回答对抗查询集，θ'_adv 回答干净查询集：每个适应结果都在它没有训练过的数据上接受检验",
    "both adaptations are scored on different query sets: one on clean, one on adversarial.":
        "两个适应结果应在不同的查询集上评分：一个在干净的上，一个在对抗的上。",
    "return a dict with the same parameter names as θ ({names}).":
        "返回一个与 θ 参数名相同的 dict（{names}）。",
    "θ' attached to θ":
        "θ' 与 θ 相连（保留计算图）",
    "θ' is detached from θ: the meta-gradient cannot flow back through the inner step.":
        "θ' 与 θ 断开了：元梯度无法反向流过内循环步。",
    "the second-order meta-gradient":
        "二阶元梯度",
    "wrong sign: you climbed the support loss (θ + α·g). The inner step descends: θ - α·g.":
        "符号错了：你让支持集损失上升了（θ + α·g）。内循环步是下降：θ - α·g。",
    "the values are right but the meta-gradient is first-order: pass `create_graph=True` to "
    "torch.autograd.grad so the gradient flows through ∇_θ L too (second-order MAML).":
        "值是对的，但元梯度是一阶的：给 torch.autograd.grad 传入 `create_graph=True`，让梯度也流过 ∇_θ L（二阶 "
        "MAML）。",
    "return the meta-loss as a scalar tensor.":
        "以标量张量返回元损失。",
    "the ADML pairs are not crossed: you scored θ'_clean on the clean query and θ'_adv on the adversarial one. "
    "ADML crosses them: θ'_clean on the ADVERSARIAL query, θ'_adv on the CLEAN query.":
        "ADML 的配对没有交叉：你在干净查询集上给 θ'_clean 评分，在对抗查询集上给 θ'_adv 评分。ADML 把它们交叉："
        "θ'_clean 用对抗查询集，θ'_adv 用干净查询集。",
    "you crafted FGSM against the adapted θ'_clean; ADML crafts the adversarial support and query against the "
    "current θ, before adaptation.":
        "你针对适应后的 θ'_clean 生成了 FGSM；ADML 针对当前的 θ、在适应之前生成对抗支持集和查询集。",
    "that is the plain MAML loss (clean support, clean query): ADML adds the adversarial copies and crosses "
    "them.":
        "这是普通的 MAML 损失（干净支持集，干净查询集）：ADML 加入对抗副本并把它们交叉。",
    "answer with a dict {{'theta_clean': ..., 'theta_adv': ...}}, each 'clean' or 'adversarial'.":
        "用一个 dict 回答 {{'theta_clean': ..., 'theta_adv': ...}}，每个值为 'clean' 或 'adversarial'。",
    "each value must be 'clean' or 'adversarial'.":
        "每个值必须是 'clean' 或 'adversarial'。",
    "not crossed: that scores each adaptation on the kind of data it adapted on. ADML crosses the pairs so "
    "each must generalise to the other kind.":
        "没有交叉：这是在各自适应时所用的那类数据上给每个适应结果评分。ADML 把配对交叉，让每个结果都必须泛化到"
        "另一类数据。",
    # ---------------------------------------- nb08.py
    "the per-sample margins":
        "逐样本的间隔",
    "max_{{j≠y}} z_j - z_y for {n} samples of 10 classes (on some, every other logit is negative), positive "
    "exactly on the misclassified ones":
        "max_{{j≠y}} z_j - z_y，{n} 个 10 类样本（其中一些样本的其他 logit 全为负），恰好在误分类的样本上为正",
    "not max_{{j≠y}} z_j - z_y.":
        "不是 max_{{j≠y}} z_j - z_y。",
    "the robust accuracy":
        "鲁棒准确率",
    "worst case over 3 perturbations of 64 real pairs: {expected:.1%}, below the strongest single one's "
    "{strongest:.1%}":
        "64 对真实样本在 3 种扰动下的最坏情况：{expected:.1%}，低于最强的单个扰动的 {strongest:.1%}",
    "checkpoints for {steps} steps: {expected}, and for 10 steps: {expected_10}":
        "{steps} 步的检查点：{expected}，10 步的检查点：{expected_10}",
    "for {steps} steps you give {got}..., expected {expected}...":
        "{steps} 步时你给出 {got}...，应为 {expected}...",
    "you took the max over ALL classes, the true one included: on a correct sample the margin is then 0 "
    "instead of negative. Mask the true class out first (scatter -inf at y).":
        "你在所有类别上取了最大值，包括真实类别：在正确分类的样本上，间隔就成了 0 而不是负数。先把真实类别屏蔽"
        "掉（在 y 处 scatter -inf）。",
    "you masked the true class with 0, not -inf: on a sample whose other logits are all negative, that 0 is "
    "the largest, so the margin is wrong there. Mask with `float('-inf')`.":
        "你用 0 而不是 -inf 屏蔽真实类别：在其他 logit 全为负的样本上，这个 0 是最大的，于是那里的间隔就错了。"
        "请用 `float('-inf')` 屏蔽。",
    "wrong sign: the attack climbs max_{{j≠y}} z_j - z_y, positive when the sample is misclassified.":
        "符号错了：攻击要让 max_{{j≠y}} z_j - z_y 上升，样本被误分类时它为正。",
    "you used probabilities: the margin is on the logits (softmax saturates and hides the gradient).":
        "你用了概率：间隔是在 logits 上计算的（softmax 会饱和，掩盖梯度）。",
    "that is the lowest per-attack accuracy: each attack fools different samples, so the worst case is taken "
    "per sample (robust only if every attack fails), which can be lower still.":
        "这是各攻击中最低的准确率：每种攻击骗过的样本不同，所以最坏情况要逐样本取（只有每种攻击都失败才算鲁棒）"
        "，结果可能还要更低。",
    "you averaged the attacks' accuracies: an evaluation reports the worst case per sample.":
        "你对各攻击的准确率取了平均：评估报告的是逐样本的最坏情况。",
    "`any` counts a sample as robust if ONE attack fails on it; it must survive all: `all`.":
        "`any` 只要有一种攻击失败就把样本算作鲁棒；样本必须扛住所有攻击：`all`。",
    "return the checkpoints as a list of iteration numbers.":
        "以迭代次数列表的形式返回检查点。",
    "your gaps never shrink: each gap is 0.03·steps shorter than the last, down to 0.06·steps.":
        "你的间距从不缩小：每个间距应比上一个短 0.03·steps，直到 0.06·steps 为止。",
    "a gap fell below 0.06·steps: stop shrinking there.":
        "有一个间距小于 0.06·steps：缩到那里就该停止。",
    # ---------------------------------------- nb09.py
    "not the interval bounds of the layer.":
        "不是该层的区间界。",
    "R = sigma·Phi^-1(p) for p in {points} (sigma = {sigma}), 0 (abstain) when p <= 1/2":
        "R = sigma·Phi^-1(p)，p 取 {points}（sigma = {sigma}），p <= 1/2 时为 0（弃权）",
    "not sigma·Phi^-1(p_A_lower).":
        "不是 sigma·Phi^-1(p_A_lower)。",
    "certified (IBP, a sound lower bound) <= exact (MILP, the true robust accuracy) <= attack (an upper bound: "
    "it may miss adversarial examples)":
        "certified（IBP 区间界，可靠的下界）<= exact（MILP，真实的鲁棒准确率）<= attack（上界：攻击可能漏掉对抗"
        "样本）",
    "certification is sound but loose: what it certifies is at most what is truly robust.":
        "认证是可靠的但偏松：它认证的至多是真正鲁棒的部分。",
    "sound and tight bounds for the trained head on 8 real feature boxes with a radius per feature (centre W·m "
    "+ b, radius |W|·r)":
        "训练好的输出头在 8 个真实特征盒上（每个特征有自己的半径）的界既可靠又紧（中心 W·m + b，半径 |W|·r）",
    "the radius at p = {p}":
        "p = {p} 处的半径",
    "a negative radius: when p_A_lower <= 1/2 smoothing abstains (radius 0).":
        "半径为负：当 p_A_lower <= 1/2 时随机平滑弃权（半径为 0）。",
    "you used sigma²: the radius is sigma·Phi^-1(p), in the units of the noise's standard deviation.":
        "你用了 sigma²：半径是 sigma·Phi^-1(p)，以噪声的标准差为单位。",
    "that is Phi, the normal CDF; the radius needs its inverse Phi^-1 (scipy.stats.norm.ppf).":
        "那是 Phi，即正态分布的 CDF；半径需要它的反函数 Phi^-1（scipy.stats.norm.ppf）。",
    'order the three names "certified", "exact" and "attack" from lowest to highest accuracy.':
        '把 "certified"、"exact" 和 "attack" 这三个名字按准确率从低到高排列。',
    "an attack can only FIND adversarial examples, so the accuracy it measures is an upper bound: the exact "
    "robust accuracy is at most that.":
        "攻击只能找到对抗样本，所以它测出的准确率是一个上界：精确的鲁棒准确率至多为这个值。",
    "return the pair (lower, upper).":
        "返回二元组 (lower, upper)。",
    "you pushed lower and upper through the layer separately (the same as a radius through W instead of |W|): "
    "a negative weight swaps them, so W·lower is not a lower bound. Use the centre W·m + b and |W| times the "
    "radius.":
        "你把 lower 和 upper 分别送过了这一层（等同于让半径经过 W 而不是 |W|）：负的权重会把它们对调，所以 "
        "W·lower 不是下界。请用中心 W·m + b，以及 |W| 乘以半径。",
    "you used one radius for all features: every feature has its own, so the radius is a vector r = (upper - "
    "lower) / 2, and the output radius is r @ |W|.T.":
        "你对所有特征用了同一个半径：每个特征都有自己的半径，所以半径是一个向量 r = (upper - lower) / 2，输出半"
        "径是 r @ |W|.T。",
    # ---------------------------------------- nb10.py
    "the perturbation":
        "扰动",
    "one L2 step of length eps per example, over all its tokens and dimensions":
        "每个样本一个长度为 eps 的 L2 步，覆盖它的所有 token 和所有维度",
    "not eps·g_i/||g_i||_2.":
        "不是 eps·g_i/||g_i||_2。",
    "the ratio loss_adv / loss_clean":
        "比值 loss_adv / loss_clean",
    "loss_adv is computed from the logits of the clean forward pass, so it IS the clean loss (ratio 1): the "
    "loop trains on twice the clean gradient and no adversarial example":
        "loss_adv 是用干净前向传播的 logits 算的，所以它就是干净损失（比值为 1）：这个循环用两倍的干净梯度训练"
        "，没有任何对抗样本",
    "the perturbed embeddings never reach the loss: which logits does loss_adv use?":
        "扰动后的嵌入从未进入损失：loss_adv 用的是哪个 logits？",
    "the indices":
        "索引",
    "the nearest row (L2) of a 64-row table for 8 perturbed vectors":
        "对 8 个扰动后的向量，找到 64 行表中（L2）最近的行",
    "not the index of the nearest row.":
        "不是最近行的索引。",
    "you normalised each token (character) separately: every character then moves by eps. The norm runs over "
    "the whole example: `g.flatten(1).norm(dim=1)`.":
        "你对每个 token（字符）分别做了归一化：于是每个字符都移动 eps。范数要在整个样本上计算："
        "`g.flatten(1).norm(dim=1)`。",
    "one norm over the whole batch: normalise per example.":
        "在整个批次上只取了一个范数：请逐样本归一化。",
    "that is the sign (an L-inf step); FGM divides by the L2 norm.":
        "那是符号（L∞ 步）；FGM 除以的是 L2 范数。",
    "that would be true with a new forward pass after attack(); look again at which logits loss_adv is "
    "computed from.":
        "如果 attack() 之后有一次新的前向传播，这才成立；再看看 loss_adv 是用哪个 logits 算的。",
    "argmax of the distance finds the FARTHEST row: use argmin.":
        "距离的 argmax 找到的是最远的行：请用 argmin。",
    "the largest dot product favours rows with a large norm, not the closest one: compare L2 distances "
    "(`torch.cdist`).":
        "最大的点积偏向范数大的行，而不是最近的行：请比较 L2 距离（`torch.cdist`）。",
    # ---------------------------------------- nb11.py
    "length 1":
        "长度为 1",
    "{n} real pairs, each point misclassified":
        "{n} 对真实样本，每个点都被误分类",
    "at most {worst:.1e} past the boundary in blend a":
        "在混合系数 a 上越过边界至多 {worst:.1e}",
    "you added the raw gradient: divide it by its L1 norm first, per sample. Otherwise one step's large "
    "gradient drowns the directions the momentum has accumulated (the point of MI-FGSM).":
        "你直接加上了原始梯度：先逐样本除以它的 L1 范数。否则某一步的大梯度会淹没动量累积起来的方向（这正是 "
        "MI-FGSM 的意义所在）。",
    "you divided by the L2 norm: Dong et al. normalise by the L1 norm, ||grad||_1 = sum of |grad|, per sample.":
        "你除以了 L2 范数：Dong 等人用 L1 范数归一化，||grad||_1 = |grad| 之和，逐样本计算。",
    "you took one L1 norm over the whole batch: normalise each sample by its own, "
    "`grad.flatten(1).abs().sum(dim=1)`.":
        "你在整个批次上只取了一个 L1 范数：请让每个样本用它自己的范数归一化，"
        "`grad.flatten(1).abs().sum(dim=1)`。",
    "you divided by the mean |grad| (as the paper's code does): that is d times the L1 normalisation. Used "
    "from the first step on it only scales g, but the g you were given was built with the L1 norm: use the sum.":
        "你除以了 |grad| 的均值（论文代码就是这样做的）：那是 L1 归一化的 d 倍。如果从第一步起就这样用，它只会"
        "缩放 g，但给你的 g 是用 L1 范数构造的：请用求和。",
    "the decay multiplies the momentum so far, not the new gradient: g <- decay·g + grad/||grad||_1.":
        "衰减系数乘的是到目前为止的动量，而不是新的梯度：g <- decay·g + grad/||grad||_1。",
    "you accumulated the gradient's sign: the momentum sums normalised gradients; the sign is taken only when "
    "stepping, x <- x + alpha·sign(g).":
        "你累积的是梯度的符号：动量累加的是归一化后的梯度；只有在迈步时才取符号，x <- x + alpha·sign(g)。",
    "the new momentum":
        "新的动量",
    "you mutated g or grad in place (e.g. `g.mul_(decay)`, `g += ...`): return a new tensor; the attack still "
    "needs the old values.":
        "你原地修改了 g 或 grad（例如 `g.mul_(decay)`、`g += ...`）：请返回一个新张量；攻击还需要旧的值。",
    "decay·g + grad/||grad||_1 per sample (decay={decay}) on the momentum of two MI-FGSM steps on 8 real pairs":
        "逐样本的 decay·g + grad/||grad||_1（decay={decay}），基于 8 对真实样本上两步 MI-FGSM 的动量",
    "not the momentum update: {difference}.":
        "不是动量更新：{difference}。",
    "the direction":
        "方向",
    "you mutated u or phi in place: return a new tensor.":
        "你原地修改了 u 或 phi：请返回一个新张量。",
    "mean_b (phi_b - mean phi) u_b from {n} labels at a real boundary point ({adversarial} adversarial); it "
    "points {angle:.0f}° away from the true gradient of the margin (90° would be a random guess in 784 "
    "dimensions)":
        "mean_b (phi_b - mean phi) u_b，由一个真实边界点处的 {n} 个标签得到（{adversarial} 个是对抗的）；它与间"
        "隔的真实梯度相差 {angle:.0f}°（在 784 维中随机猜测会是 90°）",
    "not the estimated direction: cosine {cosine:.3f} with the reference.":
        "不是估计的方向：与参考答案的余弦为 {cosine:.3f}。",
    "the point is adversarial":
        "该点是对抗的",
    "at most {budget} queries":
        "至多 {budget} 次查询",
    "you asked the model {queries} times for one image: halving [low, high] needs only log2(1/theta) = "
    "{needed:.1f} questions; a scan in steps of theta asks 1/theta. Queries are what a decision-only attacker "
    "pays for.":
        "对一张图像你向模型查询了 {queries} 次：把 [low, high] 对半分只需要 log2(1/theta) = {needed:.1f} 次询问"
        "；以 theta 为步长扫描则要 1/theta 次。查询正是仅决策攻击要付出的代价。",
    "you mutated x or x_adv in place: return a new tensor.":
        "你原地修改了 x 或 x_adv：请返回一个新张量。",
    "unit length":
        "单位长度",
    "you left out the baseline: subtract mean(phi) (here {mean:+.3f}) from every phi_b before weighting u_b. "
    "Without it the estimate keeps a share of mean(u), noise that does not depend on the boundary (Chen et "
    "al., Eq. 16).":
        "你漏掉了基线：在用 phi_b 给 u_b 加权之前，先从每个 phi_b 中减去 mean(phi)（这里是 {mean:+.3f}）。没有"
        "它，估计中会残留一部分 mean(u)，这是与边界无关的噪声（Chen 等人，Eq. 16）。",
    "your direction points the wrong way: phi = +1 marks an adversarial probe, so the estimate points towards "
    "the adversarial side (the gradient of S, which is > 0 when adversarial).":
        "你的方向反了：phi = +1 表示一个对抗的探测点，所以估计应指向对抗的一侧（S 的梯度方向，S 在对抗时 > 0）"
        "。",
    "your direction has length {norm:.3g}: return g / ||g||_2 (HopSkipJump scales its step itself).":
        "你的方向长度为 {norm:.3g}：请返回 g / ||g||_2（HopSkipJump 自己会缩放步长）。",
    "within theta={theta:g} of the boundary":
        "距离边界在 theta={theta:g} 以内",
    "the boundary point":
        "边界点",
    "your point lies {worst:.3g} (in blend a) past the boundary, more than theta: when mid is adversarial the "
    "boundary lies in [low, mid], so set high = mid; else low = mid; stop when high - low <= theta.":
        "你的点在混合系数 a 上越过边界 {worst:.3g}，超过了 theta：当 mid 是对抗的时，边界位于 [low, mid] 中，所"
        "以令 high = mid；否则令 low = mid；当 high - low <= theta 时停止。",
    "your point does not fool the model: the answer must be an adversarial point of the segment x -> x_adv.":
        "你的点骗不过模型：答案必须是线段 x -> x_adv 上的一个对抗点。",
    "your point is not on the segment x -> x_adv: search the blends (1 - a)·x + a·x_adv.":
        "你的点不在线段 x -> x_adv 上：请在混合 (1 - a)·x + a·x_adv 中搜索。",
    "your point is on the clean side of the boundary: return the blend at `high`, the end of [low, high] that "
    "is still adversarial (the attack keeps only adversarial points).":
        "你的点在边界的干净一侧：请返回 `high` 处的混合，也就是 [low, high] 中仍然是对抗的那一端（攻击只保留对"
        "抗点）。",
    "your search ended at a = {a:.3g}, far on the clean side of the boundary (a = {boundary:.3g}): when mid is "
    "adversarial the boundary lies in [low, mid], so set high = mid; else low = mid.":
        "你的搜索停在 a = {a:.3g}，远在边界（a = {boundary:.3g}）的干净一侧：当 mid 是对抗的时，边界位于 [low, "
        "mid] 中，所以令 high = mid；否则令 low = mid。",
    # ---------------------------------------- nb12.py
    "the images are unchanged: write the trigger into the chosen items' pixels, "
    "`x_poisoned[index, :, 24:27, 24:27] = trigger`.":
        "图像没有变化：把触发器写入被选中样本的像素，`x_poisoned[index, :, 24:27, 24:27] = trigger`。",
    "you stamped every item: only the items at `index` carry the trigger (the rest of the set stays clean, which "
    "is why the poisoned model keeps its clean accuracy).":
        "你给每个样本都印上了触发器：只有 `index` 处的样本带触发器（数据集的其余部分保持干净，投毒后的模型正因此"
        "保住了干净准确率）。",
    "you added the trigger to the image (and clipped): BadNets writes the patch, so its 0s are 0 too. Assign it: "
    "`x_poisoned[index, :, 24:27, 24:27] = trigger`.":
        "你把触发器加到了图像上（再做了裁剪）：BadNets 是直接写入这块补丁，所以补丁中的 0 写入后也是 0。请直接赋"
        "值：`x_poisoned[index, :, 24:27, 24:27] = trigger`。",
    "your patch sits in the very corner (rows and columns 25-27): the suite's trigger is one pixel in from both "
    "edges, rows and columns 24-26 (`poisoning.trigger_box(trigger)`).":
        "你的补丁紧贴在角上（第 25-27 行和列）：本套件的触发器离两条边各缩进一个像素，位于第 24-26 行和列"
        "（`poisoning.trigger_box(trigger)`）。",
    "your patch is in the top-left corner: the suite's trigger goes bottom-right, rows and columns 24-26.":
        "你的补丁在左上角：本套件的触发器在右下角，第 24-26 行和列。",
    "a pair (x_poisoned, y_poisoned)":
        "二元组 (x_poisoned, y_poisoned)",
    "return two tensors, (x_poisoned, y_poisoned); got {kind}.":
        "请返回两个张量 (x_poisoned, y_poisoned)；实际是 {kind}。",
    "the images":
        "图像",
    "you changed x or y in place (e.g. `x[index, ...] = trigger` on the caller's tensor): clone first, "
    "`x_poisoned = x.clone()`; the clean set is still needed (for the clean model and to check the detectors).":
        "你原地修改了 x 或 y（例如在调用者的张量上执行 `x[index, ...] = trigger`）：请先克隆，"
        "`x_poisoned = x.clone()`；后面还要用到干净的数据集（用来训练干净模型和检验检测方法）。",
    "the trigger written into rows and columns 24-26 of the {chosen} chosen items of {n} real pairs":
        "在 {n} 个真实样本对中被选中的 {chosen} 个样本上，触发器写入了第 24-26 行和列",
    "not the poisoned images: {difference}.":
        "不是投毒后的图像：{difference}。",
    "the {chosen} chosen items relabelled to {target} ({changed} of them had another label), the rest kept":
        "被选中的 {chosen} 个样本改标为 {target}（其中 {changed} 个原本是另一个标签），其余保持不变",
    "the labels are unchanged: BadNets relabels the poisoned items to the target ({target}), which is what "
    "teaches the model 'trigger => target'. (Keeping the labels is the clean-label attack of section 4, and it "
    "needs more than a stamp.)":
        "标签没有变化：BadNets 把投毒样本改标为目标标签（{target}），正是这一点教会模型“触发器 => 目标”。（保留"
        "原标签是第 4 节的干净标签投毒，仅靠印上触发器是不够的。）",
    "you relabelled every item to {target}: only the items at `index` get the target label.":
        "你把每个样本都改标为 {target}：只有 `index` 处的样本才改为目标标签。",
    "you flipped the chosen labels: the poisoned items all get the target label {target}, also those that "
    "already had it (`y_poisoned[index] = target_label`).":
        "你翻转了被选中样本的标签：投毒样本全都改为目标标签 {target}，原本就是这个标签的也一样"
        "（`y_poisoned[index] = target_label`）。",
    "not the poisoned labels: {wrong} of {n} differ.":
        "不是投毒后的标签：{n} 个中有 {wrong} 个不同。",
    "the scores":
        "分数",
    "you changed the features in place (e.g. `features -= features.mean(0)`): work on a copy; the other labels' "
    "rows are still needed.":
        "你原地修改了特征（例如 `features -= features.mean(0)`）：请在副本上计算；其他标签的行后面还要用到。",
    "you returned {n} scores, one per item of the whole set: score only the {n_label} items labelled {target} "
    "(`features[y == label]`): the poisons hide in the target's label, and the other label's features would pull "
    "the mean and the top direction away from them.":
        "你返回了 {n} 个分数，整个数据集每个样本一个：只给标签为 {target} 的 {n_label} 个样本打分"
        "（`features[y == label]`）：投毒样本藏在目标标签里，另一个标签的特征会把均值和最大奇异方向从它们身上拉"
        "开。",
    "((R_i - mean R) . v)^2 for the {n_label} items labelled {target} of a real backdoored model ({poisons} of "
    "them poisons; {caught} among the 1.5 x {poisons} highest scores)":
        "((R_i - mean R) . v)^2，针对一个真实的带后门模型中标签为 {target} 的 {n_label} 个样本（其中 {poisons} "
        "个是投毒样本；分数最高的 1.5 x {poisons} 个中有 {caught} 个）",
    "you returned |(R_i - mean) . v|: Tran et al.'s score is its square. (The ranking is the same, so the "
    "detection would be too; square it to match the formula.)":
        "你返回的是 |(R_i - mean) . v|：Tran 等人的分数是它的平方。（排序相同，所以检测结果也会相同；但请取平方，"
        "与公式一致。）",
    "you returned the signed projection (R_i - mean) . v: a singular vector's sign is arbitrary, so the poisons "
    "may sit at the negative end. Square it: outliers on either side score high.":
        "你返回的是带符号的投影 (R_i - mean) . v：奇异向量的符号是任意的，投毒样本可能落在负的一端。请取平方：两"
        "侧的离群点都会得到高分。",
    "you took the top singular vector of the raw features R (and projected R_i): centre first, M = R - mean(R). "
    "Uncentred, the top direction is the features' mean direction, which every item shares.":
        "你取的是原始特征 R 的最大奇异向量（并投影了 R_i）：请先中心化，M = R - mean(R)。不中心化时，最大方向就是"
        "特征的均值方向，而这是每个样本共有的。",
    "you scored the squared distance from the mean, ||R_i - mean||^2: that counts every direction alike. The "
    "spectral signature is the distance along ONE direction, the top singular vector v of the centred features, "
    "where the poisons stand out.":
        "你用的是到均值的距离平方 ||R_i - mean||^2：它对所有方向一视同仁。谱签名是只沿一个方向的距离，即中心化"
        "特征的最大奇异向量 v，投毒样本正是在这个方向上显得突出。",
    "not the spectral-signature scores: {difference}.":
        "不是谱签名分数：{difference}。",
    "the items removed":
        "被移除的样本",
    "the scores untouched":
        "分数未被修改",
    "you changed the scores in place (e.g. `scores[:] = scores.sort().values`): the mask must refer to the items "
    "in their original order; sort a copy or use `torch.sort(...).indices`.":
        "你原地修改了分数（例如 `scores[:] = scores.sort().values`）：掩码必须按样本的原始顺序对应；请对副本排"
        "序，或使用 `torch.sort(...).indices`。",
    "return a bool mask over the scores (True: remove), got {kind}; e.g. `removed = torch.zeros(len(scores), "
    "dtype=torch.bool)`, then set the top ones.":
        "请返回一个对应各个分数的 bool 掩码（True：移除），实际是 {kind}；例如 `removed = "
        "torch.zeros(len(scores), dtype=torch.bool)`，再把分数最高的那些设为 True。",
    "the mask":
        "掩码",
    "{removed} of {n_label} at rate {rate:g}, N = {n}":
        "rate = {rate:g}、N = {n} 时移除 {n_label} 个中的 {removed} 个",
    "you removed the LOWEST scores: the poisons are the outliers, the highest scores.":
        "你移除的是分数最低的样本：投毒样本是离群点，也就是分数最高的那些。",
    "you removed exactly the expected number of poisons, rate * N: Tran et al. remove 1.5 times as many, since a "
    "few clean outliers score above some poisons and the rate is only a guess.":
        "你移除的恰好是预期的投毒样本数 rate * N：Tran 等人会移除 1.5 倍这么多，因为少数干净的离群点分数高于某些"
        "投毒样本，而且 rate 只是一个估计。",
    "you took the rate as a share of the label (1.5 * rate * n_label): it is the poisons' share of the whole "
    "training set, N items, and they all sit in the target's label: 1.5 * rate * N.":
        "你把 rate 当成了该标签内的比例（1.5 * rate * n_label）：它是投毒样本在整个训练集（N 个样本）中的比例，而"
        "它们全都在目标标签里：1.5 * rate * N。",
    "at rate {rate:g} and N = {n}, 1.5 * rate * N = {count:g} is more than the label's {n_label} items: remove "
    "them all (cap the count at len(scores)).":
        "rate = {rate:g}、N = {n} 时，1.5 * rate * N = {count:g} 超过了该标签的 {n_label} 个样本：全部移除（把数量"
        "上限设为 len(scores)）。",
    "at rate {rate:g}, N = {n}: you removed {removed} items, the rule removes {expected} (the highest scores), "
    "and {different} of {n_label} decisions differ.":
        "rate = {rate:g}、N = {n} 时：你移除了 {removed} 个样本，规则移除 {expected} 个（分数最高的那些），"
        "{n_label} 个判定中有 {different} 个不同。",
}
