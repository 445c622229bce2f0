output "names" {
  description = "Subscription key => subscription name."
  value       = { for k, s in google_pubsub_subscription.push : k => s.name }
}

output "ids" {
  description = "Subscription key => full subscription id."
  value       = { for k, s in google_pubsub_subscription.push : k => s.id }
}
