output "database" {
  description = "The database id."
  value       = local.database
}

output "stale_documents_index" {
  description = "Id of the sweeper's composite index."
  value       = google_firestore_index.stale_documents.id
}

output "vector_indexes" {
  description = "\"<dimension>/<pre-filter fields>\" => id of the chunk search's vector index."
  value       = { for k, i in google_firestore_index.vector : k => i.id }
}

output "listing_indexes" {
  description = "\"<filter fields>\" => id of the listing's composite index (GET /documents)."
  value       = { for k, i in google_firestore_index.listing : k => i.id }
}
