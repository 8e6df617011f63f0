"""Statistics over seeds (or episodes): spread, standard error, Student's t, and a paired verdict.

Every multi-seed claim in the notebooks rests on a handful of numbers, one per seed. This module
computes what they say, the same way everywhere, and prints their spread in one style:

* the mean and the sample standard deviation, $\\bar x = \\frac1n\\sum_i x_i$ and
  $s = \\sqrt{\\frac{1}{n-1}\\sum_i (x_i - \\bar x)^2}$ (ddof = 1: the seeds are a sample);
* the standard error of the mean, $s / \\sqrt n$;
* the confidence half-width of the mean, $t_{n-1,\\,(1+c)/2} \\cdot s/\\sqrt n$, with Student's t and
  not the normal's 1.96: with 3 to 5 seeds the t quantile is 2.78 to 4.30 at 95 %;
* a paired comparison of two methods run on the same seeds (same data, same initial weights):
  the per-seed differences $d_i = a_i - b_i$, $t = \\bar d / (s_d/\\sqrt n)$, and the verdict
  "gain", "loss" or "no difference", read against the two-sided critical value;
* `spread`, the one formatter: ``"48.3% ± 2.1% (sd over 5 seeds)"``.

Every function takes a 1-D sequence of finite numbers (a list, a NumPy array or a CPU tensor) and
raises ValueError naming the argument when there are fewer than 2 values (no spread to measure),
when two paired samples differ in length, or when a value is NaN or infinite.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.special import stdtrit

VERDICTS = ("gain", "loss", "no difference")
ERRORS = {"sd": "sd", "se": "standard error", "ci": "half-width"}


def _sample(values, name: str, minimum: int = 2) -> np.ndarray:
    """`values` as a 1-D float array of at least `minimum` finite numbers, else a ValueError naming `name`."""
    try:
        array = np.asarray(values, dtype=float)
    except (TypeError, ValueError) as error:
        raise TypeError(f"{name} must be a sequence of numbers, got {type(values).__name__}: {error}") from None
    if array.ndim != 1:
        raise ValueError(f"{name} must be one number per seed (1-D), got shape {list(array.shape)}")
    if len(array) < minimum:
        raise ValueError(f"{name} needs at least {minimum} values (one per seed) to measure a spread, got {len(array)}")
    if not np.isfinite(array).all():
        raise ValueError(f"{name} must hold finite numbers, got {array.tolist()}")
    return array


def _confidence(confidence) -> float:
    if isinstance(confidence, bool) or not isinstance(confidence, (int, float)) or not 0 < confidence < 1:
        raise ValueError(f"confidence must be a number strictly between 0 and 1 (0.95 for 95 %), got {confidence!r}")
    return float(confidence)


def mean_sd(values) -> tuple[float, float]:
    """The mean $\\bar x$ and the sample standard deviation $s = \\sqrt{\\sum_i (x_i - \\bar x)^2 / (n - 1)}$."""
    x = _sample(values, "values")
    return float(x.mean()), float(x.std(ddof=1))


def standard_error(values) -> float:
    """The standard error of the mean, $s / \\sqrt n$ (what `scipy.stats.sem` computes)."""
    x = _sample(values, "values")
    return float(x.std(ddof=1) / math.sqrt(len(x)))


def binomial_standard_error(accuracy: float, n: int) -> float:
    """The standard error of an accuracy measured on n independent items, $\\sqrt{p(1 - p)/n}$.

    At most $0.5/\\sqrt n$ (p = 1/2): the noise of one accuracy, before any comparison of two.
    """
    if isinstance(accuracy, bool) or not isinstance(accuracy, (int, float, np.floating)) or not 0 <= accuracy <= 1:
        raise ValueError(f"accuracy must be a number in [0, 1], got {accuracy!r}")
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"n must be a positive whole number of items, got {n!r}")
    return math.sqrt(accuracy * (1 - accuracy) / n)


def t_critical(df: int, confidence: float = 0.95) -> float:
    """The two-sided critical value of Student's t with `df` degrees of freedom: the $(1 + c)/2$ quantile,
    $t_{df,\\,(1+c)/2}$ (`scipy.stats.t.ppf((1 + c) / 2, df)`). 95 %: 12.71 (df 1), 4.30 (2), 2.78 (4), 1.96 (df → ∞)."""
    if isinstance(df, bool) or not isinstance(df, (int, np.integer)) or df < 1:
        raise ValueError(f"df (degrees of freedom, n - 1) must be an int >= 1, got {df!r}")
    return float(stdtrit(int(df), (1 + _confidence(confidence)) / 2))


def half_width(values, confidence: float = 0.95) -> float:
    """The confidence half-width of the mean, $t_{n-1,\\,(1+c)/2} \\cdot s / \\sqrt n$: the mean ± it is the
    interval `scipy.stats.t.interval(c, n - 1, loc=mean, scale=sem)`."""
    x = _sample(values, "values")
    return t_critical(len(x) - 1, confidence) * float(x.std(ddof=1) / math.sqrt(len(x)))


@dataclass(frozen=True)
class PairedComparison:
    """Method a against method b, paired by seed: the differences $d_i = a_i - b_i$ and what they say.

    n: the number of pairs; mean: $\\bar d$; sd: $s_d$ (ddof = 1); se: $s_d / \\sqrt n$;
    t: $\\bar d / (s_d / \\sqrt n)$ (see `paired_comparison` for zero variance);
    critical: $t_{n-1,\\,(1+c)/2}$; half_width: critical · se, so $\\bar d$ ± half_width is the
    confidence interval of the mean difference; confidence: c;
    verdict: "gain" when t > critical (a beats b beyond the seed-to-seed noise, the interval lies
    above 0), "loss" when t < -critical, else "no difference".
    """

    n: int
    mean: float
    sd: float
    se: float
    t: float
    critical: float
    half_width: float
    confidence: float
    verdict: str

    def verdict_as(self, gain: str = "gain", loss: str = "loss", none: str = "no difference") -> str:
        """The verdict in a notebook's own words, e.g. ``verdict_as("fewer flips", "more flips", "within noise")``."""
        return {"gain": gain, "loss": loss, "no difference": none}[self.verdict]


