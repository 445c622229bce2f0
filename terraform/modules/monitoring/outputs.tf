output "failures_metric" {
  description = "Metric type of the failures log-based metric (labels reason, step, function)."
  value       = local.failures_type
}

output "alert_policies" {
  description = "Ids of the alert policies."
  value = concat(
    [for p in google_monitoring_alert_policy.dead_letters : p.id],
    [google_monitoring_alert_policy.error_rate.id],
    [for p in google_monitoring_alert_policy.step_latency : p.id],
  )
}

output "dashboard" {
  description = "Id of the dashboard."
  value       = google_monitoring_dashboard.pipeline.id
}
