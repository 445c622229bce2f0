output "function_urls" {
  description = "Function name => URL (https://REGION-PROJECT.cloudfunctions.net/NAME); the api's is the public entry point."
  value       = module.functions.urls
}

output "function_service_uris" {
  description = "Function name => Cloud Run service URI (push, scheduler and task targets)."
  value       = module.functions.uris
}

output "api_url" {
  description = "URL of the public HTTP function(s), by name (callers need IAM and the X-API-Key)."
  value       = { for n in module.spec.public_functions : n => module.functions.urls[n] }
}

output "buckets" {
  description = "Bucket id => real bucket name; upload documents to the ingest bucket (inbox)."
  value       = module.storage.names
}

output "topics" {
  description = "Topic id => full topic id."
  value       = module.pubsub.ids
}

output "output_topic" {
  description = "Where document.processed / document.failed events are published, the archive topic its subscribers should dead-letter into, and the archive's pull subscription that `contentflow events replay` reads."
  value = {
    topic                = module.pubsub.ids[module.spec.code_facts.output_topic]
    dead_letter_topic    = module.pubsub.ids[module.spec.topics[module.spec.code_facts.output_topic].dead_letter_topic]
    archive_subscription = module.pubsub.archive_subscriptions[module.spec.topics[module.spec.code_facts.output_topic].dead_letter_topic]
  }
}

output "subscriptions" {
  description = "\"<topic>--<function>\" => push subscription id."
  value       = module.delivery.ids
}

output "queues" {
  description = "Queue id => full queue id."
  value       = module.tasks.ids
}

output "schedules" {
  description = "Schedule id => Cloud Scheduler job id."
  value       = module.scheduler.ids
}

output "service_accounts" {
  description = "Function name => email of its own service account."
  value       = module.service_accounts.function_emails
}

output "api_key_secret" {
  description = "The Secret Manager secret holding the API key (add its value with gcloud secrets versions add)."
  value       = module.secrets.name
}

output "source_archive" {
  description = "The deployed source archive (gs://bucket/object) and its SHA-256."
  value       = { uri = "gs://${module.source.bucket}/${module.source.object}", sha256 = module.source.sha256 }
}

output "firestore_database" {
  description = "The Firestore database id."
  value       = module.firestore.database
}

output "monitoring" {
  description = "Failures metric type, alert policy ids and dashboard id."
  value = {
    failures_metric = module.monitoring.failures_metric
    alert_policies  = module.monitoring.alert_policies
    dashboard       = module.monitoring.dashboard
  }
}
