"""Specification of calibration: the [calibration] section, ABC machinery, results folder."""

from __future__ import annotations

import importlib.util
from typing import NamedTuple

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from sim.core.natural_history import Design, compute_statistics, simulate_natural_history
from sim.core.parameters import ModelParams, apply_overrides
from sim.core.targets import Target
from sim.experiments.calibrate import CalibrationError, CalibrationResult, calibrate
from sim.experiments.calibrate.problem import Problem, standardized_misfit
from sim.interfaces.cli import app
from sim.results.io import load
from sim.scenario import ScenarioError, parse_scenario

# Checked without importing pyabc (about a second, in every xdist worker that collects this).
if importlib.util.find_spec("pyabc") is None:
    pytest.skip("pyabc is not installed", allow_module_level=True)

TINY = {"population": 400, "incident": 60, "history_dt_weeks": 13}


def calibration(**changes):
    section = {
        "population_size": 20,
        "generations": 2,
        "max_simulations": 200,
        "draws_for_fit": 3,
        "design": TINY,
        "priors": {"pain.onset_rate": [0.02, 0.2]},
        "targets": {"lifetime_prevalence_20_69": "published"},
    }
    section.update(changes)
    return {"scenario": {"name": "toy", "seed": 3}, "calibration": section}


# -- the [calibration] section: one-line errors ------------------------------------------------
@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"priors": {"pain.onset_rat": [0.02, 0.2]}}, "priors.pain.onset_rat", "'pain.onset_rate'"),
        ({"priors": {"pain.onset_rate": [0.2, 0.02]}}, "priors.pain.onset_rate", "reversed"),
        ({"priors": {"pain.onset_rate": [0.1, 0.1]}}, "priors.pain.onset_rate", "empty"),
        ({"priors": {"pain.p_persistent": [0.1, 1.5]}}, "priors.pain.p_persistent", "allowed"),
        ({"priors": {}}, "calibration.priors", "empty"),
        (
            {"targets": {"median_recovery_dys": "published"}},
            "targets.median_recovery_dys",
            "'median_recovery_days'",
        ),
        (
            {"targets": {"median_recovery_days": {"value": 58, "low": 52, "high": 63}}},
            "targets.median_recovery_days.source",
            "a target needs",
        ),
        (
            {
                "targets": {
                    "median_recovery_days": {"value": 58, "low": 52, "high": 63, "source": ""}
                }
            },
            "targets.median_recovery_days.source",
            "a target needs its source",
        ),
        (
            {
                "targets": {
                    "median_recovery_days": {"value": 70, "low": 52, "high": 63, "source": "x"}
                }
            },
            "targets.median_recovery_days",
            "outside",
        ),
        (
            {"targets": {"point_prevalence_women_20_69": "published"}},
            "targets.point_prevalence_women_20_69",
            "no published value",
        ),
        ({"populaton_size": 10}, "calibration.populaton_size", "'population_size'"),
    ],
)
def test_bad_calibration_sections_give_one_line_errors(changes, field, message):
    with pytest.raises(ScenarioError) as err:
        parse_scenario(calibration(**changes), "c.toml")
    text = str(err.value)
    assert "\n" not in text
    assert text.startswith("c.toml: calibration.")
    assert field in text and message in text


def test_the_shipped_calibration_scenario_is_valid():
    from sim.scenario import load_scenario

    s = load_scenario("scenarios/calibration_natural_history.toml")
    assert len(s.calibration.priors) >= 10 and len(s.calibration.targets) >= 15


# -- distance and seeds -------------------------------------------------------------------------
def test_misfit_is_in_sds_of_the_interval_side():
    t = Target("median_recovery_days", 58, 52, 63, "Henschke 2008")
    assert standardized_misfit(t, 58) == 0
    assert standardized_misfit(t, 63) == pytest.approx(1.96, abs=1e-3)
    assert standardized_misfit(t, 52) == pytest.approx(-1.96, abs=1e-3)