def paired_comparison(a, b, confidence: float = 0.95) -> PairedComparison:
    """Compare a with b, run on the same seeds (or episodes): does a beat b beyond the noise?

    With $d_i = a_i - b_i$ over the n pairs: $t = \\bar d / (s_d / \\sqrt n)$, the paired t statistic of
    `scipy.stats.ttest_rel(a, b)`, against the two-sided critical value $t_{n-1,\\,(1+c)/2}$;
    "gain" when $t > t_{crit}$, "loss" when $t < -t_{crit}$, else "no difference". Pairing removes
    what the seed does to both methods alike (data order, initial weights), which the unpaired
    spreads of a and b still hold.

    Zero variance (every $d_i$ equal up to float rounding, relative 1e-12: $s_d = 0$), decided as the limit $s_d \\to 0$ of the rule above:
    all differences 0 → t is undefined (NaN) and the verdict is "no difference"; all equal and
    nonzero → t = ±inf and the verdict is "gain" or "loss" (every pair moved by exactly the same
    amount: no noise to hide it in). Either way sd, se and half_width are 0.
    """
    first, second = _sample(a, "a"), _sample(b, "b")
    if len(first) != len(second):
        raise ValueError(f"a and b must pair up one to one (same seeds), got {len(first)} values in a and "
                         f"{len(second)} in b")
    critical = t_critical(len(first) - 1, confidence)
    d = first - second
    n, mean = len(d), float(d.mean())
    if np.ptp(d) <= 1e-12 * np.abs(d).max():  # every d_i equal, up to float rounding
        sd = 0.0
        t = math.nan if mean == 0 else math.copysign(math.inf, mean)
    else:
        sd = float(d.std(ddof=1))
        t = mean / (sd / math.sqrt(n))
    se = sd / math.sqrt(n)
    verdict = "gain" if t > critical else "loss" if t < -critical else "no difference"
    return PairedComparison(n=n, mean=mean, sd=sd, se=se, t=t, critical=critical, half_width=critical * se,
                            confidence=float(confidence), verdict=verdict)


