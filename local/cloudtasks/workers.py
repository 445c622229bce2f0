"""A fixed pool of daemon threads for dispatch attempts.

Not concurrent.futures: its threads are joined at interpreter exit, so one target stuck until
its dispatch deadline (up to 30 min) would hold the process. These threads are daemons; the
emulator closes their sockets on stop and waits only briefly for them.
"""

import logging
import queue
import threading
import time
from typing import Callable

log = logging.getLogger(__name__)
_STOP = object()


class WorkerPool:
    def __init__(self, size: int, name: str = "cloudtasks-dispatch"):
        self.size = size
        self._jobs: queue.SimpleQueue = queue.SimpleQueue()
        self._threads = [threading.Thread(target=self._work, name=f"{name}-{i}", daemon=True) for i in range(size)]

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def submit(self, job: Callable[[], None]) -> None:
        self._jobs.put(job)

    def stop(self, timeout: float) -> None:
        for _ in self._threads:
            self._jobs.put(_STOP)
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))

    def _work(self) -> None:
        while True:
            job = self._jobs.get()
            if job is _STOP:
                return
            try:
                job()
            except Exception:  # a failing job must not kill the worker
                log.exception("dispatch job failed")
