"""Published figures painsim is calibrated to, each tied to a statistic of one experiment.

Every :class:`Target` names a statistic of one of the calibration experiments
(:data:`CATALOGUES`), the published value, an interval and where both come from (status flags
as in the science brief: [C] confirmed from an abstract, [M] recalled, [NF] not found, [D]
derived by arithmetic). Three experiments:

``natural_history``
    the course of back pain (:data:`sim.core.natural_history.STATISTICS`, targets
    :data:`PUBLISHED`; ``scenarios/calibration_natural_history.toml``);
``heukamp``
    the virtual Heukamp study's effect sizes in the population it recruits from
    (:data:`HEUKAMP_STATISTICS`, targets :data:`HEUKAMP_PUBLISHED`;
    ``scenarios/calibration_heukamp.toml``);
``interventions``
    trial-like comparisons of every treatment with usual care (:data:`TRIAL_STATISTICS`,
    targets :data:`TRIAL_PUBLISHED`; ``scenarios/calibration_interventions.toml``).

docs/model.md ("Calibration") discusses each target.

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

import math
from dataclasses import dataclass

from sim.core.natural_history import STATISTICS

Z95 = 1.959963984540054


@dataclass(frozen=True)
class StatisticInfo:
    """Name, unit and meaning of a statistic an experiment reports (no computation here)."""

    name: str
    unit: str
    description: str


def _catalogue(*items: tuple[str, str, str]) -> dict[str, StatisticInfo]:
    return {name: StatisticInfo(name, unit, text) for name, unit, text in items}


HEUKAMP_STATISTICS: dict[str, StatisticInfo] = _catalogue(
    (
        "d_cbp_hc",
        "Cohen d",
        "candidate pool: DMN perturbation, chronic vs age-matched healthy candidates (pooled SD "
        "weighted as 31:39)",
    ),
    (
        "d_cbp_sbp",
        "Cohen d",
        "candidate pool: DMN perturbation, chronic vs subacute candidates (pooled SD as 31:77)",
    ),
    (
        "d_sbp_hc",
        "Cohen d",
        "candidate pool: DMN perturbation, subacute vs age-matched healthy (as 77:39)",
    ),
    (
        "r_ylp",
        "r",
        "candidate pool: Pearson r of perturbation with years lived with pain, patients weighted "
        "77:31 (subacute:chronic)",
    ),
    ("a_path", "PCS points/year", "candidate pool: slope of coping score on YLP (age-adjusted)"),
    ("b_path", "per PCS point", "candidate pool: slope of perturbation on coping given YLP, age"),
    ("indirect", "per year", "candidate pool: indirect effect a*b of YLP via coping"),
    ("share_mediated", "-", "candidate pool: indirect / total effect of YLP"),
    ("coping_healthy", "PCS points", "candidate pool: mean true coping score, healthy"),
    ("coping_subacute", "PCS points", "candidate pool: mean true coping score, subacute"),
    ("coping_chronic", "PCS points", "candidate pool: mean true coping score, chronic"),
    ("adaptation_subacute", "-", "candidate pool: mean adaptation a, subacute"),
    ("adaptation_chronic", "-", "candidate pool: mean adaptation a, chronic"),
    ("ylp_subacute", "years", "candidate pool: median years lived with pain, subacute"),
    ("ylp_chronic", "years", "candidate pool: median years lived with pain, chronic"),
)
"""Statistics of the ``heukamp`` calibration experiment (sim.experiments.calibrate.heukamp)."""

TRIAL_STATISTICS: dict[str, StatisticInfo] = _catalogue(
    (
        "cbt_pain_smd_post",
        "SMD",
        "reported pain, CBT vs usual care among the enrolled, at the end of the course (8 wk)",
    ),
    (
        "cbt_coping_smd_post",
        "SMD",
        "catastrophizing, CBT vs usual care among the enrolled, at the end of the course (8 wk)",
    ),
    ("responders_usual_care_26_weeks", "share", "usual care: >= 30 % less pain at 26 weeks"),
    ("responders_cbt_26_weeks", "share", "CBT: >= 30 % less reported pain at 26 weeks"),
    ("responders_mbsr_26_weeks", "share", "MBSR: >= 30 % less reported pain at 26 weeks"),
    ("cbt_responder_gap_26_weeks", "share", "responders CBT minus usual care at 26 weeks"),
    ("mbsr_responder_gap_26_weeks", "share", "responders MBSR minus usual care at 26 weeks"),
    ("cbt_responder_gap_52_weeks", "share", "responders CBT minus usual care at 52 weeks"),
    ("mbsr_responder_gap_52_weeks", "share", "responders MBSR minus usual care at 52 weeks"),
    ("act_pain_smd_post", "SMD", "reported pain, ACT vs usual care at the end of the course"),
    (
        "prt_pain_free_post",
        "share",
        "PRT: reported pain 0-1 at the end of the course (4 weeks; Ashar 2022 pain-free or nearly)",
    ),
    ("usual_care_pain_free_post", "share", "usual care: reported pain 0-1 four weeks after start"),
    (
        "prt_pain_ratio_post",
        "ratio",
        "PRT: mean reported pain at the end of the course over mean reported pain at enrolment",
    ),
    (
        "prt_pain_ratio_1_year",
        "ratio",
        "PRT: mean reported pain 52 weeks after enrolment over mean at enrolment",
    ),
    (
        "tms_pain_difference_4_8_weeks",
        "NRS points",
        "TMS minus usual care, mean reported pain 4, 6 and 8 weeks after the start",
    ),
)
"""Statistics of the ``interventions`` calibration experiment (trial-like comparisons)."""

CATALOGUES: dict[str, dict[str, StatisticInfo]] = {
    "natural_history": {
        name: StatisticInfo(name, stat.unit, stat.description) for name, stat in STATISTICS.items()
    },
    "heukamp": HEUKAMP_STATISTICS,
    "interventions": TRIAL_STATISTICS,
}
"""Experiment -> the statistics it reports, by name."""


def d_interval(d: float, n1: int, n2: int) -> tuple[float, float]:
    """95 % sampling interval of Cohen's d around ``d`` in a study of ``n1`` vs ``n2`` people.

    Large-sample SE of d (Hedges & Olkin 1985): sqrt((n1 + n2)/(n1 n2) + d^2/(2 (n1 + n2))).

    Examples
    --------
    >>> [round(x, 3) for x in d_interval(0.6, 31, 39)]
    [0.118, 1.082]
    """
    se = math.sqrt((n1 + n2) / (n1 * n2) + d * d / (2 * (n1 + n2)))
    return d - Z95 * se, d + Z95 * se


def r_interval(r: float, n: int) -> tuple[float, float]:
    """95 % sampling interval of a Pearson r around ``r`` with ``n`` people (Fisher z).

    Examples
    --------
    >>> [round(x, 3) for x in r_interval(0.30, 108)]
    [0.118, 0.463]
    """
    z, se = math.atanh(r), 1 / math.sqrt(n - 3)
    return math.tanh(z - Z95 * se), math.tanh(z + Z95 * se)


def proportion_interval(p: float, n: int) -> tuple[float, float]:
    """95 % binomial (Wald) interval of a share ``p`` observed in ``n`` people.

    Examples
    --------
    >>> [round(x, 3) for x in proportion_interval(0.66, 50)]
    [0.529, 0.791]
    """
    se = math.sqrt(p * (1 - p) / n)
    return p - Z95 * se, p + Z95 * se


def difference_interval(p1: float, n1: int, p2: float, n2: int) -> tuple[float, float]:
    """95 % Wald interval of a difference of two shares ``p1 - p2``.

    Examples
    --------
    >>> [round(x, 3) for x in difference_interval(0.449, 113, 0.266, 113)]
    [0.06, 0.306]
    """
    se = math.sqrt(p1 * (1 - p1) / n1 + p2 * (1 - p2) / n2)
    return p1 - p2 - Z95 * se, p1 - p2 + Z95 * se


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
        if not any(self.statistic in names for names in CATALOGUES.values()):
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


def _ratio_interval(post: float, before: float, sd: float, n: int) -> tuple[float, float]:
    half = Z95 * sd / math.sqrt(n)
    return (post - half) / before, (post + half) / before


def _target(statistic: str, value: float, interval: tuple[float, float], source: str) -> Target:
    low, high = (round(x, 4) for x in interval)
    return Target(statistic, value, low, high, source)


HEUKAMP_PUBLISHED: dict[str, Target] = {
    t.statistic: t
    for t in (
        _target(
            "d_cbp_hc",
            0.6,
            d_interval(0.6, 31, 39),
            "Heukamp 2025: DMN perturbation CBP > HC significant with 31 vs 39 [C], so the "
            "observed d was >= ~0.48 [D]; value: the brief's suggested 0.6 (range 0.48-1.0, "
            "assumption); interval: 95 % sampling interval of d in a 31 vs 39 study [D]",
        ),
        _target(
            "d_cbp_sbp",
            0.25,
            d_interval(0.25, 31, 77),
            "Heukamp 2025: CBP vs SBP not significant with 31 vs 77 [C], so |observed d| < ~0.42 "
            "[D]; value: the brief's suggested 0.25 (range 0-0.42, assumption); interval: 95 % "
            "sampling interval of d in a 31 vs 77 study [D]",
        ),
        _target(
            "r_ylp",
            0.30,
            r_interval(0.30, 108),
            "Heukamp 2025: perturbation correlates positively with years lived with pain across "
            "108 patients [C], so the observed r was >= ~0.19 [D]; value: the brief's suggested "
            "0.30 (range 0.19-0.45, assumption); interval: 95 % sampling interval of r with 108 "
            "people (Fisher z) [D]",
        ),
    )
}
"""The published Heukamp findings 1-3 as effect-size targets with a study's sampling error.

