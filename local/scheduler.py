"""Cloud Scheduler, locally: fires the spec's jobs on their cron, to the same HTTP targets with the
same body and the headers Cloud Scheduler sends; `fire()` fires one at once (demo, tests)."""

from __future__ import annotations

import json
import threading
from datetime import datetime
from zoneinfo import ZoneInfo

import requests
from croniter import croniter

from contentflow.spec import Schedule


def fire(job_name: str, schedule: Schedule, url: str, timeout_s: float = 300.0,
         session: requests.Session | None = None) -> requests.Response:
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "Google-Cloud-Scheduler",
        "X-CloudScheduler": "true",
        "X-CloudScheduler-JobName": job_name,
        "X-CloudScheduler-ScheduleTime": datetime.now(ZoneInfo(schedule.time_zone)).isoformat(),
    }
    post = (session or requests).post
    return post(url, data=json.dumps(schedule.target.body), headers=headers, timeout=timeout_s)


class LocalScheduler:
    def __init__(self, schedules: dict[str, Schedule], urls: dict[str, str], on_fired=None):
        self._schedules = schedules
        self._urls = urls
        self._stop = threading.Event()
        self._session = requests.Session()
        self._on_fired = on_fired or (lambda name, status: None)
        self._thread = threading.Thread(target=self._run, name="local-scheduler", daemon=True)

    def fire(self, job_name: str) -> requests.Response:
        schedule = self._schedules[job_name]
        return fire(job_name, schedule, self._urls[schedule.target.function], session=self._session)

    def _run(self) -> None:
        iters = {name: croniter(s.cron, datetime.now(ZoneInfo(s.time_zone))) for name, s in self._schedules.items()}
        due = {name: it.get_next(datetime) for name, it in iters.items()}
        while not self._stop.is_set():
            name = min(due, key=due.get) if due else None
            if name is None:
                self._stop.wait()
                return
            tz = ZoneInfo(self._schedules[name].time_zone)
            wait_s = (due[name] - datetime.now(tz)).total_seconds()
            if self._stop.wait(max(0.0, wait_s)):
                return
            try:
                status = self.fire(name).status_code
            except requests.RequestException as err:
                status = f"error: {err}"
            self._on_fired(name, status)
            due[name] = iters[name].get_next(datetime)

    def start(self) -> LocalScheduler:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self._session.close()
