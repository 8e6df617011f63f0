"""How much does DANN gain on the target, per seed and per data source? Notebook 06's section 3, repeated.

    python benchmarks/dann_gain_seeds.py                   # seeds 0-9, full and quick mode, both sources (~25 min CPU)
    python benchmarks/dann_gain_seeds.py --seeds 0 1 --modes full --sources subset
    python benchmarks/dann_gain_seeds.py --retrain         # train every run again instead of loading stored ones

Notebook 06 (section 3) trains three SmallCNNs on 10-class MNIST and its textured target domain:
source only, DANN (the domain head behind the GRL, lambda(p) ramp) and train on the labelled
target. It asserts a floor on DANN's mean gain over its first seeds (3 in full mode, 2 in quick
mode), that train on target beats source only (and DANN, in full mode), and a floor on the proxy
A-distance of both feature sets. This script runs the same experiment with
the same data, parameters, seeds and advlab calls as the notebook (one process, no notebook, no
live plots) for several seeds, and prints a markdown table per run and, per (mode, source), the
gain's mean, standard deviation and minimum, the smallest mean over the notebook's consecutive
seeds and the other asserts' smallest margins, so that the notebook's floors can be set below
measured margins. About 1 minute of CPU per seed and source in full mode, 15 s in quick
mode (one thread).

Runs come from the run cache (``advlab.runs``, folder ``config.runs_dir()``): every training run
is the notebook's ``runs.fit`` call with the same arguments in the same order, so the runs a
notebook 06 Run All trained (seed `seed` of section 3 and the seeds of its DANN-over-seeds cell,
on the same data) are loaded here, not trained again, and the runs this script trains are there
for the next one. Only the per-epoch accuracies that the notebook did not measure are evaluated
on the stored weights of each epoch. The CPU column is this process's time for the row (small
when the runs were loaded; the count of loaded runs is beside it).

Sources: "subset" is the bundled 5,000 real digits (source="bundled"); "full-size" is the
full-size stand-in written by ``advlab.mnist_files`` (60,000 / 10,000 shifted copies of the
bundled digits, loaded as source="torchvision"). **The full-size stand-in is not MNIST**: its
accuracies say how robust the asserts are on another data distribution, never what full MNIST
gives.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from advlab import config, data, evaluate, grl, runs, stats  # noqa: E402
from advlab.mnist_files import write_full_size_stand_in  # noqa: E402
from advlab.models import SmallCNN  # noqa: E402

SOURCES = {"subset": "bundled", "full-size": "torchvision"}
MODES = {"full": {"n_domain": 4000, "da_epochs": 10}, "quick": {"n_domain": 2000, "da_epochs": 4}}  # notebook 06's
N_TEST = data.TEST_PAIRS  # notebook 06: sample_size(None, quick, full=TEST_PAIRS, small=TEST_PAIRS)
SHIFT, BATCH_SIZE = "texture", 64
NOTEBOOK_SEEDS = {"full": 3, "quick": 2}  # notebook 06's da_seeds defaults: its gain assert is on the mean over these


def features_pad(model, x_source_test, x_target_test, seed, n=500):
    """Notebook 06's proxy A-distance: `grl.proxy_a_distance` of the features of n test images per domain."""
    device = config.get_device()
    with torch.no_grad():
        return grl.proxy_a_distance(model.features(x_source_test[:n].to(device)), model.features(x_target_test[:n].to(device)),
                                    seed=seed)


