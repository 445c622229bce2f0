# One service account per function (its run-time identity), one per invoker (who may call which
# function) and one for building the functions' images. Only the spec's project_roles are granted
# at project level; everything narrower is granted on the resource (topic, bucket, queue, secret).

resource "google_service_account" "function" {
  for_each = var.functions

  project      = var.project_id
  account_id   = each.value.account_id
  display_name = "contentflow function ${each.key}"
  description  = substr(each.value.description, 0, 256)
}

resource "google_service_account" "invoker" {
  for_each = var.invokers

  project      = var.project_id
  account_id   = each.value.account_id
  display_name = "contentflow ${each.key} invoker"
  description  = "Calls ${join(", ", each.value.functions)}; nothing else."
}

resource "google_service_account" "build" {
  project      = var.project_id
  account_id   = "cf-build"
  display_name = "contentflow function builds"
  description  = "Cloud Build identity for the functions' images: reads the source archive, writes the image repository, writes build logs."
}

# A Firestore role (roles/datastore.*) holds only on the pipeline's database: an IAM condition on
# the database's resource name (Firestore's per-database access control), so another database in
# the project stays out of reach. Firestore IAM has no finer resource than the database (no
# per-collection condition), and each function writes there, so datastore.user itself stays.
resource "google_project_iam_member" "function" {
  for_each = var.project_role_grants

  project = var.project_id
  role    = each.value.role
  member  = google_service_account.function[each.value.function].member

  dynamic "condition" {
    for_each = startswith(each.value.role, "roles/datastore.") ? [var.firestore_database] : []
    content {
      title       = "contentflow database only"
      description = "Firestore access of a contentflow function, limited to the pipeline's database."
      expression  = "resource.name == \"projects/${var.project_id}/databases/${condition.value}\""
    }
  }
}

resource "google_project_iam_member" "build_logs" {
  project = var.project_id
  role    = "roles/logging.logWriter"
  member  = google_service_account.build.member
}

# A function that signs Cloud Storage URLs (V4, IAM signBlob: no key file) signs as its own
# account: it may sign (and mint tokens) as itself, as no other account. A service-account-level
# grant, never a project role.
resource "google_service_account_iam_member" "signs_as_itself" {
  for_each = toset(var.url_signers)

  service_account_id = google_service_account.function[each.value].name
  role               = "roles/iam.serviceAccountTokenCreator"
  member             = google_service_account.function[each.value].member
}
