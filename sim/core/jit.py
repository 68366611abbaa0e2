"""Numba kernels that compile on first use, so that importing the model does not import Numba.

Importing Numba takes about half a second; reading or checking a scenario never runs a kernel,
so ``painsim validate`` and ``painsim --help`` should not pay for it. Kernels are declared with
:func:`njit` and :data:`prange` from this module instead of Numba's; the first call imports
Numba, compiles the kernel with exactly the options given (so results are bit-identical to an
eager ``numba.njit``), and puts the compiled dispatcher in the kernel's module in place of the
lazy wrapper.

Kernels that call other kernels work because compiling one first compiles every lazy kernel
its code names, and Numba then finds ordinary dispatchers among the module's globals.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from typing import Any

PARALLEL_MIN_ROWS = 4096
"""Batches smaller than this run a kernel's one-thread twin: starting Numba's threads costs
more than they save there (measured on 2 cores: 150 graphs' metrics took 10x as long on two
threads, and about the same from 2,000 up when other processes kept the cores busy)."""

# Numba's OpenMP threads spin while they wait for work by default. On a machine whose cores are
# busy with other processes, a spinning thread takes the time slice its partner needs: the
# parallel step kernels ran 3.7x slower than the serial ones at a load average of 6 on 2 cores,
# and 1.2x faster with passive waiting (which costs a few microseconds per parallel loop).
# Read when OpenMP starts, at the first parallel kernel; a user's own setting wins.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

prange = range
"""Stand-in for ``numba.prange``; replaced by it in a kernel's module when the kernel compiles."""

_LOCK = threading.RLock()


class LazyKernel:
    """A function that becomes ``numba.njit(**options)(function)`` when it is first called."""

    def __init__(self, function: Callable[..., Any], options: dict[str, Any]):
        self.py_func = function
        self.options = options
        self.dispatcher: Any = None
        self.__name__ = function.__name__
        self.__qualname__ = function.__qualname__
        self.__doc__ = function.__doc__
        self.__module__ = function.__module__

    def compile(self) -> Any:
        """Import Numba and compile (or load from Numba's cache); return the dispatcher."""
        with _LOCK:
            if self.dispatcher is None:
                import numba

                module = self.py_func.__globals__
                if module.get("prange") is range:
                    module["prange"] = numba.prange
                for name in self.py_func.__code__.co_names:
                    called = module.get(name)
                    if isinstance(called, LazyKernel):
                        # Also where it was imported into another kernel's module.
                        module[name] = called.compile()
                self.dispatcher = numba.njit(**self.options)(self.py_func)
                if module.get(self.__name__) is self:
                    module[self.__name__] = self.dispatcher
        return self.dispatcher

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return (self.dispatcher or self.compile())(*args, **kwargs)

    def __repr__(self) -> str:
        state = "compiled" if self.dispatcher is not None else "not compiled yet"
        return f"<lazy Numba kernel {self.__qualname__} ({state})>"


def njit(**options: Any) -> Callable[[Callable[..., Any]], LazyKernel]:
    """Like ``numba.njit(**options)``, compiled on the first call instead of at import.

    Examples
    --------
    >>> @njit(cache=False)
    ... def twice(x):
    ...     return 2 * x
    >>> twice
    <lazy Numba kernel twice (not compiled yet)>
    """

    def wrap(function: Callable[..., Any]) -> LazyKernel:
        return LazyKernel(function, options)

    return wrap


def concurrent_launches_safe() -> bool:
    """Whether parallel kernels may run from two Python threads at once.

    Numba's OpenMP and TBB threading layers allow it; its fallback layer ("workqueue") aborts
    the process when two threads launch parallel kernels at the same time. False until a
    parallel kernel has run (the layer is chosen then) or when Numba is not imported yet.

    Examples
    --------
    >>> concurrent_launches_safe() in (True, False)
    True
    """
    import sys

    numba = sys.modules.get("numba")
    if numba is None:
        return False
    try:
        return numba.threading_layer() in ("omp", "tbb")
    except ValueError:  # no parallel kernel has run yet
        return False
