"""``python -m sim.experiments.precompile`` reaches every Numba kernel of painsim."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# In a fresh process: precompile, then list the kernels still waiting for their first call
# (sim.core.jit.LazyKernel) and those compiled for no argument types.
CHECK = """
import importlib, json, pkgutil
import sim
from sim.core.jit import LazyKernel
from sim.experiments.precompile import precompile
modules = [importlib.import_module(m.name) for m in pkgutil.walk_packages(sim.__path__, "sim.")
           if not m.name.startswith("sim.interfaces.app")]
precompile()
lazy, empty, compiled = [], [], 0
for module in modules:
    kernels = {name: value for name, value in vars(module).items()
               if type(value).__name__ == "CPUDispatcher" and value.__module__ == module.__name__}
    # Kernels that other kernels call compile into their callers; the others are entry points.
    called = {n for k in kernels.values() for n in k.py_func.__code__.co_names}
    for name, value in vars(module).items():
        if isinstance(value, LazyKernel) and value.dispatcher is None:
            lazy.append(f"{module.__name__}.{name}")
    for name, kernel in kernels.items():
        compiled += 1
        if name not in called and not kernel.signatures:
            empty.append(f"{module.__name__}.{name}")
print(json.dumps({"lazy": sorted(set(lazy)), "empty": sorted(set(empty)), "compiled": compiled}))
"""


@pytest.mark.slow  # a fresh process that imports painsim and runs the precompile cases
def test_precompile_compiles_every_kernel_of_the_package():
    done = subprocess.run(
        [sys.executable, "-c", CHECK], capture_output=True, text=True, cwd=ROOT, timeout=600
    )
    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["lazy"] == [] and report["empty"] == []
    assert report["compiled"] >= 30  # the step, history, metrics, replay and bootstrap kernels
