"""The ``heukamp`` calibration experiment: findings 1-3 as effect sizes of the candidate pool.

The virtual Heukamp study (``sim.experiments.study``) draws 39 healthy, 77 subacute and 31
chronic people from a simulated population (its *candidate pool*) and tests. A 147-person
sample's Cohen's d and r estimate a value of the pool; with the measurement model applied to
every candidate, that value is computed here directly, from thousands of candidates
(:func:`pool_statistics`):

* perturbation is the mean |z| of the four graph metrics of *noisy* scans (ICC
  ``connectivity_reliability``) against the healthy candidates, whose weights match the age
  distribution of the patients (in the study's 5-year strata), as the study's age-matched
  controls do;
* d(CBP-HC), d(CBP-SBP) pool the group variances with the study's group sizes (31:39, 31:77),
  as the sample d does; r(YLP, perturbation) weights subacute and chronic candidates 77:31, the
  study's mix of patients.

These are the estimands of the study's statistics, so a target "d = 0.6 with the sampling
interval of a 31 vs 39 study" compares like with like; the pool's own sampling error (about
0.03 in d with 60,000 people) is small beside the study's (0.25). docs/model.md ("Calibration
to the Heukamp findings") checks the estimands against the replications of the full study.

Cost. The pain of a population is lived once (:func:`build_node`, the study's own
``simulate_population`` with the model's exposure log), and every parameter set is replayed on
it (``sim.core.replay``): drift parameters exactly, ``coping.recovery_rate`` exactly for the
coping score, except that the courses of new episodes were chosen with the coping of the
population's own value; ``nodes`` populations at log-spaced values over that prior keep the
mismatch small (a proposal uses the nearest). A replay of a 60,000-person pool takes about
0.2 s, so ABC can afford thousands.

Finding 4 (mediation) is not a target: :func:`predict_findings` runs the study's own analysis
(147 people, bootstrap mediation) on replayed pools of posterior draws and reports how often
each finding comes out.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

import sim
from sim.analysis.stats import (
    population_cohens_d,
    population_mediation,
    weighted_correlation,
    weighted_moments,
)
from sim.core import drift
from sim.core.brain import build_brain
from sim.core.metrics import (
    PERTURBATION_METRICS,
    MetricReference,
    metrics_from_edges,
    perturbation_index,
)
from sim.core.parameters import ModelParams
from sim.core.replay import PainPaths, replay
from sim.experiments.study import (
    ADULT_AGE,
    AGE_BIN_YEARS,
    CBP,
    FINDINGS,
    HC,
    SBP,
    Pool,
    detection_rates,
    group_sizes,
    observe_connectivity,
    observe_coping,
    override_study,
    run_replications,
    simulate_population,
)
from sim.experiments.study.population import recruitment_plan
from sim.scenario import Scenario, parse_scenario

if TYPE_CHECKING:
    from sim.experiments.backends import Pool as WorkerPool
    from sim.experiments.calibrate.problem import Problem

NODE_PARAMETER = "coping.recovery_rate"
"""The one parameter varied across populations (it changes the pain people live)."""


@dataclass
class Node:
    """A simulated candidate pool and the pain its people lived, for replay."""

    value: float | None
    pool: Pool
    paths: PainPaths


def node_values(problem: Problem) -> list[float | None]:
    """``coping.recovery_rate`` of each population: log-spaced over its prior, or [None]."""
    if NODE_PARAMETER not in problem.priors:
        return [None]
    low, high = problem.priors[NODE_PARAMETER]
    count = problem.design.nodes
    if count == 1:
        return [math.sqrt(low * high)]
    return [float(v) for v in np.geomspace(low, high, count)]


def nearest_node(values: dict[str, float], nodes: list[float | None]) -> int:
    """Index of the population a parameter set is replayed on (nearest in log)."""
    if nodes == [None] or NODE_PARAMETER not in values:
        return 0
    x = math.log(values[NODE_PARAMETER])
    return int(np.argmin([abs(math.log(v) - x) for v in nodes]))


def node_scenario(scenario: Scenario, population: int, value: float | None) -> Scenario:
    """The study scenario of one population: its size and, if set, its recovery rate."""
    changed = override_study(scenario, {"population": population})
    if value is None:
        return changed
    data = changed.model_dump()
    data["parameters"] = {**data["parameters"], NODE_PARAMETER: value}
    return parse_scenario(data, f"{scenario.scenario.name} ({NODE_PARAMETER}={value:.4g})")


def build_node(scenario: Scenario, population: int, value: float | None = None) -> Node:
    """Simulate one study population and keep its candidates' pain for replay.

    Uses the study's own ``simulate_population``; every band's model logs its people's pain
    until the latest moment the study could meet them.
    """
    scen = node_scenario(scenario, population, value)
    study = scen.study
    watched, met, _ = recruitment_plan(scen)
    dt = scen.scenario.dt_years
    last = np.where(
        watched, np.minimum(met + study.recruitment_years, study.age_max - ADULT_AGE), met
    )
    until = last + 2 * dt
    bands: list[tuple[Any, np.ndarray, Any]] = []

    def keep(band: int, model: Any, people: np.ndarray) -> None:
        bands.append((model, people, model.log_exposures(until[people])))

    pool = simulate_population(scen, on_band=keep)
    parts, positions = [], []
    for model, people, log in bands:
        where = np.flatnonzero(np.isin(pool.person, people))
        if not where.size:
            continue
        rows = np.searchsorted(people, pool.person[where])
        parts.append(model.pain_paths(log, rows, pool.age[where] - ADULT_AGE))
        positions.append(where)
    paths = PainPaths.concatenate(parts).take(np.argsort(np.concatenate(positions)))
    return Node(value, pool, paths)


def replayed_pool(node: Node, params: ModelParams) -> Pool:
    """The node's candidates as they would be under ``params`` (coping, adaptation, scans)."""
    score, adaptation = replay(node.paths, params.coping, params.drift)
    brain = build_brain(params.brain)
    edges = drift.connectivity(
        brain,
        params.brain,
        params.drift,
        node.paths.baseline,
        node.paths.idiosyncrasy,
        adaptation,
        node.pool.pain,
        node.pool.age,
    )
    return replace(
        node.pool,
        coping=score,
        adaptation=adaptation,
        edges_z=np.arctanh(edges).astype(np.float32),
    )