def run(seed: int, source: str, n_domain: int, da_epochs: int) -> dict:
    """Notebook 06's section 3 for one seed: target accuracies, gain, proxy A-distances, CPU seconds."""
    cpu_started = time.process_time()
    config.seed_everything(seed)
    x_source, y_source = data.mnist10("train", n=n_domain, seed=seed, source=source)
    x_target, y_target_hidden = data.shifted_mnist("train", SHIFT, n=n_domain, seed=seed + 1, source=source)
    x_source_test, y_source_test = data.mnist10("test", n=N_TEST, seed=seed, source=source)
    x_target_test, y_target_test = data.shifted_mnist("test", SHIFT, n=N_TEST, seed=seed + 2, source=source)
    metrics = {"target acc": lambda m: evaluate.accuracy(m, x_target_test, y_target_test),
               "source acc": lambda m: evaluate.accuracy(m, x_source_test, y_source_test)}
    device = config.get_device()  # the notebook's models are on it
    shown = dict(metrics=metrics, live=False, progress=False)  # not part of a run's key (metrics are stored beside it)

    # Notebook 06's three runs of section 3 (and, for source only and DANN, its DANN-over-seeds cell): the same
    # runs.fit arguments in the same order (epochs, batch_size, seed, lr_schedule[, extra_losses]), so the same keys.
    torch.manual_seed(seed)
    source_only = SmallCNN(10).to(device)
    source_history = runs.fit(source_only, (x_source, y_source), epochs=da_epochs, batch_size=BATCH_SIZE, seed=seed,
                              lr_schedule=grl.dann_lr_factor, **shown, title=f"source only, seed {seed}")
    torch.manual_seed(seed)
    dann = grl.GRLNet(10).to(device)
    domain_term = grl.DomainAdversarialLoss(x_target, lambd=1.0, gamma=10.0, seed=seed)
    dann_history = runs.fit(dann, (x_source, y_source), epochs=da_epochs, batch_size=BATCH_SIZE, seed=seed,
                            lr_schedule=grl.dann_lr_factor, extra_losses={"domain loss": domain_term}, **shown,
                            title=f"DANN, seed {seed}")
    torch.manual_seed(seed)
    target_only = SmallCNN(10).to(device)
    target_history = runs.fit(target_only, (x_target, y_target_hidden), epochs=da_epochs, batch_size=BATCH_SIZE,
                              seed=seed, lr_schedule=grl.dann_lr_factor, **shown, title=f"train on target, seed {seed}")

    row = {"source only": source_history.last("target acc"), "DANN": dann_history.last("target acc"),
           "train on target": target_history.last("target acc"),
           "gains per epoch": [d - s for (_, d), (_, s) in zip(dann_history["target acc"],
                                                                source_history["target acc"])]}
    row["gain"] = row["DANN"] - row["source only"]
    row["PAD source only"] = features_pad(source_only, x_source_test, x_target_test, seed)
    row["PAD DANN"] = features_pad(dann, x_source_test, x_target_test, seed)
    row["cpu s"] = time.process_time() - cpu_started
    row["loaded"] = sum(h.loaded for h in (source_history, dann_history, target_history))
    return row


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=list(range(10)))
    parser.add_argument("--modes", nargs="+", choices=list(MODES), default=list(MODES))
    parser.add_argument("--sources", nargs="+", choices=list(SOURCES), default=list(SOURCES))
    parser.add_argument("--quick-sources", nargs="+", choices=list(SOURCES), default=list(SOURCES),
                        help="sources for quick mode (default: both; CI runs the subset)")
    parser.add_argument("--retrain", action="store_true", help="train every run again (and store it) instead of loading it")
    args = parser.parse_args()
    runs.set_retrain(args.retrain)
    # the full-size stand-in moves ADVLAB_DATA to a temporary folder: the run cache stays where notebook 06 keeps it
    os.environ[config.RUNS_ENV] = str(config.runs_dir())

    stand_in = None
    used = (args.sources if "full" in args.modes else []) + (args.quick_sources if "quick" in args.modes else [])
    if "full-size" in used:
        stand_in = Path(tempfile.mkdtemp(prefix="advlab-dann-full-size-"))
        write_full_size_stand_in(stand_in)
        os.environ[config.DATA_ENV] = str(stand_in)  # before the first torchvision load
    try:
        report(args)
    finally:
        if stand_in is not None:
            shutil.rmtree(stand_in, ignore_errors=True)
    return 0


def report(args) -> None:
    """Run every (mode, source, seed) and print the per-run table, then the summary."""
    print(f"torch threads: {torch.get_num_threads()}; full-size = the stand-in files, not MNIST\n")
    print("| mode | data | seed | source only | DANN | gain | gain per epoch | train on target | "
          "PAD source only | PAD DANN | CPU |")
    print("|---|---|---:|---:|---:|---:|---|---:|---:|---:|---:|")
    summary = {}
    for mode in args.modes:
        for name in args.sources if mode == "full" else args.quick_sources:
            rows = []
            for seed in args.seeds:
                row = run(seed, SOURCES[name], **MODES[mode]) | {"seed": seed}
                rows.append(row)
                per_epoch = " ".join(f"{g:+.0%}" for g in row["gains per epoch"])
                print(f"| {mode} | {name} | {seed} | {row['source only']:.1%} | {row['DANN']:.1%} | "
                      f"{row['gain']:+.1%} | "
                      f"{per_epoch} | {row['train on target']:.1%} | {row['PAD source only']:.2f} | "
                      f"{row['PAD DANN']:.2f} | {row['cpu s']:.0f} s ({row['loaded']} of 3 runs loaded) |", flush=True)
            summary[(mode, name)] = rows

    print("\nNotebook 06 asserts on the mean gain over k consecutive seeds (its da_seeds: 3 full, 2 quick): "
          "'window min' is the smallest such mean among these seeds, 'worst k' the smallest mean of any k of them.\n")
    print("| mode | data | seeds | gain mean ± std | gain min | k | window min | worst k | "
          "min (target - DANN) | min (target - source only) | min PAD | CPU per seed |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for (mode, name), rows in summary.items():
        gains = [r["gain"] for r in rows]
        k = min(NOTEBOOK_SEEDS[mode], len(gains))
        consecutive = [rows[i : i + k] for i in range(len(rows) - k + 1)
                       if [r["seed"] for r in rows[i : i + k]] == list(range(rows[i]["seed"], rows[i]["seed"] + k))]
        window = min((statistics.mean(r["gain"] for r in w) for w in consecutive), default=float("nan"))
        worst = statistics.mean(sorted(gains)[:k])
        upper = min(r["train on target"] - r["DANN"] for r in rows)
        above_source = min(r["train on target"] - r["source only"] for r in rows)
        pad = min(min(r["PAD source only"], r["PAD DANN"]) for r in rows)
        cpu = statistics.mean(r["cpu s"] for r in rows)
        print(f"| {mode} | {name} | {len(rows)} | {stats.spread(gains, '+.1%', over=None)} | {min(gains):+.1%} | "
              f"{k} | "
              f"{window:+.1%} | {worst:+.1%} | {upper:+.1%} | {above_source:+.1%} | {pad:.2f} | {cpu:.0f} s |")


if __name__ == "__main__":
    sys.exit(main())
