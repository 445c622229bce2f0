"""Ports and process identity for the local stack's children."""

import subprocess

from local.procs import _ephemeral_range, free_port, is_same_process, start_ticks


def test_free_ports_are_distinct_bindable_and_outside_the_ephemeral_range():
    low, _ = _ephemeral_range()
    ports = [free_port() for _ in range(300)]
    assert len(set(ports)) == len(ports)
    assert all(1024 <= p < low for p in ports)  # an emulator's own bind(0) cannot take one meanwhile
    assert {p % 2 for p in ports} == {0, 1}  # not only the kernel's odd picks


def test_a_process_is_known_by_its_pid_and_start_time():
    proc = subprocess.Popen(["sleep", "30"])
    try:
        ticks = start_ticks(proc.pid)
        assert ticks is not None and is_same_process(proc.pid, ticks)
        assert not is_same_process(proc.pid, ticks - 1) and not is_same_process(proc.pid, None)
    finally:
        proc.kill()
        proc.wait()
    assert start_ticks(proc.pid) is None and not is_same_process(proc.pid, ticks)
