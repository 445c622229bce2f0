output "ids" {
  description = "Queue id => full queue id (projects/P/locations/L/queues/Q)."
  value       = { for k, q in google_cloud_tasks_queue.queue : k => q.id }
}
