"""advlab.stats against scipy.stats on known samples, its zero-variance rule, its errors and its format."""

import math

import numpy as np
import pytest
import scipy.stats
import torch

from advlab import stats

# accuracies of two methods over five seeds (paired: same seed, same data), and a one-off third
A = [0.912, 0.905, 0.921, 0.899, 0.917]
B = [0.897, 0.902, 0.904, 0.893, 0.911]
NOISY = [0.912, 0.880, 0.931, 0.874, 0.925]


def test_mean_sd_and_standard_error_match_numpy_and_scipy():
    mean, sd = stats.mean_sd(A)
    assert mean == pytest.approx(np.mean(A))
    assert sd == pytest.approx(np.std(A, ddof=1))
    assert sd != pytest.approx(np.std(A))  # ddof = 1, not the population's
    assert stats.standard_error(A) == pytest.approx(scipy.stats.sem(A))


@pytest.mark.parametrize("df", [1, 2, 4, 29, 1000])
@pytest.mark.parametrize("confidence", [0.9, 0.95, 0.99])
def test_t_critical_is_scipys_two_sided_quantile(df, confidence):
    assert stats.t_critical(df, confidence) == pytest.approx(scipy.stats.t.ppf((1 + confidence) / 2, df))


def test_t_critical_known_values():
    assert stats.t_critical(4) == pytest.approx(2.776, abs=1e-3)
    assert stats.t_critical(2) == pytest.approx(4.303, abs=1e-3)
    assert stats.t_critical(10**6) == pytest.approx(1.960, abs=1e-3)


@pytest.mark.parametrize("values", [A, NOISY, [0.5, 0.7]])
def test_half_width_is_scipys_t_interval(values):
    mean, _ = stats.mean_sd(values)
    low, high = scipy.stats.t.interval(0.95, len(values) - 1, loc=mean, scale=scipy.stats.sem(values))
    assert stats.half_width(values) == pytest.approx((high - low) / 2)
    assert stats.half_width(values, 0.99) > stats.half_width(values)


@pytest.mark.parametrize("a, b", [(A, B), (NOISY, B), (B, A), (B, NOISY)])
def test_paired_comparison_matches_ttest_rel(a, b):
    result = stats.paired_comparison(a, b)
    reference = scipy.stats.ttest_rel(a, b)
    d = np.subtract(a, b)
    assert result.n == len(a)
    assert result.mean == pytest.approx(d.mean())
    assert result.sd == pytest.approx(d.std(ddof=1))
    assert result.se == pytest.approx(scipy.stats.sem(d))
    assert result.t == pytest.approx(reference.statistic)
    assert result.critical == pytest.approx(scipy.stats.t.ppf(0.975, len(a) - 1))
    low, high = reference.confidence_interval(0.95)
    assert result.mean - result.half_width == pytest.approx(low)
    assert result.mean + result.half_width == pytest.approx(high)
    # the verdict is the two-sided test at 5 %: beyond the noise exactly when p < 0.05
    expected = "no difference" if reference.pvalue >= 0.05 else "gain" if reference.statistic > 0 else "loss"
    assert result.verdict == expected


def test_verdicts_on_known_samples():
    assert stats.paired_comparison(A, B).verdict == "gain"  # t = 3.4 against 2.78
    assert stats.paired_comparison(B, A).verdict == "loss"
    assert stats.paired_comparison(NOISY, B).verdict == "no difference"  # the same mean gain, lost in the noise


def test_few_seeds_need_the_t_quantile_not_1_96():
    """Three seeds, t = 3.0: beyond 1.96, but not beyond t(2) = 4.30."""
    a, b = [0.52, 0.54, 0.56], [0.50, 0.50, 0.50]
    result = stats.paired_comparison(a, b)
    assert result.t == pytest.approx(scipy.stats.ttest_rel(a, b).statistic)
    assert 1.96 < result.t < result.critical
    assert result.verdict == "no difference"


