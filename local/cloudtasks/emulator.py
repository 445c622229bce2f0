"""The emulator as one object to start and stop in-process, plus the client and readiness helpers."""

import json
import time
from pathlib import Path

import grpc
from google.api_core import exceptions as api_exceptions
from google.cloud.tasks_v2 import CloudTasksClient
from google.cloud.tasks_v2.services.cloud_tasks.transports import CloudTasksGrpcTransport

from .dispatcher import HttpDispatcher
from .engine import Engine, EngineSettings
from .fate import FateLog
from .oidc import TokenIssuer
from .queue import QueuePb
from .server import GrpcServer
from .store import MemoryStore, SqliteStore

DEFAULT_PROJECT = "local-project"
DEFAULT_LOCATION = "us-central1"
LOOPBACK = "127.0.0.1"


def make_client(address: str) -> CloudTasksClient:
    """The unmodified official client, talking to the emulator at host:port."""
    return CloudTasksClient(transport=CloudTasksGrpcTransport(channel=grpc.insecure_channel(address)))


def wait_ready(address: str, timeout: float = 10.0, project: str = DEFAULT_PROJECT, location: str = DEFAULT_LOCATION) -> None:
    """Returns once ListQueues answers through the official client; raises TimeoutError otherwise."""
    client = make_client(address)
    deadline = time.monotonic() + timeout
    try:
        while True:
            try:
                client.list_queues(parent=f"projects/{project}/locations/{location}", timeout=1.0)
                return
            except (api_exceptions.ServiceUnavailable, api_exceptions.DeadlineExceeded, api_exceptions.RetryError):
                if time.monotonic() >= deadline:
                    raise TimeoutError(f"Cloud Tasks emulator at {address} not ready after {timeout} s") from None
                time.sleep(0.05)
    finally:
        client.transport.close()


class CloudTasksEmulator:
    """A local Cloud Tasks: gRPC API on `host:port` (127.0.0.1 only; port 0 picks a free one),
    dispatching HTTP tasks as production does. With `data_dir`, queues, tasks, tombstones, the
    OIDC signing key and the dead-task log survive a restart.

        emulator = CloudTasksEmulator(data_dir="...").start()
        client = make_client(emulator.address)
        ...
        emulator.stop()
    """

    def __init__(
        self,
        host: str = LOOPBACK,
        port: int = 0,
        data_dir: str | Path | None = None,
        project: str = DEFAULT_PROJECT,
        location: str = DEFAULT_LOCATION,
        queues: dict[str, dict] | None = None,
        fate_webhook_url: str | None = None,
        task_tombstone_seconds: float = 3600.0,
        queue_tombstone_seconds: float = 0.0,
        min_dispatch_deadline: float = 15.0,
        dispatch_workers: int = 64,
    ):
        if host != LOOPBACK:
            raise ValueError("the Cloud Tasks emulator binds to 127.0.0.1 only")
        self.host = host
        self.port = port
        self.data_dir = Path(data_dir) if data_dir is not None else None
        self.project = project
        self.location = location
        self._initial_queues = queues or {}
        self._fate_webhook_url = fate_webhook_url
        self._settings = EngineSettings(
            task_tombstone_seconds=task_tombstone_seconds,
            queue_tombstone_seconds=queue_tombstone_seconds,
            min_dispatch_deadline=min_dispatch_deadline,
            dispatch_workers=dispatch_workers,
        )
        self._engine: Engine | None = None
        self._server: GrpcServer | None = None

    @property
    def address(self) -> str:
        """host:port the emulator listens on (the bound port once started)."""
        return f"{self.host}:{self.port}"

    @property
    def parent(self) -> str:
        return f"projects/{self.project}/locations/{self.location}"

    def queue_path(self, queue_id: str) -> str:
        return f"{self.parent}/queues/{queue_id}"

    def start(self) -> "CloudTasksEmulator":
        if self._server is not None:
            raise RuntimeError("already started")
        if self.data_dir is not None:
            self.data_dir.mkdir(parents=True, exist_ok=True)
        store = SqliteStore(self.data_dir) if self.data_dir is not None else MemoryStore()
        self._token_issuer = TokenIssuer(self.data_dir)
        engine = Engine(
            self._settings,
            store=store,
            dispatcher=HttpDispatcher(),
            token_issuer=self._token_issuer,
            fate_log=FateLog(self.data_dir, self._fate_webhook_url),
        )
        engine.start()
        try:
            if self._initial_queues:
                engine.ensure_queues(self._initial_queues, self.project, self.location)
            self._server = GrpcServer(engine, self.host, self.port)
            self.port = self._server.port
        except BaseException:
            engine.stop()
            raise
        self._engine = engine
        return self

    def stop(self, grace: float = 1.0) -> None:
        """Stops serving and dispatching. Attempts under way are cut; their tasks stay stored
        (with data_dir) and are dispatched again after a restart."""
        if self._server is not None:
            self._server.stop(grace)
            self._server = None
        if self._engine is not None:
            self._engine.stop()
            self._engine = None

    def __enter__(self) -> "CloudTasksEmulator":
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()

    def ensure_queues(self, specs: dict[str, dict]) -> list[QueuePb]:
        """Creates (or reconfigures) queues from {queue id or full name: {"rate_limits": {...},
        "retry_config": {...}}}; see queue.queue_from_spec for the keys."""
        return self._running_engine().ensure_queues(specs, self.project, self.location)

    def dead_tasks(self) -> list[dict]:
        """Fate records of tasks dropped after their last allowed attempt, oldest first."""
        return self._running_engine().dead_tasks()

    def oidc_public_key_pem(self) -> bytes:
        """PEM of the key that signs the OIDC tokens (also in DATA_DIR/oidc-public-key.pem)."""
        return self._token_issuer.public_key_pem()

    def oidc_jwks(self) -> dict:
        return self._token_issuer.jwks()

    def _running_engine(self) -> Engine:
        if self._engine is None:
            raise RuntimeError("the emulator is not running")
        return self._engine


def load_queue_specs(path: str | Path) -> dict[str, dict]:
    return json.loads(Path(path).read_text(encoding="utf-8"))
