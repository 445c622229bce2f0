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

# Enabling an API is eventually consistent: google_project_service returns once the service is
# listed as enabled, yet its first use can still fail with 403 "API has not been used in project
# ... or it is disabled" (the google provider's guide to google_project_service, "Newly activated
# service errors"; its mitigation is a time_sleep). Everything that uses a service waits for this:
# the agents and the data source below directly, every other module through the root module's
# depends_on (module.project, or a module that depends on it). A new API in the list waits again.
resource "time_sleep" "apis_enabled" {
  create_duration = length(google_project_service.enabled) > 0 ? var.api_activation_wait : "0s"
  triggers = {
    apis = join(",", sort([for s in google_project_service.enabled : s.service]))
  }
}

# Service agents that may not exist before first use; generating them makes their grants possible.
resource "google_project_service_identity" "agent" {
  provider = google-beta
  for_each = toset(["pubsub.googleapis.com", "eventarc.googleapis.com", "secretmanager.googleapis.com"])

  project    = var.project_id
  service    = each.value
  depends_on = [time_sleep.apis_enabled]
}

# The Firestore service agent (service-<number>@gcp-sa-firestore) exists only once generated
# (`gcloud beta services identity create --service=firestore.googleapis.com`, Firestore's CMEK
# guide): created before the key grant, which comes before the database.
resource "google_project_service_identity" "firestore" {
  provider = google-beta
  count    = var.firestore_kms_key_name == null ? 0 : 1

  project    = var.project_id
  service    = "firestore.googleapis.com"
  depends_on = [time_sleep.apis_enabled]
}

data "google_storage_project_service_account" "gcs" {
  project    = var.project_id
  depends_on = [time_sleep.apis_enabled]
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
  }
  # Encrypts the Firestore database with its own key (in the database's location, which may be a
  # multi-region the regional key cannot serve).
  firestore_agent = var.firestore_kms_key_name == null ? null : google_project_service_identity.firestore[0].member
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

  # The agents named by convention (Artifact Registry, Cloud Functions, Cloud Run) appear when
  # their API is enabled: granted only after the wait.
  depends_on = [time_sleep.apis_enabled]
}

resource "google_kms_crypto_key_iam_member" "firestore_cmek" {
  count = var.firestore_kms_key_name == null ? 0 : 1

  crypto_key_id = var.firestore_kms_key_name
  role          = "roles/cloudkms.cryptoKeyEncrypterDecrypter"
  member        = local.firestore_agent
}
