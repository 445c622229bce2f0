output "ids" {
  description = "Schedule id => job id."
  value       = { for k, j in google_cloud_scheduler_job.job : k => j.id }
}
