"""A faithful local Cloud Tasks emulator (see README.md beside this file)."""

from .emulator import CloudTasksEmulator, make_client, wait_ready

__all__ = ["CloudTasksEmulator", "make_client", "wait_ready"]
