"""The painsim model: a Mesa model whose patients are rows of NumPy arrays.

One step advances every person's pain episodes (``sim.core.pain``), coping (``sim.core.coping``) and
connectivity adaptation (``sim.core.drift``) by ``dt`` with exact solutions inside the step.
Connectivity and graph metrics are materialized only when recorded (:meth:`PainModel.snapshot`).

Random numbers come from separate streams per kind of decision, each seeded from
``SeedSequence(seed, spawn_key=(replicate, stream))``: the same scenario, seed and replicate give
the same people and the same luck, whatever else differs (common random numbers).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

import mesa
import numpy as np

from sim.core import coping, drift, pain
from sim.core.brain import Brain, build_brain
from sim.core.history import simulate_history
from sim.core.indices import model_indices
from sim.core.interventions import KINDS, ArmEffects, Delivery, reported_pain
from sim.core.metrics import METRIC_NAMES, metrics_from_edges, perturbation_index
from sim.core.norms import HealthyNorms, healthy_norms
from sim.core.outcomes import NETWORK, TRIAL
from sim.core.pain import STAGES, WEEKS_PER_YEAR, PainState
from sim.core.parameters import ModelParams
from sim.core.patient import Cohort, Patient
from sim.core.replay import ExposureLog, PainPaths
from sim.core.step import fused_step
from sim.core.uniforms import StepUniforms

if TYPE_CHECKING:  # the scenario layer sits above the core; only its type is needed here
    from sim.scenario import ArmSection, Scenario

STREAMS = ("cohort", "connectivity", "pain", "mesa", "interventions", "measurement", "history")
RECORD_CHUNK = 8192
RESPONDER_DROP = 0.3  # >= 30 % less pain than at enrolment (IMMPACT; Cherkin 2016)
TIME_TOL = 1e-9
"""Times closer than this (years) are the same time; far below any sensible time step."""
BRANCH = 2**31 - 1
"""Sub-stream marker of a branch's measurement and intervention streams (see branch())."""


def record_grid(years: float, every_years: float) -> np.ndarray:
    """Record times: 0, every ``every_years``, and the horizon ``years`` (always included).

    Examples
    --------
    >>> record_grid(2.5, 1).tolist()
    [0.0, 1.0, 2.0, 2.5]
    """
    # Rounding keeps grid points such as 3 * 0.1 readable (0.3, not 0.30000000000000004).
    grid = np.round(every_years * np.arange(math.floor(years / every_years + TIME_TOL) + 1), 9)
    if years - grid[-1] > TIME_TOL:
        grid = np.append(grid, years)
    return grid


def steps_between(start: float, end: float, dt_years: float) -> int:
    """Model steps :meth:`PainModel.run_until` takes from ``start`` to ``end``."""
    return max(0, math.ceil((end - start - TIME_TOL) / dt_years))


def stream(seed: int, replicate: int, name: str, *key: int) -> np.random.Generator:
    """The random generator of one stream (see ``STREAMS``) of one replicate.

    Extra integers in ``key`` split a stream further (e.g. one sub-stream per intervention
    kind, or per record time), so that what one arm draws never shifts another arm's draws.
    """
    spawn_key = (replicate, STREAMS.index(name), *key)
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=spawn_key))


