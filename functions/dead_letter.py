"""Cloud Function `dead_letter`: a message ran out of deliveries.

A step's message: its document fails with the last recorded error. An upload event (the storage
trigger's subscription dead-letters here too): no document exists to fail, so it is logged as an
ERROR naming the object, for the log-based alert and a re-upload.
"""

import functions_framework

import _startup  # first of ours: the collector pauses until _startup.started()
from _trigger import handling, pubsub_message
from contentflow.errors import InvalidInput
from contentflow.messages import StepMessage
from contentflow.services import services

services().warm("store", "dispatcher")  # per instance, before the first request
_startup.started()


@functions_framework.cloud_event
def dead_letter(cloud_event):
    with handling("dead_letter"):
        data, attributes = pubsub_message(cloud_event)
        if "objectId" in attributes:
            raise InvalidInput(f"upload event dead-lettered, document not registered: "
                               f"gs://{attributes.get('bucketId')}/{attributes['objectId']} (re-upload it or re-deliver the event)")
        msg = StepMessage.parse(data)
        deliveries = attributes.get("CloudPubSubDeadLetterSourceDeliveryCount")
        services().recovery.dead_letter(msg.document_id, msg.step, int(deliveries) if deliveries and deliveries.isdigit() else None)
