# The spec's Cloud Tasks queues with their rate limits and retry policy. max_burst_size is
# output-only in Cloud Tasks (derived from max_dispatches_per_second), so the spec's value is
# informational. A queue consumed by one function attaches an OIDC token of the tasks invoker to
# every task (queue-level override), so the code enqueuing needs no token settings.

resource "google_cloud_tasks_queue" "queue" {
  for_each = var.queues

  project  = var.project_id
  name     = each.key
  location = var.region

  rate_limits {
    max_dispatches_per_second = each.value.max_dispatches_per_second
    max_concurrent_dispatches = each.value.max_concurrent_dispatches
  }

  retry_config {
    max_attempts       = each.value.max_attempts
    max_retry_duration = each.value.max_retry_duration
    min_backoff        = each.value.min_backoff
    max_backoff        = each.value.max_backoff
    max_doublings      = each.value.max_doublings
  }

  stackdriver_logging_config {
    sampling_ratio = var.log_sampling_ratio
  }

  # Decided by the spec alone (known at plan time): a queue with a consumer means a queue-triggered
  # function, hence the tasks invoker, exists.
  dynamic "http_target" {
    for_each = length(each.value.consumers) == 1 ? each.value.consumers : []
    content {
      oidc_token {
        service_account_email = var.tasks_invoker_email
        audience              = var.function_uris[http_target.value]
      }
    }
  }
}

resource "google_cloud_tasks_queue_iam_member" "enqueuer" {
  for_each = var.enqueuers

  project  = var.project_id
  location = var.region
  name     = google_cloud_tasks_queue.queue[each.value.queue].name
  role     = "roles/cloudtasks.enqueuer"
  member   = var.members[each.value.function]
}

# Creating a task that carries another account's token needs actAs on that account. The keys are
# function names from the spec module, known at plan time; never the account's id, which is known
# only once the account exists (a for_each over it fails the plan: "Invalid for_each argument").
# Every enqueuer targets a queue-triggered function, so the tasks invoker exists whenever a key does.
resource "google_service_account_iam_member" "enqueuer_acts_as_invoker" {
  for_each = toset(distinct([for e in values(var.enqueuers) : e.function]))

  service_account_id = var.tasks_invoker_id
  role               = "roles/iam.serviceAccountUser"
  member             = var.members[each.value]

  lifecycle {
    precondition {
      condition     = var.tasks_invoker_id != null
      error_message = "A function enqueues tasks but no function is queue-triggered: there is no tasks invoker to act as."
    }
  }
}
