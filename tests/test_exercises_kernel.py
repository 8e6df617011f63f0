"""A learner types known wrong answers into a real Jupyter kernel and reads the specific hint in the cell's output."""

import os

from jupyter_client.manager import start_new_kernel

CELLS = {
    "blank": """
from advlab import exercises
solutions = None
reference_answers = exercises.use_solutions(solutions)
def my_fgsm(model, x, y, eps):
    ...  # your code here
if reference_answers:
    my_fgsm = exercises.solution("01.fgsm")
result = exercises.check("01.fgsm", my_fgsm)
assert result.passed or not reference_answers, result.message
""",
    "gradient instead of sign": """
import torch, torch.nn.functional as F
def my_fgsm(model, x, y, eps):
    model.eval()
    x = x.clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(F.cross_entropy(model(x), y), x)
    model.train(False)
    return (x + eps * grad).clamp(0, 1).detach()
exercises.check("01.fgsm", my_fgsm)
""",
    "GRL flipped in forward": """
class Reverse(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, lambd):
        ctx.lambd = lambd
        return -x
    @staticmethod
    def backward(ctx, grad):
        return -ctx.lambd * grad, None
exercises.check("06.grl", lambda x, lambd: Reverse.apply(x, lambd))
""",
    "KL reversed": """
exercises.check("05.kl", lambda clean, perturbed: F.kl_div(F.log_softmax(clean.detach(), 1), F.softmax(perturbed, 1),
                                                            reduction="batchmean"))
""",
    "exception": """
exercises.check("00.label", lambda digits: digits.any(dim=2))
""",
    "never returns": """
from advlab.exercises import core
core.TIME_LIMIT_S = 2
def my_fgsm(model, x, y, eps):
    torch.set_grad_enabled(False)
    while True:
        pass
exercises.check("01.fgsm", my_fgsm)
print("grad enabled afterwards:", torch.is_grad_enabled())
""",
}

# fragments of each cell's output, in order
EXPECTED = {
    "blank": ["… 01.fgsm: not attempted yet"],
    "gradient instead of sign": ["✗ 01.fgsm: 2 problems, the most fundamental first:",
                                 "1. you stepped along the gradient itself, not its sign",
                                 "2. the model's train/eval mode changed",
                                 "held: eval mode inside the attack; the input untouched"],
    "GRL flipped in forward": ["✗ 06.grl: you flipped the sign in FORWARD", "held: -lambda·grad backward"],
    "KL reversed": ["✗ 05.kl: KL in the wrong direction", "held: differentiable in q; p detached"],
    "exception": ["✗ 00.label: your code raised IndexError"],
    "never returns": ["✗ 01.fgsm: your answer computed for 2 s of CPU time without returning", "grad enabled afterwards: True"],
}


def run_cells(cells: dict[str, str]) -> dict[str, tuple[str, list[str]]]:
    """Execute each cell in one kernel (as a learner would: not headless); return its stdout and errors."""
    env = dict(os.environ, ADVLAB_HEADLESS="0", ADVLAB_THREADS="1")
    kernel_manager, client = start_new_kernel(kernel_name="python3", env=env)
    outputs = {}
    try:
        for name, code in cells.items():
            msg_id = client.execute(code)
            text, errors = [], []
            while True:
                message = client.get_iopub_msg(timeout=120)
                if message["parent_header"].get("msg_id") != msg_id:
                    continue
                kind, content = message["msg_type"], message["content"]
                if kind == "stream":
                    text.append(content["text"])
                elif kind == "error":
                    errors.append(f"{content['ename']}: {content['evalue']}")
                elif kind == "status" and content["execution_state"] == "idle":
                    break
            outputs[name] = ("".join(text), errors)
    finally:
        client.stop_channels()
        kernel_manager.shutdown_kernel(now=True)
    return outputs


def test_a_learner_reads_the_specific_hint_for_known_wrong_answers_in_a_real_kernel():
    outputs = run_cells(CELLS)
    for name, expected in EXPECTED.items():
        text, errors = outputs[name]
        assert not errors, f"{name}: the cell raised {errors}"  # a wrong answer never fails the learner's cell
        at = 0
        for fragment in expected:
            assert fragment in text[at:], f"{name}: {fragment!r} (in order) not in {text!r}"
            at = text.index(fragment, at) + len(fragment)
