# Operations: one log-based metric counting failures by reason (and step, function), alerts on
# dead-lettered messages, error rate and step latency, and one dashboard.
# The functions log JSON lines (lib/contentflow/logs.py): a failure is severity ERROR with
# jsonPayload.reason, jsonPayload.step, jsonPayload.document_id, jsonPayload.function.

locals {
  services      = [for f in values(var.functions) : f.service_name]
  service_list  = join(", ", [for s in local.services : "\"${s}\""])
  dlq_list      = join(", ", [for t in var.dead_letter_topics : "\"${t}\""])
  dlq_subs      = [for s, t in var.subscriptions : s if contains(var.dead_letter_topics, t)]
  dlq_sub_list  = join(", ", [for s in local.dlq_subs : "\"${s}\""])
  run_filter    = "resource.type = \"cloud_run_revision\" AND resource.labels.service_name = one_of(${local.service_list})"
  failures_type = "logging.googleapis.com/user/${google_logging_metric.failures.name}"
}

resource "google_logging_metric" "failures" {
  project     = var.project_id
  name        = "contentflow-failures"
  description = "contentflow failures (ERROR lines with a reason), by reason (text before the first colon), step and function."
  filter = join(" AND ", [
    "resource.type=\"cloud_run_revision\"",
    "resource.labels.service_name=(${join(" OR ", [for s in local.services : "\"${s}\""])})",
    "severity>=ERROR",
    "jsonPayload.reason:*",
  ])

  metric_descriptor {
    metric_kind  = "DELTA"
    value_type   = "INT64"
    unit         = "1"
    display_name = "contentflow failures"

    labels {
      key         = "reason"
      value_type  = "STRING"
      description = "The failure reason up to its first colon (the variable detail after it is dropped to keep the label's values few)."
    }
    labels {
      key         = "step"
      value_type  = "STRING"
      description = "The pipeline step, when the failure belongs to one."
    }
    labels {
      key         = "function"
      value_type  = "STRING"
      description = "The function that logged the failure."
    }
  }

  label_extractors = {
    reason   = "REGEXP_EXTRACT(jsonPayload.reason, \"^([^:]{1,100})\")"
    step     = "EXTRACT(jsonPayload.step)"
    function = "EXTRACT(jsonPayload.function)"
  }
}

# Cloud Monitoring knows a new log-based metric only after a while: an alert policy on it created
# right away fails with 404 "Cannot find metric(s) ... it could take up to 10 minutes to become
# available" (hashicorp/terraform-provider-google issue 11102, open; no retry in the provider).
# The policies on the metric wait that long after it is created (again if it is replaced); the
# wait runs while the functions build, which take minutes themselves.
resource "time_sleep" "failures_metric_available" {
  create_duration = var.metric_availability_wait
  triggers = {
    metric = google_logging_metric.failures.id
  }
}

resource "google_monitoring_alert_policy" "dead_letters" {
  count = length(var.dead_letter_topics) > 0 ? 1 : 0

  project               = var.project_id
  display_name          = "contentflow: messages dead-lettered"
  combiner              = "OR"
  severity              = "ERROR"
  notification_channels = var.notification_channels

  conditions {
    display_name = "a message was published to a dead-letter topic"
    condition_threshold {
      filter          = "resource.type = \"pubsub_topic\" AND metric.type = \"pubsub.googleapis.com/topic/send_message_operation_count\" AND resource.labels.topic_id = one_of(${local.dlq_list})"
      comparison      = "COMPARISON_GT"
      threshold_value = 0
      duration        = "0s"
      aggregations {
        alignment_period     = "300s"
        per_series_aligner   = "ALIGN_SUM"
        cross_series_reducer = "REDUCE_SUM"
        group_by_fields      = ["resource.labels.topic_id"]
      }
    }
  }

  dynamic "conditions" {
    for_each = length(local.dlq_subs) > 0 ? [local.dlq_sub_list] : []
    content {
      display_name = "a dead-letter subscription is not drained"
      condition_threshold {
        filter          = "resource.type = \"pubsub_subscription\" AND metric.type = \"pubsub.googleapis.com/subscription/num_undelivered_messages\" AND resource.labels.subscription_id = one_of(${conditions.value})"
        comparison      = "COMPARISON_GT"
        threshold_value = 0
        duration        = "600s"
        aggregations {
          alignment_period   = "300s"
          per_series_aligner = "ALIGN_MAX"
        }
      }
    }
  }

  documentation {
    mime_type = "text/markdown"
    content   = "A pipeline step gave up on a message after the spec's max_delivery_attempts. The dead_letter function marks the document failed with the last error (see the failures metric by reason, or the logs of the step). A dead-letter backlog means the dead_letter function itself is failing."
  }

  alert_strategy {
    auto_close = "86400s"
  }
}

