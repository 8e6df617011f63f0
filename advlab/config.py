"""Run-wide settings: quick mode, seeds, the device, and the data cache folder.

Everything here reads environment variables so that `make test`, CI, papermill and a
learner's JupyterLab can steer the same notebooks without editing them:

    ADVLAB_QUICK=1       quick mode: small data, few epochs (what CI runs)
    ADVLAB_DEVICE=cpu    force a device (default: CUDA when available, else CPU)
    ADVLAB_DATA=/path    where downloaded datasets are cached (default ~/.cache/advlab)
    ADVLAB_RUNS=/path    where finished training runs and evaluations are kept (default
                         $ADVLAB_DATA/runs); `make test` points it at an empty folder
    ADVLAB_THREADS=1     CPU threads for torch (default: torch's own choice, one per core, but
                         no more than a container's CPU quota allows, as on Binder);
                         1 avoids thrashing when several kernels share a small machine
    ADVLAB_HEADLESS=1    nobody is watching (nbval, papermill reports, benchmarks): live plots
                         draw only their final frame and explorers also embed precomputed frames.
                         `make test`, `make report` and advlab.reports set it.
    ADVLAB_LANG=zh       the language of what advlab says to the learner (exercise verdicts):
                         "en" or "zh"; default: "zh" when the kernel runs in a folder named
                         `zh` (the Chinese edition, notebooks/zh/), else "en"
"""

from __future__ import annotations

import math
import os
import random
from pathlib import Path

import numpy as np
import torch

QUICK_ENV = "ADVLAB_QUICK"
DEVICE_ENV = "ADVLAB_DEVICE"
DATA_ENV = "ADVLAB_DATA"
THREADS_ENV = "ADVLAB_THREADS"
HEADLESS_ENV = "ADVLAB_HEADLESS"
RUNS_ENV = "ADVLAB_RUNS"
LANG_ENV = "ADVLAB_LANG"
LANGUAGES = ("en", "zh")

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def quick_mode(quick: bool | None = None) -> bool:
    """Resolve quick mode: an explicit `quick` wins, else the ADVLAB_QUICK variable, else False.

    Notebooks call `quick = config.quick_mode(quick)` right after their papermill
    `parameters` cell, where `quick = None` by default.
    """
    if quick is not None:
        if not isinstance(quick, bool):
            raise TypeError(f"quick must be True, False or None, got {quick!r}")
        return quick
    return _flag(QUICK_ENV)


def headless() -> bool:
    """True when no person watches the notebook run (ADVLAB_HEADLESS set: nbval, papermill, benchmarks).

    Headless runs must not depend on timing: a live plot then sends one final frame instead of
    redrawing as training goes, so the number of messages a cell sends is fixed by the work.
    """
    return _flag(HEADLESS_ENV)


def language(lang: str | None = None) -> str:
    """The learner's language, "en" or "zh": an explicit `lang` wins, else ADVLAB_LANG, else the edition.

    The two editions run the same code, so the edition is read from where the kernel runs:
    JupyterLab, nbval and papermill start a notebook's kernel in the notebook's own folder,
    and the Chinese edition lives in ``notebooks/zh/``.
    """
    if lang is None:
        lang = os.environ.get(LANG_ENV, "").strip().lower() or ("zh" if Path.cwd().name == "zh" else "en")
        where = f"the {LANG_ENV} variable"
    else:
        where = "lang"
    if lang not in LANGUAGES:
        raise ValueError(f"{where} must be one of {LANGUAGES}, got {lang!r}")
    return lang


def _flag(name: str) -> bool:
    value = os.environ.get(name, "").strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ValueError(f"{name} must be one of 1/0/true/false/yes/no, got {value!r}")


def seed_everything(seed: int) -> torch.Generator:
    """Seed python's, numpy's and torch's generators; return a torch.Generator with that seed.

    The same seed gives the same numbers twice on the same machine: the helpers in
    advlab take their randomness from explicit generators derived from this seed.
    """
    if not isinstance(seed, int) or isinstance(seed, bool):
        raise TypeError(f"seed must be an int, got {seed!r}")
    if seed < 0:
        raise ValueError(f"seed must be >= 0, got {seed}")
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


def get_device(device: str | torch.device | None = None) -> torch.device:
    """The device to compute on: `device` if given, else ADVLAB_DEVICE, else CUDA if available, else CPU."""
    if device is None:
        device = os.environ.get(DEVICE_ENV) or ("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def cache_dir() -> Path:
    """Folder for downloaded datasets (ADVLAB_DATA, default ~/.cache/advlab); created on demand."""
    path = Path(os.environ.get(DATA_ENV) or Path.home() / ".cache" / "advlab")
    path.mkdir(parents=True, exist_ok=True)
    return path


def runs_dir() -> Path:
    """Folder of the run cache (:mod:`advlab.runs`): ADVLAB_RUNS, default ``cache_dir()/runs``; created on demand."""
    value = os.environ.get(RUNS_ENV)
    path = Path(value) if value else cache_dir() / "runs"
    path.mkdir(parents=True, exist_ok=True)
    return path


def cpu_quota(cgroup_root: Path = Path("/sys/fs/cgroup")) -> int | None:
    """The CPUs a container's quota allows (rounded up), or None when there is no quota.

        cpus = ceil(quota / period)    from cgroup v2 ``cpu.max`` or v1 ``cpu.cfs_quota_us`` / ``cpu.cfs_period_us``

    Binder's pods see all of the host's cores but may use about one: PyTorch would start one
    thread per host core and thrash.
    """
    v2, v1 = cgroup_root / "cpu.max", cgroup_root / "cpu"
    try:
        if v2.exists():
            quota, period = v2.read_text().split()[:2]
        else:
            quota, period = (v1 / "cpu.cfs_quota_us").read_text(), (v1 / "cpu.cfs_period_us").read_text()
        quota, period = quota.strip(), int(period)
    except (OSError, ValueError):
        return None
    if quota in ("max", "-1") or period <= 0:
        return None
    return max(1, math.ceil(int(quota) / period))


def apply_thread_setting() -> int:
    """Set torch's CPU thread count: ADVLAB_THREADS if set, else no more than the container's CPU quota."""
    value = os.environ.get(THREADS_ENV, "").strip()
    if value:
        if not value.isdigit() or int(value) < 1:
            raise ValueError(f"{THREADS_ENV} must be a positive integer, got {value!r}")
        torch.set_num_threads(int(value))
    elif (quota := cpu_quota()) is not None and quota < torch.get_num_threads():
        torch.set_num_threads(quota)
    return torch.get_num_threads()


apply_thread_setting()