# -- the estimands ------------------------------------------------------------------------------
def control_weights(
    pool: Pool, sizes: tuple[int, int, int], age_min: float, stratum_years: float = AGE_BIN_YEARS
) -> np.ndarray:
    """Weights of the healthy candidates that give them the study's patients' age mix.

    The study matches each control's age stratum to a random patient's; its patients mix
    subacute and chronic candidates as ``sizes`` (healthy, subacute, chronic) does.
    """
    _, n_sbp, n_cbp = sizes
    strata = np.floor((pool.age - age_min) / stratum_years).astype(int)
    bins = strata.max() + 1
    patients = np.zeros(bins)
    for code, n in ((SBP, n_sbp), (CBP, n_cbp)):
        rows = pool.rows(code)
        patients += n / max(rows.size, 1) * np.bincount(strata[rows], minlength=bins)
    healthy = pool.rows(HC)
    counts = np.bincount(strata[healthy], minlength=bins)
    share = np.divide(patients, counts, out=np.zeros(bins), where=counts > 0)
    return share[strata[healthy]]


def _reference(metrics: dict[str, np.ndarray], rows: np.ndarray, w: np.ndarray):
    mean, sd = {}, {}
    for name in PERTURBATION_METRICS:
        x = metrics[name][rows]
        ok = np.isfinite(x) & (w > 0)
        mean[name], var = weighted_moments(x[ok], w[ok])
        sd[name] = math.sqrt(var)
    return MetricReference(mean=mean, sd=sd)


