"""Run tasks in reusable worker processes that a crash, an OOM kill or a hang cannot take down.

Native decoders (rANS, libjpeg, libaom...) can still crash on input nobody foresaw, and a
large image can get a worker OOM-killed. pebble's ProcessPool replaces a worker that dies
or overruns its timeout and reports it for that one task (ProcessExpired, TimeoutError),
so the task is recorded as failed and the others go on; a joblib/loky or concurrent.futures
pool is broken for every pending task by one dead worker.

Start: while torch is not loaded (every classical run), workers are forked from the
already-imported runner, so one starts in milliseconds (spawned ones spent 2-4 s each
importing rdpbench on 2 cores, every run). Once torch is loaded (the runner built a
learned codec or metric, or device=auto looked for a GPU: device=cpu does not), forking
is unsafe (GNU OpenMP does not survive fork), so workers come from a forkserver that
preloads the evaluator (then, as with any spawn-like start, a script calling run() keeps
its entry under `if __name__ == "__main__":`; run.py does).
Workers only run `evaluate_image`, whose results do not depend on how they started.
Each limits BLAS/OpenMP (threadpoolctl) and torch to `threads` (default cpu_count // workers, as
loky does), so N workers never oversubscribe the cores. They are reused for many tasks; on Linux
each dies with the process that started it (a forkserver's also watch the runner), so a
killed run leaves no orphans, and the pool is stopped and joined before run_supervised
returns.
"""

from __future__ import annotations

import ctypes
import multiprocessing
import os
import signal
import sys
import threading
import time
from concurrent.futures import TimeoutError as FutureTimeout
from concurrent.futures import as_completed
from typing import Any, Callable, Iterable, Iterator, TypeVar

from pebble import ProcessExpired, ProcessPool

T = TypeVar("T")
R = TypeVar("R")
PR_SET_PDEATHSIG = 1
RUNNER_POLL_S = 0.5


def die_with_parent() -> None:
    """Worker initializer: SIGKILL this process when its parent dies (Linux prctl; elsewhere a no-op)."""
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


def _exit_without(runner: int) -> None:
    while True:
        time.sleep(RUNNER_POLL_S)
        try:
            os.kill(runner, 0)
        except ProcessLookupError:
            os._exit(1)  # the run is gone: nothing will read this worker's results
        except PermissionError:
            continue


def _start_worker(threads: int, runner: int, environment: dict[str, str], initializer: Callable[..., Any] | None,
                  *initargs: Any) -> None:
    from threadpoolctl import threadpool_limits

    # a forkserver started earlier in this process holds the environment of that moment: a worker
    # must see the caller's environment now (caches, offline flags), as a forked one would
    os.environ.clear()
    os.environ.update(environment)
    die_with_parent()
    if os.getppid() != runner:  # forkserver child: its parent outlives a killed run while workers hold its pipe
        threading.Thread(target=_exit_without, args=(runner,), daemon=True, name="rdpbench-runner-watch").start()
    threadpool_limits(limits=threads)
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(threads)
    if initializer is not None:
        initializer(*initargs)


def worker_context() -> multiprocessing.context.BaseContext:
    """fork while torch is not loaded, else a forkserver preloading the evaluator (spawn off POSIX)."""
    methods = multiprocessing.get_all_start_methods()
    if "torch" not in sys.modules and "fork" in methods:
        return multiprocessing.get_context("fork")
    if "forkserver" not in methods:
        return multiprocessing.get_context("spawn")
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["rdpbench.runners.evaluate"])
    return context


def exit_reason(exitcode: int | None) -> str:
    """'killed by SIGSEGV' / 'exit code 3': how a worker process ended."""
    if exitcode is not None and exitcode < 0:
        try:
            return f"killed by {signal.Signals(-exitcode).name}"
        except ValueError:
            return f"killed by signal {-exitcode}"
    return f"exit code {exitcode}"


def run_supervised(function: Callable[..., R], items: Iterable[T], args: Callable[[T], tuple], workers: int,
                   lost: Callable[[T, str], R], timeout: float | None = None,
                   initializer: Callable[..., Any] | None = None, initargs: tuple = (),
                   threads: int | None = None) -> Iterator[R]:
    """Yield function(*args(item)) for every item as they finish, in `workers` reusable processes.

    A task whose worker dies or that runs past `timeout` seconds yields lost(item, reason) instead
    (reason: "worker process killed by SIGSEGV", "timed out after 30 s"); the pool starts a new
    worker and goes on. `threads` per worker: None shares the cores out (cpu_count // workers).
    """
    workers = max(1, workers)
    threads = max(1, threads or (os.cpu_count() or 1) // workers)
    pool = ProcessPool(max_workers=workers, initializer=_start_worker,
                       initargs=(threads, os.getpid(), dict(os.environ), initializer, *initargs),
                       context=worker_context())
    try:
        futures = {pool.schedule(function, args=args(item), timeout=timeout): item for item in items}
        for future in as_completed(futures):
            item = futures[future]
            try:
                yield future.result()
            except ProcessExpired as exc:
                yield lost(item, f"worker process {exit_reason(exc.exitcode)}")
            except FutureTimeout:
                yield lost(item, f"timed out after {timeout} s (worker stopped)")
        pool.close()
    finally:
        pool.stop()
        pool.join()
