"""Holding a push subscription's messages (tests and demos): the push dispatcher stops pulling it
(local/pusher.py), so what is published waits there instead of reaching the endpoint; `drop()`
takes one message off for good (acknowledged: lost, as when a trigger loses an event); when the
block ends, pushing resumes and whatever is still held is pushed at once."""

from __future__ import annotations

import time
from collections.abc import Callable

from google.api_core.exceptions import DeadlineExceeded


class HeldSubscription:
    def __init__(self, pusher, pubsub_host: str, subscription: str):
        import grpc
        from google.cloud import pubsub_v1
        from google.pubsub_v1.services.subscriber.transports import SubscriberGrpcTransport

        self.pusher = pusher
        self.subscription = subscription
        self._client = pubsub_v1.SubscriberClient(
            transport=SubscriberGrpcTransport(channel=grpc.insecure_channel(pubsub_host)))
        self._held: list[str] = []  # ack ids pulled but not dropped: pushed again at the end

    def __enter__(self) -> HeldSubscription:
        try:
            self.pusher.hold(self.subscription)
        except BaseException:
            self.pusher.release(self.subscription)
            self._client.close()
            raise
        return self

    def drop(self, matches: Callable[[dict[str, str]], bool], timeout_s: float = 20.0) -> dict[str, str]:
        """Waits for the message whose attributes `matches`, acknowledges it (it is never
        delivered) and answers its attributes; other messages pulled meanwhile stay held."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            try:
                response = self._client.pull(request={"subscription": self.subscription, "max_messages": 50},
                                             timeout=max(0.5, min(5.0, deadline - time.monotonic())))
            except DeadlineExceeded:  # nothing arrived during this pull
                continue
            for received in response.received_messages:
                attributes = dict(received.message.attributes)
                if matches(attributes):
                    self._client.acknowledge(request={"subscription": self.subscription, "ack_ids": [received.ack_id]},
                                             timeout=10)
                    return attributes
                self._held.append(received.ack_id)
            if not response.received_messages:
                time.sleep(0.05)
        raise TimeoutError(f"no matching message on {self.subscription} within {timeout_s} s")

    def __exit__(self, *exc) -> None:
        try:
            if self._held:  # deadline 0: available again now, so pushed at once
                self._client.modify_ack_deadline(request={"subscription": self.subscription, "ack_ids": self._held,
                                                          "ack_deadline_seconds": 0}, timeout=10)
        finally:
            self.pusher.release(self.subscription)
            self._client.close()