def test_the_same_parameters_give_the_same_statistics():
    problem = Problem.from_scenario(parse_scenario(calibration()))
    values = {"pain.onset_rate": 0.07}
    assert problem.simulate(values) == problem.simulate(values)
    assert problem.simulate(values) != problem.simulate(values, replicate=1)


# -- the machinery on a toy problem ------------------------------------------------------------
def _weighted_sd(posterior: pd.DataFrame, name: str) -> float:
    x, w = posterior[name].to_numpy(), posterior["weight"].to_numpy()
    return float(np.sqrt(np.sum(w * (x - np.sum(w * x)) ** 2)))


@pytest.mark.slow
def test_abc_recovers_a_known_parameter(tmp_path):
    """A synthetic target made at a known onset rate: 12 particles, 3 generations find it.

    The posterior median is within 20 % of the truth and the posterior is concentrated (SD under
    a third of the uniform prior's 0.052). A sampler that ignored the distances (checked by
    replacing them with random numbers) left the prior: medians 0.10-0.15 on 4 of 5 seeds and
    SDs of 0.040-0.060, where seeds 3-7 of this design gave medians 0.083-0.090 and SDs
    0.006-0.013.
    """
    truth = 0.08
    design = Design(**TINY)
    params = apply_overrides(ModelParams(), {"pain.onset_rate": truth})
    values = [
        compute_statistics(
            simulate_natural_history(params, design, s), ["lifetime_prevalence_20_69"]
        )
        for s in range(8)
    ]
    value = float(np.mean([v["lifetime_prevalence_20_69"] for v in values]))
    target = {"value": value, "low": value - 0.04, "high": value + 0.04, "source": "synthetic"}
    s = parse_scenario(
        calibration(
            population_size=12,
            generations=3,
            max_simulations=300,
            targets={"lifetime_prevalence_20_69": target},
        )
    )
    result = calibrate(s, backend="serial", results_root=tmp_path)
    assert result.kind == "calibration"
    assert list(result.generations["generation"]) == [0, 1, 2]
    assert result.medians["pain.onset_rate"] == pytest.approx(truth, rel=0.2)
    prior_sd = (0.2 - 0.02) / np.sqrt(12)
    assert _weighted_sd(result.posterior, "pain.onset_rate") < prior_sd / 3
    assert result.posterior["weight"].sum() == pytest.approx(1.0)
    assert (result.generations["epsilon"].diff().dropna() <= 0).all()
    folder = result.save(results_root=tmp_path)
    again = load(folder)
    assert again.kind == "calibration"
    pd.testing.assert_frame_equal(again.posterior, result.posterior)
    assert (folder / "abc.db").is_file()
    assert not list((tmp_path / "toy").glob(".calibration-*.db"))  # moved into the folder


def test_resume_needs_an_unfinished_calibration(tmp_path):
    with pytest.raises(CalibrationError) as err:
        calibrate(parse_scenario(calibration()), resume=True, results_root=tmp_path)
    assert err.value.option == "resume"


def test_an_unfinished_calibration_is_not_overwritten(tmp_path):
    s = parse_scenario(calibration())
    from sim.experiments.calibrate.abc import database_path

    db = database_path(s, None, tmp_path)
    db.parent.mkdir(parents=True)
    db.write_bytes(b"")
    with pytest.raises(CalibrationError) as err:
        calibrate(s, results_root=tmp_path)
    assert "resume" in str(err.value)


def test_unknown_backend_is_refused(tmp_path):
    with pytest.raises(CalibrationError) as err:
        calibrate(parse_scenario(calibration()), backend="gpu", results_root=tmp_path)
    assert err.value.option == "backend"


