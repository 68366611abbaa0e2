"""Replay a recorded run: simulate one replicate of one arm again and watch a few people.

A run is deterministic: the same scenario, seed, replicate and arm give the same people with the
same luck, as long as the model stops at the same record times (the random numbers are drawn on
the step grid between them). So connectivity that a run did not save (``connectivity.npz``) can
be rebuilt from the scenario recorded in ``manifest.json``: the figures use this for the
glass-brain connectomes, the matrices and the animation of one patient. Only the people to
show are simulated (:func:`sim.core.replay.people_model`); everyone's network at a record time
follows from the recorded state (:func:`connectivity_from_records`).

:func:`rebuild` returns the rebuilt people's DMN perturbation at the horizon;
:func:`check_replay` compares it with the recorded one and refuses a replay that differs (say, a
run made by another painsim version).

Examples
--------
>>> from sim.experiments.run import simulate
>>> from sim.scenario import parse_scenario
>>> s = parse_scenario({"scenario": {"name": "demo", "years": 2}, "cohort": {"size": 20}})
>>> res = simulate(s, connectivity=True)
>>> tracked = rebuild(s, 0, "usual care", [3, 7])
>>> bool(np.allclose(tracked.connectivity[-1], res.connectivity[0, [3, 7]], atol=1e-6))
True
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

import sim
from sim.core.brain import edges_to_matrix
from sim.core.model import PainModel
from sim.core.replay import people_model
from sim.scenario import Scenario, scenario_from_resolved


class ReplayError(ValueError):
    """A replay does not reproduce the recorded run; ``str()`` is one line."""


def scenario_from_manifest(manifest: Mapping[str, Any], source: str = "manifest.json") -> Scenario:
    """The run's scenario, from the resolved scenario stored in ``manifest.json``.

    Raises
    ------
    sim.scenario.ScenarioError
        The recorded scenario is not valid for this painsim version.
    """
    return scenario_from_resolved(dict(manifest["scenario"]), source)


@dataclass(frozen=True)
class Tracked:
    """Connectivity of a few people over time, and of everyone at the horizon.

    Attributes
    ----------
    years
        (T,) record times captured.
    connectivity
        (T, k, R, R) Pearson r of the tracked people.
    pain_free
        (T, k, R, R) the same people's own pain-free pattern at their age then (adaptation 0,
        no pain): what their network would be without pain.
    everyone
        (N, R, R) float32 connectivity of everyone at the horizon, or None.
    perturbation
        (k,) rebuilt DMN perturbation of the tracked people at the horizon (healthy SD).
    """

    years: np.ndarray
    connectivity: np.ndarray
    pain_free: np.ndarray
    everyone: np.ndarray | None
    perturbation: np.ndarray


def light_model(scenario: Scenario, replicate: int, arm: str | None = None) -> PainModel:
    """The run's cohort as drawn at the start, without simulating its pain history.

    Age, healthy deviations and drift direction (everything connectivity needs besides
    adaptation and pain) are drawn from streams of their own, before and apart from the
    history: they are the same as in the run, at a fraction of the cost.
    """
    light = scenario.model_copy(
        update={"cohort": scenario.cohort.model_copy(update={"history": "none"})}
    )
    return PainModel(light, replicate, arm=arm, create_agents=False)


def rebuild(
    scenario: Scenario,
    replicate: int,
    arm: str,
    people: Sequence[int],
    *,
    frames: Iterable[float] = (),
    everyone: bool = False,
) -> Tracked:
    """Simulate one replicate of one arm again and capture the connectivity of ``people``.

    Only ``people`` are simulated (:func:`sim.core.replay.people_model`: they live exactly as
    in the whole cohort), unless ``everyone`` is asked for. The model stops at every record
    time of the run (as ``sim.experiments.run.run_replicate`` does), so the random numbers
    line up and the rebuilt people are the recorded ones.

    Parameters
    ----------
    scenario
        The run's scenario (e.g. :func:`scenario_from_manifest`).
    replicate, arm
        Which cohort and arm.
    people
        Patient ids to track.
    frames
        Record times (years) at which to capture them; the horizon is always captured last.
    everyone
        Also return everyone's matrix at the horizon (simulates the whole cohort; see
        :func:`connectivity_from_records` for a cheaper way).
    """
    if everyone:
        model = PainModel(scenario, replicate, arm=arm, create_agents=False)
        rows = np.asarray(people, dtype=int)
    else:
        model, rows = people_model(scenario, replicate, people, arm=arm)
    times = model.record_times()
    wanted = {round(float(t), 9) for t in frames} | {round(float(times[-1]), 9)}
    caught, connectivity, pain_free = [], [], []
    for year in model.iter_times(times):
        if round(year, 9) in wanted:
            caught.append(year)
            connectivity.append(model.connectivity(rows))
            pain_free.append(model.pain_free_connectivity(rows))
    outcomes = model.network_outcomes(rows)
    all_matrices = (
        edges_to_matrix(model.connectivity().astype(np.float32), diagonal=1.0) if everyone else None
    )
    return Tracked(
        np.array(caught),
        edges_to_matrix(np.array(connectivity), diagonal=1.0),
        edges_to_matrix(np.array(pain_free), diagonal=1.0),
        all_matrices,
        np.asarray(outcomes["dmn_perturbation"]),
    )


def connectivity_from_records(
    scenario: Scenario,
    replicate: int,
    arm: str,
    people: Sequence[int],
    *,
    ages: Sequence[float],
    adaptation: Sequence[float],
    pain: Sequence[float],
    model: PainModel | None = None,
) -> np.ndarray:
    """(k, R, R) float32 connectivity of recorded people, from their recorded state.

    Connectivity depends only on age, adaptation and pain now, and on draws made when the
    cohort is made (:meth:`sim.core.model.PainModel.connectivity_at`), so the records of a
    run give everyone's network without simulating anybody (to the float32 precision of the
    stored columns). ``model``: :func:`light_model` of the same replicate and arm, if made.

    Raises
    ------
    ValueError
        The arm has an intervention acting on the network (its effect is not recorded):
        :func:`rebuild` with ``everyone=True`` instead.
    """
    model = model or light_model(scenario, replicate, arm)
    edges = model.connectivity_at(
        np.asarray(people, dtype=int),
        ages=np.asarray(ages, dtype=float),
        adaptation=np.asarray(adaptation, dtype=float),
        pain_now=np.asarray(pain, dtype=float),
    )
    return edges_to_matrix(edges.astype(np.float32), diagonal=1.0)


def pain_free_pattern(
    scenario: Scenario,
    replicate: int,
    people: Sequence[int],
    ages: Sequence[float],
    model: PainModel | None = None,
) -> np.ndarray:
    """(k, R, R) own pain-free connectivity of ``people`` at ``ages`` (years); no simulation.

    A person's healthy deviations are drawn when the cohort is made, so building the model
    without running it (nor its pain history) is enough: ``model`` is
    :func:`light_model` of the replicate, if already made.
    """
    model = model or light_model(scenario, replicate)
    rows = np.asarray(people, dtype=int)
    edges = model.pain_free_connectivity(rows, np.asarray(ages, dtype=float))
    return edges_to_matrix(edges, diagonal=1.0)


def check_replay(
    tracked: Tracked, recorded: np.ndarray, *, made_with: str | None = None, where: str = "run"
) -> None:
    """Refuse a replay whose DMN perturbation differs from the recorded one.

    Parameters
    ----------
    tracked
        From :func:`rebuild`.
    recorded
        (k,) recorded DMN perturbation of the same people at the horizon.
    made_with
        painsim version that made the run, for the message.
    where
        What the run is (its folder), for the message.

    Raises
    ------
    ReplayError
        The rebuilt people are not the recorded ones.
    """
    if np.allclose(tracked.perturbation, recorded, atol=1e-6, equal_nan=True):
        return
    version = f"made with painsim {made_with}, " if made_with else ""
    raise ReplayError(
        f"{where}: rebuilding patients from the recorded scenario does not reproduce the "
        f"recorded results ({version}this is painsim {sim.__version__}); run it again keeping "
        "its connectivity"
    )
