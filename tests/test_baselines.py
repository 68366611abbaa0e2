"""Golden numbers: a small fixed scenario must give exactly these results.

Any change to the model's equations, defaults or random streams changes them. If the change is
intended, regenerate and commit the file in the same change, saying why::

    python tests/test_baselines.py --update
"""

import json
import sys
from pathlib import Path

import pandas as pd
import pytest

from sim.core.model import PainModel
from sim.scenario import Scenario

BASELINE = Path(__file__).with_name("baseline.json")
SCENARIO = {
    "scenario": {"name": "baseline", "seed": 2024, "years": 10, "dt_weeks": 2},
    "cohort": {"size": 500},
}
COLUMNS = (
    "dmn_perturbation",
    "years_with_pain",
    "coping",
    "pain",
    "adaptation",
    "global_efficiency",
    "char_path_length",
    "mean_degree",
    "closeness",
    "mpfc_pcc",
    "mpfc_insula",
)


def current() -> dict[str, float]:
    model = PainModel(Scenario.model_validate(SCENARIO), create_agents=False)
    model.run_until(10.0)
    df = pd.DataFrame(model.snapshot())
    out = {f"mean_{c}": float(df[c].mean()) for c in COLUMNS}
    out["share_chronic"] = float((df.stage == "chronic").mean())
    out["episodes"] = int(df.episodes.sum())
    return out


def test_results_match_the_golden_baseline():
    expected = json.loads(BASELINE.read_text())
    got = current()
    assert got.keys() == expected.keys()
    for key, value in expected.items():
        assert got[key] == pytest.approx(value, rel=1e-9, abs=1e-12), key


if __name__ == "__main__":
    if "--update" in sys.argv:
        BASELINE.write_text(json.dumps(current(), indent=2) + "\n")
        print(f"wrote {BASELINE}")
