"""Execution backends: option checks, results as tasks complete, failures, Dask version check."""

from __future__ import annotations

import math
import multiprocessing
import os
from contextlib import closing

import pytest

import sim
from sim.experiments.backends import (
    MAX_WORKERS,
    WORKER_PRELOAD,
    BackendError,
    WorkerLost,
    check_dask_workers,
    check_options,
    default_workers,
    execute,
    worker_threads,
    workers_pool,
)


@pytest.mark.parametrize(
    "workers",
    [0, -1, 10**30, 10**5000, 2.5, True, "2"],
    ids=["0", "-1", "1e30", "1e5000", "2.5", "True", "str"],
)
def test_a_worker_count_outside_1_to_the_maximum_names_workers_and_the_allowed_range(workers):
    with pytest.raises(BackendError) as caught:
        check_options("process", workers)
    error = caught.value
    assert error.option == "workers"
    assert f"allowed: a whole number from 1 to {MAX_WORKERS}" in error.message
    assert len(str(error).splitlines()) == 1 and len(str(error)) < 200
    assert "--" not in str(error)  # library messages never name command-line flags


def test_a_sane_worker_count_is_taken_and_the_default_is_the_usable_cores():
    assert check_options("process", 1) == 1
    assert check_options("dask", MAX_WORKERS) == MAX_WORKERS
    assert 1 <= check_options("process") <= MAX_WORKERS


def test_unknown_backends_and_a_scheduler_without_dask_name_their_option():
    with pytest.raises(BackendError) as caught:
        check_options("mpi")
    assert caught.value.option == "backend"
    assert caught.value.message == "'mpi' is not one of process, serial, dask"
    with pytest.raises(BackendError) as caught:
        check_options("process", scheduler="tcp://127.0.0.1:8786")
    assert caught.value.option == "scheduler"
    assert "needs the dask backend" in caught.value.message


def test_bad_options_are_refused_before_any_task_runs():
    ran = []
    with pytest.raises(BackendError):
        execute(ran.append, [1, 2], backend="serial", workers=0)
    assert ran == []


def test_serial_execution_yields_every_result_in_task_order():
    assert list(execute(math.sqrt, [4.0, 9.0, 16.0], backend="serial")) == [2.0, 3.0, 4.0]


def test_on_error_turns_a_failing_task_into_a_result_and_the_others_go_on():
    results = execute(
        math.sqrt, [4.0, -1.0, 9.0], backend="serial", on_error=lambda task, exc: ("failed", task)
    )
    assert list(results) == [2.0, ("failed", -1.0), 3.0]
    with pytest.raises(ValueError):
        list(execute(math.sqrt, [-1.0], backend="serial"))


def test_process_backend_yields_the_same_results_as_serial_in_any_order():
    tasks = [float(x) for x in range(12)]
    parallel = execute(math.sqrt, tasks, backend="process", workers=2)
    assert sorted(parallel) == list(execute(math.sqrt, tasks, backend="serial"))


