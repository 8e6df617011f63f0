"""What stopping at the first misclassified iterate saves: PGD with restarts, as the worst-case ensemble
runs it, with and without ``stop_when_fooled``, on a standard and a PGD-trained SmallCNN.

    python benchmarks/pgd_stop_when_fooled.py              # 500 test pairs, PGD-20 x3, eps 0.05 / 0.1 / 0.3
    python benchmarks/pgd_stop_when_fooled.py --pairs 200

One torch thread, the digit-0 mixture task on the bundled digits, models trained here for a few
epochs (PGD-AT: 5 steps at eps 0.1). Prints a table of CPU seconds per attack and the robust
accuracy each leaves: the stopping attack must leave at most the full attack's accuracy.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from advlab import adversarial_training as at  # noqa: E402
from advlab import attacks, data, evaluate  # noqa: E402
from advlab.models import SmallCNN  # noqa: E402
from advlab.train import fit  # noqa: E402

STEPS, RESTARTS = 20, 3


def trained(method: dict, x, y, epochs: int) -> SmallCNN:
    torch.manual_seed(0)
    model = SmallCNN(num_classes=2)
    fit(model, (x, y), epochs=epochs, seed=0, progress=False, live=False, **method)
    return model.eval()


def timed_pgd(model, x, y, eps, stop) -> tuple[float, float]:
    """(CPU seconds, robust accuracy) of PGD-20 x3 from random starts, alpha = 2.5 eps / 20."""
    started = time.process_time()
    x_adv = attacks.pgd(model, x, y, eps, alpha=2.5 * eps / STEPS, steps=STEPS, random_start=True,
                        restarts=RESTARTS, generator=torch.Generator().manual_seed(1), stop_when_fooled=stop)
    seconds = time.process_time() - started
    return seconds, evaluate.accuracy(model, x_adv, y)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=500)
    parser.add_argument("--epochs", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(1)
    x, y, _ = data.digit0_mixture("train", n=2000, seed=0, source="bundled")
    x_test, y_test, _ = data.digit0_mixture("test", n=args.pairs, seed=0, source="bundled")
    models = {"standard": trained({}, x, y, args.epochs),
              "PGD-AT (eps 0.1)": trained(at.setup("pgd", 0.1, steps=5, seed=0), x, y, args.epochs)}
    print(f"{time.strftime('%Y-%m-%d')}: PGD-{STEPS} x{RESTARTS} on {args.pairs} test pairs, one torch thread\n")
    print("| model | eps | full: CPU | full: accuracy | stop when fooled: CPU | stop: accuracy | CPU ratio |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for name, model in models.items():
        for eps in (0.05, 0.1, 0.3):
            full_s, full_acc = timed_pgd(model, x_test, y_test, eps, stop=False)
            stop_s, stop_acc = timed_pgd(model, x_test, y_test, eps, stop=True)
            assert stop_acc <= full_acc, "a sample the full attack fools is fooled by some iterate"
            print(f"| {name} | {eps} | {full_s:.1f} s | {full_acc:.1%} | {stop_s:.1f} s | {stop_acc:.1%} | "
                  f"{full_s / stop_s:.1f}x |", flush=True)


if __name__ == "__main__":
    main()