resource "google_monitoring_alert_policy" "error_rate" {
  project               = var.project_id
  display_name          = "contentflow: error rate"
  combiner              = "OR"
  severity              = "ERROR"
  notification_channels = var.notification_channels

  conditions {
    display_name = "5xx responses above ${var.error_rate_threshold * 100}% of a function's requests"
    condition_threshold {
      filter             = "${local.run_filter} AND metric.type = \"run.googleapis.com/request_count\" AND metric.labels.response_code_class = \"5xx\""
      denominator_filter = "${local.run_filter} AND metric.type = \"run.googleapis.com/request_count\""
      comparison         = "COMPARISON_GT"
      threshold_value    = var.error_rate_threshold
      duration           = "300s"
      aggregations {
        alignment_period     = "300s"
        per_series_aligner   = "ALIGN_RATE"
        cross_series_reducer = "REDUCE_SUM"
        group_by_fields      = ["resource.labels.service_name"]
      }
      denominator_aggregations {
        alignment_period     = "300s"
        per_series_aligner   = "ALIGN_RATE"
        cross_series_reducer = "REDUCE_SUM"
        group_by_fields      = ["resource.labels.service_name"]
      }
    }
  }

  conditions {
    display_name = "more than ${var.failure_threshold} failures in 5 minutes"
    condition_threshold {
      filter          = "resource.type = \"cloud_run_revision\" AND metric.type = \"${local.failures_type}\""
      comparison      = "COMPARISON_GT"
      threshold_value = var.failure_threshold
      duration        = "0s"
      aggregations {
        alignment_period     = "300s"
        per_series_aligner   = "ALIGN_SUM"
        cross_series_reducer = "REDUCE_SUM"
      }
    }
  }

  documentation {
    mime_type = "text/markdown"
    content   = "Functions answer 5xx (a transient error or a bug: Pub/Sub retries, then dead-letters), or documents fail (a permanent error, acknowledged). The dashboard's failures-by-reason chart and the functions' ERROR logs say why."
  }

  alert_strategy {
    auto_close = "86400s"
  }

  # Its second condition is on the failures metric (see the wait above).
  depends_on = [time_sleep.failures_metric_available]
}

resource "google_monitoring_alert_policy" "step_latency" {
  for_each = { for n in var.step_functions : n => var.functions[n] }

  project               = var.project_id
  display_name          = "contentflow: ${each.key} step latency"
  combiner              = "OR"
  severity              = "WARNING"
  notification_channels = var.notification_channels

  conditions {
    display_name = "p95 latency of ${each.value.service_name} above ${floor(each.value.timeout_seconds * 1000 * var.latency_threshold_ratio)} ms"
    condition_threshold {
      filter          = "resource.type = \"cloud_run_revision\" AND resource.labels.service_name = \"${each.value.service_name}\" AND metric.type = \"run.googleapis.com/request_latencies\""
      comparison      = "COMPARISON_GT"
      threshold_value = floor(each.value.timeout_seconds * 1000 * var.latency_threshold_ratio)
      duration        = "600s"
      aggregations {
        alignment_period     = "300s"
        per_series_aligner   = "ALIGN_PERCENTILE_95"
        cross_series_reducer = "REDUCE_MAX"
        group_by_fields      = ["resource.labels.service_name"]
      }
    }
  }

  documentation {
    mime_type = "text/markdown"
    content   = "The step's p95 latency is close to its function's timeout (${each.value.timeout_seconds} s, from the pipeline spec): requests will start timing out, be retried and dead-lettered. Look at document sizes, downstream latency (logs carry per-request costs) or raise the step's runtime in the spec."
  }

  alert_strategy {
    auto_close = "86400s"
  }
}

