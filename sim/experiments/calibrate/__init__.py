"""Calibrate model parameters to published targets (``painsim calibrate``, ``sim.calibrate``).

A scenario's ``[calibration]`` section (``sim.scenario.calibration``) names uniform priors on
model parameters and targets: named statistics of a natural-history simulation
(``sim.core.natural_history.STATISTICS``) with a published value, interval and source
(``sim.core.targets``). The default method is ABC-SMC with pyabc (``abc.py``, sampled by
``sampler.py`` so that every backend gives the same posterior; install the optional extra
``calibrate``). :func:`calibrate` returns a :class:`CalibrationResult`: the
weighted posterior, the fit of every target under it, and ``save()`` for the results folder.
"""

from sim.experiments.calibrate.abc import BACKENDS, CalibrationError
from sim.experiments.calibrate.result import CalibrationResult, calibrate, fit_table

__all__ = ["BACKENDS", "CalibrationError", "CalibrationResult", "calibrate", "fit_table"]
