"""Run tasks in reusable worker processes that a crash, an OOM kill or a hang cannot take down.

Native decoders (rANS, libjpeg, libaom...) can still crash on input nobody foresaw, and a
large image can get a worker OOM-killed. pebble's ProcessPool replaces a worker that dies
or overruns its timeout and reports it for that one task (ProcessExpired, TimeoutError),
so the task is recorded as failed and the others go on; a joblib/loky or concurrent.futures
pool is broken for every pending task by one dead worker.

Workers are spawned (fresh interpreters: no state forked from a parent that may hold torch
threads) and reused for many tasks; on Linux each dies with the process that started it, so
a killed run leaves no orphans.
"""

from __future__ import annotations

import ctypes
import multiprocessing
import signal
import sys
from concurrent.futures import TimeoutError as FutureTimeout
from concurrent.futures import as_completed
from typing import Any, Callable, Iterable, Iterator, TypeVar

from pebble import ProcessExpired, ProcessPool

T = TypeVar("T")
R = TypeVar("R")
PR_SET_PDEATHSIG = 1


def die_with_parent() -> None:
    """Worker initializer: SIGKILL this process when its parent dies (Linux prctl; elsewhere a no-op)."""
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


def _start_worker(initializer: Callable[..., Any] | None, *initargs: Any) -> None:
    die_with_parent()
    if initializer is not None:
        initializer(*initargs)


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
                   initializer: Callable[..., Any] | None = None, initargs: tuple = ()) -> Iterator[R]:
    """Yield function(*args(item)) for every item as they finish, in `workers` reusable processes.

    A task whose worker dies or that runs past `timeout` seconds yields lost(item, reason) instead
    (reason: "worker process killed by SIGSEGV", "timed out after 30 s"); the pool starts a new
    worker and goes on.
    """
    pool = ProcessPool(max_workers=max(1, workers), initializer=_start_worker, initargs=(initializer, *initargs),
                       context=multiprocessing.get_context("spawn"))
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
