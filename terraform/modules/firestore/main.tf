# The (default) Firestore database in Native mode, the composite index the sweeper's query needs,
# the vector indexes of the chunk search, and the TTL policy of the records.
#
# Queries that need no index of their own (automatic single-field indexes serve them): on the
# records, status == "done" ordered by document id (the backfill's pages) and the count()
# aggregations of status == and embedding_space == (search coverage); on the chunks, document_id ==
# and document_id == with embedding_space == (equalities are merged). The results cache and the
# jobs collection are read by document id only.

resource "google_firestore_database" "default" {
  count = var.create_database ? 1 : 0

  project                           = var.project_id
  name                              = "(default)"
  location_id                       = var.location_id
  type                              = "FIRESTORE_NATIVE"
  concurrency_mode                  = "PESSIMISTIC" # the state machine's transactions
  point_in_time_recovery_enablement = var.point_in_time_recovery ? "POINT_IN_TIME_RECOVERY_ENABLED" : "POINT_IN_TIME_RECOVERY_DISABLED"
  delete_protection_state           = var.delete_protection ? "DELETE_PROTECTION_ENABLED" : "DELETE_PROTECTION_DISABLED"
  deletion_policy                   = "ABANDON"

  dynamic "cmek_config" {
    for_each = var.kms_key_name == null ? [] : [var.kms_key_name]
    content {
      kms_key_name = cmek_config.value
    }
  }
}

locals {
  database = var.create_database ? google_firestore_database.default[0].name : "(default)"
}

# documents where status in [...] and updated_at < cutoff (DocumentStore.stale_candidates).
resource "google_firestore_index" "stale_documents" {
  project     = var.project_id
  database    = local.database
  collection  = var.layout.collection
  query_scope = "COLLECTION"

  dynamic "fields" {
    for_each = var.layout.sweeper_index
    content {
      field_path = fields.value.field_path
      order      = fields.value.order
    }
  }
}

# Nearest-neighbour search over the chunk documents (ChunkStore.nearest): one index per embedding
# dimension and per combination of pre-filters the search uses (the spec module derives them from the
# spec's embeddings section). A vector index serves only vectors of its dimension. The distance
# measure (COSINE) is given by each query (find_nearest); the index fixes filters, field and size.
resource "google_firestore_index" "vector" {
  for_each = var.layout.vector_indexes

  project     = var.project_id
  database    = local.database
  collection  = each.value.collection
  query_scope = "COLLECTION"

  # The pre-filters: equality (order) or array-contains (array_config).
  dynamic "fields" {
    for_each = each.value.filters
    content {
      field_path   = fields.value.field_path
      order        = fields.value.order
      array_config = fields.value.array_config
    }
  }

  # Firestore records the document key between the filter fields and the vector field and reads
  # the index back that way; declared here too, a plan does not replace the index every time.
  fields {
    field_path = "__name__"
    order      = "ASCENDING"
  }

  fields {
    field_path = each.value.field
    vector_config {
      dimension = each.value.dimension
      flat {}
    }
  }
}

# Records expire ttl_expiration_offset after their last change (deleted within about a day after).
resource "google_firestore_field" "ttl" {
  project    = var.project_id
  database   = local.database
  collection = var.layout.collection
  field      = var.layout.ttl_field

  ttl_config {
    expiration_offset = var.layout.ttl_expiration_offset
  }
}
