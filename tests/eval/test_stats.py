"""The report's statistics: McNemar's exact test, the bootstrap intervals, the matched
baseline's sample allocation and the verdict's wording."""

from __future__ import annotations

from massgen.eval.matched import MAX_SAMPLES, allocation
from massgen.eval.stats import bootstrap, mcnemar, paired, verdict


def test_mcnemar_is_the_exact_two_sided_binomial_test_of_the_discordant_items():
    assert mcnemar(0, 0) == 1.0
    assert mcnemar(10, 0) == 2 / 2**10
    assert abs(mcnemar(10, 2) - 0.0386) < 1e-4  # the textbook value
    assert mcnemar(5, 5) == 1.0


def test_bootstrap_intervals_are_seeded_and_cover_the_mean():
    flags = [1.0] * 70 + [0.0] * 30
    low, high = bootstrap(flags)
    assert bootstrap(flags) == (low, high) and low < 0.7 < high
    assert 0.05 < high - low < 0.25  # about ±1.96 × sqrt(0.21 / 100)
    assert bootstrap([1.0] * 50) == (1.0, 1.0)


def test_a_gain_whose_interval_covers_zero_is_no_evidence_of_a_gain():
    strong = paired([True] * 60 + [False] * 40, [True] * 45 + [False] * 55)
    assert strong.difference == 0.15 and strong.low > 0 and strong.p_value < 0.001
    assert verdict("vote", "single", strong).startswith("vote: +15.0 points over single, 95% CI [+")
    weak = paired([True] * 52 + [False] * 48, [True] * 50 + [False] * 50)
    line = verdict("vote", "matched self-consistency (3 samples)", weak)
    assert line.startswith("vote: no evidence of a gain over matched self-consistency")
    assert "+2.0 points" in line and "p = 0.5" in line
    worse = paired([False] * 20 + [True] * 80, [True] * 100)
    assert "worse than single" in verdict("debate", "single", worse)


def test_the_matched_samples_average_to_the_token_ratio():
    counts, capped = allocation(2.5, 100)
    assert sorted(set(counts)) == [2, 3] and sum(counts) == 250 and not capped
    assert allocation(0.4, 10) == ([1] * 10, False)  # at least one sample
    assert allocation(99.0, 4) == ([MAX_SAMPLES] * 4, True)