class PainModel(mesa.Model):
    """A cohort of patients living through back-pain episodes, with coping and DMN drift.

    Parameters
    ----------
    scenario
        A validated :class:`sim.scenario.Scenario`.
    replicate
        Replicate index; selects the random streams.
    arm
        Name of the scenario arm to simulate (default: the first). All arms of a replicate
        start from the same people and share their random numbers (virtual twins).
    create_agents
        Create one :class:`sim.core.patient.Patient` agent per person (thin views; set False for
        large headless runs where nobody inspects agents).
    shadow_drift
        Other drift parameter sets to integrate alongside the model's own, over the same pain
        and coping histories (:meth:`shadow_adaptation`). Pain and coping never depend on the
        drift, so a shadow is exactly the adaptation the same people would have in a model with
        those drift parameters: a study's counterfactual without simulating everyone twice.

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

    def __init__(
        self,
        scenario: Scenario,
        replicate: int = 0,
        *,
        arm: str | None = None,
        create_agents: bool = True,
        shadow_drift: tuple[drift.DriftParams, ...] = (),
    ):
        seed = scenario.scenario.seed
        super().__init__(rng=stream(seed, replicate, "mesa"))
        self.scenario = scenario
        self.replicate = replicate
        self.arm = scenario.arm(arm)
        self.params = scenario.params
        self.brain = build_brain(self.params.brain)
        self.norms = healthy_norms(self.params)
        self.dt_years = scenario.scenario.dt_years
        self.time_years = 0.0
        self._pain_rng = stream(seed, replicate, "pain")
        self._grid_left = 0.0  # years left in the current step of the random-number grid
        self._uniforms: StepUniforms | None = None  # the current grid step's (4, N) uniforms
        self._draws: pain.StepDraws | None = None
        self._branch_key: int | None = None
        self.cohort = self._new_cohort(
            stream(seed, replicate, "cohort"),
            stream(seed, replicate, "connectivity"),
            stream(seed, replicate, "history"),
        )
        self.effects = ArmEffects(self._deliveries(seed, replicate))
        self._exposure_log: ExposureLog | None = None
        self.shadow_drift = tuple(shadow_drift)
        # Shadows start from the model's own initial adaptation (none without a history).
        self._shadows = [
            (self.cohort.reversible.copy(), self.cohort.scar.copy()) for _ in self.shadow_drift
        ]
        self.patients: list[Patient] = []
        if create_agents:
            self.patients = [Patient(self, i) for i in range(self.cohort.size)]

    def _new_cohort(
        self,
        rng: np.random.Generator,
        conn_rng: np.random.Generator,
        history_rng: np.random.Generator,
    ) -> Cohort:
        spec, p = self.scenario.cohort, self.params
        n = spec.size
        u = rng.random((4, n))
        age0 = spec.age_min + (spec.age_max - spec.age_min) * u[0]
        female = u[1] < spec.female_share
        trait_params = p.coping.model_copy(
            update={
                "trait_mean": spec.coping_mean or p.coping.trait_mean,
                "trait_sd": spec.coping_sd or p.coping.trait_sd,
            }
        )
        trait = coping.draw_trait(u[2], trait_params)
        state = PainState.new(pain.draw_severity(u[3], p.pain), female, age0)
        if spec.history == "simulated":
            # Everyone lives from the start age to age0 with the model's own equations, so
            # year 0 holds the population's steady state (sim.core.history).
            past = simulate_history(state, trait, p, history_rng, self.dt_years)
            coping_state, reversible, scar = past.coping_state, past.reversible, past.scar
        else:
            coping_state, reversible, scar = np.zeros(n), np.zeros(n), np.zeros(n)
        e = self.brain.n_edges
        baseline = conn_rng.standard_normal((n, e), dtype=np.float32)
        idiosyncrasy = conn_rng.standard_normal((n, e), dtype=np.float32)
        return Cohort(
            age0=age0,
            female=female,
            coping_trait=trait,
            coping_state=coping_state,
            pain=state,
            reversible=reversible,
            scar=scar,
            baseline=baseline,
            idiosyncrasy=idiosyncrasy,
        )

    def branch(self, rows: np.ndarray, arm: ArmSection | None = None, *, key: int = 0) -> PainModel:
        """The selected people as they are now, in a new model that goes on from here.

        Their whole state is copied (pain, coping, adaptation, connectivity draws, age); from
        now on they draw from streams of their own, ``key`` selects which. Branches of the same
        people with the same ``key`` share all their luck, whatever their ``arm`` (default:
        this model's): branching into several arms makes virtual twins from a population lived
        once (the calibration of the interventions does this). Treatments of this model do not
        carry over; the branch starts its arm's interventions afresh.

        Parameters
        ----------
        rows
            People to keep (index array).
        arm
            The branch's arm; its interventions enrol from their ``start_year`` on.
        key
            Selects the branch's random streams.
        """
        seed, replicate = self.scenario.scenario.seed, self.replicate
        new = PainModel.__new__(PainModel)
        mesa.Model.__init__(new, rng=stream(seed, replicate, "mesa", 1, key))
        new.scenario, new.replicate, new.params = self.scenario, replicate, self.params
        new.arm = self.arm if arm is None else arm
        new.brain, new.norms, new.dt_years = self.brain, self.norms, self.dt_years
        new.time_years = self.time_years
        new._pain_rng = stream(seed, replicate, "pain", 1, key)
        new._grid_left, new._draws, new._uniforms = 0.0, None, None
        new.cohort = self.cohort.take(np.asarray(rows))
        new._branch_key = key
        new.effects = ArmEffects(new._deliveries(seed, replicate))
        new._exposure_log = None
        # Shadows (drift-only counterfactuals) go on for the same people.
        take = np.asarray(rows)
        new.shadow_drift = self.shadow_drift
        new._shadows = [(r[take].copy(), s[take].copy()) for r, s in self._shadows]
        new.patients = []
        return new

    def _deliveries(self, seed: int, replicate: int) -> list[Delivery]:
        """One delivery per intervention of the arm, each with its own common-number stream."""
        seen: dict[str, int] = {}
        deliveries = []
        # Record-time noise uses keys >= 0 (the record day); enrolment reports use key 0, 0.
        # A branch (see branch()) adds its own key, so it never reuses its parent's numbers.
        extra = () if self._branch_key is None else (BRANCH, self._branch_key)
        report_noise = stream(seed, replicate, "measurement", 0, 0, *extra).standard_normal(
            self.cohort.size
        )
        for spec in self.arm.interventions:
            occurrence = seen.setdefault(spec.kind, 0)
            seen[spec.kind] += 1
            rng = stream(
                seed, replicate, "interventions", list(KINDS).index(spec.kind), occurrence, *extra
            )
            deliveries.append(Delivery.new(spec, rng, report_noise, self.brain))
        return deliveries

    # -- dynamics -------------------------------------------------------------------------
    def step(self) -> None:
        """Advance the whole cohort by one time step (``dt_weeks``)."""
        self.advance(self.dt_years)

    def advance(self, dt_years: float) -> None:
        """Advance the whole cohort by ``dt_years`` (any length; the equations are exact).

        Random numbers belong to the fixed step grid (multiples of ``dt_weeks``): observing the
        model inside a step splits that step in two without new draws, so the random path does
        not depend on when the model is recorded.
        """
        end = self.time_years + dt_years
        while dt_years > 1e-12:
            if self._grid_left <= 1e-12:
                if self._uniforms is None:  # one buffer (see sim.core.history)
                    self._uniforms = StepUniforms(self.cohort.size)
                # = .random((4, N)); rows 1-3 are made when needed (sim.core.uniforms)
                self._uniforms.draw(self._pain_rng)
                self._draws = None  # made from the uniforms if the step is split
                self._grid_left = self.dt_years
            part = min(dt_years, self._grid_left)
            # A part that takes a whole step's draws (the budget left is never used) can be
            # fused; callers that step by ``time + dt`` get parts an ulp off dt_weeks.
            whole = self._grid_left == self.dt_years and self._grid_left - part <= 1e-12
            if whole and self._exposure_log is None:
                self._advance_step(part)
            else:
                self._advance_part(part)
            self._grid_left -= part
            dt_years -= part
        self.time_years = end  # no drift from summing the parts

    def _advance_step(self, dt: float) -> None:
        """Advance by ``dt`` years, a whole grid step, with the fused kernels (sim.core.step).

        Gives exactly what :meth:`_advance_part` gives for a whole step, much faster.
        """
        p, c, t = self.params, self.cohort, self.time_years
        coping_relief = self.effects.coping_relief(t)  # as coping_now() at the step's start
        relief = self.effects.pain_factor(t + dt / 2)
        # New arrays each step, as the vectorized functions return (nobody sees them change);
        # the shadows' adaptation goes through the same pass.
        c.coping_state = c.coping_state.copy()
        reversible = np.stack([c.reversible, *(r for r, _ in self._shadows)])
        scar = np.stack([c.scar, *(s for _, s in self._shadows)])
        fused_step(c.pain, t, dt, self._uniforms, c.coping_trait, c.coping_state, reversible,
                   scar, p, drifts=(p.drift, *self.shadow_drift),
                   relief=relief if isinstance(relief, np.ndarray) else None,
                   coping_relief=None if np.ndim(coping_relief) == 0 and coping_relief == 0.0
                   else np.broadcast_to(coping_relief, c.coping_state.shape))  # fmt: skip
        c.reversible, c.scar = reversible[0], scar[0]
        self._shadows = [(reversible[k], scar[k]) for k in range(1, len(reversible))]
        self.time_years = t + dt
        self._enroll()

    def _advance_part(self, dt_years: float) -> None:
        """Advance by ``dt_years`` within one grid step.

        Treatment effects are taken at the start (coping) and middle (pain relief) of the part;
        enrolment into the arm's interventions is decided at its end.
        """
        p, c, t = self.params, self.cohort, self.time_years
        if self._draws is None:
            self._draws = pain.StepDraws.from_uniforms(self._uniforms.full())
        cz = coping.z_score(self.coping_now(), p.coping)
        exposure = pain.advance(c.pain, t, dt_years, self._draws, cz, p.pain)
        relief = self.effects.pain_factor(t + dt_years / 2)
        if isinstance(relief, np.ndarray):
            exposure.intensity *= relief[exposure.rows]
        if self._exposure_log is not None:
            self._exposure_log.add(t, exposure)
        c.coping_state = coping.advance(c.coping_state, exposure, p.coping)
        c.reversible, c.scar = drift.advance(c.reversible, c.scar, exposure, cz, p.drift)
        for k, shadow in enumerate(self.shadow_drift):
            self._shadows[k] = drift.advance(*self._shadows[k], exposure, cz, shadow)
        self.time_years = t + dt_years
        self._enroll()

    def _enroll(self) -> None:
        t = self.time_years
        open_ = [d for d in self.effects.deliveries if d.is_open(t)]
        if not open_:
            return
        stages, ylp = self.stages(), self.cohort.pain.years_with_pain
        # Computed once, and only if some delivery has people who pass its other rules.
        pain_now, coping_now = functools.cache(self.current_pain), functools.cache(self.coping_now)
        for delivery in open_:
            delivery.enroll(t, stages, ylp, coping_now, pain_now, self.params.pain.report_sd)

    def log_exposures(self, until: np.ndarray | None = None) -> ExposureLog:
        """Keep every later step's pain segments, for replay with other parameters.

        Parameters
        ----------
        until
            (N,) time (years) after which a person's steps need not be kept.

        Returns
        -------
        sim.core.replay.ExposureLog
            Filled as the model runs; :meth:`pain_paths` cuts it per person.
        """
        c = self.cohort
        self._exposure_log = ExposureLog(
            self.time_years, c.coping_state, c.reversible, c.scar, until
        )
        return self._exposure_log

    def pain_paths(self, log: ExposureLog, rows: np.ndarray, times: np.ndarray) -> PainPaths:
        """The pain people ``rows`` lived from the start of ``log`` until ``times`` (years).

        With :func:`sim.core.replay.replay` the paths give these people's coping score and
        adaptation at ``times`` under other coping or drift parameters.
        """
        c = self.cohort
        return log.paths(
            rows,
            times,
            trait=c.coping_trait[rows],
            baseline=c.baseline[rows],
            idiosyncrasy=c.idiosyncrasy[rows],
        )

    def run_until(self, year: float) -> None:
        """Advance until exactly ``year`` (a record time may fall inside a step)."""
        if year - self.time_years > 1e-9:
            self.advance(year - self.time_years)

    # -- observation ----------------------------------------------------------------------
    @property
    def age(self) -> np.ndarray:
        return self.cohort.age0 + self.time_years

    def current_pain(self, rows: np.ndarray | slice | None = None) -> np.ndarray:
        """(N,) pain intensity now (NRS 0-10), after any treatment relief.

        With ``rows``, only those people (cheaper than computing everyone's and selecting).
        """
        state = self.cohort.pain if rows is None else self.cohort.pain.take(rows)
        base = pain.current_intensity(state, self.time_years, self.params.pain)
        factor = self.effects.pain_factor(self.time_years)
        if rows is not None and isinstance(factor, np.ndarray):
            factor = factor[rows]
        return base * factor

    def coping_now(self, rows: np.ndarray | slice | None = None) -> np.ndarray:
        """(N,) catastrophizing score now (PCS 0-52), after any treatment effect (or ``rows``)."""
        relief = self.effects.coping_relief(self.time_years)
        if rows is None:
            return np.clip(self.cohort.coping - relief, 0.0, coping.PCS_MAX)
        if isinstance(relief, np.ndarray):
            relief = relief[rows]
        c = self.cohort
        score = coping.score(c.coping_trait[rows], c.coping_state[rows])
        return np.clip(score - relief, 0.0, coping.PCS_MAX)

    def enrolled_year(self) -> np.ndarray:
        """(N,) year of each person's first enrolment in the arm's interventions (NaN: never)."""
        enrolled = self.effects.enrolled()
        return np.full(self.cohort.size, np.nan) if enrolled is None else enrolled.copy()

    def coping_trait(self, rows: np.ndarray | slice = slice(None)) -> np.ndarray:
        """(n,) catastrophizing trait (PCS 0-52) of the selected people: their stable disposition.

        Drawn when the cohort is made and never changed; the score now (:meth:`coping_now`)
        adds what pain has done since and takes off treatment effects. A copy: changing it
        changes nothing in the model.
        """
        return self.cohort.coping_trait[rows].copy()

    def stages(self) -> np.ndarray:
        """(N,) stage codes now (index into ``sim.core.pain.STAGES``)."""
        return pain.stage(self.cohort.pain, self.time_years, self.params.pain)

    def record_times(self) -> np.ndarray:
        """The scenario's record times (years): 0, every ``record_every_years``, the horizon."""
        run = self.scenario.scenario
        return record_grid(run.years, run.record_every_years)

    def iter_times(self, times: np.ndarray | list[float] | None = None) -> Iterator[float]:
        """Advance to each of ``times`` in turn (default: the record times) and yield it.

        Observe the model inside the loop; stepping through the same times gives the same
        random path as any other run of the same scenario, seed and replicate.

        Examples
        --------
        >>> from sim.scenario import parse_scenario
        >>> s = parse_scenario({"scenario": {"name": "demo", "years": 2}, "cohort": {"size": 5}})
        >>> [t for t in PainModel(s, create_agents=False).iter_times()]
        [0.0, 1.0, 2.0]
        """
        for t in self.record_times() if times is None else times:
            self.run_until(float(t))
            yield float(t)

    def connectivity(
        self,
        rows: np.ndarray | slice = slice(None),
        pain_now: np.ndarray | None = None,
        *,
        with_pain: bool = True,
    ) -> np.ndarray:
        """(n, E) current connectivity (Pearson r) of the selected people.

        Parameters
        ----------
        rows
            Whom to materialize (index array or slice).
        pain_now
            Their current pain, if already computed (default: :meth:`current_pain`).
        with_pain
            False: the same people with their accumulated adaptation but no current pain (the
            pain-driven part of the signature removed).
        """
        c = self.cohort
        if not with_pain:
            pain_now = np.zeros(c.age0[rows].size)
        elif pain_now is None:
            pain_now = self.current_pain()[rows]
        return drift.connectivity(
            self.brain,
            self.params.brain,
            self.params.drift,
            c.baseline[rows],
            c.idiosyncrasy[rows],
            c.adaptation[rows],
            pain_now,
            self.age[rows],
            self.effects.drift_factor(self.time_years, rows),
        )

    def pain_free_connectivity(
        self, rows: np.ndarray | slice = slice(None), ages: np.ndarray | None = None
    ) -> np.ndarray:
        """(n, E) the selected people's own pain-free pattern: no adaptation, no pain.

        What their network would be had they never had pain, at their age now (or ``ages``).
        A person's healthy deviations are drawn when the cohort is made, so this needs no
        simulation.
        """
        c = self.cohort
        zeros = np.zeros(c.age0[rows].size)
        ages = self.age[rows] if ages is None else np.asarray(ages, dtype=float)
        return drift.connectivity(
            self.brain,
            self.params.brain,
            self.params.drift,
            c.baseline[rows],
            c.idiosyncrasy[rows],
            zeros,
            zeros,
            ages,
        )

    def connectivity_at(
        self,
        rows: np.ndarray,
        *,
        ages: np.ndarray,
        adaptation: np.ndarray,
        pain_now: np.ndarray,
        drift_params: drift.DriftParams | None = None,
    ) -> np.ndarray:
        """(n, E) connectivity (Pearson r) of the selected people in a state observed earlier.

        A person's healthy deviations and drift direction are fixed when the cohort is made,
        so connectivity depends only on age, adaptation and current pain. Given the ``age``,
        ``adaptation`` and ``pain`` that :meth:`observe` returned at some time, this gives
        exactly what :meth:`connectivity` gave at that time. Materializing many observations
        in one call is much faster than one call per observation time (a study scans people
        at thousands of different moments). ``drift_params`` materializes the same people with
        another pain signature (default: the model's own), e.g. with a shadow's adaptation.

        Raises
        ------
        ValueError
            The arm has an intervention acting on the network, whose effect depends on time.
        """
        if any(d.spec.dmn_effect > 0 for d in self.effects.deliveries):
            raise ValueError(
                f"arm '{self.arm.name}': connectivity_at does not apply treatment effects on "
                "the network; use connectivity() at the time of observation"
            )
        c = self.cohort
        return drift.connectivity(
            self.brain,
            self.params.brain,
            self.params.drift if drift_params is None else drift_params,
            c.baseline[rows],
            c.idiosyncrasy[rows],
            adaptation,
            pain_now,
            ages,
        )

    def shadow_adaptation(self, rows: np.ndarray) -> np.ndarray:
        """(K, n) adaptation of the selected people under each of the K ``shadow_drift`` sets."""
        if not self._shadows:
            return np.zeros((0, np.asarray(rows).size))
        return np.stack([r[rows] + s[rows] for r, s in self._shadows])

    def observe(self, rows: np.ndarray) -> dict[str, np.ndarray]:
        """True state of the selected people now, without treatment effects (a study's view).

        Returns
        -------
        dict
            (n,) arrays ``age``, ``years_with_pain``, ``episodes``, ``pain`` (NRS 0-10),
            ``coping`` (PCS 0-52), ``adaptation`` and ``episode_weeks`` (weeks since the onset
            of the current episode, NaN if not in pain); for inclusion rules ``female``,
            ``weeks_free_before`` (pain-free weeks before the current episode, or before now
            if not in pain; inf if there was no earlier episode) and
            ``longest_episode_weeks`` (longest finished episode, 0 if none).
        """
        c, t = self.cohort, self.time_years
        state = c.pain
        in_pain = state.in_pain[rows]
        # In pain: the gap before this onset; between episodes: the time since the last ended.
        last_end = np.where(in_pain, state.previous_end[rows], state.end[rows])
        since = np.where(in_pain, state.onset[rows], t)
        finished = np.where(in_pain, 0.0, state.end[rows] - state.onset[rows])
        finished = np.where(np.isfinite(finished), finished, 0.0)
        return {
            "age": c.age0[rows] + t,
            "female": c.female[rows].copy(),
            "years_with_pain": c.pain.years_with_pain[rows].copy(),
            "episodes": c.pain.episodes[rows].copy(),
            "pain": pain.current_intensity(c.pain.take(rows), t, self.params.pain),
            "coping": coping.score(c.coping_trait[rows], c.coping_state[rows]),
            "adaptation": c.reversible[rows] + c.scar[rows],
            "episode_weeks": np.where(
                c.pain.in_pain[rows], (t - c.pain.onset[rows]) * WEEKS_PER_YEAR, np.nan
            ),
            "weeks_free_before": (since - last_end) * WEEKS_PER_YEAR,
            "longest_episode_weeks": np.maximum(state.longest[rows], finished) * WEEKS_PER_YEAR,
        }

    def network_outcomes(
        self, rows: np.ndarray | slice = slice(None), pain_now: np.ndarray | None = None
    ) -> dict[str, np.ndarray]:
        """Graph metrics, perturbation index and edge signature of the selected people."""
        c = self.cohort
        if pain_now is None:
            pain_now = self.current_pain()[rows]
        return network_outcomes(
            self.brain, self.params, self.norms, c.baseline[rows], c.idiosyncrasy[rows],
            c.adaptation[rows], pain_now, self.age[rows],
            self.effects.drift_factor(self.time_years, rows),
        )  # fmt: skip

    def indices(
        self, rows: np.ndarray | slice = slice(None), pain_now: np.ndarray | None = None
    ) -> dict[str, np.ndarray]:
        """Every perturbation index variant, with its trait and state parts, of ``rows`` now.

        See :func:`sim.core.indices.model_indices` (keys ``sim.core.indices.INDEX_COLUMNS``).
        """
        return model_indices(self, rows, pain_now)

    def snapshot(self, *, labels: bool = True) -> dict[str, np.ndarray]:
        """Everything recorded about every person now, as (N,) arrays keyed by column name.

        Parameters
        ----------
        labels
            ``sex`` as ``"F"``/``"M"`` and ``stage`` as names (``sim.core.pain.STAGES``); with
            False, ``sex`` is a boolean "female" array and ``stage`` the stage code (int8), which
            is what a recorder storing categories needs (no string arrays are built).
        """
        return self.snapshot_later(labels=labels)()

    def snapshot_later(self, *, labels: bool = True) -> Callable[[], dict[str, np.ndarray]]:
        """:meth:`snapshot` of now, with its network outcomes computed when it is called.

        Everything the network outcomes need (current pain, adaptation, age) is taken now, so
        the model may step on before the returned function is called, in another thread if
        need be: a run computes a record's graph metrics while it steps to the next record.
        With an intervention acting on the network (its effect depends on time), they are
        computed now.
        """
        c, n = self.cohort, self.cohort.size
        pain_now = self.current_pain()
        age, adaptation = self.age, c.adaptation
        stages = self.stages()
        front = {
            "patient_id": np.arange(n),
            "age": age,
            "sex": np.where(c.female, "F", "M") if labels else c.female.copy(),
            "stage": np.asarray(STAGES)[stages] if labels else stages,
            "episodes": c.pain.episodes.copy(),
            "years_with_pain": c.pain.years_with_pain.copy(),
            "pain": pain_now,
            "coping": self.coping_now(),
            "adaptation": adaptation,
        }
        trial = self._trial_outcomes(pain_now)
        brain, params, norms = self.brain, self.params, self.norms
        baseline, idiosyncrasy = c.baseline, c.idiosyncrasy
        effects, t = self.effects, self.time_years
        acts_on_network = any(d.spec.dmn_effect > 0 for d in effects.deliveries)

        def network_part(rows: slice) -> dict[str, np.ndarray]:
            # (n, E) factors of a treatment acting on the network, a chunk at a time (now).
            expression = effects.drift_factor(t, rows) if acts_on_network else None
            return network_outcomes(
                brain, params, norms, baseline[rows], idiosyncrasy[rows], adaptation[rows],
                pain_now[rows], age[rows], expression,
            )  # fmt: skip

        def finish() -> dict[str, np.ndarray]:
            network: dict[str, list[np.ndarray]] = {}
            for start in range(0, n, RECORD_CHUNK):
                part = network_part(slice(start, min(start + RECORD_CHUNK, n)))
                for key, value in part.items():
                    network.setdefault(key, []).append(value)
            joined = {k: np.concatenate(v) for k, v in network.items()}
            healthy = joined["dmn_perturbation"] <= norms.healthy_upper
            return {**front, **joined, "healthy_range": healthy, **trial}

        if acts_on_network:
            done = finish()  # the treatment's effect depends on the time: now
            return lambda: done
        return finish

    def trial_outcomes(self) -> dict[str, np.ndarray]:
        """What a trial measures now, without the network: (N,) arrays ``pain``, ``coping``,
        ``pain_reported``, ``enrolled_year``, ``baseline_pain`` and ``responder`` (as in
        :meth:`snapshot`, much cheaper)."""
        pain_now = self.current_pain()
        return {"pain": pain_now, "coping": self.coping_now(), **self._trial_outcomes(pain_now)}

    def _trial_outcomes(self, pain_now: np.ndarray) -> dict[str, np.ndarray]:
        """Enrolment, reported pain and responder status (>= 30 % less pain than at enrolment).

        The report noise of each record time comes from its own sub-stream, so every arm sees
        the same noise for the same patient at the same time.
        """
        n, t = self.cohort.size, self.time_years
        key = round(t * WEEKS_PER_YEAR * 7)  # the record day
        extra = () if self._branch_key is None else (BRANCH, self._branch_key)
        noise = stream(self.scenario.scenario.seed, self.replicate, "measurement", key, *extra)
        reported = reported_pain(pain_now, noise.standard_normal(n), self.params.pain.report_sd)
        enrolled = self.effects.enrolled()
        if enrolled is None:
            enrolled = baseline = np.full(n, np.nan)
        else:
            baseline = self.effects.baseline_pain()
        active = (enrolled <= t + 1e-9) & (baseline > 0)
        responder = np.where(active, reported <= (1 - RESPONDER_DROP) * baseline, np.nan)
        return {
            "pain_reported": reported,
            "enrolled_year": enrolled,
            "baseline_pain": baseline,
            "responder": responder,
        }


def network_outcomes(
    brain: Brain,
    params: ModelParams,
    norms: HealthyNorms,
    baseline: np.ndarray,
    idiosyncrasy: np.ndarray,
    adaptation: np.ndarray,
    pain_now: np.ndarray,
    age: np.ndarray,
    expression: np.ndarray | None = None,
) -> dict[str, np.ndarray]:
    """Graph metrics, perturbation index and edge signature of people in the given state.

    What :meth:`PainModel.network_outcomes` computes, from the state it reads (arguments as
    :func:`sim.core.drift.connectivity` takes them).
    """
    edges = drift.connectivity(
        brain, params.brain, params.drift, baseline, idiosyncrasy, adaptation, pain_now, age,
        expression,
    )  # fmt: skip
    m = params.metrics
    out = metrics_from_edges(
        edges, brain.iu, brain.n_regions, rule=m.threshold_rule, value=m.threshold
    )
    out["dmn_perturbation"] = perturbation_index(out, norms.at(age))
    for name in ("mpfc_pcc", "mpfc_insula"):
        out[name] = edges[:, brain.edge_sets[name]].mean(axis=1)
    return out


OUTCOMES = NETWORK
TRIAL_COLUMNS = TRIAL
assert NETWORK[1:6] == METRIC_NAMES  # the registry follows the metric kernels' order