# -- the results folder --------------------------------------------------------------------------
def _fake_result(tmp_path) -> CalibrationResult:
    s = parse_scenario(calibration())
    posterior = pd.DataFrame({"pain.onset_rate": [0.05, 0.07, 0.09], "weight": [0.2, 0.5, 0.3]})
    targets = pd.DataFrame(
        [
            {
                "statistic": "lifetime_prevalence_20_69",
                "role": "target",
                "published": 0.7,
                "low": 0.6,
                "high": 0.8,
                "weight": 1.0,
                "simulated_median": 0.68,
                "simulated_low": 0.62,
                "simulated_high": 0.74,
                "met": True,
                "unit": "share",
                "source": "x",
            }
        ]
    )
    generations = pd.DataFrame(
        {
            "generation": [0],
            "epsilon": [1.0],
            "simulations": [30],
            "accepted": [3],
            "acceptance_rate": [0.1],
            "ess": [2.8],
        }
    )
    return CalibrationResult(
        scenario=s,
        posterior=posterior,
        targets=targets,
        generations=generations,
        settings={
            "backend": "serial",
            "workers": 1,
            "simulations": 30,
            "acceptance_rate": 0.1,
            "ess": 2.8,
            "database": str(tmp_path / "none.db"),
        },
        run_id="20261128T000000Z-abcd",
        started="2026-11-28T00:00:00+00:00",
        finished="2026-11-28T00:01:00+00:00",
        seconds={"abc": 60.0, "fit": 1.0},
    )


def test_a_calibration_folder_round_trips(tmp_path):
    result = _fake_result(tmp_path)
    folder = result.save(tmp_path / "out")
    names = {p.name for p in folder.iterdir()}
    assert {"posterior.parquet", "targets.csv", "calibration.md", "manifest.json"} <= names
    again = load(folder)
    assert again.kind == "calibration"
    pd.testing.assert_frame_equal(again.posterior, result.posterior)
    assert again.medians["pain.onset_rate"] == pytest.approx(result.medians["pain.onset_rate"])
    assert "| lifetime_prevalence_20_69 |" in (folder / "calibration.md").read_text()


# -- the command -------------------------------------------------------------------------------
def test_calibrate_command_needs_a_calibration_section(tmp_path):
    path = tmp_path / "s.toml"
    path.write_text('[scenario]\nname = "x"\n', encoding="utf-8")
    done = CliRunner().invoke(app, ["calibrate", str(path), "--results-root", str(tmp_path)])
    assert done.exit_code == 2
    assert done.output.strip().count("\n") == 0 and "[calibration]" in done.output


# -- the heukamp and interventions experiments -------------------------------------------------
HEUKAMP = {
    "scenario": {"name": "hk", "seed": 3, "dt_weeks": 4},
    "study": {"age_max": 40, "n_healthy": 6, "n_subacute": 6, "n_chronic": 6},
    "calibration": {
        "experiment": "heukamp",
        "population_size": 10,
        "generations": 1,
        "max_simulations": 30,
        "draws_for_fit": 2,
        "observation_noise": True,
        "design": {"population": 1500, "nodes": 2, "predict_draws": 2, "predict_replications": 2},
        "priors": {"drift.rate": [0.05, 0.6, "log"], "coping.recovery_rate": [0.05, 1.0, "log"]},
        "targets": {"d_cbp_hc": "published", "r_ylp": "published"},
    },
}


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"priors": {"pain.onset_rate": [0.02, 0.2]}}, "priors.pain.onset_rate", "replays"),
        ({"priors": {"cbt.pain_effect": [0.0, 0.5]}}, "priors.cbt.pain_effect", "interventions"),
        ({"design": {"populaton": 10}}, "design.populaton", "did you mean 'population'"),
        ({"priors": {"drift.rate": [0.0, 0.5, "log"]}}, "priors.drift.rate", "low > 0"),
        ({"priors": {"drift.rate": [0.1, 0.5, "lin"]}}, "priors.drift.rate", "scale 'lin'"),
        (
            {"targets": {"median_recovery_days": "published"}},
            "targets.median_recovery_days",
            "heukamp",
        ),
    ],
)
def test_each_experiment_checks_its_own_parameters_design_and_statistics(changes, field, message):
    data = {**HEUKAMP, "calibration": {**HEUKAMP["calibration"], **changes}}
    with pytest.raises(ScenarioError) as err:
        parse_scenario(data, "h.toml")
    text = str(err.value)
    assert "\n" not in text and field in text and message in text, text