locals {
  charts = concat(
    [
      { title = "Failures by reason", filter = "metric.type = \"${local.failures_type}\" AND resource.type = \"cloud_run_revision\"", aligner = "ALIGN_SUM", reducer = "REDUCE_SUM", group_by = ["metric.label.reason"] },
      { title = "Requests per second by function", filter = "${local.run_filter} AND metric.type = \"run.googleapis.com/request_count\"", aligner = "ALIGN_RATE", reducer = "REDUCE_SUM", group_by = ["resource.label.service_name"] },
      { title = "5xx per second by function", filter = "${local.run_filter} AND metric.type = \"run.googleapis.com/request_count\" AND metric.labels.response_code_class = \"5xx\"", aligner = "ALIGN_RATE", reducer = "REDUCE_SUM", group_by = ["resource.label.service_name"] },
      { title = "p95 latency (ms) by function", filter = "${local.run_filter} AND metric.type = \"run.googleapis.com/request_latencies\"", aligner = "ALIGN_PERCENTILE_95", reducer = "REDUCE_MAX", group_by = ["resource.label.service_name"] },
      { title = "Instances by function", filter = "${local.run_filter} AND metric.type = \"run.googleapis.com/container/instance_count\"", aligner = "ALIGN_MAX", reducer = "REDUCE_SUM", group_by = ["resource.label.service_name"] },
      { title = "Undelivered messages by subscription", filter = "resource.type = \"pubsub_subscription\" AND metric.type = \"pubsub.googleapis.com/subscription/num_undelivered_messages\" AND resource.labels.subscription_id = one_of(${join(", ", [for s in keys(var.subscriptions) : "\"${s}\""])})", aligner = "ALIGN_MAX", reducer = "REDUCE_SUM", group_by = ["resource.label.subscription_id"] },
    ],
    length(var.dead_letter_topics) == 0 ? [] : [
      { title = "Messages dead-lettered", filter = "resource.type = \"pubsub_topic\" AND metric.type = \"pubsub.googleapis.com/topic/send_message_operation_count\" AND resource.labels.topic_id = one_of(${local.dlq_list})", aligner = "ALIGN_SUM", reducer = "REDUCE_SUM", group_by = ["resource.label.topic_id"] },
    ],
    length(var.queues) == 0 ? [] : [
      { title = "Cloud Tasks queue depth", filter = "resource.type = \"cloud_tasks_queue\" AND metric.type = \"cloudtasks.googleapis.com/queue/depth\" AND resource.labels.queue_id = one_of(${join(", ", [for q in var.queues : "\"${q}\""])})", aligner = "ALIGN_MAX", reducer = "REDUCE_SUM", group_by = ["resource.label.queue_id"] },
    ],
  )
}

resource "google_monitoring_dashboard" "pipeline" {
  project = var.project_id
  dashboard_json = jsonencode({
    displayName = "contentflow pipeline"
    mosaicLayout = {
      columns = 12
      # Two tiles a row. A position of 0 is left out: the Monitoring API drops zero values, so a
      # 0 in the config would show a diff on every plan (terraform-provider-google issue 16173).
      tiles = [for i, c in local.charts : merge({ for k, v in { xPos = (i % 2) * 6, yPos = floor(i / 2) * 4 } : k => v if v != 0 }, {
        width  = 6
        height = 4
        widget = {
          title = c.title
          xyChart = {
            dataSets = [{
              plotType = "LINE"
              timeSeriesQuery = {
                timeSeriesFilter = {
                  filter = c.filter
                  aggregation = {
                    alignmentPeriod    = "60s"
                    perSeriesAligner   = c.aligner
                    crossSeriesReducer = c.reducer
                    groupByFields      = c.group_by
                  }
                }
              }
            }]
          }
        }
      })]
    }
  })

  # Its first chart is the failures metric: created once Monitoring knows it, like the policies.
  depends_on = [time_sleep.failures_metric_available]
}
