"""Time advlab's APGD and Square against torchattacks 3.5.1: same model, images and budget.

    .venv/bin/python benchmarks/strong_attacks_vs_torchattacks.py [--n 500] [--reps 3] [--steps 100] [--queries 1000]

The model is a SmallCNN trained for 2 epochs on 1000 real digit-0 mixture pairs (an untrained
net makes Square trivially easy or impossible). Repetitions are interleaved (A, B, B, A, ...)
so that a slow patch of a shared machine hits both sides alike; the table reports medians, the
time ratio advlab / torchattacks (target <= 1.0) and both robust accuracies (they need not be
identical: the random starts differ; tests/test_apgd.py and tests/test_square.py bound the
difference). Not a timed test: read the table, do not assert on it.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from advlab import attacks, config, data, train  # noqa: E402
from advlab.models import SmallCNN  # noqa: E402


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=500, help="test images in the batch (default 500)")
    parser.add_argument("--reps", type=int, default=3, help="timed repetitions per attack (default 3)")
    parser.add_argument("--steps", type=int, default=100, help="APGD steps (default 100, the paper's)")
    parser.add_argument("--queries", type=int, default=1000, help="Square queries (default 1000)")
    parser.add_argument("--threads", type=int, default=None, help="torch intra-op threads (default: torch's)")
    parser.add_argument("--eps", type=float, default=0.1)
    args = parser.parse_args(argv)
    import torchattacks

    if args.threads:
        torch.set_num_threads(args.threads)
    device = config.get_device()
    x_train, y_train, _ = data.digit0_mixture("train", n=1000, seed=0, source="bundled")
    torch.manual_seed(0)
    model = SmallCNN(num_classes=2).to(device)
    train.fit(model, (x_train, y_train), epochs=2, live=False, progress=False)
    model.eval()
    x, y, _ = data.digit0_mixture("test", n=args.n, seed=1, source="bundled")
    x, y = x.to(device), y.to(device)
    eps, steps, queries = args.eps, args.steps, args.queries
    eps_l2 = 1.5

    def generator():
        return torch.Generator(device=device).manual_seed(0)

    pairs = {
        f"APGD-CE-{steps} (L∞)": (lambda: attacks.apgd(model, x, y, eps, steps=steps, generator=generator()),
                                  lambda: torchattacks.APGD(model, eps=eps, steps=steps, seed=0)(x, y)),
        f"APGD-CE-{steps} (L2, eps {eps_l2})": (
            lambda: attacks.apgd(model, x, y, eps_l2, steps=steps, norm="2", generator=generator()),
            lambda: torchattacks.APGD(model, norm="L2", eps=eps_l2, steps=steps, seed=0)(x, y)),
        f"Square-{queries} (L∞)": (lambda: attacks.square(model, x, y, eps, n_queries=queries, generator=generator()),
                                   lambda: torchattacks.Square(model, eps=eps, n_queries=queries, seed=0)(x, y)),
    }
    print(f"device {device}, torch {torch.__version__}, {torch.get_num_threads()} thread(s), {len(x)} digit-0 mixture "
          f"test images, SmallCNN after 2 epochs (clean {accuracy(model, x, y):.1%}), eps {eps}, "
          f"{args.reps} interleaved repetitions")
    print("| attack | advlab (s) | torchattacks (s) | ratio | robust acc advlab | robust acc torchattacks |")
    print("|" + "---|" * 6, flush=True)
    for name, (ours, theirs) in pairs.items():
        robust = (accuracy(model, ours(), y), accuracy(model, theirs(), y))  # also a warm-up of both
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
        print(f"| {name} | {ours_s:.2f} | {theirs_s:.2f} | {ours_s / theirs_s:.2f} | {robust[0]:.1%} | {robust[1]:.1%} |",
              flush=True)  # row by row: a slow machine still shows what it measured


def accuracy(model, x, y) -> float:
    with torch.no_grad():
        return (model(x).argmax(1) == y).float().mean().item()


if __name__ == "__main__":
    main()