def pool_statistics(pool: Pool, scenario: Scenario, seed: int) -> dict[str, float]:
    """The estimands of the study's statistics in a candidate pool (module docstring).

    Parameters
    ----------
    pool
        Candidates with their true state (e.g. :func:`replayed_pool`).
    scenario
        Its ``[study]`` (sizes, reliabilities, ages) and parameters (brain, metrics, coping SD).
    seed
        Seed of the scanner and questionnaire noise.
    """
    study, params = scenario.study, scenario.params
    sizes = group_sizes(study)
    n_hc, n_sbp, n_cbp = sizes
    brain = build_brain(params.brain)
    rng = np.random.default_rng(seed)
    scans = observe_connectivity(pool.edges_z, brain, study.connectivity_reliability, rng)
    m = params.metrics
    metrics = metrics_from_edges(
        scans, brain.iu, brain.n_regions, rule=m.threshold_rule, value=m.threshold
    )
    hc, sbp, cbp = pool.rows(HC), pool.rows(SBP), pool.rows(CBP)
    w_hc = (
        control_weights(pool, sizes, study.age_min, study.age_stratum_years)
        if study.match_age
        else np.ones(hc.size)
    )
    perturbation = perturbation_index(metrics, _reference(metrics, hc, w_hc))
    score = observe_coping(pool.coping, params, study.coping_reliability, rng)
    patients = np.concatenate([sbp, cbp])
    w_pat = np.concatenate(
        [np.full(sbp.size, n_sbp / sbp.size), np.full(cbp.size, n_cbp / cbp.size)]
    )
    ylp, p = pool.years_with_pain[patients], perturbation[patients]
    out = {
        "d_cbp_hc": population_cohens_d(
            perturbation[cbp], perturbation[hc], n_cbp, n_hc, None, w_hc
        ),
        "d_cbp_sbp": population_cohens_d(perturbation[cbp], perturbation[sbp], n_cbp, n_sbp),
        "d_sbp_hc": population_cohens_d(
            perturbation[sbp], perturbation[hc], n_sbp, n_hc, None, w_hc
        ),
        "r_ylp": weighted_correlation(ylp, p, w_pat),
    }
    mediation = population_mediation(ylp, score[patients], p, pool.age[patients][:, None], w_pat)
    out.update({k: mediation[k] for k in ("a_path", "b_path", "indirect", "share_mediated")})
    out.update(
        coping_healthy=float(pool.coping[hc].mean()),
        coping_subacute=float(pool.coping[sbp].mean()),
        coping_chronic=float(pool.coping[cbp].mean()),
        adaptation_subacute=float(pool.adaptation[sbp].mean()),
        adaptation_chronic=float(pool.adaptation[cbp].mean()),
        ylp_subacute=float(np.median(pool.years_with_pain[sbp])),
        ylp_chronic=float(np.median(pool.years_with_pain[cbp])),
    )
    return out


# -- the experiment's populations, built once and shared with workers ---------------------------
_NODES: dict[str, list[Node]] = {}


def save_node(node: Node, path: Path) -> None:
    """Write a node as one ``.npz`` (pool and paths)."""
    arrays = {f"pool.{k}": np.asarray(v) for k, v in node.pool.__dict__.items()}
    arrays.update({f"paths.{k}": v for k, v in node.paths.__dict__.items()})
    arrays["value"] = np.array(np.nan if node.value is None else node.value)
    tmp = path.with_name(path.name + ".tmp.npz")
    np.savez(tmp, **arrays)
    tmp.replace(path)


def load_node(path: Path) -> Node:
    """Read a node written by :func:`save_node`."""
    with np.load(path) as data:
        pool = {k[5:]: data[k] for k in data.files if k.startswith("pool.")}
        paths = {k[6:]: data[k] for k in data.files if k.startswith("paths.")}
        value = float(data["value"])
    pool["population"] = int(pool["population"])
    return Node(None if math.isnan(value) else value, Pool(**pool), PainPaths(**paths))


def node_files(cache: Path, count: int) -> list[Path]:
    return [Path(cache) / f"node-{i}.npz" for i in range(count)]


def _build_and_save(job: tuple[Scenario, int, float | None, Path]) -> str:
    """Simulate one population and save it (a worker task); its file."""
    scenario, population, value, path = job
    save_node(build_node(scenario, population, value), path)
    return str(path)


def prepare_nodes(problem: Problem, cache: Path, pool: WorkerPool | None = None, say=None) -> None:
    """Simulate the experiment's populations into ``cache`` (those already there are kept).

    ``pool`` simulates them on the calibration's workers (default: in this process).
    """
    cache = Path(cache)
    cache.mkdir(parents=True, exist_ok=True)
    values = node_values(problem)
    files = node_files(cache, len(values))
    # Populations are kept across an interrupted run only if they are the same populations.
    key = json.dumps(
        {
            "scenario": problem.scenario.model_dump(mode="json", exclude={"calibration"}),
            "population": problem.design.population,
            "nodes": values,
            "painsim": sim.__version__,
        },
        sort_keys=True,
    )
    stamp = cache / "populations.json"
    if stamp.is_file() and stamp.read_text(encoding="utf-8") != key:
        for old in cache.glob("node-*.npz"):
            old.unlink()
    stamp.write_text(key, encoding="utf-8")
    todo = [(v, f) for v, f in zip(values, files, strict=True) if not f.is_file()]
    if say and todo:
        say(f"simulating {len(todo)} study populations of {problem.design.population:,} people")
    jobs = [(problem.scenario, problem.design.population, v, f) for v, f in todo]
    for _ in map(_build_and_save, jobs) if pool is None else pool.execute(_build_and_save, jobs):
        pass