def test_the_shipped_heukamp_and_intervention_calibrations_are_valid():
    from sim.scenario import load_scenario

    heukamp = load_scenario("scenarios/calibration_heukamp.toml").calibration
    assert heukamp.experiment == "heukamp" and set(heukamp.targets) == {
        "d_cbp_hc",
        "d_cbp_sbp",
        "r_ylp",
    }  # finding 4 is predicted, never a target
    trial = load_scenario("scenarios/calibration_interventions.toml").calibration
    assert trial.experiment == "interventions" and len(trial.targets) >= 8


def test_observation_noise_draws_the_published_estimates_error():
    problem = Problem.from_scenario(parse_scenario(HEUKAMP))
    target = problem.targets["d_cbp_hc"][0]
    sd = (target.high - target.low) / 3.92
    draws = [
        problem.observe({"d_cbp_hc": 0.6, "r_ylp": 0.3}, {"drift.rate": 0.1 + i * 1e-4}, 0)[
            "d_cbp_hc"
        ]
        for i in range(400)
    ]
    assert np.mean(draws) == pytest.approx(0.6, abs=3 * sd / 20)
    assert np.std(draws) == pytest.approx(sd, rel=0.15)


@pytest.mark.slow
def test_a_tiny_heukamp_calibration_fits_findings_one_to_three_and_predicts_four(tmp_path):
    # On two worker processes: the populations, generations and fit table go to the workers
    # (the serial toy calibration below shows that the backend changes no number).
    result = calibrate(parse_scenario(HEUKAMP), backend="process", workers=2, results_root=tmp_path)
    assert result.settings["workers"] == 2
    targets = result.targets.set_index("statistic")
    assert targets.loc["d_cbp_hc", "role"] == "target"
    assert targets.loc["indirect", "role"] == "reported"
    roles = dict(zip(result.predictions["key"], result.predictions["role"], strict=True))
    assert roles["mediation"] == roles["all"] == "predicted" and roles["cbp_hc"] == "fitted"
    folder = result.save(results_root=tmp_path)
    assert (folder / "predictions.csv").is_file()
    assert not list((tmp_path / "hk").glob(".calibration-*"))  # populations and database gone
    pd.testing.assert_frame_equal(load(folder).predictions, result.predictions)


# -- the same posterior on every backend and worker count --------------------------------------
def _coin(share: float = 0.3):
    """A stand-in for pyabc's simulate_one: one draw of the global generator, accepted if low."""
    from pyabc.population import Particle

    def simulate_one():
        u = float(np.random.uniform())  # noqa: NPY002 - pyabc proposes from the global generator
        return Particle(
            m=0, parameter={"u": u}, weight=1.0, sum_stat={}, distance=u, accepted=u < share
        )

    return simulate_one


def _sample(batch_size: int, n: int = 6, share: float = 0.3, **options):
    from sim.experiments.backends import workers_pool
    from sim.experiments.calibrate.sampler import OrderedSampler

    check = options.pop("check_max_eval", False)
    with workers_pool("serial") as pool:
        sampler = OrderedSampler(pool, seed=3, batch_size=batch_size, check_max_eval=check)
        sample = sampler.sample_until_n_accepted(n, _coin(share), 2, **options)
    return sample, sampler.nr_evaluations_


def test_the_sampler_keeps_the_first_n_accepted_by_number_whatever_the_batch_size():
    from sim.experiments.calibrate.sampler import evaluation_seed

    draws = [np.random.RandomState(evaluation_seed(3, 2, j)).uniform() for j in range(400)]
    accepted = [j for j, u in enumerate(draws) if u < 0.3][:6]
    before = np.random.get_state()[1].copy()  # noqa: NPY002
    for batch_size in (1, 4, 7):
        sample, evaluations = _sample(batch_size)
        assert [p.parameter["u"] for p in sample.accepted_particles] == [draws[j] for j in accepted]
        assert evaluations == accepted[-1] + 1  # the number of the 6th acceptance, plus one
    assert (np.random.get_state()[1] == before).all()  # noqa: NPY002 - generator restored


