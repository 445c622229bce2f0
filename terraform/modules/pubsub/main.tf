# The spec's topics, stored only in the deployment region, each labelled with its dead-letter topic
# (the subscriptions in modules/delivery carry the dead-letter policy; consumers of the output
# topic use the same one: its archive, the root module's `output_topic` output). Publishing rights
# are per topic, derived from the wiring. An archive topic keeps what it receives in a pull
# subscription of its own, for `contentflow events replay`.

resource "google_pubsub_topic" "topic" {
  for_each = var.topics

  project                    = var.project_id
  name                       = each.key
  kms_key_name               = var.kms_key_name
  message_retention_duration = each.value.dead_letter || each.value.archive ? var.dead_letter_retention : null
  labels = merge(
    { role = replace(each.value.role, "_", "-") },
    each.value.dead_letter_topic == null ? {} : { dead-letter-topic = each.value.dead_letter_topic },
  )

  message_storage_policy {
    allowed_persistence_regions = [var.region]
  }
}

resource "google_pubsub_topic_iam_member" "publisher" {
  for_each = var.publishers

  project = var.project_id
  topic   = google_pubsub_topic.topic[each.value.topic].name
  role    = "roles/pubsub.publisher"
  member  = var.members[each.value.function]
}

# Pub/Sub itself publishes a message that ran out of delivery attempts to the dead-letter topic.
resource "google_pubsub_topic_iam_member" "dead_letter_forwarding" {
  for_each = toset(distinct([for t in values(var.topics) : t.dead_letter_topic if t.dead_letter_topic != null]))

  project = var.project_id
  topic   = google_pubsub_topic.topic[each.value].name
  role    = "roles/pubsub.publisher"
  member  = var.pubsub_agent_member
}

# The archive's messages are kept here, acknowledged ones too, for the retention period: a replay
# takes them (acknowledging each once republished), and an operator can seek back to replay again.
resource "google_pubsub_subscription" "archive" {
  for_each = { for id, t in var.topics : id => t if t.archive }

  project                    = var.project_id
  name                       = each.value.archive_subscription
  topic                      = google_pubsub_topic.topic[each.key].id
  ack_deadline_seconds       = 60
  message_retention_duration = var.dead_letter_retention
  retain_acked_messages      = true
  labels                     = { role = "archive" }

  expiration_policy {
    ttl = "" # never expires, however rarely a consumer gives up
  }
}
