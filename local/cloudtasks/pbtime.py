"""Conversions between protobuf Duration/Timestamp and float seconds, which the emulator uses inside."""

import datetime as dt

from google.protobuf import duration_pb2, timestamp_pb2


def duration_seconds(duration: duration_pb2.Duration) -> float:
    return duration.seconds + duration.nanos / 1e9


def make_duration(seconds: float) -> duration_pb2.Duration:
    whole = int(seconds)
    return duration_pb2.Duration(seconds=whole, nanos=round((seconds - whole) * 1e9))


def timestamp_seconds(timestamp: timestamp_pb2.Timestamp) -> float:
    return timestamp.seconds + timestamp.nanos / 1e9


def make_timestamp(epoch_seconds: float) -> timestamp_pb2.Timestamp:
    # Microseconds, as production truncates schedule times to them.
    seconds, micros = divmod(round(epoch_seconds * 1e6), 1_000_000)
    return timestamp_pb2.Timestamp(seconds=seconds, nanos=micros * 1000)


def rfc3339(epoch_seconds: float) -> str:
    return dt.datetime.fromtimestamp(epoch_seconds, dt.timezone.utc).isoformat().replace("+00:00", "Z")


def parse_duration_value(value) -> float:
    """A duration given in a queue spec: seconds as a number, or a string like '0.5s' / '10s'."""
    if isinstance(value, (int, float)):
        return float(value)
    text = str(value).strip()
    return float(text[:-1] if text.endswith("s") else text)
