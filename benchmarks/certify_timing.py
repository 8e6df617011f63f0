"""What a certificate costs: IBP bounds per image and exact (MILP) verifications per image.

    python benchmarks/certify_timing.py            # defaults below
    python benchmarks/certify_timing.py --images 20 --hidden 32 64 --eps 0.02 0.05 0.1

Trains, on real digit-0 mixture pairs (advlab.data, the bundled MNIST subset unless full MNIST
is present), the networks notebook 09 certifies:

* IBP: the notebook's strided CNN (conv 16 / conv 32 / 100 / 2) and advlab's SmallCNN, on 28x28;
  milliseconds per image of ``certify.certified`` in batches of 500, and of one plain forward pass.
* MILP: Flatten -> Linear(196, h) -> ReLU -> Linear(h, 2) on 14x14 (average-pooled) pairs, for each
  hidden width h; per eps the median and slowest seconds of ``certify.exact_robustness`` per image,
  the mean number of unstable ReLUs (binary variables), and how many solves hit the time limit.

Prints markdown tables. Timings depend on the machine and its load: quote them with both.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
import torch.nn.functional as F
from torch import nn

from advlab import certify, config, data
from advlab.models import SmallCNN
from advlab.train import fit


def strided_cnn():
    return nn.Sequential(nn.Conv2d(1, 16, 4, stride=2, padding=1), nn.ReLU(), nn.Conv2d(16, 32, 4, stride=2, padding=1),
                         nn.ReLU(), nn.Flatten(), nn.Linear(32 * 7 * 7, 100), nn.ReLU(), nn.Linear(100, 2))


def per_image_ms(function, n_images, repeats=3) -> float:
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        function()
        best = min(best, time.perf_counter() - started)
    return 1000 * best / n_images


def ibp_table(x_train, y_train, x_test, y_test, eps):
    print(f"\n### IBP bounds, {len(y_test)} test pairs, eps = {eps}\n")
    print("| model | forward pass (ms/image) | IBP certificate (ms/image) | ratio | certified acc |")
    print("|---|---|---|---|---|")
    for name, build in [("strided CNN (notebook 09)", strided_cnn), ("SmallCNN", SmallCNN)]:
        torch.manual_seed(0)
        model = build()
        fit(model, (x_train, y_train), epochs=2, live=False, progress=False)
        model.eval()
        with torch.no_grad():
            forward = per_image_ms(lambda: [model(x_test[i:i + 500]) for i in range(0, len(x_test), 500)], len(x_test))
        bounds = per_image_ms(lambda: certify.certified(model, x_test, y_test, eps), len(x_test))
        accuracy = certify.certified_accuracy(model, x_test, y_test, eps)
        print(f"| {name} | {forward:.3f} | {bounds:.3f} | {bounds / forward:.1f} | {accuracy:.3f} |")


def milp_table(x_train, y_train, x_test, y_test, widths, epsilons, images, time_limit):
    x_train14, x_test14 = F.avg_pool2d(x_train, 2), F.avg_pool2d(x_test, 2)
    print(f"\n### Exact verification (MILP, HiGHS), {images} test pairs, 196-h-2 ReLU network on 14x14, "
          f"time limit {time_limit} s per solve\n")
    print("| hidden h | eps | median s/image | slowest s/image | unstable ReLUs | robust | not robust | undecided |")
    print("|---|---|---|---|---|---|---|---|")
    for width in widths:
        torch.manual_seed(0)
        model = nn.Sequential(nn.Flatten(), nn.Linear(196, width), nn.ReLU(), nn.Linear(width, 2))
        fit(model, (x_train14, y_train), epochs=4, live=False, progress=False)
        model.eval()
        for eps in epsilons:
            verdicts = [certify.exact_robustness(model, x_test14[i:i + 1], y_test[i], eps, time_limit=time_limit)
                        for i in range(images)]
            seconds = [v.seconds for v in verdicts]
            counts = [sum(v.robust is r for v in verdicts) for r in (True, False, None)]
            unstable = statistics.mean(v.unstable_relus for v in verdicts)
            print(f"| {width} | {eps} | {statistics.median(seconds):.3f} | {max(seconds):.3f} | {unstable:.1f} | "
                  f"{counts[0]} | {counts[1]} | {counts[2]} |")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=20, help="test pairs verified by MILP per setting")
    parser.add_argument("--hidden", type=int, nargs="+", default=[32, 64], help="hidden widths of the MILP network")
    parser.add_argument("--eps", type=float, nargs="+", default=[0.02, 0.05, 0.1], help="MILP budgets (L-inf)")
    parser.add_argument("--time-limit", type=float, default=10.0, help="seconds per MILP solve")
    parser.add_argument("--source", default="auto")
    args = parser.parse_args()
    threads = config.apply_thread_setting()
    x_train, y_train, _ = data.digit0_mixture("train", n=2000, seed=0, source=args.source)
    x_test, y_test, _ = data.digit0_mixture("test", n=1000, seed=0, source=args.source)
    print(f"data: {data.describe_source(args.source)}; torch threads: {threads}")
    ibp_table(x_train, y_train, x_test, y_test, eps=0.1)
    milp_table(x_train, y_train, x_test, y_test, args.hidden, args.eps, args.images, args.time_limit)


if __name__ == "__main__":
    main()
