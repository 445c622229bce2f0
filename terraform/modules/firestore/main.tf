# The (default) Firestore database in Native mode, the composite index the sweeper's query needs,
# the listing's composite indexes, the vector indexes of the chunk search, the TTL policies of the
# records and of the idempotency keys, and the spec's single-field index exemptions.
#
# Queries that need no index of their own (automatic single-field indexes serve them): on the
# records, status == "done" ordered by document id (the backfill's pages), the count()
# aggregations of status ==, embedding_space == and a created_at range (search coverage, the
# daily report), created_at < cutoff ordered by created_at (retention), event_pending_since < t
# (unsent failure events) and GET /documents without a filter (created_at, then the key,
# descending), analysis.cache_key == and index.cache_key == (earlier results of identical content);
# on the chunks, document_id == (and with embedding_space ==: equalities are merged); the reports,
# date descending. The jobs and idempotency collections are read by document id only. Those
# single-field indexes stay (event_pending_since, analysis.cache_key and index.cache_key keep only
# their ascending one); the spec's firestore.index_exemptions turn off the others nothing queries
# (its test reads every query in lib/): see the exemptions at the end, and each expiry field below.

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

  # The spec's single-field index exemptions: the records' TTL field takes its own in its TTL
  # policy (`ttl`: a field takes one google_firestore_field); subfields that keep indexes under an
  # exempted map are set before the maps' exemptions.
  ttl_exemption    = "${var.layout.collection}/${var.layout.ttl_field}"
  index_subfields  = { for k, e in var.index_exemptions : k => e if e.under_exempted_map && k != local.ttl_exemption }
  index_exemptions = { for k, e in var.index_exemptions : k => e if !e.under_exempted_map && k != local.ttl_exemption }
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

# GET /documents (DocumentStore.list_documents): equalities on any combination of status,
# labels (array-contains) and language, or on the source object's name alone, ordered by
# created_at then the key, both descending (a range on created_at rides on the same index). One
# index per combination, from the spec module; the key is declared as Firestore records it, so a
# plan does not replace the index every time.
resource "google_firestore_index" "listing" {
  for_each = var.layout.listing_indexes

  project     = var.project_id
  database    = local.database
  collection  = each.value.collection
  query_scope = "COLLECTION"

  dynamic "fields" {
    for_each = each.value.fields
    content {
      field_path   = fields.value.field_path
      order        = fields.value.order
      array_config = fields.value.array_config
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
# The field's single-field indexes are as the spec's exemption of it says (none today: every
# transition rewrites updated_at, and only the sweeper's and the report's queries read it, served
# by the composite index); without an exemption, the automatic ones.
resource "google_firestore_field" "ttl" {
  project    = var.project_id
  database   = local.database
  collection = var.layout.collection
  field      = var.layout.ttl_field

  ttl_config {
    expiration_offset = var.layout.ttl_expiration_offset
  }

  dynamic "index_config" {
    for_each = contains(keys(var.index_exemptions), local.ttl_exemption) ? [var.index_exemptions[local.ttl_exemption].indexes] : []
    content {
      dynamic "indexes" {
        for_each = index_config.value
        content {
          order        = indexes.value.order
          array_config = indexes.value.array_config
        }
      }
    }
  }
}

# Documents that carry their own expiry time (the api's idempotency keys, `expires_at`): deleted
# once it has passed (within about a day). The field is never queried: its single-field indexes
# are turned off (the empty index_config), which spares an index write per key and the hotspot a
# monotonically growing timestamp index makes.
resource "google_firestore_field" "expiry" {
  for_each = var.layout.expiring

  project    = var.project_id
  database   = local.database
  collection = each.value.collection
  field      = each.value.field

  ttl_config {}

  index_config {}
}

# Single-field index exemptions (the spec's firestore.index_exemptions, through module.spec): the
# index_config of each field lists the automatic indexes it KEEPS (an empty one: none), e.g. no index
# on the step timestamps every transition rewrites (a value that only grows is a hot spot), only the
# ascending one on event_pending_since (the unsent events' `<` query). Composite and vector indexes
# are not affected. Subfields that keep indexes under an exempted map first (`index_subfield`), so a
# query on one never finds its index gone while the map's exemption applies. The provider does not
# serialise field operations: each waits for its long-running operation (minutes, while Firestore
# rewrites the index entries), up to Terraform's parallelism at once, and retries Firestore's 409
# "underlying data changed". Destroying one reverts the field to its inherited indexes (rebuilt).
resource "google_firestore_field" "index_subfield" {
  for_each = local.index_subfields

  project    = var.project_id
  database   = local.database
  collection = each.value.collection
  field      = each.value.field

  index_config {
    dynamic "indexes" {
      for_each = each.value.indexes
      content {
        order        = indexes.value.order
        array_config = indexes.value.array_config
      }
    }
  }
}

resource "google_firestore_field" "index_exemption" {
  for_each = local.index_exemptions

  project    = var.project_id
  database   = local.database
  collection = each.value.collection
  field      = each.value.field

  index_config {
    dynamic "indexes" {
      for_each = each.value.indexes
      content {
        order        = indexes.value.order
        array_config = indexes.value.array_config
      }
    }
  }

  depends_on = [google_firestore_field.index_subfield]
}
