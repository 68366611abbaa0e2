"""Run independent tasks serially, on local worker processes or on a Dask cluster.

One place for everything that depends on *where* work runs, so sweeps, the virtual study and a
calibration share it::

    for result in execute(function, tasks, backend="process", workers=2):
        ...  # results arrive as their tasks complete, in any order

Backends (:data:`BACKENDS`):

``serial``
    In this process, in task order (for debugging and small jobs).
``process``
    Local worker processes (started by a forkserver that has imported the heavy libraries
    once, where the platform has one, else spawned; Ctrl-C reaches only this process, which
    stops them).
``dask``
    A ``dask.distributed`` LocalCluster bound to 127.0.0.1 with single-threaded workers, or the
    running cluster at ``scheduler``; every worker must run the same painsim version (checked
    before the first task).

A job that runs tasks in rounds (a calibration: one round per generation) keeps its workers with
:func:`workers_pool` and calls :meth:`Pool.execute` once per round; the workers start once.

``function`` and the tasks must pickle for ``process`` and ``dask`` (a module-level function and
plain data). Tasks are submitted in a window, so a lazy iterable of millions of tasks never sits
in memory at once. Bad options raise :class:`BackendError`, whose ``option`` names the argument at
fault (``"backend"``, ``"workers"``, ``"scheduler"``); a worker process that dies raises
:class:`WorkerLost`. Results are the same whatever the backend if ``function`` depends only on
its task (seeds inside the task, never from the order of completion).
"""

from __future__ import annotations

import ctypes
import itertools
import logging
import multiprocessing
import os
import secrets
import signal
import sys
import threading
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from numbers import Integral
from typing import Any, TypeVar

import sim

T = TypeVar("T")
R = TypeVar("R")

BACKENDS: tuple[str, ...] = ("process", "serial", "dask")
"""Where tasks can run; the first is the default."""
MAX_WORKERS = 1024
"""Most worker processes a local pool or LocalCluster may have (a cluster sets its own)."""
PROCESS_WINDOW = 4  # tasks in flight per local worker process: none waits for the next task
DASK_WINDOW = 2000  # tasks in flight on a Dask cluster (memory stays bounded for huge jobs)
QUIET_DASK: dict[str, Any] = {
    # A LocalCluster shares the cores with its tasks: no statistical profiler (it samples every
    # worker thread 100 times a second) and slower monitoring timers (the 20 ms event-loop tick
    # of scheduler, nannies and workers; memory and system monitors). Measured on 2 cores: sweep
    # runs on 2 workers about 5 % faster.
    "distributed.worker.profile.enabled": False,
    "distributed.admin.tick.interval": "1s",
    "distributed.worker.memory.monitor-interval": "1s",
    "distributed.admin.system-monitor.interval": "2s",
}
NANNY_ENVIRON = "distributed.nanny.environ"
"""Dask's config of the variables a nanny sets in its worker (kept over this process's own)."""
_MAX_ERROR = 500


class BackendError(ValueError):
    """Tasks cannot run as asked; ``option`` names the argument at fault.

    Attributes
    ----------
    option
        ``"backend"``, ``"workers"`` or ``"scheduler"``.
    message
        What is wrong and what is allowed, one line, without the option's name.
    """

    def __init__(self, message: str, option: str):
        message = " ".join(message.split())
        super().__init__(f"{option}: {message}")
        self.option, self.message = option, message


class WorkerLost(RuntimeError):
    """A worker process died (killed, out of memory); the tasks it was running are lost."""


