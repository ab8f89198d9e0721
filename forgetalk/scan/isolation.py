"""Which file killed the worker: crash attribution for the backends that run workers in other processes.

Why this exists: a worker process that dies (a segfault or SIGFPE in a native decoder, an OOM
kill) says nothing about the file it was analysing, and it takes every task in flight with it: a
broken ``ProcessPoolExecutor`` fails all its futures, queued ones included, and a dead Ray actor
fails every task queued on it. The pool used to retry all of them together, so the file that
killed the first worker killed the second too, with the same company in flight, and a valid
photo that only shared the pool with it was recorded ``error/worker_crash`` ("died twice while
analysing this file"), which is false and sends an analyst after the wrong evidence.

Here a worker death only makes the tasks it took down *suspects*. Each suspect is run again
alone: nothing else is in flight (new tasks are held back, and a suspect waits until the pool
is idle), so a death while it runs is its own doing. A file is recorded ``worker_crash`` only
after it has killed a worker :data:`MAX_SOLO_CRASHES` times while alone; an innocent suspect
simply completes, with its normal result. A poison file therefore costs one pool restart per
crash and a few files run one at a time, never a wrong record.

The pools themselves (:class:`forgetalk.scan.backends.ProcessPool`, the Ray actors) only run
tasks and report a death as ``None``; the policy lives here, once, for both.
"""

from __future__ import annotations

from collections import deque
from dataclasses import replace
from typing import Protocol

from .records import ScanRecord, Status, WorkerResult
from .worker import Task, failure_record

#: A file that killed a worker this many times while it was the only task in flight is recorded
#: ``error/worker_crash`` (and retried on the next run, as every ``error`` is).
MAX_SOLO_CRASHES = 2

#: What a pool hands back for one task: the worker's result, or None when the worker process died
#: while the task was in flight (the pool is usable again by the time it says so).
Outcome = WorkerResult | None


class Pool(Protocol):
    """Runs tasks on worker processes; knows nothing about who caused a death."""

    capacity: int

    def submit(self, task: Task) -> None: ...

    def in_flight(self) -> int: ...

    def next_done(self) -> list[tuple[Task, Outcome]]:
        """Block until at least one task finishes or dies; every finished (task, outcome)."""
        ...

    def close(self, cancel: bool = False) -> None: ...


def crashed_record(task: Task) -> ScanRecord:
    """The record of a file that killed the analysis worker every time it ran alone."""
    return failure_record(task, Status.ERROR, "worker_crash",
                          f"{task.rel}: the analysis worker process died while analysing this file ({task.attempt} attempts)")


class CrashIsolation:
    """A :class:`forgetalk.scan.backends.Backend` over a :class:`Pool` that retries the tasks a
    worker death took down one at a time, alone, before it blames any of them (see the module)."""

    def __init__(self, pool: Pool) -> None:
        self.pool = pool
        self.capacity = pool.capacity
        self._suspects: deque[Task] = deque()  # in flight at a death with company: each runs again alone
        self._held: deque[Task] = deque()  # submitted while suspects wait: sent once they are cleared
        self._alone: Task | None = None  # the task sent to an idle pool, while nothing has been sent since

    def submit(self, task: Task) -> None:
        if self._suspects or self._held:
            self._held.append(task)
        else:
            self._send(task)

    def in_flight(self) -> int:
        # Held and suspect tasks count: the runner's bound on tasks in flight (memory) still holds.
        return self.pool.in_flight() + len(self._suspects) + len(self._held)

    def next_done(self) -> list[tuple[Task, WorkerResult]]:
        while True:
            self._feed()
            if self.pool.in_flight() == 0:
                return []
            out: list[tuple[Task, WorkerResult]] = []
            died: list[Task] = []
            for task, outcome in self.pool.next_done():
                if outcome is None:
                    died.append(task)
                else:
                    out.append((task, outcome))
            if died:
                self._triage(died, out)
            if out:
                return out

    def close(self, cancel: bool = False) -> None:
        self._suspects.clear()
        self._held.clear()
        self.pool.close(cancel)

    def _send(self, task: Task) -> None:
        self._alone = task if self.pool.in_flight() == 0 else None
        self.pool.submit(task)

    def _feed(self) -> None:
        """Send the next suspect once the pool is idle; with none left, release the held tasks."""
        if self._suspects:
            if self.pool.in_flight() == 0:
                self._send(self._suspects.popleft())
            return
        while self._held:
            self._send(self._held.popleft())

    def _triage(self, died: list[Task], out: list[tuple[Task, WorkerResult]]) -> None:
        """A death with one task in flight, alone since it was sent, is that task's; any other
        death only makes suspects of what it took down."""
        alone = len(died) == 1 and died[0] is self._alone and self.pool.in_flight() == 0
        for task in died:
            solo = task.solo_crashes + (1 if alone else 0)
            if solo >= MAX_SOLO_CRASHES:
                out.append((task, crashed_record(replace(task, solo_crashes=solo))))
            else:
                self._suspects.append(replace(task, attempt=task.attempt + 1, solo_crashes=solo))