Finding 4 (coping mediates) is not a target: the calibration predicts it."""


TRIAL_PUBLISHED: dict[str, Target] = {
    t.statistic: t
    for t in (
        Target(
            "cbt_pain_smd_post",
            -0.21,
            -0.37,
            -0.05,
            "Williams 2012 Cochrane CD007407: CBT vs treatment as usual/waiting list, pain "
            "after treatment SMD -0.21 (95 % CI -0.37 to -0.05) [C]",
        ),
        Target(
            "cbt_coping_smd_post",
            -0.53,
            -0.76,
            -0.31,
            "Williams 2012: catastrophizing after treatment SMD -0.53 (-0.76 to -0.31) vs "
            "treatment as usual [C]",
        ),
        _target(
            "cbt_responder_gap_26_weeks",
            0.183,
            difference_interval(0.449, 113, 0.266, 113),
            "Cherkin 2016 JAMA 315:1240: >= 30 % improvement in pain bothersomeness at 26 weeks, "
            "CBT 44.9 % (n = 113) vs usual care 26.6 % (n = 113) [C]; interval: Wald interval "
            "of the difference [D]",
        ),
        _target(
            "mbsr_responder_gap_26_weeks",
            0.17,
            difference_interval(0.436, 116, 0.266, 113),
            "Cherkin 2016: MBSR 43.6 % (n = 116) vs usual care 26.6 % (n = 113) at 26 weeks "
            "[C]; interval: Wald interval of the difference [D]",
        ),
        Target(
            "act_pain_smd_post",
            -0.40,
            -0.70,
            -0.20,
            "Hwang 2019 (11 RCTs): ACT pain g -0.40 [C]; interval: the brief's plausible range "
            "-0.2 to -0.7 (the pooled CI was not retrieved [NF])",
        ),
        _target(
            "prt_pain_free_post",
            0.66,
            proportion_interval(0.66, 50),
            "Ashar 2022 JAMA Psychiatry 79:13: 66 % of PRT patients pain-free or nearly (0-1 of "
            "10) after treatment [C] (n = 50 [M]); interval: binomial [D]",
        ),
        _target(
            "prt_pain_ratio_post",
            round(1.18 / 4.22, 4),
            _ratio_interval(1.18, 4.22, 1.7, 50),
            "Ashar 2022: PRT pain 4.22 -> 1.18 after treatment [C] (ratio 0.28 [D]); interval: "
            "the post-treatment mean's 95 % interval over the baseline, with SD 1.7 (from the "
            "1.95-point difference to usual care and Hedges g about 1.1 [M]) and n = 50 [M] [D]",
        ),
        Target(
            "tms_pain_difference_4_8_weeks",
            -0.79,
            -1.33,
            -0.26,
            "rTMS meta-analysis 2017 (9 RCTs, 183 per arm): 0.79 points (95 % CI 0.26-1.33) more "
            "pain reduction than sham at 4-8 weeks [C]; painsim has no sham, usual care stands "
            "for it",
        ),
    )
}
"""Published trial results the interventions are calibrated to (docs/model.md)."""

PUBLISHED_BY_EXPERIMENT: dict[str, dict[str, Target]] = {
    "natural_history": PUBLISHED,
    "heukamp": HEUKAMP_PUBLISHED,
    "interventions": TRIAL_PUBLISHED,
}
"""Experiment -> its published targets, by statistic name."""
