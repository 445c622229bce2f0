output "function_emails" {
  description = "Function name => its service account's email."
  value       = { for k, sa in google_service_account.function : k => sa.email }
}

output "function_members" {
  description = "Function name => \"serviceAccount:<email>\"."
  value       = { for k, sa in google_service_account.function : k => sa.member }
}

output "function_ids" {
  description = "Function name => the service account's resource id (projects/P/serviceAccounts/EMAIL)."
  value       = { for k, sa in google_service_account.function : k => sa.name }
}

output "invoker_emails" {
  description = "Invoker identity => email."
  value       = { for k, sa in google_service_account.invoker : k => sa.email }
}

output "invoker_members" {
  description = "Invoker identity => \"serviceAccount:<email>\"."
  value       = { for k, sa in google_service_account.invoker : k => sa.member }
}

output "invoker_ids" {
  description = "Invoker identity => resource id."
  value       = { for k, sa in google_service_account.invoker : k => sa.name }
}

output "build_id" {
  description = "The build account's resource id (for build_config.service_account)."
  value       = google_service_account.build.id
}

output "build_member" {
  description = "The build account as an IAM member."
  value       = google_service_account.build.member
}

output "project_roles_granted" {
  description = "Ids of the project-level grants (to order the functions after them)."
  value       = concat([for g in google_project_iam_member.function : g.id], [google_project_iam_member.build_logs.id])
}

output "signer_grants" {
  description = "Ids of the signers' grants on their own accounts (the api needs them before it signs)."
  value       = [for g in google_service_account_iam_member.signs_as_itself : g.id]
}
