output "secret_id" {
  description = "The API key secret's id."
  value       = google_secret_manager_secret.api_key.secret_id
}

output "name" {
  description = "The secret's resource name (projects/NUMBER/secrets/ID)."
  value       = google_secret_manager_secret.api_key.name
}

output "grants" {
  description = "Ids of the accessor grants (the functions need them before they deploy)."
  value       = [for g in google_secret_manager_secret_iam_member.accessor : g.id]
}
