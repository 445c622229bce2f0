output "database" {
  description = "The database id."
  value       = local.database
}

output "stale_documents_index" {
  description = "Id of the sweeper's composite index."
  value       = google_firestore_index.stale_documents.id
}

output "vector_index" {
  description = "Id of the chunk embedding vector index."
  value       = google_firestore_index.chunk_embeddings.id
}
