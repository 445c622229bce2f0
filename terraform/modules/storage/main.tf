# The spec's buckets: uniform access, no public access, the spec's retention as a lifecycle rule
# (objects are deleted retention_days after upload), versioning as the spec says, optional CMEK;
# the functions' declared access as bucket-level grants.

resource "google_storage_bucket" "bucket" {
  #checkov:skip=CKV_GCP_78:Versioning is the spec's per-bucket choice (versioning: false); lifecycle retention plus soft delete give the recovery window instead.
  #checkov:skip=CKV_GCP_62:Usage logs are optional (access_log_bucket); reads and writes are recorded by Cloud Audit Logs (enable Data Access logs for storage).
  for_each = var.buckets

  project                     = var.project_id
  name                        = each.value.name
  location                    = upper(var.region)
  storage_class               = "STANDARD"
  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"
  force_destroy               = var.force_destroy
  labels                      = { bucket-id = each.key }

  versioning {
    enabled = each.value.versioning
  }

  lifecycle_rule {
    condition {
      age = each.value.retention_days
    }
    action {
      type = "Delete"
    }
  }

  # With versioning, a replaced or deleted object lives on as a noncurrent version for as long.
  dynamic "lifecycle_rule" {
    for_each = each.value.versioning ? [each.value.retention_days] : []
    content {
      condition {
        days_since_noncurrent_time = lifecycle_rule.value
      }
      action {
        type = "Delete"
      }
    }
  }

  soft_delete_policy {
    retention_duration_seconds = var.soft_delete_retention_days * 86400
  }

  dynamic "encryption" {
    for_each = var.kms_key_name == null ? [] : [var.kms_key_name]
    content {
      default_kms_key_name = encryption.value
    }
  }

  dynamic "logging" {
    for_each = var.access_log_bucket == null ? [] : [var.access_log_bucket]
    content {
      log_bucket        = logging.value
      log_object_prefix = each.value.name
    }
  }
}

# Custom roles some grants use, project-level definitions granted on single buckets only:
# contentflowObjectDeleter (storage.objects.delete alone) lets a function delete objects without
# the create of roles/storage.objectUser. `destroy` only marks a custom role deleted: an apply
# within 7 days undeletes it (the provider does), but from day 7 to day 37 IAM refuses the id
# (README, "Access").
resource "google_project_iam_custom_role" "role" {
  for_each = var.custom_roles

  project     = var.project_id
  role_id     = each.value.role_id
  title       = each.value.title
  description = each.value.description
  permissions = each.value.permissions
}

resource "google_storage_bucket_iam_member" "grant" {
  for_each = var.grants

  bucket = google_storage_bucket.bucket[each.value.bucket].name
  role   = each.value.role
  member = var.members[each.value.function]

  depends_on = [google_project_iam_custom_role.role]
}
