output "ids" {
  description = "Topic id => full topic id (projects/P/topics/T)."
  value       = { for k, t in google_pubsub_topic.topic : k => t.id }
}

output "names" {
  description = "Topic id => topic name."
  value       = { for k, t in google_pubsub_topic.topic : k => t.name }
}

output "grants" {
  description = "Ids of the topic-level grants."
  value       = concat([for g in google_pubsub_topic_iam_member.publisher : g.id], [for g in google_pubsub_topic_iam_member.dead_letter_forwarding : g.id])
}

output "archive_subscriptions" {
  description = "Archive topic id => the full id of the pull subscription that keeps its messages (replayed by `contentflow events replay`)."
  value       = { for k, s in google_pubsub_subscription.archive : k => s.id }
}
