# One archive of functions/, lib/ and requirements.txt for all functions (each points at its own
# file through GOOGLE_FUNCTION_SOURCE). The spec inside is the one Terraform read, so code and
# infrastructure cannot disagree. The object name carries the archive's hash: a code change is a
# new object, and the functions are rebuilt.

data "archive_file" "source" {
  type             = "zip"
  output_path      = var.output_path
  output_file_mode = "0644"

  dynamic "source" {
    for_each = toset(var.files)
    content {
      content  = file("${var.source_root}/${source.value}")
      filename = source.value
    }
  }

  source {
    content  = file(var.spec_path)
    filename = var.spec_in_archive
  }
}

resource "google_storage_bucket" "source" {
  #checkov:skip=CKV_GCP_62:Holds only build inputs written by Terraform; access is recorded by Cloud Audit Logs, a usage-log bucket would add nothing.
  project                     = var.project_id
  name                        = "${var.project_id}-contentflow-sources"
  location                    = upper(var.region)
  storage_class               = "STANDARD"
  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"
  labels                      = { purpose = "function-sources" }

  versioning {
    enabled = true
  }

  lifecycle_rule {
    condition {
      days_since_noncurrent_time = var.archive_retention_days
    }
    action {
      type = "Delete"
    }
  }

  dynamic "encryption" {
    for_each = var.kms_key_name == null ? [] : [var.kms_key_name]
    content {
      default_kms_key_name = encryption.value
    }
  }
}

resource "google_storage_bucket_object" "archive" {
  name         = "contentflow-${data.archive_file.source.output_sha256}.zip"
  bucket       = google_storage_bucket.source.name
  source       = data.archive_file.source.output_path
  content_type = "application/zip"
  kms_key_name = var.kms_key_name
}

resource "google_storage_bucket_iam_member" "build_reads_sources" {
  bucket = google_storage_bucket.source.name
  role   = "roles/storage.objectViewer"
  member = var.build_member
}