def test_zero_variance_all_equal_differences():
    same = stats.paired_comparison(A, A)
    assert math.isnan(same.t) and same.verdict == "no difference"
    assert same.mean == 0 and same.sd == 0 and same.half_width == 0
    shifted = stats.paired_comparison([0.6, 0.7, 0.8], [0.5, 0.6, 0.7])  # +0.1 on every seed
    assert shifted.t == math.inf and shifted.verdict == "gain"
    assert shifted.mean == pytest.approx(0.1) and shifted.sd == 0
    assert stats.paired_comparison([0.5, 0.6], [0.75, 0.85]).verdict == "loss"
    # differences that vary by more than float rounding are not zero variance, however small
    tiny = stats.paired_comparison([1e-9, -1e-9, 2e-9], [0.0, 0.0, 0.0])
    assert tiny.t == pytest.approx(scipy.stats.ttest_rel([1e-9, -1e-9, 2e-9], [0.0, 0.0, 0.0]).statistic)


def test_verdict_as_names_the_verdict_in_a_notebooks_words():
    words = ("fewer flips", "more flips", "within noise")
    assert stats.paired_comparison(A, B).verdict_as(*words) == "fewer flips"
    assert stats.paired_comparison(B, A).verdict_as(*words) == "more flips"
    assert stats.paired_comparison(NOISY, B).verdict_as(*words) == "within noise"


def test_accepts_arrays_and_tensors():
    assert stats.standard_error(np.array(A)) == pytest.approx(stats.standard_error(A))
    expected = stats.paired_comparison(A, B).t
    assert stats.paired_comparison(torch.tensor(A, dtype=torch.float64), torch.tensor(B, dtype=torch.float64)).t == \
        pytest.approx(expected)
    assert stats.paired_comparison(torch.tensor(A), torch.tensor(B)).t == pytest.approx(expected, rel=1e-4)  # float32


@pytest.mark.parametrize("call", [stats.mean_sd, stats.standard_error, stats.half_width])
@pytest.mark.parametrize("values", [[], [0.5]])
def test_fewer_than_two_values_is_an_error_naming_the_argument(call, values):
    with pytest.raises(ValueError, match="values needs at least 2"):
        call(values)


def test_paired_comparison_errors_name_the_argument():
    with pytest.raises(ValueError, match="a needs at least 2"):
        stats.paired_comparison([0.5], [0.5])
    with pytest.raises(ValueError, match="b needs at least 2"):
        stats.paired_comparison([0.5, 0.6], [0.5])
    with pytest.raises(ValueError, match="a and b must pair up.*3 values in a and 2 in b"):
        stats.paired_comparison([0.5, 0.6, 0.7], [0.5, 0.6])
    with pytest.raises(ValueError, match="b must hold finite numbers"):
        stats.paired_comparison([0.5, 0.6], [0.5, float("nan")])
    with pytest.raises(ValueError, match=r"a must be one number per seed \(1-D\)"):
        stats.paired_comparison([[0.5, 0.6]], [0.5])


@pytest.mark.parametrize("confidence", [0, 1, 95, -0.5, True, "0.95"])
def test_confidence_outside_0_1_is_an_error(confidence):
    with pytest.raises(ValueError, match="confidence must be"):
        stats.half_width(A, confidence)
    with pytest.raises(ValueError, match="confidence must be"):
        stats.paired_comparison(A, B, confidence)


@pytest.mark.parametrize("df", [0, -1, 2.5, True])
def test_degrees_of_freedom_must_be_a_positive_int(df):
    with pytest.raises(ValueError, match="df"):
        stats.t_critical(df)


