"""The painsim model: a Mesa model whose patients are rows of NumPy arrays.

One step advances every person's pain episodes (``sim.pain``), coping (``sim.coping``) and
connectivity adaptation (``sim.drift``) by ``dt`` with exact solutions inside the step.
Connectivity and graph metrics are materialized only when recorded (:meth:`PainModel.snapshot`).

Random numbers come from separate streams per kind of decision, each seeded from
``SeedSequence(seed, spawn_key=(replicate, stream))``: the same scenario, seed and replicate give
the same people and the same luck, whatever else differs (common random numbers).
"""

from __future__ import annotations

import mesa
import numpy as np
from scipy.special import ndtri
from scipy.stats import poisson

from sim import coping, drift, pain
from sim.brain import build_brain
from sim.metrics import METRIC_NAMES, metrics_from_edges, perturbation_index
from sim.norms import healthy_norms
from sim.pain import STAGES, PainState
from sim.patient import Cohort, Patient
from sim.scenario import Scenario

STREAMS = ("cohort", "connectivity", "pain", "mesa")
RECORD_CHUNK = 8192


def stream(seed: int, replicate: int, name: str) -> np.random.Generator:
    """The random generator of one stream (see ``STREAMS``) of one replicate."""
    key = (replicate, STREAMS.index(name))
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=key))


