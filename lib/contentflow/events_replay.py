"""Replays output events a consumer gave up on.

A consumer's subscription to the output topic dead-letters into the topic's archive (spec role
`archive`), whose pull subscription keeps them 7 days. A replay pulls them and republishes each to
the output topic with its data and attributes unchanged (the event id is in the data: consumers
de-duplicate on it), acknowledging it in the archive only once the publish is confirmed, so an
event is never lost between the two: at worst it is published twice with the same id. The archive
keeps acknowledged messages too (retain_acked_messages), so an operator can seek back and replay
again. Every subscriber of the output topic gets the replayed events, not only the one that failed.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field

from contentflow.events import OUTPUT_TOPIC
from contentflow.logs import get_logger
from contentflow.spec import PipelineSpec

log = get_logger("contentflow.events_replay")

MAX_REPLAY = 1000  # events per run: a larger archive is replayed over several runs
PULL_BATCH = 100
# Attributes Pub/Sub adds when it dead-letters a message (delivery count, source subscription):
# they describe the failed delivery, not the event, and are not replayed.
DEAD_LETTER_ATTRIBUTE_PREFIX = "CloudPubSubDeadLetter"
_MAX_SHOWN = 200  # characters of an event id or type shown in a report (they come from a message)


class ReplayError(RuntimeError):
    """The archive could not be read, or a publish was not confirmed (the run stops there)."""


@dataclass
class ReplayReport:
    archive_subscription: str
    topic: str
    dry_run: bool
    replayed: int = 0
    events: list[dict] = field(default_factory=list)  # event_id, event_type, document_id, published_at
    unreadable: int = 0  # messages that are not an output event: left in the archive
    error: str | None = None  # why the run stopped early

    def to_dict(self) -> dict:
        return asdict(self)


def _event_summary(message) -> dict | None:
    """The event's id and type, or None for a message that is not an output event."""
    try:
        body = json.loads(message.data)
    except ValueError:
        return None
    if not isinstance(body, dict) or not isinstance(body.get("id"), str) or "event_type" not in message.attributes:
        return None
    return {"event_id": body["id"][:_MAX_SHOWN], "event_type": message.attributes["event_type"][:_MAX_SHOWN],
            "document_id": message.attributes.get("document_id", "")[:_MAX_SHOWN],
            "published_at": message.publish_time.isoformat() if message.publish_time else None}


class EventReplay:
    """`subscriber` / `publisher`: google-cloud-pubsub clients (real or emulator)."""

    def __init__(self, spec: PipelineSpec, project_id: str, subscriber, publisher,
                 topic: str = OUTPUT_TOPIC, timeout_s: float = 10.0):
        archive = spec.topics[topic].dead_letter_topic
        if archive is None or spec.topics[archive].role != "archive":
            raise ReplayError(f"topic {topic!r} has no archive to replay from")
        self.subscription = f"projects/{project_id}/subscriptions/{spec.archive_subscription(archive)}"
        self.topic = f"projects/{project_id}/topics/{topic}"
        self.subscriber = subscriber
        self.publisher = publisher
        self.timeout_s = timeout_s

    def run(self, limit: int = 100, dry_run: bool = False) -> ReplayReport:
        """Replays up to `limit` archived events (a dry run lists them and leaves them there)."""
        if not 1 <= limit <= MAX_REPLAY:
            raise ValueError(f"limit must be 1 to {MAX_REPLAY}")
        report = ReplayReport(self.subscription, self.topic, dry_run)
        held: list[str] = []  # ack ids we leave in the archive: released at the end
        examined = 0
        unhandled: list[str] = []
        try:
            # Held messages are not pulled again in this run; the bound on examined ones stops a
            # run through an archive full of messages that are not events.
            while len(report.events) < limit and examined < limit + MAX_REPLAY:
                batch = self._pull(min(PULL_BATCH, limit - len(report.events)))
                if not batch:
                    break
                examined += len(batch)
                unhandled = [received.ack_id for received in batch]  # released if the run stops mid-batch
                for received in batch:
                    unhandled.remove(received.ack_id)
                    summary = _event_summary(received.message)
                    if summary is None:
                        report.unreadable += 1
                        held.append(received.ack_id)
                    elif len(report.events) >= limit or dry_run:
                        held.append(received.ack_id)
                        if dry_run and len(report.events) < limit:
                            report.events.append(summary)
                    else:
                        self._republish(received)
                        report.replayed += 1
                        report.events.append(summary)
        except ReplayError as err:
            report.error = str(err)
            held.extend(unhandled)
            log.error("event replay stopped", error=str(err), replayed=report.replayed)
        finally:
            self._release(held)
        if not dry_run:
            log.warning("archived events replayed", replayed=report.replayed, unreadable=report.unreadable)
        return report

    def _pull(self, count: int) -> list:
        from google.api_core import exceptions

        try:
            # return_immediately: an empty archive answers at once instead of holding the run.
            response = self.subscriber.pull(request={"subscription": self.subscription, "max_messages": count,
                                                     "return_immediately": True}, timeout=self.timeout_s)
        except exceptions.DeadlineExceeded:
            return []
        except exceptions.GoogleAPICallError as err:
            raise ReplayError(f"cannot read the archive {self.subscription}: {type(err).__name__}") from err
        return list(response.received_messages)

    def _republish(self, received) -> None:
        message = received.message
        attributes = {k: v for k, v in message.attributes.items() if not k.startswith(DEAD_LETTER_ATTRIBUTE_PREFIX)}
        try:
            self.publisher.publish(self.topic, message.data, **attributes).result(timeout=self.timeout_s)
        except Exception as err:  # publish futures raise api_core errors or TimeoutError
            self._release([received.ack_id])
            raise ReplayError(f"publish to {self.topic} not confirmed: {type(err).__name__}") from err
        # Only now: an event acknowledged before its publish is confirmed could be lost.
        try:
            self.subscriber.acknowledge(request={"subscription": self.subscription, "ack_ids": [received.ack_id]},
                                        timeout=self.timeout_s)
        except Exception as err:
            # Published but still archived: a later run sends it again, with the same event id.
            raise ReplayError(f"replayed event not acknowledged in the archive: {type(err).__name__}") from err

    def _release(self, ack_ids: list[str]) -> None:
        """Back in the archive at once (not after the ack deadline), for the next run."""
        for start in range(0, len(ack_ids), PULL_BATCH):
            try:
                self.subscriber.modify_ack_deadline(request={"subscription": self.subscription, "ack_deadline_seconds": 0,
                                                             "ack_ids": ack_ids[start:start + PULL_BATCH]}, timeout=self.timeout_s)
            except Exception as err:  # they come back after the ack deadline anyway
                log.warning("archived events not released; they return after the ack deadline", error=type(err).__name__)