def test_the_sampler_runs_n_when_all_are_accepted_and_stops_at_max_eval_when_asked():
    sample, evaluations = _sample(4, share=1.0, all_accepted=True)
    assert evaluations == 6 and sample.ok  # the calibration sample from the prior
    sample, evaluations = _sample(4, n=50, max_eval=10, check_max_eval=True)
    assert evaluations == 10 and not sample.ok
    sample, evaluations = _sample(4, n=3, max_eval=10)  # not checked: runs until 3 accepted
    assert sample.ok and sample.n_accepted == 3


SAME = {"population": 200, "incident": 50, "history_dt_weeks": 13}


def _toy(generations: int = 2):
    """10 particles (the least allowed): about 20 evaluations per generation, for two workers."""
    return parse_scenario(
        calibration(population_size=10, generations=generations, draws_for_fit=2, design=SAME)
    )


class Toy(NamedTuple):
    posterior: pd.DataFrame  # as saved in posterior.parquet
    simulations: list[int]  # per generation
    targets: pd.DataFrame  # the fit table


@pytest.fixture(scope="module")
def serial_toy(tmp_path_factory) -> Toy:
    """The toy calibration in this process, saved and read back: the reference."""
    root = tmp_path_factory.mktemp("serial")
    result = calibrate(_toy(), backend="serial", results_root=root)
    folder = result.save(results_root=root)
    return Toy(
        pd.read_parquet(folder / "posterior.parquet"),
        list(result.generations["simulations"]),
        result.targets,
    )


@pytest.mark.slow  # a worker pool and a LocalCluster: start-up (pyabc import, Numba) dominates;
# the ordering rule itself is checked fast by
# test_the_sampler_keeps_the_first_n_accepted_by_number_whatever_the_batch_size
def test_every_backend_gives_the_serial_calibration_bit_for_bit(serial_toy, tmp_path):
    """Two local worker processes and a two-worker Dask LocalCluster: the serial posterior,
    simulations per generation and fit table, bit for bit.

    On worker processes the whole command runs (``calibrate``: generations and fit table on
    one set of workers, the saved folder); on Dask the ABC-SMC run itself (``run_abc``).
    One worker would add nothing: its results come back in task order, as in serial.
    """
    from sim.experiments.calibrate.abc import run_abc

    result = calibrate(_toy(), backend="process", workers=2, results_root=tmp_path)
    assert (result.settings["backend"], result.settings["workers"]) == ("process", 2)
    folder = result.save(results_root=tmp_path)
    posterior = pd.read_parquet(folder / "posterior.parquet")
    pd.testing.assert_frame_equal(posterior, serial_toy.posterior, check_exact=True)
    assert list(result.generations["simulations"]) == serial_toy.simulations
    pd.testing.assert_frame_equal(result.targets, serial_toy.targets, check_exact=True)
    run = run_abc(_toy(), database=tmp_path / "dask.db", backend="dask", workers=2)
    assert (run.backend, run.workers) == ("dask", 2)
    pd.testing.assert_frame_equal(
        run.posterior.reset_index(drop=True), serial_toy.posterior, check_exact=True
    )
    assert list(run.generations["simulations"]) == serial_toy.simulations


@pytest.mark.slow  # two calibrations
def test_a_resumed_calibration_ends_where_an_uninterrupted_one_does(serial_toy, tmp_path):
    from sim.experiments.calibrate.abc import run_abc

    database = tmp_path / "abc.db"
    first = run_abc(_toy(generations=1), database=database, backend="serial")
    assert list(first.generations["generation"]) == [0]
    rest = run_abc(_toy(), database=database, backend="serial", resume=True)
    assert list(rest.generations["simulations"]) == serial_toy.simulations
    pd.testing.assert_frame_equal(
        rest.posterior.reset_index(drop=True), serial_toy.posterior, check_exact=True
    )