def test_each_worker_process_gets_its_share_of_the_cores_for_numba(monkeypatch):
    # Numba's parallel kernels would otherwise start a thread per core in every worker.
    monkeypatch.delenv("NUMBA_NUM_THREADS", raising=False)
    got = list(execute(os.getenv, ["NUMBA_NUM_THREADS"], backend="process", workers=2))
    assert got == [str(worker_threads(2))]
    assert worker_threads(2) == max(1, default_workers() // 2)


def numba_threads(_: object) -> int:
    """In a worker: the thread count Numba read from the environment when it was imported."""
    import numba

    return numba.config.NUMBA_NUM_THREADS


def worker_view(_: object) -> tuple[str | None, str, bool]:
    """In a worker: a variable of the parent's, its start method, and whether pandas came
    preloaded (already imported before any task asked for it)."""
    import multiprocessing
    import sys

    return (
        os.getenv("PAINSIM_TEST_MARK"),
        multiprocessing.get_start_method(),
        "pandas" in sys.modules,
    )


def test_numba_in_a_worker_reads_the_workers_share_not_the_forkservers(monkeypatch):
    # Numba is never preloaded: it must read NUMBA_NUM_THREADS after the worker has set it.
    monkeypatch.delenv("NUMBA_NUM_THREADS", raising=False)
    got = list(execute(numba_threads, [0], backend="process", workers=2))
    assert got == [worker_threads(2)]


def blas_view(_: object) -> tuple[str | None, int]:
    """In a worker: the BLAS thread variable, and the threads its loaded BLAS uses."""
    import numpy  # noqa: F401 - loads BLAS if the worker has not yet
    from threadpoolctl import threadpool_info

    threads = max(i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas")
    return os.getenv("OPENBLAS_NUM_THREADS"), threads


def test_each_worker_process_gets_its_share_of_the_cores_for_blas_unless_the_user_chose(
    monkeypatch,
):
    for name in ("OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        monkeypatch.delenv(name, raising=False)
    [(variable, threads)] = execute(blas_view, [0], backend="process", workers=2)
    assert variable == str(worker_threads(2)) and threads <= worker_threads(2)
    monkeypatch.setenv("OPENBLAS_NUM_THREADS", "1")  # the user's choice is kept
    [(variable, threads)] = execute(blas_view, [0], backend="process", workers=1)
    assert (variable, threads) == ("1", 1)


@pytest.mark.skipif(
    "forkserver" not in multiprocessing.get_all_start_methods(), reason="no forkserver here"
)
def test_forkserver_workers_start_preloaded_with_the_parents_current_environment(monkeypatch):
    monkeypatch.setenv("PAINSIM_TEST_MARK", "first")
    [(mark, _, _)] = execute(worker_view, [0], backend="process", workers=1)
    assert mark == "first"
    # The forkserver is running now, with "first" in its environment; a later pool's workers
    # still see what the parent has when the pool starts, as spawned workers would.
    monkeypatch.setenv("PAINSIM_TEST_MARK", "second")
    [(mark, method, preloaded)] = execute(worker_view, [0], backend="process", workers=1)
    assert mark == "second"
    # Workers started from the forkserver, then act as spawned ones (Numba asks for a named
    # process lock in any start method called "fork...", which Ctrl-C would leave behind).
    assert method == "spawn"
    assert preloaded and set(WORKER_PRELOAD) >= {"pandas", "scipy.stats", "mesa"}


@pytest.mark.slow  # starts a LocalCluster
def test_each_local_dask_worker_gets_its_share_of_the_cores_and_the_parents_environment(
    monkeypatch,
):
    monkeypatch.delenv("NUMBA_NUM_THREADS", raising=False)
    monkeypatch.setenv("PAINSIM_TEST_MARK", "for dask")  # after any forkserver started
    with workers_pool("dask", 2) as pool:
        assert list(pool.execute(numba_threads, [0])) == [worker_threads(2)]
        [(mark, _, preloaded)] = pool.execute(worker_view, [0])
    assert mark == "for dask" and preloaded


def test_a_dead_worker_process_raises_worker_lost():
    with (
        pytest.raises(WorkerLost, match="a worker process died"),
        closing(execute(os._exit, [3], backend="process", workers=1)) as results,
    ):
        list(results)


def test_a_kept_pool_runs_round_after_round_and_a_round_stopped_early_leaves_it_working():
    with workers_pool("process", 2) as pool:
        assert pool.slots == 2
        with closing(pool.execute(abs, iter(range(10**6)), window=4)) as first:
            assert next(first) in {0, 1, 2, 3}  # the first window; stopped after one result
        again = pool.execute(math.sqrt, [4.0, 9.0], window=4)
        assert sorted(again) == [2.0, 3.0]


class FakeClient:
    """Answers ``client.run`` like a distributed.Client with the given worker versions."""

    def __init__(self, versions):
        self.versions = versions

    def run(self, function):
        if isinstance(self.versions, Exception):
            raise self.versions
        return self.versions


def test_dask_workers_must_run_this_painsim_version():
    check_dask_workers(FakeClient({"tcp://w1": sim.__version__}), "scheduler", "tcp://s:8786")
    with pytest.raises(BackendError) as caught:
        check_dask_workers(
            FakeClient({"tcp://w1": sim.__version__, "tcp://w2": "0.0.1"}),
            "scheduler",
            "tcp://s:8786",
        )
    assert caught.value.option == "scheduler"
    assert "worker tcp://w2 has painsim 0.0.1" in caught.value.message
    with pytest.raises(BackendError, match="cannot run painsim"):
        check_dask_workers(FakeClient(ModuleNotFoundError("sim")), "backend", "LocalCluster")
