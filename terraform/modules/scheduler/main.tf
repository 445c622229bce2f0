# The spec's schedules as Cloud Scheduler jobs calling their target function with an OIDC token.
# A failed run (the jobs answer 503) is retried a few times with backoff; without retry_config
# Cloud Scheduler would not retry at all. Every target is idempotent and resumes from its progress.

resource "google_cloud_scheduler_job" "job" {
  for_each = var.schedules

  project          = var.project_id
  region           = var.region
  name             = each.key
  description      = each.value.description
  schedule         = each.value.schedule
  time_zone        = each.value.time_zone
  attempt_deadline = each.value.attempt_deadline

  retry_config {
    retry_count          = var.retry.retry_count
    min_backoff_duration = var.retry.min_backoff
    max_backoff_duration = var.retry.max_backoff
    max_doublings        = var.retry.max_doublings
  }

  http_target {
    http_method = "POST"
    uri         = var.function_uris[each.value.function]
    body        = base64encode(each.value.body)
    headers     = { "Content-Type" = "application/json" }

    oidc_token {
      service_account_email = var.scheduler_service_account_email
      audience              = var.function_uris[each.value.function]
    }
  }
}
