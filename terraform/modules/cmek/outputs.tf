output "kms_key_name" {
  description = "The regional key (buckets, topics, secret, functions, images), or null."
  value       = var.kms_key_name

  precondition {
    condition     = var.kms_key_name == null || local.regional_key_location == var.region
    error_message = "kms_key_name must be a key in the region (locations/${var.region}): Cloud Storage, Pub/Sub, Secret Manager, Cloud Functions and Artifact Registry use keys of their own location only."
  }
}

output "firestore_kms_key_name" {
  description = "The Firestore database's key (in the database's location), or null."
  value       = local.firestore_key

  precondition {
    condition     = !(var.create_firestore_database && var.kms_key_name != null && var.firestore_kms_key_name == null && !local.firestore_is_region)
    error_message = "A multi-region Firestore database (${var.firestore_location}) cannot use the regional key: set firestore_kms_key_name to a key in the Cloud KMS location ${coalesce(local.firestore_key_location, "(none: this multi-region has no documented CMEK key location)")}."
  }
  precondition {
    condition     = local.firestore_key == null || local.firestore_key_location != null
    error_message = "Firestore CMEK in ${var.firestore_location}: no documented Cloud KMS location for its keys (eur3 => europe, nam5 => us, a region => the same region)."
  }
  precondition {
    condition     = local.firestore_key == null || local.firestore_key_location_given == local.firestore_key_location
    error_message = "The Firestore key must be in the Cloud KMS location ${coalesce(local.firestore_key_location, "?")} (the database is in ${var.firestore_location}): a key elsewhere cannot serve it."
  }
}

output "firestore_key_location" {
  description = "The Cloud KMS location a key for this Firestore database must be in (null: none documented)."
  value       = local.firestore_key_location
}
