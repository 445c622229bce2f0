output "project_number" {
  description = "The project's number."
  value       = data.google_project.this.number
}

output "agents" {
  description = "Service agent name (pubsub, eventarc, storage, ...) => IAM member (serviceAccount:...)."
  value       = local.agents
}

output "ready" {
  description = "Depends on every API and agent grant: pass it on (or depend on this module) to order creation after them."
  value = {
    apis    = [for a in google_project_service.enabled : a.id]
    settled = time_sleep.apis_enabled.id
    cmek    = concat([for g in google_kms_crypto_key_iam_member.cmek : g.id], [for g in google_kms_crypto_key_iam_member.firestore_cmek : g.id])
  }
}
