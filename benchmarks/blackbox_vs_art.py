"""Time advlab's HopSkipJump against ART's (adversarial-robustness-toolbox 1.20.1) at equal queries.

    .venv/bin/python benchmarks/blackbox_vs_art.py [--n 20] [--iterations 6] [--threads 1]

The model is a SmallCNN trained for 2 epochs on 1000 real digit-0 mixture pairs; the images are
the first `n` test pairs it classifies correctly. ART runs HopSkipJump (L2, `iterations`
iterations, 100 initial evaluations) image by image, as it does, from misclassified uniform
noise that we draw (its own start is unseeded); a counting wrapper charges it every image its
classifier sees (and the noise draws) except its final success check. advlab then gets, per
image, the queries ART spent on it: its distance is the one reached within that many queries.
One thread, one run (no repetitions): wall-clock seconds and CPU seconds (the CPU time is the
steadier number on a shared machine). Not a timed test: read the table, do not assert on it.
"""

from __future__ import annotations

import argparse
import copy
import sys
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from advlab import attacks, blackbox, data, train  # noqa: E402
from advlab.models import SmallCNN  # noqa: E402


class Counting(nn.Module):
    """Counts the images it classifies; casts ART's float64 batches (numpy 2 promotion) to float32."""

    def __init__(self, model):
        super().__init__()
        self.model, self.count = model, 0

    def forward(self, x):
        self.count += len(x)
        return self.model(x.float())


def timed(fn):
    wall, cpu = time.perf_counter(), time.process_time()
    result = fn()
    return result, time.perf_counter() - wall, time.process_time() - cpu


def run_art(model, x, y, iterations):
    """ART's HopSkipJump image by image; returns (adversarial images, queries per image)."""
    from art.attacks.evasion import HopSkipJump
    from art.estimators.classification import PyTorchClassifier

    counted = Counting(copy.deepcopy(model)).eval()
    classifier = PyTorchClassifier(counted, loss=nn.CrossEntropyLoss(), input_shape=tuple(x.shape[1:]),
                                   nb_classes=2, clip_values=(0.0, 1.0))
    np.random.seed(0)
    noise_generator = torch.Generator().manual_seed(123)
    images, queries = [], []
    for i in range(len(x)):
        draws, noise = 0, None
        while noise is None or predicted(model, noise).item() == y[i].item():
            noise, draws = torch.rand((1, *x.shape[1:]), generator=noise_generator), draws + 1
        counted.count = 0
        attack = HopSkipJump(classifier, norm=2, max_iter=iterations, max_eval=10_000, init_eval=100, verbose=False)
        images.append(torch.from_numpy(attack.generate(x[i:i + 1].numpy(), y=y[i:i + 1].numpy(), x_adv_init=noise.numpy())))
        queries.append(counted.count - 1 + draws)
    return torch.cat(images), queries


def predicted(model, x):
    with torch.no_grad():
        return model(x).argmax(1)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=20, help="correctly classified test images (default 20)")
    parser.add_argument("--iterations", type=int, default=6, help="ART's max_iter (default 6: about 1,150 queries)")
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads (default 1)")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)

    x_train, y_train, _ = data.digit0_mixture("train", n=1000, seed=0, source="bundled")
    torch.manual_seed(0)
    model = SmallCNN(num_classes=2)
    train.fit(model, (x_train, y_train), epochs=2, live=False, progress=False)
    model.eval()
    x, y, _ = data.digit0_mixture("test", n=300, seed=1, source="bundled")
    keep = predicted(model, x) == y
    x, y = x[keep][: args.n], y[keep][: args.n]

    (theirs, queries), art_wall, art_cpu = timed(lambda: run_art(model, x, y, args.iterations))
    ours, our_wall, our_cpu = timed(lambda: blackbox.hop_skip_jump(
        model, x, y, max(queries), generator=torch.Generator().manual_seed(0)))
    art_l2 = attacks.perturbation_norms(theirs, x, "2").median().item()
    our_l2 = ours.distance_at(queries).diagonal().median().item()
    fooled = (predicted(model, theirs) != y).float().mean().item(), (predicted(model, ours.x_adv) != y).float().mean().item()

    print(f"torch {torch.__version__}, {torch.get_num_threads()} thread(s), {len(x)} correctly classified digit-0 "
          f"mixture test pairs, HopSkipJump L2, median {int(np.median(queries))} queries per image "
          f"(ART max_iter {args.iterations}), one run")
    print("| attack | wall (s) | CPU (s) | median L2 at equal queries | fooled |")
    print("|---|---|---|---|---|")
    print(f"| advlab hop_skip_jump | {our_wall:.2f} | {our_cpu:.2f} | {our_l2:.3f} | {fooled[1]:.0%} |")
    print(f"| ART HopSkipJump | {art_wall:.2f} | {art_cpu:.2f} | {art_l2:.3f} | {fooled[0]:.0%} |")
    print(f"| ratio advlab / ART | {our_wall / art_wall:.2f} | {our_cpu / art_cpu:.2f} | {our_l2 / art_l2:.2f} | |")


if __name__ == "__main__":
    main()
