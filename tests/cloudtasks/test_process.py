"""The emulator as its own process: `python -m local.cloudtasks`, loopback only, clean stop."""

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from local.cloudtasks import make_client, wait_ready

pytestmark = pytest.mark.timeout(60)

REPO_ROOT = Path(__file__).resolve().parents[2]
BANNER = "cloudtasks emulator listening on "


@pytest.fixture
def emulator_process(tmp_path):
    """Starts `python -m local.cloudtasks --port 0`; yields (process, port); killed at teardown if still alive."""
    process = subprocess.Popen(
        [sys.executable, "-m", "local.cloudtasks", "--port", "0", "--data-dir", str(tmp_path / "data")],
        cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
    )
    try:
        line = process.stdout.readline()
        assert line.startswith(BANNER), f"unexpected first line {line!r}; stderr: {process.stderr.read() if process.poll() is not None else ''}"
        host, port = line[len(BANNER):].strip().rsplit(":", 1)
        assert host == "127.0.0.1"
        yield process, int(port)
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(10)
        process.stdout.close()
        process.stderr.close()


def listening_addresses(port: int) -> set[str]:
    """Local addresses with a LISTEN socket on `port`, read from the kernel's socket table
    (an IPv4-mapped IPv6 address such as ::ffff:127.0.0.1 is given as its IPv4 form)."""
    found = set()
    for table, family in (("/proc/net/tcp", socket.AF_INET), ("/proc/net/tcp6", socket.AF_INET6)):
        if not os.path.exists(table):
            continue
        with open(table) as handle:
            next(handle)
            for row in handle:
                fields = row.split()
                hex_address, hex_port = fields[1].split(":")
                if fields[3] != "0A" or int(hex_port, 16) != port:  # 0A = LISTEN
                    continue
                raw = bytes.fromhex(hex_address)
                # The kernel prints each 32-bit word in host (little-endian) order.
                packed = b"".join(raw[i:i + 4][::-1] for i in range(0, len(raw), 4))
                address = socket.inet_ntop(family, packed)
                found.add(address.removeprefix("::ffff:"))
    return found


def other_local_addresses() -> list[str]:
    """Addresses of this machine that are not 127.0.0.1: another loopback one, and the
    non-loopback address the default route would use, if there is one."""
    addresses = ["127.0.0.2"]
    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        probe.connect(("192.0.2.123", 9))  # UDP connect sends nothing; it only picks a route
        address = probe.getsockname()[0]
        if not address.startswith("127."):
            addresses.append(address)
    except OSError:
        pass
    finally:
        probe.close()
    return addresses


def refuses(address: str, port: int) -> bool:
    try:
        with socket.create_connection((address, port), timeout=2):
            return False
    except (ConnectionRefusedError, socket.timeout, OSError):
        return True


def test_binds_to_loopback_only(emulator_process):
    _, port = emulator_process
    wait_ready(f"127.0.0.1:{port}", timeout=10)
    assert listening_addresses(port) == {"127.0.0.1"}
    for address in other_local_addresses():
        assert refuses(address, port), f"the emulator answered on {address}:{port}"


@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGINT])
def test_signal_stops_it_and_frees_the_port(emulator_process, stop_signal):
    process, port = emulator_process
    address = f"127.0.0.1:{port}"
    wait_ready(address, timeout=10)
    client = make_client(address)
    try:
        client.create_queue(parent="projects/p/locations/l", queue={"name": "projects/p/locations/l/queues/q"})
    finally:
        client.transport.close()

    process.send_signal(stop_signal)
    assert process.wait(10) == 0
    with pytest.raises(ProcessLookupError):
        os.kill(process.pid, 0)  # reaped: no process left behind
    assert listening_addresses(port) == set()
    with socket.socket() as probe:
        # The port is free again for a server: SO_REUSEADDR, as servers set it, still refuses a port
        # someone listens on, but not one held only by the closed connection's TIME_WAIT (CI saw that).
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        probe.bind(("127.0.0.1", port))
        probe.listen()


def test_the_caller_can_choose_the_port_and_a_taken_port_is_refused(start_emulator):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        free_port = probe.getsockname()[1]
    emulator = start_emulator(port=free_port, data_dir=None)
    assert emulator.address == f"127.0.0.1:{free_port}"
    wait_ready(emulator.address, timeout=5)
    with pytest.raises(OSError):
        start_emulator(port=free_port, data_dir=None)
    with pytest.raises(ValueError):
        start_emulator(host="0.0.0.0", data_dir=None)
