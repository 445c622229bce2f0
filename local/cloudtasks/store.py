"""Persistence of queues, tasks and name tombstones in a sqlite file, so a restart loses nothing.

Every change is one committed transaction (WAL journal), so a crash or SIGKILL keeps all
changes that the API had acknowledged. The in-memory emulator uses MemoryStore instead.
"""

import fcntl
import sqlite3
import threading
from dataclasses import dataclass, field
from pathlib import Path

from .queue import QueuePb
from .tasks import TaskRecord

DATABASE_FILE = "cloudtasks.sqlite3"
LOCK_FILE = "cloudtasks.lock"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS queues (name TEXT PRIMARY KEY, queue BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS tasks (
    name TEXT PRIMARY KEY, queue TEXT NOT NULL, task BLOB NOT NULL, bookkeeping TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS tombstones (kind TEXT NOT NULL, name TEXT NOT NULL, expires REAL NOT NULL,
    PRIMARY KEY (kind, name));
"""


@dataclass
class StoredState:
    queues: list[QueuePb] = field(default_factory=list)
    tasks: list[TaskRecord] = field(default_factory=list)
    task_tombstones: dict[str, float] = field(default_factory=dict)
    queue_tombstones: dict[str, float] = field(default_factory=dict)


class MemoryStore:
    """Keeps nothing: the state lives only in the running emulator."""

    def load(self) -> StoredState:
        return StoredState()

    def save_queue(self, queue: QueuePb) -> None:
        pass

    def delete_queue(self, name: str, tombstone_expires: float) -> None:
        pass

    def save_task(self, record: TaskRecord) -> None:
        pass

    def delete_tasks(self, names: list[str], tombstone_expires: float) -> None:
        pass

    def forget_tombstones(self, before: float) -> None:
        pass

    def close(self) -> None:
        pass


class DataDirInUse(RuntimeError):
    pass


class SqliteStore(MemoryStore):
    def __init__(self, folder: Path):
        # Two emulators on one folder would both dispatch its tasks: the second one is refused.
        self._lock_file = open(folder / LOCK_FILE, "w")
        try:
            fcntl.flock(self._lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self._lock_file.close()
            raise DataDirInUse(f"{folder} is used by another running Cloud Tasks emulator") from None
        self._connection = sqlite3.connect(
            folder / DATABASE_FILE, isolation_level=None, check_same_thread=False, timeout=10
        )
        self._lock = threading.Lock()
        self._connection.execute("PRAGMA journal_mode=WAL")
        self._connection.execute("PRAGMA synchronous=NORMAL")
        self._connection.executescript(_SCHEMA)

    def load(self) -> StoredState:
        with self._lock:
            state = StoredState()
            for (blob,) in self._connection.execute("SELECT queue FROM queues"):
                state.queues.append(QueuePb.FromString(blob))
            for queue_name, blob, bookkeeping in self._connection.execute("SELECT queue, task, bookkeeping FROM tasks"):
                state.tasks.append(TaskRecord.restore(queue_name, blob, bookkeeping))
            for kind, name, expires in self._connection.execute("SELECT kind, name, expires FROM tombstones"):
                (state.task_tombstones if kind == "task" else state.queue_tombstones)[name] = expires
            return state

    def save_queue(self, queue: QueuePb) -> None:
        self._write([("INSERT OR REPLACE INTO queues VALUES (?, ?)", (queue.name, queue.SerializeToString()))])

    def delete_queue(self, name: str, tombstone_expires: float) -> None:
        self._write(
            [
                ("DELETE FROM queues WHERE name = ?", (name,)),
                ("DELETE FROM tasks WHERE queue = ?", (name,)),
                ("INSERT OR REPLACE INTO tombstones VALUES ('queue', ?, ?)", (name, tombstone_expires)),
            ]
        )

    def save_task(self, record: TaskRecord) -> None:
        self._write(
            [
                (
                    "INSERT OR REPLACE INTO tasks VALUES (?, ?, ?, ?)",
                    (record.name, record.queue_name, record.task.SerializeToString(), record.bookkeeping_json()),
                )
            ]
        )

    def delete_tasks(self, names: list[str], tombstone_expires: float) -> None:
        statements = []
        for name in names:
            statements.append(("DELETE FROM tasks WHERE name = ?", (name,)))
            statements.append(("INSERT OR REPLACE INTO tombstones VALUES ('task', ?, ?)", (name, tombstone_expires)))
        self._write(statements)

    def forget_tombstones(self, before: float) -> None:
        self._write([("DELETE FROM tombstones WHERE expires <= ?", (before,))])

    def close(self) -> None:
        with self._lock:
            self._connection.close()
        self._lock_file.close()  # releases the folder

    def _write(self, statements: list[tuple[str, tuple]]) -> None:
        with self._lock:
            self._connection.execute("BEGIN")
            try:
                for sql, params in statements:
                    self._connection.execute(sql, params)
            except BaseException:
                self._connection.execute("ROLLBACK")
                raise
            self._connection.execute("COMMIT")
