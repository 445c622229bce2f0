"""Fixtures for the Cloud Tasks emulator tests: emulators, the official client, a local target."""

import sys
import threading
import time
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from local.cloudtasks import CloudTasksEmulator, make_client  # noqa: E402

from .support import TargetServer  # noqa: E402


@pytest.fixture(autouse=True)
def no_thread_left_behind():
    """Fails a test that leaves a thread running after its teardown (the emulator's dispatch
    workers, scheduler, gRPC pool, webhook sender, the target's threads...)."""
    before = set(threading.enumerate())
    yield
    deadline = time.monotonic() + 3.0
    while True:
        left = [t for t in threading.enumerate() if t not in before and t.is_alive()]
        if not left or time.monotonic() > deadline:
            break
        time.sleep(0.02)
    assert not left, f"threads left running: {[t.name for t in left]}"


@pytest.fixture
def target():
    server = TargetServer()
    try:
        yield server
    finally:
        server.close()


@pytest.fixture
def start_emulator(tmp_path):
    """start_emulator(**options) -> a started CloudTasksEmulator (data in tmp_path/data unless
    data_dir is given); every one started is stopped at teardown, also when the test fails."""
    started: list[CloudTasksEmulator] = []

    def start(**options) -> CloudTasksEmulator:
        options.setdefault("data_dir", tmp_path / "data")
        emulator = CloudTasksEmulator(**options).start()
        started.append(emulator)
        return emulator

    try:
        yield start
    finally:
        for emulator in started:
            emulator.stop()


@pytest.fixture
def emulator(start_emulator):
    return start_emulator()


@pytest.fixture
def connect():
    """connect(emulator) -> the official CloudTasksClient on a channel to it, closed at teardown."""
    clients = []

    def open_client(emulator: CloudTasksEmulator):
        client = make_client(emulator.address)
        clients.append(client)
        return client

    try:
        yield open_client
    finally:
        for client in clients:
            client.transport.close()


@pytest.fixture
def client(emulator, connect):
    return connect(emulator)