def nodes_of(problem: Problem) -> list[Node]:
    """The problem's populations: read from its cache, or simulated here (kept per process)."""
    key = str(problem.cache) if problem.cache else f"memory:{id(problem)}"
    if key not in _NODES:
        values = node_values(problem)
        if problem.cache:
            _NODES[key] = [load_node(f) for f in node_files(Path(problem.cache), len(values))]
        else:
            _NODES[key] = [
                build_node(problem.scenario, problem.design.population, v) for v in values
            ]
    return _NODES[key]


def noise_seed(problem: Problem, node: int, replicate: int) -> int:
    """Seed of the measurement noise: the same for every parameter set (common numbers)."""
    seq = np.random.SeedSequence(problem.seed, spawn_key=(20240710, 7, node, replicate))
    return int(seq.generate_state(1, np.uint64)[0])


def simulate(problem: Problem, values: dict[str, float], replicate: int = 0) -> dict[str, float]:
    """Statistics of one parameter set: replay on the nearest population, then estimands."""
    nodes = nodes_of(problem)
    k = nearest_node(values, [n.value for n in nodes])
    scenario = with_parameters(problem, values)
    pool = replayed_pool(nodes[k], scenario.params)
    return pool_statistics(pool, scenario, noise_seed(problem, k, replicate))


def with_parameters(
    problem: Problem, values: dict[str, float], seed: int | None = None
) -> Scenario:
    """The calibration scenario with a parameter set (and optionally another seed)."""
    data = problem.scenario.model_dump()
    data["parameters"] = {**data["parameters"], **{k: float(v) for k, v in values.items()}}
    if seed is not None:
        data["scenario"]["seed"] = seed
    return parse_scenario(data, f"{problem.scenario.scenario.name} (parameter set)")


# -- the prediction: the study's own analysis under the posterior -------------------------------
def predict_findings(
    problem: Problem,
    posterior: pd.DataFrame,
    draws: int,
    replications: int,
    rng: np.random.Generator,
) -> pd.DataFrame:
    """Detection rate of every finding under posterior draws (one row per draw).

    Each draw is replayed on its population and the study's own recruitment, measurement and
    analysis (``run_replications``: 147 people, Welch tests, bootstrap mediation) run
    ``replications`` times with the draw's own replication seeds.
    """
    names = [c for c in posterior.columns if c != "weight"]
    picks = rng.choice(len(posterior), size=draws, p=posterior["weight"].to_numpy())
    nodes = nodes_of(problem)
    rows = []
    for i, pick in enumerate(picks):
        values = {n: float(posterior[n].iloc[pick]) for n in names}
        k = nearest_node(values, [n.value for n in nodes])
        seed = int(
            np.random.SeedSequence(problem.seed, spawn_key=(20240710, 8, i)).generate_state(1)[0]
        )
        scenario = with_parameters(problem, values, seed=seed)
        pool = replayed_pool(nodes[k], scenario.params)
        table, _ = run_replications(pool, scenario, group_sizes(scenario.study), replications)
        rates = detection_rates(table, scenario.study.alpha)
        rows.append(
            {
                "draw": i,
                **values,
                **{f"rate_{key}": rate for key, rate in rates.items()},
                "median_indirect": float(table["indirect"].median()),
                "median_d_cbp_hc": float(table["d_cbp_hc"].median()),
                "median_d_cbp_sbp": float(table["d_cbp_sbp"].median()),
                "median_r_ylp": float(table["r_ylp"].median()),
            }
        )
    return pd.DataFrame(rows)


def prediction_summary(per_draw: pd.DataFrame, replications: int) -> pd.DataFrame:
    """Per finding: pooled detection rate, and its 95 % interval over posterior draws.

    The pooled rate is the posterior-predictive probability that a study of the published
    size finds it; the interval is the 2.5-97.5 % range of the per-draw rates (each from
    ``replications`` replications, so it also holds their Monte Carlo error).
    """
    rows = []
    for f in FINDINGS:
        rates = per_draw[f"rate_{f.key}"].to_numpy(dtype=float)
        low, high = np.percentile(rates, [2.5, 97.5]) if rates.size else (np.nan, np.nan)
        rows.append(
            {
                "finding": f.label,
                "key": f.key,
                "role": "predicted"
                if f.key in ("mediation", "all")
                else ("fitted" if f.key in ("cbp_hc", "cbp_sbp", "ylp") else "reported"),
                "detection_rate": float(rates.mean()) if rates.size else np.nan,
                "low": float(low),
                "high": float(high),
                "draws": int(rates.size),
                "replications_per_draw": replications,
            }
        )
    return pd.DataFrame(rows)
