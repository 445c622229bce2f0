"""Push delivery for the local stack's Pub/Sub subscriptions, in place of the emulator's own.

Why the emulator's push is not used (emulator 0.8.20, read from its classes and reproduced):
- With a retry policy, a burst of failed pushes stops redelivery for good. Messages whose push
  failed at the same moment share one entry of its delayed-redelivery map; each later pull adds
  them again under a new time, so the redelivery task meets a message it already returned, throws
  a NullPointerException, and the scheduled executor cancels the task without a word. After a
  function crash the subscription's failed messages then never come back.
- It pushes one message at a time per subscription and waits for the answer; production push
  sends many at once (flow-controlled), so one slow request held up every other document.

So the stack creates pull subscriptions with the spec's dead-letter policy and no retry policy,
and this dispatcher pulls them and POSTs production's push body (with `deliveryAttempt`, which
production sends when a dead-letter policy is set) to the endpoint. 102, 200, 201, 202 and 204
acknowledge; anything else, or no answer within the ack deadline, puts the message back after the
retry policy's backoff for its attempt (min_backoff * 2^(attempt-1), capped at max_backoff, the
spacing the spec's delivery policy is validated with). The emulator counts the attempt and, past
max_delivery_attempts, moves the message to the dead-letter topic, as production does.
"""

from __future__ import annotations

import base64
import json
import logging
import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import urllib3

log = logging.getLogger("contentflow.local.pusher")

ACK_CODES = frozenset({102, 200, 201, 202, 204})  # what Pub/Sub push takes as an acknowledgement
PULL_WAIT_S = 1.0  # a pull waits this long for messages (the emulator holds it open)


@dataclass(frozen=True)
class PushTarget:
    subscription: str  # projects/<p>/subscriptions/<name>
    endpoint: str
    ack_deadline_s: int
    max_in_flight: int = 8  # at most this many requests outstanding to the endpoint


def backoff_s(attempt: int, min_backoff_s: float, max_backoff_s: float) -> int:
    """Seconds before a message whose `attempt`-th delivery failed is delivered again."""
    return int(max(1, min(max_backoff_s, max(min_backoff_s, 1.0) * 2 ** max(0, attempt - 1))))


def push_body(subscription: str, received) -> dict:
    """Production's wrapped push body for a pulled message."""
    message = received.message
    published = message.publish_time.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    body = {"message": {"data": base64.b64encode(message.data).decode(), "attributes": dict(message.attributes),
                        "messageId": message.message_id, "message_id": message.message_id,
                        "publishTime": published, "publish_time": published},
            "subscription": subscription}
    if received.delivery_attempt:
        body["deliveryAttempt"] = received.delivery_attempt
    return body


