"""Time advlab's FGSM and PGD-40 against torchattacks 3.5.1 on the same model and batch.

    .venv/bin/python benchmarks/attacks_vs_torchattacks.py [--n 1000] [--reps 7] [--threads N]

One process, one machine: the repetitions of every attack are interleaved (A, B, A, B, ...)
so that a slow patch of a shared machine hits both sides alike, and the table reports
medians. It also counts the model's forward and backward passes per attack, and checks that
both libraries return the same images (the tests check that in detail). Not a timed test:
read the table, do not assert on it.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from advlab import attacks, config, data  # noqa: E402
from advlab.models import SmallCNN  # noqa: E402


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1000, help="images in the batch (default 1000)")
    parser.add_argument("--reps", type=int, default=7, help="timed repetitions per attack (default 7)")
    parser.add_argument("--threads", type=int, default=None, help="torch intra-op threads (default: torch's)")
    parser.add_argument("--eps", type=float, default=0.1)
    args = parser.parse_args(argv)
    import torchattacks

    if args.threads:
        torch.set_num_threads(args.threads)
    device = config.get_device()
    torch.manual_seed(0)
    model = SmallCNN(num_classes=2).to(device).eval()
    x, y, _ = data.digit0_mixture("test", n=args.n, seed=0, source="bundled")
    x, y = x.to(device), y.to(device)
    eps, alpha, steps = args.eps, args.eps / 10, 40

    reference_fgsm = torchattacks.FGSM(model, eps=eps)
    reference_pgd = torchattacks.PGD(model, eps=eps, alpha=alpha, steps=steps, random_start=False)
    pairs = {
        "FGSM": (lambda: attacks.fgsm(model, x, y, eps), lambda: reference_fgsm(x, y)),
        "PGD-40 (L∞)": (lambda: attacks.pgd(model, x, y, eps, alpha, steps), lambda: reference_pgd(x, y)),
    }
    print(f"device {device}, torch {torch.__version__}, {torch.get_num_threads()} thread(s), "
          f"batch of {len(x)} digit-0 mixture images, SmallCNN, eps {eps}, {args.reps} interleaved repetitions")
    rows = []
    for name, (ours, theirs) in pairs.items():
        same = torch.equal(ours(), theirs())  # also a warm-up of both
        times = {"advlab": [], "torchattacks": []}
        for rep in range(args.reps):
            order = [("advlab", ours), ("torchattacks", theirs)]
            for label, fn in order if rep % 2 == 0 else order[::-1]:
                started = time.perf_counter()
                fn()
                if device.type == "cuda":
                    torch.cuda.synchronize()
                times[label].append(time.perf_counter() - started)
        ours_s, theirs_s = statistics.median(times["advlab"]), statistics.median(times["torchattacks"])
        rows.append((name, ours_s, theirs_s, ours_s / theirs_s, *count_passes(model, ours), *count_passes(model, theirs), same))

    header = f"| attack | advlab (s) | torchattacks (s) | ratio | passes advlab (fwd/bwd) | passes torchattacks (fwd/bwd) | same output |"
    print(header)
    print("|" + "---|" * 7)
    for name, ours_s, theirs_s, ratio, of, ob, tf, tb, same in rows:
        print(f"| {name} | {ours_s:.3f} | {theirs_s:.3f} | {ratio:.2f} | {of}/{ob} | {tf}/{tb} | {'yes' if same else 'NO'} |")


def count_passes(model: torch.nn.Module, attack) -> tuple[int, int]:
    """Forward passes (a forward hook) and backward passes (a tensor hook on the logits) of one attack call."""
    counts = {"forward": 0, "backward": 0}

    def on_forward(_module, _inputs, output):
        counts["forward"] += 1
        if output.requires_grad:
            output.register_hook(lambda grad: counts.__setitem__("backward", counts["backward"] + 1))

    handle = model.register_forward_hook(on_forward)
    try:
        attack()
    finally:
        handle.remove()
    return counts["forward"], counts["backward"]


if __name__ == "__main__":
    main()