def one_line(exc: BaseException, limit: int = _MAX_ERROR) -> str:
    """``"<Type>: <message>"`` on one line, at most ``limit`` characters.

    Examples
    --------
    >>> one_line(ValueError("bad\\nvalue"))
    'ValueError: bad value'
    """
    text = " ".join(f"{type(exc).__name__}: {exc}".split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def default_workers() -> int:
    """Cores this process may use."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def check_options(backend: str, workers: int | None = None, scheduler: str | None = None) -> int:
    """Check where tasks are to run; return the number of local workers to start.

    Parameters
    ----------
    backend
        One of :data:`BACKENDS`.
    workers
        Local worker processes, 1 to :data:`MAX_WORKERS` (default: the usable cores).
    scheduler
        Address of a running Dask scheduler (``dask`` only).

    Raises
    ------
    BackendError
        Unknown backend, a worker count that is not a whole number in range, or a scheduler
        for a backend other than ``dask``.

    Examples
    --------
    >>> check_options("serial", 3)
    3
    >>> try:
    ...     check_options("process", 10**30)
    ... except BackendError as exc:
    ...     print(exc.option, "-", exc.message.partition(" (")[2])
    workers - allowed: a whole number from 1 to 1024)
    """
    if backend not in BACKENDS:
        raise BackendError(f"'{backend}' is not one of {', '.join(BACKENDS)}", "backend")
    if workers is not None and (
        isinstance(workers, bool)
        or not isinstance(workers, Integral)
        or not 1 <= workers <= MAX_WORKERS
    ):
        if isinstance(workers, Integral) and not isinstance(workers, bool):
            # Huge ints cannot even be printed (Python's 4,300-digit limit): say so instead.
            shown = str(workers) if int(workers).bit_length() <= 128 else "a huge number"
        else:
            shown = repr(workers)
        raise BackendError(
            f"{shown} is out of range (allowed: a whole number from 1 to {MAX_WORKERS})",
            "workers",
        )
    if scheduler is not None and backend != "dask":
        raise BackendError(f"needs the dask backend (not {backend})", "scheduler")
    if scheduler is not None and not str(scheduler).strip():
        raise BackendError("empty address; give e.g. tcp://host:8786", "scheduler")
    return int(workers) if workers is not None else min(default_workers(), MAX_WORKERS)


def execute(
    function: Callable[[T], R],
    tasks: Iterable[T],
    *,
    backend: str = "process",
    workers: int | None = None,
    scheduler: str | None = None,
    on_error: Callable[[T, Exception], R] | None = None,
    label: str = "task",
) -> Iterator[R]:
    """Run ``function`` on every task and yield the results as the tasks complete.

    Options are checked at once (before any worker starts); the workers start when the first
    result is asked for. Close the iterator (e.g. with :func:`contextlib.closing`) to stop early:
    tasks in flight are cancelled and local workers stopped. Ctrl-C does the same and raises
    KeyboardInterrupt.

    Parameters
    ----------
    function
        Called with one task; a module-level function for ``process`` and ``dask``.
    tasks
        The tasks, consumed lazily.
    backend, workers, scheduler
        Where to run (see :func:`check_options`).
    on_error
        Called with a task and the exception it raised (or with which Dask gave up on it, e.g.
        after its workers died); its return value is yielded instead. Default: the exception
        propagates and the remaining tasks are cancelled.
    label
        Names the tasks on a Dask dashboard (``painsim-<label>-...``).

    Returns
    -------
    Iterator
        One result per task, in order of completion (task order for ``serial``).

    Raises
    ------
    BackendError
        Bad options (at once), or the Dask scheduler cannot be reached or its workers cannot
        run this painsim version (when the first result is asked for).
    WorkerLost
        A local worker process died.

    Examples
    --------
    >>> sorted(execute(abs, [-2, 1, -3], backend="serial"))
    [1, 2, 3]
    """
    count = check_options(backend, workers, scheduler)
    return _once(function, iter(tasks), backend, count, scheduler, on_error, label)


def _once(
    function: Callable[[T], R],
    tasks: Iterator[T],
    backend: str,
    workers: int,
    scheduler: str | None,
    on_error: Callable[[T, Exception], R] | None,
    label: str,
) -> Iterator[R]:
    """One round of tasks on workers started for it (stopped when the round ends or stops)."""
    with _started(backend, workers, scheduler) as pool:
        yield from pool.execute(function, tasks, on_error=on_error, label=label)


class Pool:
    """Workers kept for several rounds of tasks (from :func:`workers_pool`).

    Attributes
    ----------
    backend
        One of :data:`BACKENDS`.
    slots
        Tasks that run at once: 1 (``serial``), the local worker processes, or the threads of
        the Dask cluster's workers.
    """

    def __init__(self, backend: str, slots: int, executor: Any = None, client: Any = None):
        self.backend, self.slots = backend, slots
        self._executor, self._client = executor, client

    def execute(
        self,
        function: Callable[[T], R],
        tasks: Iterable[T],
        *,
        on_error: Callable[[T, Exception], R] | None = None,
        label: str = "task",
        window: int | None = None,
    ) -> Iterator[R]:
        """Run ``function`` on every task on these workers; results as the tasks complete.

        As :func:`execute`, but closing the iterator early cancels only this round's waiting
        tasks (those already running finish, their results unused); the workers stay.
        ``window`` is the most tasks in flight (default: ``PROCESS_WINDOW`` per local worker,
        ``DASK_WINDOW`` on Dask).
        """
        tasks = iter(tasks)
        if self.backend == "serial":
            return _serial(function, tasks, on_error)
        if self.backend == "process":
            window = window or PROCESS_WINDOW * self.slots
            return _processes(self._executor, function, tasks, window, on_error)
        return _dask(self._client, function, tasks, window or DASK_WINDOW, on_error, label)


@contextmanager
def workers_pool(
    backend: str = "process", workers: int | None = None, scheduler: str | None = None
) -> Iterator[Pool]:
    """Start workers once for several rounds of tasks; stop them when the block ends.

    Options as for :func:`execute`, checked at once. Local worker processes are started by the
    first round; a LocalCluster starts here. An exception (or Ctrl-C) in the block stops local
    workers at once.

    Raises
    ------
    BackendError
        Bad options, or the Dask scheduler cannot be reached or its workers cannot run this
        painsim version.

    Examples
    --------
    >>> with workers_pool("serial") as pool:
    ...     [sorted(pool.execute(abs, round_)) for round_ in ([-2, 1], [-3])]
    [[1, 2], [3]]
    """
    count = check_options(backend, workers, scheduler)
    with _started(backend, count, scheduler) as pool:
        yield pool


@contextmanager
def _started(backend: str, workers: int, scheduler: str | None) -> Iterator[Pool]:
    if backend == "serial":
        yield Pool("serial", 1)
    elif backend == "process":
        with _process_pool(workers) as executor:
            yield Pool("process", workers, executor=executor)
    else:
        with dask_client(workers, scheduler) as client:
            slots = sum(client.nthreads().values()) if scheduler is not None else workers
            yield Pool("dask", max(int(slots), 1), client=client)


# -- running one task ---------------------------------------------------------------------------
_malloc_tuned = False


def tune_allocator() -> None:
    """Give glibc's allocator room again where ``MALLOC_TRIM_THRESHOLD_`` is set (Linux only).

    Dask's nanny starts every worker with ``MALLOC_TRIM_THRESHOLD_=65536``. Setting it also pins
    glibc's mmap threshold at 128 KiB, so each large NumPy temporary of a model step is a fresh
    mmap with page faults: sweep runs took 1.8x as long as in a plain process (measured, 15,000
    people). A 64 MiB mmap and a 256 MiB trim threshold restore plain-process speed; a worker
    may then keep up to that much freed memory. Called once per process, before its first task.
    """
    global _malloc_tuned
    if (
        _malloc_tuned
        or "MALLOC_TRIM_THRESHOLD_" not in os.environ
        or not sys.platform.startswith("linux")
    ):
        return
    _malloc_tuned = True
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(-3, 64 * 2**20)  # M_MMAP_THRESHOLD
        libc.mallopt(-1, 256 * 2**20)  # M_TRIM_THRESHOLD
    except (OSError, AttributeError):  # not glibc
        pass


def run_one(function: Callable[[T], R], task: T) -> R:
    """Run one task in a worker (the allocator tuned first); what every backend calls."""
    tune_allocator()
    return function(task)


def _or_error(
    function: Callable[[T], R], task: T, on_error: Callable[[T, Exception], R] | None
) -> R:
    if on_error is None:
        return run_one(function, task)
    try:
        return run_one(function, task)
    except Exception as exc:  # handed to the caller's on_error, as on the other backends
        return on_error(task, exc)


def _serial(
    function: Callable[[T], R], tasks: Iterator[T], on_error: Callable[[T, Exception], R] | None
) -> Iterator[R]:
    for task in tasks:
        yield _or_error(function, task, on_error)


# -- local processes ----------------------------------------------------------------------------
@contextmanager
def sigint_held() -> Iterator[None]:
    """Hold Ctrl-C back while workers start: they inherit a blocked SIGINT and ignore it.

    Only the main process handles Ctrl-C (it stops the workers); a SIGINT that arrives meanwhile
    is delivered when the block ends.
    """
    usable = (
        hasattr(signal, "pthread_sigmask") and threading.current_thread() is threading.main_thread()
    )
    if usable:
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        yield
    finally:
        if usable:
            signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})


def _ignore_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _start_worker(threads: int, environ: dict[str, str]) -> None:
    """A worker process: the parent's environment, Ctrl-C ignored, its share of the cores.

    A forkserver's worker inherits the environment the forkserver started with; the parent's
    current one (``environ``) is restored so workers see what spawned ones would.

    Numba's parallel kernels (graph metrics, connectivity) start one thread per core in every
    process; with several workers that oversubscribes the cores, and their threads wait on each
    other at every call. Each worker gets its share (set before Numba is imported, which the
    first task does: Numba is never preloaded). Results do not depend on the number of threads.
    """
    _ignore_sigint()
    if os.environ != environ:
        os.environ.clear()
        os.environ.update(environ)
    # As in a spawned worker. Numba takes "fork" in a start method's name to mean it needs a
    # named process lock; a worker stopped by Ctrl-C would leave that lock to the resource
    # tracker, which then warns about a leaked semaphore.
    multiprocessing.set_start_method("spawn", force=True)
    if "NUMBA_NUM_THREADS" not in os.environ:
        os.environ["NUMBA_NUM_THREADS"] = str(threads)
    share_blas_threads(threads)


BLAS_THREADS = ("OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
"""Variables that set the threads of NumPy's BLAS (OpenBLAS, MKL) when it loads."""


