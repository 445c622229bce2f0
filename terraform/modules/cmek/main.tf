# Which CMEK key encrypts what, and whether each key can: Cloud KMS keys serve only resources in
# their own location. The regional resources (buckets, topics, the secret's replica, functions and
# their images) take a key in the region. A Firestore database takes a key in its own location:
# the same region for a regional database; the KMS multi-region `europe` for eur3 and `us` for nam5
# (Firestore Admin API, CmekConfig.kms_key_name). nam7 has no documented key location: refused.

locals {
  key_location = "^projects/[^/]+/locations/([^/]+)/keyRings/[^/]+/cryptoKeys/[^/]+$"

  # Firestore multi-region => the Cloud KMS location of its keys; a region maps to itself.
  firestore_key_locations = { eur3 = "europe", nam5 = "us" }
  firestore_is_region     = can(regex("^[a-z]+-[a-z]+[0-9]+$", var.firestore_location))
  firestore_key_location  = local.firestore_is_region ? var.firestore_location : lookup(local.firestore_key_locations, var.firestore_location, null)

  # A regional database can share the regional key; a multi-region one needs its own; a database
  # Terraform does not create takes none.
  firestore_key = !var.create_firestore_database ? null : var.firestore_kms_key_name != null ? var.firestore_kms_key_name : (
    local.firestore_is_region ? var.kms_key_name : null
  )

  regional_key_location        = var.kms_key_name == null ? null : try(one(regex(local.key_location, var.kms_key_name)), "")
  firestore_key_location_given = local.firestore_key == null ? null : try(one(regex(local.key_location, local.firestore_key)), "")
}
