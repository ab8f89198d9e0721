"""Optional Ray backend (``--backend ray``): the same per-image function, on a cluster.

For folders beyond one machine: every Ray actor builds one analyzer (models load once per
actor) and runs :func:`forgetalk.scan.worker.process_task`. The parent still owns the walk,
the hashing, the journal and the index, so resume and chain of custody behave exactly as
with the local process pool. Actors write outputs straight into RESULTS, which therefore
must be a filesystem every node sees at the same path (NFS, Lustre, a shared mount).

``ray`` is imported only here, so it stays an optional dependency (``pip install ray``).
Without ``--ray-address`` a private single-machine Ray instance is started with
``num_cpus=--workers``; with it, the scan joins an existing cluster (``ray start --head``).
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

from ..errors import ForgetalkError
from .isolation import CrashIsolation, Outcome
from .records import WorkerResult
from .worker import Task, WorkerConfig, init_worker, process_task


class _AnalyzerActor:
    """Holds one analyzer for the actor's lifetime."""

    def __init__(self, config: WorkerConfig) -> None:
        init_worker(config, ignore_sigint=False)

    def run(self, task: Task) -> WorkerResult:
        return process_task(task)


class RayBackend(CrashIsolation):
    """Bounded submission to a pool of actors; at most ``capacity`` tasks in flight. A dead actor
    is replaced, and the tasks it took down are retried alone (:mod:`forgetalk.scan.isolation`)."""

    def __init__(self, config: WorkerConfig, workers: int, address: str | None = None, capacity: int | None = None) -> None:
        super().__init__(RayPool(config, workers, address=address, capacity=capacity))


class RayPool:
    """The actors (a :class:`forgetalk.scan.isolation.Pool`): a task whose actor died comes back as ``None``."""

    def __init__(self, config: WorkerConfig, workers: int, address: str | None = None, capacity: int | None = None) -> None:
        try:
            import ray
        except ImportError:
            raise ForgetalkError("--backend ray needs the optional dependency ray: pip install ray") from None
        self._ray = ray
        self._owns_ray = False
        self._temp_dir: str | None = None
        if not ray.is_initialized():
            kwargs: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False, "configure_logging": False}
            if address:
                kwargs["address"] = address
            else:
                # A private local instance: give actors the driver's import path, as a spawn
                # pool would, so this checkout of forgetalk and --preload plugins resolve.
                pkg_root = str(Path(__file__).resolve().parents[2])
                paths = [pkg_root, *(p for p in sys.path if p and os.path.isdir(p))]
                pythonpath = os.pathsep.join(dict.fromkeys(paths))
                kwargs.update(num_cpus=max(1, workers), runtime_env={"env_vars": {"PYTHONPATH": pythonpath}})
                # Its sessions, logs and sockets in a private folder (mode 0700) removed at close: by default Ray
                # keeps every session under a world-writable /tmp/ray (13 MB over a day of scans here), beside other users.
                self._temp_dir = tempfile.mkdtemp(prefix="forgetalk-ray-")
                kwargs["_temp_dir"] = self._temp_dir
            try:
                ray.init(**kwargs)
            except BaseException:
                self._remove_temp_dir()
                raise
            self._owns_ray = True
        self.config = config
        self.workers = max(1, workers)
        self.capacity = capacity or 2 * self.workers
        self._actor_cls = ray.remote(num_cpus=1, max_restarts=0)(_AnalyzerActor)
        self._actors = [self._actor_cls.remote(config) for _ in range(self.workers)]
        self._load = {i: 0 for i in range(self.workers)}
        self._pending: dict[Any, tuple[Task, int, Any]] = {}  # ref -> (task, slot, the actor it was sent to)

    def submit(self, task: Task) -> None:
        slot = min(self._load, key=lambda i: self._load[i])
        actor = self._actors[slot]
        ref = actor.run.remote(task)
        self._pending[ref] = (task, slot, actor)
        self._load[slot] += 1

    def in_flight(self) -> int:
        return len(self._pending)

    def next_done(self) -> list[tuple[Task, Outcome]]:
        if not self._pending:
            return []
        ready, _ = self._ray.wait(list(self._pending), num_returns=1)
        out: list[tuple[Task, Outcome]] = []
        for ref in ready:
            task, slot, actor = self._pending.pop(ref)
            self._load[slot] -= 1
            try:
                out.append((task, self._ray.get(ref)))
            except self._ray.exceptions.RayActorError:
                # The actor died (OOM, segfault): replaced once, although every task queued on it fails.
                if self._actors[slot] is actor:
                    self._actors[slot] = self._actor_cls.remote(self.config)
                out.append((task, None))
        return out

    def close(self, cancel: bool = False) -> None:
        for ref in list(self._pending):
            try:
                self._ray.cancel(ref, force=True)
            except Exception:  # noqa: BLE001 - best effort on shutdown
                pass
        self._pending.clear()
        for actor in self._actors:
            try:
                self._ray.kill(actor)
            except Exception:  # noqa: BLE001
                pass
        if self._owns_ray:
            self._ray.shutdown()
            self._remove_temp_dir()

    def _remove_temp_dir(self) -> None:
        if self._temp_dir is not None:
            shutil.rmtree(self._temp_dir, ignore_errors=True)
            self._temp_dir = None