def spread(values, fmt: str = ".1%", *, over: str | None = "seeds", error: str = "sd",
           confidence: float = 0.95) -> str:
    """One multi-seed number as the notebooks print it: ``"48.3% ± 2.1% (sd over 5 seeds)"``.

    fmt: the format spec of the mean (".1%", "+.1%" for a signed difference, "+.1f" for points); the
    ± part uses it without the "+" (so leave widths out: to align a table cell, pad the whole string). error: what follows the ±, "sd" ($s$, ddof = 1), "se" ($s/\\sqrt n$)
    or "ci" (the `confidence` half-width, $t_{n-1,\\,(1+c)/2}\\, s/\\sqrt n$), named in the parentheses.
    over: what the values are one per ("seeds", "episodes"); None leaves out the parentheses (for a
    table cell, whose header says it).

    One value has no spread: ``"48.3% (one seed: no spread)"`` (the mean alone when `over` is None),
    so a learner's single-seed run still prints; the statistics above raise instead.
    """
    if error not in ERRORS:
        raise ValueError(f"error must be one of {', '.join(map(repr, ERRORS))}; got {error!r}")
    confidence = _confidence(confidence)
    x = _sample(values, "values", minimum=1)
    mean = format(float(x.mean()), fmt)
    if len(x) == 1:
        return mean if over is None else f"{mean} (one {over.removesuffix('s')}: no spread)"
    sd = float(x.std(ddof=1))
    size = {"sd": sd, "se": sd / math.sqrt(len(x)), "ci": half_width(x, confidence)}[error]
    text = f"{mean} ± {format(size, fmt.replace('+', ''))}"
    if over is None:
        return text
    label = f"{100 * confidence:g} % half-width" if error == "ci" else ERRORS[error]
    return f"{text} ({label} over {len(x)} {over})"


@dataclass(frozen=True)
class McNemar:
    """Two methods scored right/wrong on the same items: the exact McNemar test of their discordant pairs.

    first_only: items only the first got right; second_only: only the second; p_value: two-sided,
    binomial with p = 1/2 over the first_only + second_only discordant items (the concordant ones
    say nothing about which is better); first_better / second_better: that side has more
    discordant items and p_value < 1 - confidence.
    """

    first_only: int
    second_only: int
    p_value: float
    confidence: float

    @property
    def first_better(self) -> bool:
        return self.first_only > self.second_only and self.p_value < 1 - self.confidence

    @property
    def second_better(self) -> bool:
        return self.second_only > self.first_only and self.p_value < 1 - self.confidence

    def __str__(self) -> str:
        return (f"{self.first_only} right only by the first, {self.second_only} only by the second: "
                f"exact McNemar p = {self.p_value:.2g}")


def mcnemar(first, second, confidence: float = 0.95) -> McNemar:
    """Paired right/wrong outcomes of two methods on the same items: does one get more right beyond chance?

    Only discordant items count: b = #(first right, second wrong), c = #(first wrong, second right).
    Under "no difference" each discordant item goes either way with probability 1/2, so
    p = P(Binomial(b + c, 1/2) as far from (b + c)/2 as b is), two-sided
    (`scipy.stats.binomtest(b, b + c, 0.5)`); p = 1 when there is no discordant item.
    """
    a = _outcomes(first, "first")
    b = _outcomes(second, "second")
    if len(a) != len(b):
        raise ValueError(f"first and second must score the same items, got {len(a)} and {len(b)} outcomes")
    confidence = _confidence(confidence)
    first_only, second_only = int((a & ~b).sum()), int((~a & b).sum())
    if first_only + second_only == 0:
        return McNemar(0, 0, 1.0, confidence)
    from scipy.stats import binomtest

    p_value = binomtest(first_only, first_only + second_only, 0.5).pvalue
    return McNemar(first_only, second_only, float(p_value), confidence)


def _outcomes(values, name: str) -> np.ndarray:
    """`values` as a 1-D boolean array (right/wrong per item), else an error naming `name`."""
    array = np.asarray(values.cpu() if hasattr(values, "cpu") else values)
    if array.ndim != 1 or array.dtype != bool:
        raise ValueError(f"{name} must be a 1-D array of booleans (right or wrong per item), "
                         f"got dtype {array.dtype} and shape {list(array.shape)}")
    return array
