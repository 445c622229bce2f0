# Pub/Sub triggers as push subscriptions we own (not Eventarc's): an Eventarc-created
# subscription cannot be given a dead-letter policy through the API or Terraform, and the spec
# asks for one (see terraform/README.md, "Pub/Sub delivery"). Pushes are authenticated with an
# OIDC token of the push invoker, which may invoke only these functions. The functions-framework
# turns the push body into the same CloudEvent an Eventarc trigger would deliver.

resource "google_pubsub_subscription" "push" {
  for_each = var.subscriptions

  project                    = var.project_id
  name                       = each.key
  topic                      = var.topic_ids[each.value.topic]
  ack_deadline_seconds       = each.value.ack_deadline_seconds
  message_retention_duration = var.message_retention
  labels                     = { function = replace(each.value.function, "_", "-") }

  expiration_policy {
    ttl = "" # never expires, however quiet the topic
  }

  retry_policy {
    minimum_backoff = each.value.minimum_backoff
    maximum_backoff = each.value.maximum_backoff
  }

  dynamic "dead_letter_policy" {
    for_each = each.value.dead_letter_topic == null ? [] : [each.value.dead_letter_topic]
    content {
      dead_letter_topic     = var.topic_ids[dead_letter_policy.value]
      max_delivery_attempts = each.value.max_delivery_attempts
    }
  }

  push_config {
    push_endpoint = var.function_uris[each.value.function]

    oidc_token {
      service_account_email = var.push_service_account_email
      audience              = var.function_uris[each.value.function]
    }
  }
}

# To dead-letter a message, Pub/Sub acknowledges it on the source subscription.
resource "google_pubsub_subscription_iam_member" "dead_letter_ack" {
  for_each = { for k, s in var.subscriptions : k => s if s.dead_letter_topic != null }

  project      = var.project_id
  subscription = google_pubsub_subscription.push[each.key].name
  role         = "roles/pubsub.subscriber"
  member       = var.pubsub_agent_member
}

resource "google_service_account_iam_member" "push_tokens" {
  count = length(var.subscriptions) > 0 ? 1 : 0

  service_account_id = var.push_service_account_id
  role               = "roles/iam.serviceAccountTokenCreator"
  member             = var.pubsub_agent_member
}