class PainModel(mesa.Model):
    """A cohort of patients living through back-pain episodes, with coping and DMN drift.

    Parameters
    ----------
    scenario
        A validated :class:`sim.scenario.Scenario`.
    replicate
        Replicate index; selects the random streams.
    create_agents
        Create one :class:`sim.patient.Patient` agent per person (thin views; set False for
        large headless runs where nobody inspects agents).

    Examples
    --------
    >>> from sim.scenario import Scenario
    >>> s = Scenario.model_validate({"scenario": {"name": "demo", "years": 2},
    ...                              "cohort": {"size": 50}})
    >>> model = PainModel(s)
    >>> model.run_until(2.0)
    >>> round(model.time_years, 6)
    2.0
    >>> len(model.agents)
    50
    """

    def __init__(self, scenario: Scenario, replicate: int = 0, *, create_agents: bool = True):
        seed = scenario.scenario.seed
        super().__init__(rng=stream(seed, replicate, "mesa"))
        self.scenario = scenario
        self.replicate = replicate
        self.params = scenario.params
        self.brain = build_brain(self.params.brain)
        self.norms = healthy_norms(self.params)
        self.dt_years = scenario.scenario.dt_years
        self.time_years = 0.0
        self._pain_rng = stream(seed, replicate, "pain")
        self.cohort = self._new_cohort(stream(seed, replicate, "cohort"),
                                       stream(seed, replicate, "connectivity"))
        self.patients: list[Patient] = []
        if create_agents:
            self.patients = [Patient(self, i) for i in range(self.cohort.size)]

    def _new_cohort(self, rng: np.random.Generator, conn_rng: np.random.Generator) -> Cohort:
        spec, p = self.scenario.cohort, self.params
        n = spec.size
        u = rng.random((7, n))
        age0 = spec.age_min + (spec.age_max - spec.age_min) * u[0]
        female = u[1] < spec.female_share
        trait_params = p.coping.model_copy(update={
            "trait_mean": spec.coping_mean or p.coping.trait_mean,
            "trait_sd": spec.coping_sd or p.coping.trait_sd,
        })
        trait = coping.draw_trait(u[2], trait_params)
        state = PainState.new(pain.draw_severity(u[3], p.pain), female)
        reversible, scar, coping_state = self._history(spec, age0, trait, state, u[4:7])
        e = self.brain.n_edges
        baseline = conn_rng.standard_normal((n, e), dtype=np.float32)
        idiosyncrasy = conn_rng.standard_normal((n, e), dtype=np.float32)
        return Cohort(age0=age0, female=female, coping_trait=trait, coping_state=coping_state,
                      pain=state, reversible=reversible, scar=scar, baseline=baseline,
                      idiosyncrasy=idiosyncrasy)

    def _history(self, spec, age0, trait, state: PainState, u: np.ndarray):
        """Pain history before the start, for a share of the cohort (see docs/model.md).

        The history is summarized as one continuous stretch of persistent-level pain ending at
        the start: years with pain are lognormal around ``history_median_years`` (capped by
        adult life), coping and adaptation follow the model's own equations over that stretch.
        """
        p = self.params
        has = u[0] < spec.pain_history_share
        ylp = np.minimum(spec.history_median_years * np.exp(ndtri(u[1])), np.maximum(age0 - 18, 0))
        ylp = np.where(has, ylp, 0.0)
        state.years_with_pain[:] = ylp
        state.episodes[:] = np.where(has, 1 + poisson.ppf(u[2], 1.0 + 0.5 * ylp), 0)
        load = p.pain.long_plateau * state.severity / 10.0
        cp = p.coping
        coping_state = cp.sensitization_rate * load / cp.recovery_rate * -np.expm1(
            -cp.recovery_rate * ylp)
        cz = coping.z_score(coping.score(trait, coping_state), cp)
        a = -np.expm1(-p.drift.rate * np.exp(p.drift.coping_weight * cz) * load * ylp)
        phi = p.drift.irreversible_fraction
        return (1 - phi) * a, phi * a, coping_state

    # -- dynamics -------------------------------------------------------------------------
    def step(self) -> None:
        """Advance the whole cohort by one time step (``dt_weeks``)."""
        self.advance(self.dt_years)

    def advance(self, dt_years: float) -> None:
        """Advance the whole cohort by ``dt_years`` (any length; the equations are exact)."""
        p, c = self.params, self.cohort
        uniforms = self._pain_rng.random((4, c.size))
        cz = coping.z_score(c.coping, p.coping)
        exposure = pain.advance(c.pain, self.time_years, dt_years, uniforms, cz, p.pain)
        c.coping_state = coping.advance(c.coping_state, exposure, p.coping)
        c.reversible, c.scar = drift.advance(c.reversible, c.scar, exposure, cz, p.drift)
        self.time_years += dt_years

    def run_until(self, year: float) -> None:
        """Step until ``year``, shortening the last step so that it ends exactly there."""
        while year - self.time_years > 1e-9:
            dt = min(self.dt_years, year - self.time_years)
            if dt == self.dt_years:
                self.step()
            else:
                self.advance(dt)

    # -- observation ----------------------------------------------------------------------
    @property
    def age(self) -> np.ndarray:
        return self.cohort.age0 + self.time_years

    def current_pain(self) -> np.ndarray:
        """(N,) pain intensity now (NRS 0-10)."""
        return pain.current_intensity(self.cohort.pain, self.time_years, self.params.pain)

    def stages(self) -> np.ndarray:
        """(N,) stage codes now (index into ``sim.pain.STAGES``)."""
        return pain.stage(self.cohort.pain, self.time_years, self.params.pain)

    def connectivity(
        self, rows: np.ndarray | slice = slice(None), pain_now: np.ndarray | None = None
    ) -> np.ndarray:
        """(n, E) current connectivity (Pearson r) of the selected people."""
        c = self.cohort
        pain_now = self.current_pain()[rows] if pain_now is None else pain_now
        return drift.connectivity(
            self.brain, self.params.brain, self.params.drift, c.baseline[rows],
            c.idiosyncrasy[rows], c.adaptation[rows], pain_now, self.age[rows],
        )

    def network_outcomes(
        self, rows: np.ndarray | slice = slice(None), pain_now: np.ndarray | None = None
    ) -> dict[str, np.ndarray]:
        """Graph metrics, perturbation index and edge signature of the selected people."""
        edges = self.connectivity(rows, pain_now)
        m = self.params.metrics
        out = metrics_from_edges(edges, self.brain.iu, self.brain.n_regions,
                                 rule=m.threshold_rule, value=m.threshold)
        out["dmn_perturbation"] = perturbation_index(out, self.norms.at(self.age[rows]))
        for name in ("mpfc_pcc", "mpfc_insula"):
            out[name] = edges[:, self.brain.edge_sets[name]].mean(axis=1)
        return out

    def snapshot(self) -> dict[str, np.ndarray]:
        """Everything recorded about every person now, as (N,) arrays keyed by column name."""
        c, n = self.cohort, self.cohort.size
        pain_now = self.current_pain()
        network: dict[str, list[np.ndarray]] = {}
        for start in range(0, n, RECORD_CHUNK):
            rows = slice(start, min(start + RECORD_CHUNK, n))
            part = self.network_outcomes(rows, pain_now[rows])
            for key, value in part.items():
                network.setdefault(key, []).append(value)
        return {
            "patient_id": np.arange(n),
            "age": self.age,
            "sex": np.where(c.female, "F", "M"),
            "stage": np.asarray(STAGES)[self.stages()],
            "episodes": c.pain.episodes.copy(),
            "years_with_pain": c.pain.years_with_pain.copy(),
            "pain": pain_now,
            "coping": c.coping,
            "adaptation": c.adaptation,
            **{k: np.concatenate(v) for k, v in network.items()},
        }


OUTCOMES = ("dmn_perturbation", *METRIC_NAMES, "mpfc_pcc", "mpfc_insula")
