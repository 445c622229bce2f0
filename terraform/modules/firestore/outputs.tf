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

output "index_exemptions" {
  description = "\"<collection>/<field>\" => id of the google_firestore_field that sets the field's single-field indexes (the spec's exemptions; the TTL field's is its TTL policy)."
  value = merge(
    { for k, f in google_firestore_field.index_subfield : k => f.id },
    { for k, f in google_firestore_field.index_exemption : k => f.id },
    contains(keys(var.index_exemptions), local.ttl_exemption) ? { (local.ttl_exemption) = google_firestore_field.ttl.id } : {},
  )
}
