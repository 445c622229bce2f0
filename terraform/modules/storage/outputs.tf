output "names" {
  description = "Bucket id => real bucket name."
  value       = { for id, b in google_storage_bucket.bucket : id => b.name }
}

output "urls" {
  description = "Bucket id => gs:// URL."
  value       = { for id, b in google_storage_bucket.bucket : id => b.url }
}

output "grants" {
  description = "Ids of the bucket-level grants (to order the functions after them)."
  value       = [for g in google_storage_bucket_iam_member.grant : g.id]
}

output "custom_roles" {
  description = "Key => full name (projects/P/roles/ID) of the custom roles created."
  value       = { for k, r in google_project_iam_custom_role.role : k => r.name }
}
