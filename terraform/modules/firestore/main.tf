# The (default) Firestore database in Native mode, the composite index the sweeper's query needs,
# the vector index for chunk embeddings (the search issue), and the TTL policy of the records.

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

# Nearest-neighbour search over chunk embeddings in every document's chunks subcollection. The
# distance measure (COSINE) is given by each query (find_nearest); the index fixes field and size.
resource "google_firestore_index" "chunk_embeddings" {
  project     = var.project_id
  database    = local.database
  collection  = var.layout.vector.collection_group
  query_scope = "COLLECTION_GROUP"

  fields {
    field_path = var.layout.vector.field
    vector_config {
      dimension = var.layout.vector.dimension
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