def test_spread_prints_the_notebooks_style():
    values = [0.483, 0.462, 0.501, 0.470, 0.499]
    sd = np.std(values, ddof=1)
    assert stats.spread(values) == f"{np.mean(values):.1%} ± {sd:.1%} (sd over 5 seeds)"
    assert stats.spread(values) == "48.3% ± 1.7% (sd over 5 seeds)"
    assert stats.spread(values, over=None) == "48.3% ± 1.7%"
    assert stats.spread([0.012, 0.004, 0.008], "+.1%", over="episodes") == "+0.8% ± 0.4% (sd over 3 episodes)"
    assert stats.spread(values, error="se") == f"48.3% ± {scipy.stats.sem(values):.1%} (standard error over 5 seeds)"
    assert stats.spread(values, error="ci") == f"48.3% ± {stats.half_width(values):.1%} (95 % half-width over 5 seeds)"
    assert stats.spread([5.0, 7.2, 2.8], "+.1f", error="se") == "+5.0 ± 1.3 (standard error over 3 seeds)"


def test_spread_of_one_value_says_there_is_none():
    assert stats.spread([0.483]) == "48.3% (one seed: no spread)"
    assert stats.spread([0.483], over=None) == "48.3%"
    with pytest.raises(ValueError, match="values needs at least 1"):
        stats.spread([])
    with pytest.raises(ValueError, match="error must be one of"):
        stats.spread(A, error="iqr")


def test_mcnemar_counts_only_discordant_items_and_matches_scipys_binomial_test():
    from scipy.stats import binomtest

    first = np.array([True] * 30 + [True] * 12 + [False] * 3 + [False] * 55)
    second = np.array([True] * 30 + [False] * 12 + [True] * 3 + [False] * 55)
    result = stats.mcnemar(first, second)
    assert (result.first_only, result.second_only) == (12, 3)
    assert result.p_value == pytest.approx(binomtest(12, 15, 0.5).pvalue)
    assert result.p_value == pytest.approx(0.03515625)  # 2 * P(Binomial(15, 1/2) <= 3) = 2 * 576 / 32768
    assert result.first_better and not result.second_better
    swapped = stats.mcnemar(second, first)
    assert swapped.second_better and not swapped.first_better and swapped.p_value == pytest.approx(result.p_value)


def test_mcnemar_without_discordant_items_says_nothing():
    same = np.array([True, False, True])
    result = stats.mcnemar(same, same)
    assert result.p_value == 1.0 and not result.first_better and not result.second_better


def test_mcnemar_a_small_lead_is_not_a_difference():
    first = np.array([True] * 5 + [False] * 3)
    second = ~first
    result = stats.mcnemar(first, second)
    assert (result.first_only, result.second_only) == (5, 3) and not result.first_better


def test_mcnemar_rejects_non_boolean_or_unpaired_outcomes():
    with pytest.raises(ValueError, match="first must be a 1-D array of booleans"):
        stats.mcnemar(np.array([1, 0, 1]), np.array([True, False, True]))
    with pytest.raises(ValueError, match="same items"):
        stats.mcnemar(np.array([True, False]), np.array([True, False, True]))


def test_mcnemar_takes_torch_tensors():
    import torch

    result = stats.mcnemar(torch.tensor([True, True, False]), torch.tensor([False, True, False]))
    assert (result.first_only, result.second_only) == (1, 0)


@pytest.mark.parametrize("accuracy, n", [(0.5, 100), (0.93, 1000), (0.0, 10), (1.0, 7)])
def test_binomial_standard_error_is_scipys_binomial_sd_over_n(accuracy, n):
    assert stats.binomial_standard_error(accuracy, n) == pytest.approx(scipy.stats.binom.std(n, accuracy) / n, abs=1e-12)


def test_binomial_standard_error_is_largest_at_one_half():
    assert stats.binomial_standard_error(0.5, 400) == pytest.approx(0.025)
    assert stats.binomial_standard_error(0.9, 400) < stats.binomial_standard_error(0.5, 400)


@pytest.mark.parametrize("accuracy, n, name", [(1.5, 10, "accuracy"), (-0.1, 10, "accuracy"), (0.5, 0, "n"),
                                               (0.5, 2.5, "n"), (True, 10, "accuracy")])
def test_binomial_standard_error_names_the_bad_argument(accuracy, n, name):
    with pytest.raises(ValueError, match=name):
        stats.binomial_standard_error(accuracy, n)
