"""Specification of parameter uncertainty: posterior draws per replicate (run, study, timing)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

import sim
from sim.experiments.calibrate import CalibrationResult
from sim.experiments.posterior import Posterior, PosteriorError, apply_draw, check_posterior
from sim.experiments.run import POSTERIOR_METHOD
from sim.interfaces.cli import app
from sim.results.calibration import read_posterior
from sim.scenario import parse_scenario

runner = CliRunner()

RUN = {
    "scenario": {"name": "uncertain", "seed": 3, "years": 2, "replicates": 4},
    "cohort": {"size": 200},
}
ARMS = {
    **RUN,
    "arms": [
        {"name": "CBT", "interventions": [{"kind": "cbt"}]},
        {"name": "own CBT", "interventions": [{"kind": "cbt", "pain_effect": 0.5}]},
    ],
}


def posterior_folder(tmp_path: Path, draws: dict[str, list[float]], name: str = "post") -> Path:
    """A calibration folder holding the given weighted draws (equal weights)."""
    n = len(next(iter(draws.values())))
    scenario = parse_scenario(
        {
            "scenario": {"name": "toy calibration", "seed": 1},
            "calibration": {
                "priors": {k: [min(v), max(v) + 1e-3] for k, v in draws.items()},
                **(
                    {"experiment": "interventions", "targets": {"cbt_pain_smd_post": "published"}}
                    if "cbt.pain_effect" in draws
                    else {"targets": {"lifetime_prevalence_20_69": "published"}}
                ),
            },
        }
    )
    posterior = pd.DataFrame({**draws, "weight": np.full(n, 1 / n)})
    result = CalibrationResult(
        scenario=scenario,
        posterior=posterior,
        targets=pd.DataFrame(
            columns=[
                "statistic",
                "role",
                "published",
                "low",
                "high",
                "weight",
                "simulated_median",
                "simulated_low",
                "simulated_high",
                "met",
                "unit",
                "source",
            ]
        ),
        generations=pd.DataFrame(
            {
                "generation": [0],
                "epsilon": [1.0],
                "simulations": [10],
                "accepted": [n],
                "acceptance_rate": [0.5],
                "ess": [float(n)],
            }
        ),
        settings={"backend": "serial", "workers": 1, "simulations": 10},
        run_id="20261128T000000Z-test",
        started="2026-11-28T00:00:00+00:00",
        finished="2026-11-28T00:01:00+00:00",
    )
    return result.save(tmp_path / name)


@pytest.fixture(scope="module")
def drift_posterior(tmp_path_factory) -> Path:
    return posterior_folder(
        tmp_path_factory.mktemp("posterior"), {"drift.rate": [0.05, 0.1, 0.2, 0.4, 0.6]}
    )


# -- applying a draw ---------------------------------------------------------------------------
def test_a_draw_replaces_defaults_and_leaves_what_the_scenario_sets():
    plain = parse_scenario(RUN)
    assert apply_draw(plain, {"drift.rate": 0.3}).params.drift.rate == 0.3
    explicit = parse_scenario({**RUN, "parameters": {"drift.rate": 0.1}})
    assert apply_draw(explicit, {"drift.rate": 0.3}).params.drift.rate == 0.1
    arms = apply_draw(
        parse_scenario(ARMS), {"cbt.pain_effect": 0.05, "psychological.response_shape": 2.0}
    )
    cbt, own = (arm.interventions[0] for arm in arms.arms)
    assert (cbt.pain_effect, cbt.response_shape) == (0.05, 2.0)
    assert (own.pain_effect, own.response_shape) == (0.5, 2.0)  # the arm's own value stays


def test_a_posterior_the_scenario_cannot_take_is_refused_in_one_line():
    scenario = parse_scenario(RUN)

    def refused(draws: dict, fragment: str) -> None:
        post = Posterior(
            pd.DataFrame({**draws, "weight": 1.0}), folder="f", painsim_version="0.0.1"
        )
        with pytest.raises(PosteriorError) as err:
            check_posterior(post, scenario)
        assert fragment in str(err.value) and "\n" not in str(err.value)
        assert str(err.value).startswith("f: ")

    refused({"drift.rat": [0.1]}, "'drift.rat' unknown to this painsim (made by painsim 0.0.1)")
    refused({"drift.rate": [-1.0]}, "drift.rate")
    refused({"cbt.pain_effect": [0.2]}, "none of its parameters")


def test_draws_are_weighted_and_seeded():
    post = Posterior(pd.DataFrame({"drift.rate": [0.1, 0.2, 0.3], "weight": [0.0, 0.5, 0.5]}))
    draws = post.sample(200, seed=4)
    assert draws == post.sample(200, seed=4) and draws != post.sample(200, seed=5)
    assert {d["drift.rate"] for d in draws} == {0.2, 0.3}


# -- a run under a posterior -------------------------------------------------------------------
@pytest.mark.slow  # a run per posterior draw
def test_each_replicate_runs_its_own_draw_and_the_summary_says_so(drift_posterior):
    res = sim.run(RUN, posterior=drift_posterior)
    sets = res.parameter_sets
    assert len(sets) == 4 and len({s["drift.rate"] for s in sets}) > 1
    assert sets == read_posterior(drift_posterior).sample(4, 3)
    assert set(res.summary["method"]) == {POSTERIOR_METHOD}
    adaptation = res.timeseries[res.timeseries["year"] == 2.0].set_index("replicate")
    alone = sim.run({**RUN, "parameters": {"drift.rate": sets[1]["drift.rate"]}})
    again = alone.timeseries[alone.timeseries["year"] == 2.0].set_index("replicate")
    assert adaptation.loc[1, "mpfc_pcc_mean"] == pytest.approx(again.loc[1, "mpfc_pcc_mean"])
    means = adaptation["dmn_perturbation_mean"]
    row = res.summary.set_index("outcome").loc["dmn_perturbation"]
    assert row["ci_low"] >= means.min() - 1e-12 and row["ci_high"] <= means.max() + 1e-12


def test_a_saved_run_names_its_posterior_and_loads_it_back(drift_posterior, tmp_path):
    res = sim.run(RUN, posterior=drift_posterior)
    folder = res.save(tmp_path / "run")
    manifest = json.loads((folder / "manifest.json").read_text())
    key = manifest["posterior"]
    assert key["folder"] == str(drift_posterior) and key["run_id"] == "20261128T000000Z-test"
    assert key["painsim_version"] == sim.__version__ and key["parameters"] == ["drift.rate"]
    assert key["parameter_sets"] == res.parameter_sets
    assert sim.load(folder).parameter_sets == res.parameter_sets


def test_intervention_posteriors_reach_every_arm_of_that_kind(tmp_path):
    folder = posterior_folder(tmp_path, {"cbt.pain_effect": [0.1, 0.2]})
    res = sim.run({**ARMS, "scenario": {**ARMS["scenario"], "replicates": 2}}, posterior=folder)
    assert {s["cbt.pain_effect"] for s in res.parameter_sets} <= {0.1, 0.2}


# -- bad input: one line, exit 2, nothing written ----------------------------------------------
def _one_line(result, *fragments):
    assert result.exit_code == 2, result.output
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("painsim: error: --posterior: "), lines
    for fragment in fragments:
        assert fragment in lines[0]


def test_run_refuses_a_posterior_it_cannot_use_and_writes_nothing(
    drift_posterior, tmp_path, write_toml
):
    toml = write_toml('[scenario]\nname = "u"\nyears = 1\nreplicates = 2\n[cohort]\nsize = 50\n')
    out = tmp_path / "out"

    def run(folder):
        return runner.invoke(
            app,
            [
                "run",
                str(toml),
                "--out",
                str(out),
                "--posterior",
                str(folder),
                "--no-progress",
                "--no-figures",
            ],
        )

    plain = tmp_path / "plain"
    assert (
        runner.invoke(
            app, ["run", str(toml), "--out", str(plain), "--no-progress", "--no-figures"]
        ).exit_code
        == 0
    )
    _one_line(run(plain), "not a calibration folder")
    damaged = tmp_path / "damaged"
    shutil.copytree(drift_posterior, damaged)
    (damaged / "posterior.parquet").write_bytes(b"not parquet")
    _one_line(run(damaged), "posterior.parquet", "cannot be read")
    foreign = posterior_folder(tmp_path, {"drift.rate": [0.1]}, "foreign")
    table = pd.read_parquet(foreign / "posterior.parquet").rename(
        columns={"drift.rate": "drift.speed"}
    )
    table.to_parquet(foreign / "posterior.parquet")
    manifest = json.loads((foreign / "manifest.json").read_text())
    manifest["calibration"]["parameters"] = ["drift.speed"]
    manifest["painsim_version"] = "0.0.9"
    (foreign / "manifest.json").write_text(json.dumps(manifest))
    _one_line(run(foreign), "'drift.speed' unknown to this painsim (made by painsim 0.0.9)")
    _one_line(run(tmp_path / "nowhere"), "nowhere")
    assert not out.exists() and not list(tmp_path.glob(".out*"))


@pytest.mark.slow
def test_study_under_a_posterior_shares_its_work_over_draws(drift_posterior):
    res = sim.study(
        {
            "scenario": {"name": "tiny", "seed": 3, "dt_weeks": 4},
            "study": {
                "population": 4000,
                "age_max": 40,
                "n_healthy": 6,
                "n_subacute": 6,
                "n_chronic": 6,
                "replications": 4,
                "power_multipliers": [],
                "counterfactual": False,
            },
        },
        posterior=drift_posterior,
        draws=2,
        # One process: the statement is about sharing work over draws, not about backends
        # (every backend gives the same tables: tests/test_study_evidence.py), and starting a
        # process pool cost most of this test's time.
        backend="serial",
    )
    assert res.study["replication"].tolist() == [0, 1, 2, 3]
    assert res.posterior["draws"] == 2 and res.posterior["population_per_draw"] == 2000
    assert len(res.posterior["parameter_sets"]) == 2 and res.posterior["replications_per_draw"] == 2


@pytest.mark.slow  # in the whole suite; the quick tests keep the simpler cases
def test_a_sweep_under_a_posterior_runs_draw_r_in_replicate_r_of_every_point(
    drift_posterior, tmp_path
):
    scenario = {
        **RUN,
        "scenario": {**RUN["scenario"], "replicates": 1},
        "sweep": {
            "grid": {"coping.recovery_rate": [0.1, 0.3]},
            "replicates": 2,
            "outcomes": ["mpfc_pcc"],
        },
    }
    res = sim.sweep(scenario, backend="serial", posterior=drift_posterior, results_root=tmp_path)
    sets = res.plan.posterior["parameter_sets"]
    assert len(sets) == 2 and sets == read_posterior(drift_posterior).sample(2, 3)
    manifest = json.loads((res.folder / "manifest.json").read_text())
    assert manifest["posterior"]["parameter_sets"] == sets
    again = sim.load(res.folder)
    assert again.plan.posterior == res.plan.posterior
    task = res.plan.task(1, 1)
    assert task.scenario.params.drift.rate == sets[1]["drift.rate"]
    assert task.scenario.params.coping.recovery_rate == 0.3
