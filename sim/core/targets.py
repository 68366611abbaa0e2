"""Published figures on the natural history of back pain, each tied to a painsim statistic.

Every :class:`Target` names a statistic of :data:`sim.core.natural_history.STATISTICS`, the
published value, an interval and where both come from (status flags as in the science brief:
[C] confirmed from an abstract, [M] recalled, [NF] not found, [D] derived by arithmetic).
``scenarios/calibration_natural_history.toml`` calibrates the pain process to
:data:`PUBLISHED`; docs/model.md ("Natural history") discusses each one.

How the two 12-month figures fit together: Henschke 2008 (Sydney, 973 patients with pain for
less than 2 weeks) timed the *first complete recovery* from the presenting episode: 28 % had
not recovered within 12 months, whatever happened after a recovery. Itz 2013 pooled 11 cohorts
with pain for up to 3 months at entry and counted everyone *reporting pain at 12 months*, new
episodes and low-level pain included: 65 % overall, 71 % where recovery meant no pain at all,
57 % with looser definitions and 41 % in Australian cohorts. In painsim the first is the
share whose index episode lasts beyond 52 weeks, the second the share in any episode 52 weeks
after onset; the second is larger because of recurrences. Low-level pain between episodes is
not modelled, so painsim should sit at the low (Australian, loose-definition) end of Itz.
"""

from __future__ import annotations

from dataclasses import dataclass

from sim.core.natural_history import STATISTICS


@dataclass(frozen=True)
class Target:
    """A published value of a statistic, with its interval and source.

    ``low``/``high`` is the published 95 % interval or, where the source gives a range of
    studies instead, that range (the source says which).
    """

    statistic: str
    value: float
    low: float
    high: float
    source: str

    def __post_init__(self) -> None:
        if self.statistic not in STATISTICS:
            raise ValueError(f"unknown statistic '{self.statistic}'")
        if not self.low <= self.value <= self.high:
            raise ValueError(f"{self.statistic}: value outside [low, high]")
        if not self.source.strip():
            raise ValueError(f"{self.statistic}: a target needs a source")


PUBLISHED: dict[str, Target] = {
    t.statistic: t
    for t in (
        Target(
            "median_recovery_days",
            58,
            52,
            63,
            "Henschke 2008 BMJ 337:a171: median time to recovery from pain 58 days (95 % CI "
            "52-63) in 973 primary-care patients with LBP < 2 weeks [C]",
        ),
        Target(
            "not_recovered_52_weeks",
            0.28,
            0.25,
            0.31,
            "Henschke 2008: only 72 % completely recovered within 12 months [C]; interval "
            "+/- 1.96 binomial SE at n = 973 [D]",
        ),
        Target(
            "in_pain_52_weeks",
            0.65,
            0.41,
            0.71,
            "Itz 2013 Eur J Pain 17:5: 65 % still report pain 1 year after onset [C]; "
            "interval: range of its subgroup pools, Australian cohorts 41 % to total-absence-"
            "of-pain definitions 71 % [C] (pooled CI [NF])",
        ),
        Target(
            "subacute_persisting_26_weeks",
            0.38,
            0.25,
            0.51,
            "Misic eLife 2024: 25-50 % of subacute patients develop chronic pain [C]; "
            "Hashmi 2013: 20/39 persisting at 1 year [C]; value: midpoint [D]",
        ),
        Target(
            "recurrence_1_year",
            0.33,
            0.29,
            0.37,
            "Machado 2017 Phys Ther 97:604: 1-year recurrence 33 % among 469 recovered (a "
            "pain-free month within 6 weeks) [C]; interval +/- 1.96 binomial SE [D]",
        ),
        Target(
            "recurrence_odds_ratio_many_episodes",
            3.18,
            2.11,
            4.78,
            "Machado 2017: more than 2 previous episodes, OR 3.18 (95 % CI 2.11-4.78) [C]",
        ),
        Target(
            "median_days_to_recurrence",
            139,
            105,
            173,
            "da Silva 2019 J Physiother 65:159: median 139 days to recurrence [C, per the "
            "science brief; its recovery definition differs from Machado's]",
        ),
        Target(
            "acute_pain_6_weeks",
            2.3,
            2.1,
            2.5,
            "Costa 2012 CMAJ 184:E613, acute cohorts: 23/100 (95 % CI 21-25) at 6 weeks [C]",
        ),
        Target(
            "acute_pain_26_weeks",
            1.2,
            0.9,
            1.5,
            "Costa 2012, acute cohorts: 12/100 (9-15) at 26 weeks [C]",
        ),
        Target(
            "acute_pain_52_weeks",
            0.6,
            0.3,
            1.0,
            "Costa 2012, acute cohorts: 6/100 (3-10) at 52 weeks [C]",
        ),
        Target(
            "persistent_pain_6_weeks",
            3.3,
            2.9,
            3.8,
            "Costa 2012, persistent cohorts: 33/100 (29-38) at 6 weeks [C]; painsim reads it 6 "
            "weeks after being in pain at 12 weeks",
        ),
        Target(
            "persistent_pain_26_weeks",
            2.6,
            2.0,
            3.3,
            "Costa 2012, persistent cohorts: 26/100 (20-33) at 26 weeks [C]",
        ),
        Target(
            "persistent_pain_52_weeks",
            2.3,
            1.6,
            3.0,
            "Costa 2012, persistent cohorts: 23/100 (16-30) at 52 weeks [C]",
        ),
        Target(
            "point_prevalence_20_69",
            0.094,
            0.0675,
            0.127,
            "value: GBD 2010 global point prevalence 9.4 % (Hoy 2014 Ann Rheum Dis 73:968 [C]); "
            "interval: GBD 2017 age-standardized 7.5 % (95 % UI 6.75-8.27 %, Wu 2020 Ann Transl "
            "Med 8:299 [C]), its upper end divided by the adult (20+) share of the world "
            "standard population, 0.65 [M], because GBD counts children, who have less back "
            "pain [D]; age- and sex-specific rates [NF]",
        ),
        Target(
            "lifetime_prevalence_20_69",
            0.70,
            0.60,
            0.80,
            "lifetime prevalence of LBP 60-80 % (Wang 2016 Quant Imaging Med Surg 6:199, "
            "citing reviews [C]); value: midpoint [D]",
        ),
        Target(
            "dunn_recovering",
            0.30,
            0.22,
            0.38,
            "Dunn 2006 Spine 31:2271: 30 % recovering [C]; tolerance +/- 8 points "
            "(assumption: latent classes vs painsim's rules)",
        ),
        Target(
            "dunn_persistent_mild",
            0.36,
            0.28,
            0.44,
            "Dunn 2006: 36 % persistent mild [C]; tolerance +/- 8 points (assumption)",
        ),
        Target(
            "dunn_fluctuating",
            0.13,
            0.05,
            0.21,
            "Dunn 2006: 13 % fluctuating [C]; tolerance +/- 8 points (assumption)",
        ),
        Target(
            "dunn_severe",
            0.21,
            0.13,
            0.29,
            "Dunn 2006: 21 % severe chronic [C]; tolerance +/- 8 points (assumption)",
        ),
    )
}
"""The published natural-history targets, by statistic name."""
