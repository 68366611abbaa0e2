"""Mechanism checks: the study in models with one causal link switched off.

painsim's account of the Heukamp pattern has four links (docs/model.md, "Mechanism checks"):

* coping -> drift (gamma, ``drift.coping_weight``): catastrophizing speeds the network drift;
* pain -> coping (alpha, ``coping.sensitization_rate``): pain makes catastrophizing worse;
* coping -> course of episodes (``pain.coping_odds_ratio``): catastrophizers' episodes more
  often take the persistent course, so trait catastrophizing also selects people into long
  histories;
* drift relaxation (``drift.irreversible_fraction`` < 1): adaptation partly recovers while
  pain-free.

Each :class:`Mechanism` is a counterfactual model. A model that differs only in the drift is a
*view*: integrated alongside the model in the same simulation, so it has exactly the same people
(``PainModel(shadow_drift=...)``); the others need a population of their own (same seed, so the
same draws wherever the lives do not differ). :data:`EDGE_SIGNS` holds signature variants
reported the same way (the lead adds the variants of ``sim.core.indices`` here).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sim.core.drift import DriftParams
from sim.core.parameters import ModelParams, apply_overrides
from sim.experiments.study.design import mean_coping_factor
from sim.scenario import Scenario, parse_scenario


def _no_coping_drift(params: ModelParams) -> dict[str, float]:
    # As fast on average as the model: the rate times the community mean of exp(gamma z_c).
    rate = params.drift.rate * mean_coping_factor(params)
    return {"drift.coping_weight": 0.0, "drift.rate": min(rate, 52.0)}


@dataclass(frozen=True)
class Mechanism:
    """A counterfactual model: one causal link switched off.

    Attributes
    ----------
    key
        Short name (``variants.csv``: ``mechanism:<key>``).
    link
        The causal link, in words.
    label
        What the counterfactual model does.
    overrides
        Parameters -> the dotted-name overrides of the counterfactual.
    """

    key: str
    link: str
    label: str
    overrides: Callable[[ModelParams], dict[str, float]]

    def changes(self, params: ModelParams) -> dict[str, float]:
        """The overrides for a given parameter set."""
        return self.overrides(params)

    def is_view(self, params: ModelParams) -> bool:
        """True if only drift parameters change (then it shares the model's population)."""
        return all(name.startswith("drift.") for name in self.changes(params))

    def drift(self, params: ModelParams) -> DriftParams:
        """The counterfactual's drift parameters."""
        return apply_overrides(params, self.changes(params)).drift

    def scenario(self, scenario: Scenario) -> Scenario:
        """The scenario of the counterfactual model (for a population of its own)."""
        data = scenario.model_dump()
        data["parameters"] = {**data["parameters"], **self.changes(scenario.params)}
        return parse_scenario(data, f"{scenario.scenario.name} ({self.key})")


MECHANISMS: tuple[Mechanism, ...] = (
    Mechanism(
        "no_coping_drift",
        "coping -> drift (gamma)",
        "gamma = 0, drift rate times the community mean of exp(gamma z_c)",
        _no_coping_drift,
    ),
    Mechanism(
        "no_pain_coping",
        "pain -> coping (alpha)",
        "alpha = 0: catastrophizing is the trait alone",
        lambda p: {"coping.sensitization_rate": 0.0},
    ),
    Mechanism(
        "no_coping_course",
        "coping -> course of episodes (odds ratio)",
        "odds ratio 1: catastrophizing no longer makes episodes persistent",
        lambda p: {"pain.coping_odds_ratio": 1.0},
    ),
    Mechanism(
        "no_coping_in_pain",
        "pain -> coping and coping -> course (alpha and odds ratio)",
        "alpha = 0 and odds ratio 1: years with pain and catastrophizing unrelated",
        lambda p: {"coping.sensitization_rate": 0.0, "pain.coping_odds_ratio": 1.0},
    ),
    Mechanism(
        "no_relaxation",
        "drift relaxation",
        "irreversible fraction 1: no adaptation recovers while pain-free",
        lambda p: {"drift.irreversible_fraction": 1.0},
    ),
)
"""The mechanism checks, in report order; ``no_coping_drift`` is ``counterfactual.csv``."""

EDGE_SIGNS: tuple[Mechanism, ...] = (
    Mechanism(
        "mpfc_pcc_kucyi",
        "mPFC-PCC sign",
        "mPFC-PCC coupling rises with adaptation (Kucyi 2014) instead of falling (Baliki 2014)",
        lambda p: {"drift.mpfc_pcc": -p.drift.mpfc_pcc},
    ),
)
"""Signature variants run like index variants (same people; only the edge signs differ)."""

COUNTERFACTUAL = MECHANISMS[0]
"""The counterfactual of ``counterfactual.csv`` (coping does not feed the drift)."""


def mechanism(key: str) -> Mechanism:
    """The mechanism check or edge-sign variant ``key``."""
    for item in (*MECHANISMS, *EDGE_SIGNS):
        if item.key == key:
            return item
    raise KeyError(key)
