"""What SmallCNN's layout costs: the seed's order (conv -> ReLU -> pool, NCHW) against advlab's
(conv -> pool -> ReLU, channels_last), one torch thread, the same initial weights and data.

    python benchmarks/model_layout.py            # 2,000 training pairs, one epoch; PGD-10 on 1,000 pairs
    python benchmarks/model_layout.py --repeats 5

Prints a table of CPU seconds (the best of --repeats runs, after one warm-up) and the ratio.
"""

from __future__ import annotations

import argparse
import copy
import sys
import time
from pathlib import Path

import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from advlab import attacks, data  # noqa: E402
from advlab.models import SmallCNN  # noqa: E402
from advlab.train import fit  # noqa: E402


class SeedOrder(nn.Module):
    """SmallCNN's weights in the seed's order and memory format: ReLU before the pool, NCHW."""

    def __init__(self, model: SmallCNN):
        super().__init__()
        conv1, conv2 = copy.deepcopy(model.extractor[0]), copy.deepcopy(model.extractor[3])
        self.extractor = nn.Sequential(conv1, nn.ReLU(), nn.MaxPool2d(2), conv2, nn.ReLU(), nn.MaxPool2d(2),
                                       nn.Flatten()).to(memory_format=torch.contiguous_format)
        self.head = copy.deepcopy(model.head)

    def forward(self, x):
        return self.head(self.extractor(x))


def cpu_seconds(work) -> float:
    started = time.process_time()
    work()
    return time.process_time() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(1)
    x, y, _ = data.digit0_mixture("train", n=2000, seed=0, source="bundled")
    torch.manual_seed(0)
    reference = SmallCNN()
    layouts = {"seed's order, NCHW": lambda: SeedOrder(reference), "advlab (pool first, channels_last)": lambda: copy.deepcopy(reference)}
    rows = {}
    for name, build in layouts.items():
        train = lambda: fit(build(), (x, y), epochs=1, live=False, progress=False)  # noqa: E731
        model = build().eval()
        attack = lambda: attacks.pgd(model, x[:1000], y[:1000], 0.1, alpha=0.025, steps=10)  # noqa: E731
        train(), attack()  # warm-up
        rows[name] = [min(cpu_seconds(work) for _ in range(args.repeats)) for work in (train, attack)]
    print(f"{time.strftime('%Y-%m-%d')}, one thread, best of {args.repeats}\n")
    print("| layout | one training epoch (2,000 pairs) | PGD-10 on 1,000 pairs |\n|---|---:|---:|")
    for name, (train_s, attack_s) in rows.items():
        print(f"| {name} | {train_s:.2f} s | {attack_s:.2f} s |")
    (seed_train, seed_attack), (ours_train, ours_attack) = rows.values()
    print(f"| speed-up | {seed_train / ours_train:.2f}x | {seed_attack / ours_attack:.2f}x |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