def share_blas_threads(threads: int) -> None:
    """Let this process's BLAS use ``threads`` threads, or the number the user has chosen.

    Worker processes share the cores, as for Numba (:func:`_start_worker`); Dask's nannies
    give their workers one BLAS thread each for the same reason. Sets the variables for a BLAS
    not loaded yet and, with threadpoolctl, limits one already loaded (a forkserver's workers
    start with NumPy imported, under the forkserver's environment). A number the user set in
    :data:`BLAS_THREADS` wins. Results do not depend on the number of BLAS threads.
    """
    chosen = next((os.environ[name] for name in BLAS_THREADS if name in os.environ), None)
    if chosen is None:
        for name in BLAS_THREADS:
            os.environ[name] = str(threads)
    elif chosen.strip().isdigit() and int(chosen) > 0:
        threads = int(chosen)
    else:
        return  # not a number: left to the BLAS library, as without painsim
    if "numpy" in sys.modules:
        from threadpoolctl import threadpool_limits

        threadpool_limits(limits=threads, user_api="blas")


def worker_threads(workers: int) -> int:
    """Numba threads for each of ``workers`` local worker processes (at least 1).

    Examples
    --------
    >>> worker_threads(1) >= 1, worker_threads(10_000)
    (True, 1)
    """
    return max(1, default_workers() // max(1, workers))


def _terminate(executor: ProcessPoolExecutor) -> None:
    """Stop a process pool now (Python 3.11 has no public way; 3.14 adds terminate_workers)."""
    processes = list((getattr(executor, "_processes", None) or {}).values())
    executor.shutdown(wait=False, cancel_futures=True)
    for process in processes:
        process.terminate()
    for process in processes:
        process.join(timeout=10)


WORKER_PRELOAD: tuple[str, ...] = (
    "numpy",
    "pandas",
    "pyarrow.parquet",
    "scipy.stats",
    "networkx",
    "mesa",
    "pydantic",
    "cloudpickle",
)
"""Modules the forkserver imports once, so that its workers start with them (local processes).

Importing them takes about 3 s of CPU; a spawned worker paid it again each time. None starts a
thread at import. Numba is not among them: a worker's thread count must be in its environment
before Numba is imported (:func:`_start_worker`). :data:`PRELOAD_IF_LOADED` adds more.
"""
PRELOAD_IF_LOADED: tuple[str, ...] = ("pyabc",)
"""Preloaded too if this process has already imported them (a calibration's sampler needs pyabc,
a sweep does not: its workers would not import it)."""


def _start_method(extra: tuple[str, ...] = ()) -> multiprocessing.context.BaseContext:
    """A forkserver with :data:`WORKER_PRELOAD` where the platform has one, else spawn.

    The forkserver starts with the first worker and serves every later pool of this process;
    its workers skip the imports. Never plain fork: this process may run threads (Numba's, the
    record thread, Dask's), and a forked copy of a running thread pool can deadlock.
    """
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("spawn")
    context = multiprocessing.get_context("forkserver")
    loaded = [m for m in PRELOAD_IF_LOADED if m in sys.modules]
    context.set_forkserver_preload([*WORKER_PRELOAD, *loaded, *extra])
    return context


@contextmanager
def _process_pool(workers: int) -> Iterator[ProcessPoolExecutor]:
    """Local worker processes (ignoring Ctrl-C); stopped at once if the block fails."""
    executor = ProcessPoolExecutor(
        workers,
        mp_context=_start_method(),
        initializer=_start_worker,
        initargs=(worker_threads(workers), dict(os.environ)),
    )
    try:
        yield executor
    except BaseException:
        _terminate(executor)
        raise
    executor.shutdown(cancel_futures=True)


def _processes(
    executor: ProcessPoolExecutor,
    function: Callable[[T], R],
    tasks: Iterator[T],
    window: int,
    on_error: Callable[[T, Exception], R] | None,
) -> Iterator[R]:
    """Tasks on local worker processes, at most ``window`` in flight."""
    by_future: dict[Future, T] = {}

    def submit(task: T) -> None:
        by_future[executor.submit(run_one, function, task)] = task

    try:
        # The workers (and the forkserver, the first time) start with these first submissions:
        # they inherit the blocked SIGINT.
        with sigint_held():
            for task in itertools.islice(tasks, window):
                submit(task)
        while by_future:
            done, _ = wait(by_future, return_when=FIRST_COMPLETED)
            for future in done:
                task = by_future.pop(future)
                try:
                    result = future.result()
                except BrokenProcessPool as exc:
                    raise WorkerLost(f"a worker process died ({one_line(exc)})") from None
                except Exception as exc:
                    if on_error is None:
                        raise
                    result = on_error(task, exc)
                following = next(tasks, None)
                if following is not None:
                    submit(following)
                yield result
    except BaseException:
        for future in by_future:  # this round's tasks not yet running
            future.cancel()
        raise


# -- Dask ---------------------------------------------------------------------------------------
def _worker_version() -> str:
    return sim.__version__


def check_dask_workers(client: Any, option: str, where: str) -> None:
    """Every connected Dask worker must import this painsim version.

    Raises
    ------
    BackendError
        A worker cannot import painsim, or has another version.
    """
    try:
        versions = client.run(_worker_version)
    except Exception as exc:
        raise BackendError(
            f"{where}: the Dask workers cannot run painsim ({one_line(exc)}); "
            f"install painsim {sim.__version__} on every worker",
            option,
        ) from None
    wrong = {w: v for w, v in versions.items() if v != sim.__version__}
    if wrong:
        worker, found = next(iter(wrong.items()))
        raise BackendError(
            f"{where}: worker {worker} has painsim {found}, this is {sim.__version__}; "
            "install the same version everywhere",
            option,
        )


def _dask_start_method() -> dict[str, str]:
    """Dask config that lets a LocalCluster's nannies start workers from the forkserver.

    Dask sets its own preload list on first use of a forkserver context; it is set here first,
    so that :func:`_start_method` can add :data:`WORKER_PRELOAD` to it rather than be
    overwritten. Empty where the platform has no forkserver (workers are spawned).
    """
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return {}
    import dask
    from distributed.utils import get_mp_context
    from distributed.versions import optional_packages, required_packages

    config = {"distributed.worker.multiprocessing-method": "forkserver"}
    with dask.config.set(config):
        get_mp_context()
    _start_method(extra=("distributed", *required_packages, *optional_packages))
    return config


@contextmanager
def dask_client(workers: int, scheduler: str | None = None) -> Iterator[Any]:
    """A ``distributed.Client``: on a new LocalCluster bound to 127.0.0.1, or at ``scheduler``.

    A LocalCluster (``workers`` single-threaded worker processes, no dashboard, quiet timers) is
    closed afterwards; an existing cluster is left running. Workers are version-checked.

    Raises
    ------
    BackendError
        The scheduler cannot be reached, or the workers cannot run this painsim.
    """
    import dask
    from distributed import Client, LocalCluster

    cluster = None
    with sigint_held():
        if scheduler is None:
            with dask.config.set({**QUIET_DASK, **_dask_start_method()}):
                cluster = LocalCluster(
                    n_workers=workers,
                    threads_per_worker=1,
                    processes=True,
                    host="127.0.0.1",
                    dashboard_address=None,
                    silence_logs=logging.ERROR,
                    # Each worker's share of the cores for Numba (see _start_worker), over
                    # this process's environment as a spawned worker would inherit it (a
                    # forkserver's has the environment the forkserver started with).
                    env={
                        **os.environ,
                        **{k: str(v) for k, v in dask.config.get(NANNY_ENVIRON, {}).items()},
                        "NUMBA_NUM_THREADS": os.environ.get(
                            "NUMBA_NUM_THREADS", str(worker_threads(workers))
                        ),
                    },
                )
            client = Client(cluster)
        else:
            try:
                client = Client(scheduler, timeout="20s")
            except (OSError, ValueError, TypeError) as exc:
                raise BackendError(
                    f"cannot connect to {scheduler} ({one_line(exc)})", "scheduler"
                ) from None
    try:
        if scheduler is None:
            check_dask_workers(client, "backend", "LocalCluster")
        else:
            check_dask_workers(client, "scheduler", scheduler)
        yield client
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


def _dask(
    client: Any,
    function: Callable[[T], R],
    tasks: Iterator[T],
    window: int,
    on_error: Callable[[T, Exception], R] | None,
    label: str,
) -> Iterator[R]:
    """Tasks with unique keys (never deduplicated), at most ``window`` in flight."""
    from distributed import as_completed

    token = secrets.token_hex(4)
    by_key: dict[str, T] = {}
    counter = itertools.count()

    def submit(task: T) -> Future:
        key = f"painsim-{label}-{token}-{next(counter)}"
        by_key[key] = task
        return client.submit(run_one, function, task, key=key, pure=False)

    queue = as_completed([submit(t) for t in itertools.islice(tasks, window)])
    try:
        for future in queue:
            task = by_key.pop(future.key)
            try:
                result = future.result()
            except Exception as exc:
                if on_error is None:
                    raise
                result = on_error(task, exc)
            future.release()
            following = next(tasks, None)
            if following is not None:
                queue.add(submit(following))
            yield result
    except BaseException:
        client.cancel(list(queue.futures))
        raise


__all__ = [
    "BACKENDS",
    "DASK_WINDOW",
    "MAX_WORKERS",
    "QUIET_DASK",
    "BackendError",
    "Pool",
    "WorkerLost",
    "check_dask_workers",
    "check_options",
    "dask_client",
    "default_workers",
    "execute",
    "one_line",
    "run_one",
    "sigint_held",
    "tune_allocator",
    "workers_pool",
]
