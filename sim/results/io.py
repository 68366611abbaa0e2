"""Load any results folder back into its result object: run, study, sweep or timing.

Examples
--------
>>> import tempfile
>>> from sim.experiments.run import simulate
>>> from sim.scenario import parse_scenario
>>> res = simulate(parse_scenario({"scenario": {"name": "demo", "years": 1},
...                                "cohort": {"size": 10}}))
>>> folder = res.save(tempfile.mkdtemp() + "/demo")
>>> again = load(folder)
>>> again.kind, again.patients.equals(res.patients)
('run', True)
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sim.results.manifest import kind_of, read_manifest


def load(folder: str | Path) -> Any:
    """Read a results folder written by painsim into the matching result object.

    Returns
    -------
    RunResult, StudyResult, SweepResult or TimingResult
        By the folder's ``kind`` (``manifest.json``).

    Raises
    ------
    sim.results.manifest.ManifestError, sim.results.run.ResultsError
        Not a painsim results folder, or a damaged one (one-line message naming the file).
    """
    folder = Path(folder)
    manifest = read_manifest(folder)
    kind = kind_of(manifest)
    if kind == "study":
        from sim.results.study import load_study

        return load_study(folder, manifest)
    if kind == "sweep":
        from sim.results.sweep import load_sweep

        return load_sweep(folder, manifest)
    if kind == "calibration":
        from sim.results.calibration import load_calibration

        return load_calibration(folder, manifest)
    if kind == "timing":
        from sim.results.timing import load_timing

        return load_timing(folder, manifest)
    from sim.results.run import load_run

    return load_run(folder, manifest)