class PushDispatcher:
    def __init__(self, pubsub_host: str, targets: list[PushTarget], min_backoff_s: float, max_backoff_s: float):
        self.pubsub_host = pubsub_host
        self.targets = {t.subscription: t for t in targets}
        self.min_backoff_s, self.max_backoff_s = min_backoff_s, max_backoff_s
        self.counts: Counter[tuple[str, str]] = Counter()  # (subscription, acked|retried|failed_ack)
        self._http = urllib3.PoolManager(maxsize=max([t.max_in_flight for t in targets] + [1]), retries=False)
        self._client = None
        self._stop = threading.Event()
        self._held: set[str] = set()
        self._idle = {name: threading.Event() for name in self.targets}  # set while a loop is not pulling
        self._threads: list[threading.Thread] = []
        self._pools: list[ThreadPoolExecutor] = []

    def start(self) -> PushDispatcher:
        import grpc
        from google.cloud import pubsub_v1
        from google.pubsub_v1.services.subscriber.transports import SubscriberGrpcTransport

        self._client = pubsub_v1.SubscriberClient(
            transport=SubscriberGrpcTransport(channel=grpc.insecure_channel(self.pubsub_host)))
        for target in self.targets.values():
            thread = threading.Thread(target=self._loop, args=(target,), daemon=True,
                                      name=f"push:{target.subscription.rsplit('/', 1)[-1]}")
            thread.start()
            self._threads.append(thread)
        return self

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=PULL_WAIT_S + 5)
        for pool in self._pools:
            pool.shutdown(wait=False, cancel_futures=True)
        if self._client is not None:
            self._client.close()
        self._http.clear()

    def alive(self) -> bool:
        return bool(self._threads) and all(t.is_alive() for t in self._threads) and not self._stop.is_set()

    def hold(self, subscription: str, timeout_s: float = 15.0) -> None:
        """Stops pulling `subscription` (its messages wait in it); returns once no pull of it is open,
        so every message published from now on stays there until `release`."""
        self._held.add(subscription)
        idle = self._idle[subscription]
        idle.clear()
        if not idle.wait(timeout_s):
            raise TimeoutError(f"the push loop of {subscription} did not pause within {timeout_s} s")

    def release(self, subscription: str) -> None:
        self._held.discard(subscription)

    # --- internals ---------------------------------------------------------------------------
    def _loop(self, target: PushTarget) -> None:
        from google.api_core.exceptions import DeadlineExceeded, GoogleAPICallError

        slots = threading.Semaphore(target.max_in_flight)
        pool = ThreadPoolExecutor(target.max_in_flight, thread_name_prefix=f"push:{target.subscription.rsplit('/', 1)[-1]}")
        self._pools.append(pool)
        idle = self._idle[target.subscription]
        while not self._stop.is_set():
            if target.subscription in self._held:
                idle.set()
                self._stop.wait(0.05)
                continue
            if not slots.acquire(timeout=0.2):
                continue
            wanted = 1
            while wanted < target.max_in_flight and slots.acquire(blocking=False):
                wanted += 1
            received = []
            try:
                response = self._client.pull(request={"subscription": target.subscription, "max_messages": wanted},
                                             timeout=PULL_WAIT_S)
                received = list(response.received_messages)
            except DeadlineExceeded:  # nothing arrived while the pull was open
                pass
            except GoogleAPICallError as exc:  # the emulator is restarting or gone: try again shortly
                log.warning("pull from %s failed: %s", target.subscription, exc)
                self._stop.wait(0.5)
            except ValueError:  # the channel was closed by stop()
                break
            for _ in range(wanted - len(received)):
                slots.release()
            if target.subscription in self._held:
                idle.set()  # a hold that began during the pull waits for it to end
            for message in received:
                pool.submit(self._deliver, target, message, slots)
            if not received:
                self._stop.wait(0.02)  # an emulator that answers an empty pull at once is not spun on

    def _deliver(self, target: PushTarget, received, slots: threading.Semaphore) -> None:
        try:
            acked = False
            try:
                response = self._http.request(
                    "POST", target.endpoint, body=json.dumps(push_body(target.subscription, received)).encode(),
                    headers={"Content-Type": "application/json", "User-Agent": "APIs-Google"},
                    timeout=urllib3.Timeout(connect=5.0, read=float(target.ack_deadline_s)))
                acked = response.status in ACK_CODES
            except urllib3.exceptions.HTTPError as exc:  # refused, reset, timed out: a failed push
                log.info("push to %s failed: %s", target.endpoint, exc)
            self._settle(target, received, acked)
        except Exception:  # noqa: BLE001 - a delivery thread must never die silently
            log.exception("delivery from %s failed", target.subscription)
        finally:
            slots.release()

    def _settle(self, target: PushTarget, received, acked: bool) -> None:
        """Acknowledges, or hands the message back for its backoff; if the emulator cannot be told,
        the message comes back when its ack deadline passes, as in production."""
        from google.api_core.exceptions import GoogleAPICallError

        try:
            if acked:
                self._client.acknowledge(request={"subscription": target.subscription, "ack_ids": [received.ack_id]},
                                         timeout=10)
                self.counts[(target.subscription, "acked")] += 1
            else:
                wait = backoff_s(received.delivery_attempt or 1, self.min_backoff_s, self.max_backoff_s)
                self._client.modify_ack_deadline(request={"subscription": target.subscription,
                                                          "ack_ids": [received.ack_id], "ack_deadline_seconds": wait},
                                                 timeout=10)
                self.counts[(target.subscription, "retried")] += 1
        except (GoogleAPICallError, ValueError) as exc:
            self.counts[(target.subscription, "failed_ack")] += 1
            log.warning("could not settle a message of %s: %s", target.subscription, exc)
