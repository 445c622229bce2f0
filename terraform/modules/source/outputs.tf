output "bucket" {
  description = "Name of the source bucket."
  value       = google_storage_bucket.source.name
}

output "object" {
  description = "Name of the archive object the functions are built from."
  value       = google_storage_bucket_object.archive.name
}

output "sha256" {
  description = "SHA-256 of the archive."
  value       = data.archive_file.source.output_sha256
}

output "reader_grant" {
  description = "Id of the build account's read grant (to order the builds after it)."
  value       = google_storage_bucket_iam_member.build_reads_sources.id
}
