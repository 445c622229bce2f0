"""Cloud Function `dead_letter`: a step's message ran out of deliveries; its document fails."""

import functions_framework

from _trigger import handling, pubsub_message
from contentflow.messages import StepMessage
from contentflow.services import services


services().warm("store", "dispatcher")  # per instance, before the first request

@functions_framework.cloud_event
def dead_letter(cloud_event):
    with handling("dead_letter"):
        data, attributes = pubsub_message(cloud_event)
        msg = StepMessage.parse(data)
        deliveries = attributes.get("CloudPubSubDeadLetterSourceDeliveryCount")
        services().pipeline.dead_letter(msg.document_id, msg.step, int(deliveries) if deliveries and deliveries.isdigit() else None)
