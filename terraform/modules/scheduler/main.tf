# The spec's schedules as Cloud Scheduler jobs calling their target function with an OIDC token.

resource "google_cloud_scheduler_job" "job" {
  for_each = var.schedules

  project          = var.project_id
  region           = var.region
  name             = each.key
  description      = each.value.description
  schedule         = each.value.schedule
  time_zone        = each.value.time_zone
  attempt_deadline = each.value.attempt_deadline

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
