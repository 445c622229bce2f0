# The API key lives in Secret Manager; Terraform creates the secret, never its value (so the value
# is not in the state): add it with `gcloud secrets versions add` (scripts/deploy does it once).

resource "google_secret_manager_secret" "api_key" {
  project   = var.project_id
  secret_id = var.secret_id
  labels    = { purpose = "api-key" }

  replication {
    user_managed {
      replicas {
        location = var.region

        dynamic "customer_managed_encryption" {
          for_each = var.kms_key_name == null ? [] : [var.kms_key_name]
          content {
            kms_key_name = customer_managed_encryption.value
          }
        }
      }
    }
  }
}

resource "google_secret_manager_secret_iam_member" "accessor" {
  for_each = var.accessors

  project   = var.project_id
  secret_id = google_secret_manager_secret.api_key.secret_id
  role      = "roles/secretmanager.secretAccessor"
  member    = each.value
}
