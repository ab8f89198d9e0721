"""Execution backends: how tasks reach workers. The per-image function is always
:func:`forgetalk.scan.worker.process_task`; backends only differ in where it runs.

The runner drives a backend as a bounded producer/consumer: it submits while fewer than
``capacity`` tasks are in flight and otherwise blocks in :meth:`Backend.next_done`, so
memory stays flat however large the folder is.
"""

from __future__ import annotations

import contextlib
import dataclasses
import multiprocessing as mp
import os
import signal
from collections.abc import Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from typing import Protocol

from ..io import deferred_signals
from .isolation import MAX_SOLO_CRASHES, CrashIsolation, Outcome, crashed_record
from .records import WorkerResult
from .worker import Task, WorkerConfig, fatal_error, init_worker, process_task, startup_failure

__all__ = ["MAX_SOLO_CRASHES", "Backend", "InProcessBackend", "ProcessBackend", "ProcessPool", "crashed_record"]


class Backend(Protocol):
    capacity: int

    def submit(self, task: Task) -> None: ...

    def in_flight(self) -> int: ...

    def next_done(self) -> list[tuple[Task, WorkerResult]]:
        """Block until at least one task finishes; return every finished (task, record)."""
        ...

    def close(self, cancel: bool = False) -> None: ...


class InProcessBackend:
    """Runs tasks in the calling process (``--workers 0``): for debugging and tiny folders."""

    def __init__(self, config: WorkerConfig) -> None:
        init_worker(config, ignore_sigint=False)
        fatal = startup_failure()
        if fatal is not None:  # weights missing: stop now, before the walk starts (it printed notes first)
            raise fatal_error(fatal)
        self.capacity = 1
        self._done: list[tuple[Task, WorkerResult]] = []

    def submit(self, task: Task) -> None:
        self._done.append((task, process_task(task)))

    def in_flight(self) -> int:
        return len(self._done)

    def next_done(self) -> list[tuple[Task, WorkerResult]]:
        done, self._done = self._done, []
        return done

    def close(self, cancel: bool = False) -> None:
        pass


@contextlib.contextmanager
def _sigint_blocked() -> Iterator[None]:
    """Block SIGINT in this thread for the block (POSIX; elsewhere a no-op). Processes started
    inside it inherit the mask; this process still gets Ctrl-C through its other threads."""
    if not hasattr(signal, "pthread_sigmask"):
        yield
        return
    old = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


class ProcessBackend(CrashIsolation):
    """A spawn-context process pool; each worker builds its analyzer once in the initializer.

    ``spawn`` (not fork) because the parent may hold threads (rich, onnxruntime) and forked
    copies of those are unsafe. If a worker dies (segfault in a decoder, OOM kill) the pool is
    rebuilt, and the tasks that were in flight are retried one at a time, alone
    (:mod:`forgetalk.scan.isolation`): only a file that kills a worker :data:`MAX_SOLO_CRASHES`
    times on its own is reported as an error, so one poison file can neither stall the scan nor
    take the files analysed beside it down with it.
    """

    def __init__(self, config: WorkerConfig, workers: int, capacity: int | None = None) -> None:
        super().__init__(ProcessPool(config, workers, capacity))


class ProcessPool:
    """The pool itself (a :class:`forgetalk.scan.isolation.Pool`): runs tasks, and reports each
    task a worker death took down as ``None``, on a pool already rebuilt."""

    #: Thread-count variables read by OpenMP/OpenBLAS/MKL when a worker imports numpy.
    THREAD_ENV = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")

    def __init__(self, config: WorkerConfig, workers: int, capacity: int | None = None) -> None:
        self.workers = max(1, workers)
        threads = config.threads or max(1, (os.cpu_count() or 1) // self.workers)
        self.config = dataclasses.replace(config, threads=threads)
        # Spawned children inherit os.environ at spawn time (on demand, while we run); the user's own settings win.
        self._saved_env = {k: os.environ.get(k) for k in self.THREAD_ENV}
        for k in self.THREAD_ENV:
            os.environ.setdefault(k, str(threads))
        self.capacity = capacity or 2 * self.workers
        self._ctx = mp.get_context("spawn")
        self._pool = self._new_pool()
        self._futures: dict[Future[WorkerResult], Task] = {}

    def _new_pool(self) -> ProcessPoolExecutor:
        return ProcessPoolExecutor(max_workers=self.workers, mp_context=self._ctx, initializer=init_worker,
                                   initargs=(self.config, True, os.getpid()))

    def submit(self, task: Task) -> None:
        # The pool starts its worker processes inside submit(); they inherit this thread's signal
        # mask across exec. Blocked, a Ctrl-C to the whole process group (the terminal's) cannot
        # interrupt a worker's interpreter start-up, which printed "Fatal Python error:
        # init_import_site" and a traceback; init_worker ignores SIGINT, then unblocks it.
        # Held in this process too (deferred_signals: another thread may take the signal), so the
        # parent is not cut off while it writes a new worker's start-up data: the worker then
        # died on "EOFError: Ran out of input" with a traceback.
        fut: Future[WorkerResult]
        with deferred_signals(), _sigint_blocked():
            try:
                fut = self._pool.submit(process_task, task)
            except BrokenProcessPool as exc:
                # A worker died since the last next_done: this task goes down with those in flight.
                fut = Future()
                fut.set_exception(exc)
        self._futures[fut] = task

    def in_flight(self) -> int:
        return len(self._futures)

    def next_done(self) -> list[tuple[Task, Outcome]]:
        if not self._futures:
            return []
        done, _ = wait(list(self._futures), return_when=FIRST_COMPLETED)
        out: list[tuple[Task, Outcome]] = []
        broken = False
        for fut in done:
            task = self._futures.pop(fut)
            try:
                out.append((task, fut.result()))
            except BrokenProcessPool:
                out.append((task, None))
                broken = True
        if broken:
            # A dead worker breaks the whole pool: every other future fails with it, those still
            # queued included, except one that finished in the meantime. All go on a fresh pool.
            for fut, task in self._futures.items():
                finished = fut.done() and not fut.cancelled() and fut.exception() is None
                out.append((task, fut.result() if finished else None))
            self._futures.clear()
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = self._new_pool()
        return out

    def close(self, cancel: bool = False) -> None:
        try:
            self._shutdown(cancel)
        finally:
            for k, v in self._saved_env.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v

    def _shutdown(self, cancel: bool) -> None:
        if cancel:
            # Ctrl-C: do not wait for queued work; kill workers so the command returns now.
            procs = list(getattr(self._pool, "_processes", {}).values())
            manager = getattr(self._pool, "_executor_manager_thread", None)
            self._pool.shutdown(wait=False, cancel_futures=True)
            for p in procs:
                if p.is_alive():
                    p.terminate()
            for p in procs:
                p.join(timeout=5)
            # Let the pool's manager thread finish closing its wake-up pipe before the interpreter
            # exits: CPython 3.11's exit hook (concurrent.futures.process._python_exit) writes to
            # that pipe without the pool's lock, and when the thread closed it in between, a Ctrl-C
            # during a scan's start ended in "OSError: Bad file descriptor" and a traceback under
            # the scan's own line (tests/test_evidence_safety.py, about one run in three).
            if manager is not None:
                manager.join(timeout=5)
        else:
            self._pool.shutdown(wait=True)
