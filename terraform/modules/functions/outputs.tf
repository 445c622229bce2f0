output "uris" {
  description = "Function name => URI of its Cloud Run service (push and scheduler targets, OIDC audience)."
  value       = { for k, f in google_cloudfunctions2_function.function : k => f.service_config[0].uri }
}

output "urls" {
  description = "Function name => the function's URL (https://REGION-PROJECT.cloudfunctions.net/NAME)."
  value       = { for k, f in google_cloudfunctions2_function.function : k => f.url }
}

output "names" {
  description = "Function name => deployed function (and Cloud Run service) name."
  value       = { for k, f in google_cloudfunctions2_function.function : k => f.name }
}

output "image_repository" {
  description = "The Artifact Registry repository holding the images."
  value       = google_artifact_registry_repository.images.id
}

output "invoker_grants" {
  description = "Ids of the run.invoker grants (deliveries wait for them)."
  value       = concat([for g in google_cloud_run_v2_service_iam_member.invoker : g.id], [for g in google_service_account_iam_member.trigger_token : g.id])
}
