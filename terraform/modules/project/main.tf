# APIs, the Google-managed service agents the pipeline relies on, and their project-level roles.

data "google_project" "this" {
  project_id = var.project_id
}

resource "google_project_service" "enabled" {
  for_each = var.enable_apis ? toset(var.apis) : toset([])

  project            = var.project_id
  service            = each.value
  disable_on_destroy = false
}

# Service agents that may not exist before first use; generating them makes their grants possible.
resource "google_project_service_identity" "agent" {
  provider = google-beta
  for_each = toset(["pubsub.googleapis.com", "eventarc.googleapis.com", "secretmanager.googleapis.com"])

  project    = var.project_id
  service    = each.value
  depends_on = [google_project_service.enabled]
}

data "google_storage_project_service_account" "gcs" {
  project    = var.project_id
  depends_on = [google_project_service.enabled]
}

locals {
  number = data.google_project.this.number
  agents = {
    pubsub           = google_project_service_identity.agent["pubsub.googleapis.com"].member
    eventarc         = google_project_service_identity.agent["eventarc.googleapis.com"].member
    secretmanager    = google_project_service_identity.agent["secretmanager.googleapis.com"].member
    storage          = "serviceAccount:${data.google_storage_project_service_account.gcs.email_address}"
    artifactregistry = "serviceAccount:service-${local.number}@gcp-sa-artifactregistry.iam.gserviceaccount.com"
    cloudfunctions   = "serviceAccount:service-${local.number}@gcf-admin-robot.iam.gserviceaccount.com"
    run              = "serviceAccount:service-${local.number}@serverless-robot-prod.iam.gserviceaccount.com"
    firestore        = "serviceAccount:service-${local.number}@gcp-sa-firestore.iam.gserviceaccount.com"
  }
}

# Eventarc storage triggers: Cloud Storage publishes object events to a topic Eventarc creates.
resource "google_project_iam_member" "gcs_publishes_events" {
  count = var.storage_triggers ? 1 : 0

  project = var.project_id
  role    = "roles/pubsub.publisher"
  member  = local.agents.storage
}

# Usually granted when the API is enabled; stated here so a project where it was removed works too.
resource "google_project_iam_member" "eventarc_agent" {
  project = var.project_id
  role    = "roles/eventarc.serviceAgent"
  member  = local.agents.eventarc
}

resource "google_kms_crypto_key_iam_member" "cmek" {
  for_each = { for k, v in local.agents : k => v if var.kms_key_name != null }

  crypto_key_id = var.kms_key_name
  role          = "roles/cloudkms.cryptoKeyEncrypterDecrypter"
  member        = each.value
}
