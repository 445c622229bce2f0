# Cloud Functions (2nd gen), one per spec function, all built from the same archive; each runs as
# its own service account with the spec's sizing. Storage triggers are Eventarc triggers managed
# by the function; Pub/Sub triggers are push subscriptions (modules/delivery) so that the spec's
# retry and dead-letter policy can be set on them; HTTP functions are called by the scheduler,
# Cloud Tasks or (the public one) by named principals.

resource "google_artifact_registry_repository" "images" {
  project                = var.project_id
  location               = var.region
  repository_id          = "contentflow-functions"
  description            = "Images of the contentflow functions (built by Cloud Build from the source archive)."
  format                 = "DOCKER"
  kms_key_name           = var.kms_key_name
  cleanup_policy_dry_run = false

  cleanup_policies {
    id     = "keep-recent"
    action = "KEEP"
    most_recent_versions {
      keep_count = var.image_versions_kept
    }
  }

  cleanup_policies {
    id     = "delete-old"
    action = "DELETE"
    condition {
      older_than = "2592000s"
    }
  }
}

resource "google_artifact_registry_repository_iam_member" "build_pushes" {
  project    = var.project_id
  location   = google_artifact_registry_repository.images.location
  repository = google_artifact_registry_repository.images.name
  role       = "roles/artifactregistry.writer"
  member     = var.build_member
}

# IAM changes take effect typically within 2 minutes, sometimes 7 or more (IAM documentation,
# "Access change propagation"). A build reads the archive, writes logs and pushes the image as the
# build account, and a new function starts with its grants (secret, buckets, topics, project
# roles): every one of those grants is made before this module starts (the root module's
# depends_on), the image push right above, so one wait after the last of them covers all. A grant
# that has not propagated when the wait ends fails the build; `terraform apply` again resumes.
resource "time_sleep" "grants_propagated" {
  create_duration = var.iam_propagation_wait
  triggers = {
    image_push = google_artifact_registry_repository_iam_member.build_pushes.id
    grants     = join(",", sort(var.grant_ids))
  }
}

resource "google_cloudfunctions2_function" "function" {
  for_each = var.functions

  project      = var.project_id
  name         = each.value.service_name
  location     = var.region
  description  = each.value.description
  kms_key_name = var.kms_key_name
  labels       = { function = each.value.service_name }

  build_config {
    runtime               = each.value.runtime
    entry_point           = each.value.entry_point
    environment_variables = each.value.build_environment
    docker_repository     = google_artifact_registry_repository.images.id
    service_account       = var.build_service_account_id

    source {
      storage_source {
        bucket = var.source_bucket
        object = var.source_object
      }
    }
  }

  service_config {
    available_memory                 = each.value.available_memory
    available_cpu                    = each.value.available_cpu
    max_instance_request_concurrency = each.value.concurrency
    timeout_seconds                  = each.value.timeout_seconds
    max_instance_count               = each.value.max_instances
    min_instance_count               = each.value.min_instances
    ingress_settings                 = each.value.ingress
    all_traffic_on_latest_revision   = true
    service_account_email            = var.service_account_emails[each.key]
    environment_variables            = each.value.environment

    dynamic "secret_environment_variables" {
      for_each = each.value.secret_environment
      content {
        key        = secret_environment_variables.key
        project_id = var.project_id
        secret     = secret_environment_variables.value
        version    = "latest"
      }
    }
  }

  dynamic "event_trigger" {
    for_each = each.value.trigger_type == "storage" ? [each.value] : []
    content {
      trigger_region        = var.region
      event_type            = event_trigger.value.storage_event
      retry_policy          = "RETRY_POLICY_RETRY"
      service_account_email = var.service_account_emails[each.key]

      event_filters {
        attribute = "bucket"
        value     = var.bucket_names[event_trigger.value.trigger_bucket]
      }
    }
  }

  depends_on = [time_sleep.grants_propagated]
}

resource "google_cloud_run_v2_service_iam_member" "invoker" {
  for_each = var.invoker_grants

  project  = var.project_id
  location = var.region
  name     = google_cloudfunctions2_function.function[each.value.function].name
  role     = "roles/run.invoker"
  member   = each.value.identity == "self" ? "serviceAccount:${var.service_account_emails[each.value.function]}" : var.invoker_members[each.value.identity]
}

resource "google_cloud_run_v2_service_iam_member" "public" {
  for_each = { for pair in setproduct(var.public_functions, var.api_invoker_members) : "${pair[0]}/${pair[1]}" => { function = pair[0], member = pair[1] } }

  project  = var.project_id
  location = var.region
  name     = google_cloudfunctions2_function.function[each.value.function].name
  role     = "roles/run.invoker"
  member   = each.value.member
}

# Eventarc delivers storage events through Pub/Sub push with an OIDC token of the trigger's
# account (here the function's own account), minted by the Pub/Sub service agent.
resource "google_service_account_iam_member" "trigger_token" {
  for_each = { for n, f in var.functions : n => f if f.trigger_type == "storage" }

  service_account_id = var.service_account_ids[each.key]
  role               = "roles/iam.serviceAccountTokenCreator"
  member             = var.pubsub_agent_member
}
