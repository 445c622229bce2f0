# contentflow on Google Cloud, derived from the pipeline spec (lib/contentflow/pipeline.yaml).
# module.spec decodes the spec into maps; every other module iterates over them. No .tf file names
# a bucket, topic, queue, schedule or function of the pipeline.

locals {
  spec_path   = coalesce(var.spec_path, "${path.module}/../lib/contentflow/pipeline.yaml")
  source_root = coalesce(var.source_root, "${path.module}/..")

  # The APIs the pipeline uses, plus the service of each role in the spec's project_roles
  # (roles/aiplatform.user => aiplatform.googleapis.com, Vertex AI: the model calls), plus the
  # IAM Service Account Credentials API (signBlob) when a function signs URLs.
  apis = distinct(concat(
    [
      "artifactregistry.googleapis.com", "cloudbuild.googleapis.com", "cloudfunctions.googleapis.com",
      "cloudresourcemanager.googleapis.com", "cloudscheduler.googleapis.com", "cloudtasks.googleapis.com", "eventarc.googleapis.com",
      "firestore.googleapis.com", "iam.googleapis.com", "logging.googleapis.com", "monitoring.googleapis.com",
      "pubsub.googleapis.com", "run.googleapis.com", "secretmanager.googleapis.com", "storage.googleapis.com",
    ],
    module.spec.role_apis,
    length(module.spec.url_signers) > 0 ? ["iamcredentials.googleapis.com"] : [],
  ))
}

module "spec" {
  source = "./modules/spec"

  spec_path   = local.spec_path
  source_root = local.source_root
  project_id  = var.project_id
  region      = var.region

  # Environment of the functions that use the model (module.spec.model_users).
  inference_backend = var.inference_backend
  vertex_location   = var.vertex_location
  generation_model  = var.generation_model
  embedding_model   = var.embedding_model
}

# Which key encrypts what, checked at plan time (provider-free): the regional key in the region,
# the Firestore key in the database's location (a multi-region needs a key of its own).
module "cmek" {
  source = "./modules/cmek"

  region                    = var.region
  firestore_location        = coalesce(var.firestore_location, var.region)
  create_firestore_database = var.create_firestore_database
  kms_key_name              = var.kms_key_name
  firestore_kms_key_name    = var.firestore_kms_key_name
}

module "project" {
  source = "./modules/project"

  project_id             = var.project_id
  apis                   = local.apis
  enable_apis            = var.enable_apis
  api_activation_wait    = var.api_activation_wait
  storage_triggers       = anytrue([for f in values(module.spec.functions) : f.trigger_type == "storage"])
  kms_key_name           = module.cmek.kms_key_name
  firestore_kms_key_name = module.cmek.firestore_kms_key_name
}

module "service_accounts" {
  source = "./modules/service_accounts"

  project_id          = var.project_id
  functions           = module.spec.functions
  invokers            = module.spec.invokers
  project_role_grants = module.spec.project_role_grants
  url_signers         = module.spec.url_signers

  depends_on = [module.project]
}

module "storage" {
  source = "./modules/storage"

  project_id                 = var.project_id
  region                     = var.region
  buckets                    = module.spec.buckets
  grants                     = module.spec.bucket_grants
  custom_roles               = module.spec.custom_roles
  members                    = module.service_accounts.function_members
  kms_key_name               = var.kms_key_name
  soft_delete_retention_days = var.soft_delete_retention_days
  access_log_bucket          = var.access_log_bucket
  force_destroy              = var.force_destroy_buckets

  depends_on = [module.project]
}

module "source" {
  source = "./modules/source"

  project_id      = var.project_id
  region          = var.region
  source_root     = local.source_root
  files           = module.spec.source_files
  spec_path       = local.spec_path
  spec_in_archive = module.spec.spec_in_archive
  output_path     = "${path.root}/.terraform/contentflow-source.zip"
  build_member    = module.service_accounts.build_member
  kms_key_name    = var.kms_key_name

  depends_on = [module.project]
}

module "pubsub" {
  source = "./modules/pubsub"

  project_id          = var.project_id
  region              = var.region
  topics              = module.spec.topics
  publishers          = module.spec.topic_publishers
  members             = module.service_accounts.function_members
  pubsub_agent_member = module.project.agents.pubsub
  kms_key_name        = var.kms_key_name

  depends_on = [module.project]
}

module "secrets" {
  source = "./modules/secrets"

  project_id   = var.project_id
  region       = var.region
  secret_id    = module.spec.code_facts.api_key_secret
  accessors    = { for n in module.spec.secret_readers : n => module.service_accounts.function_members[n] }
  kms_key_name = var.kms_key_name

  depends_on = [module.project]
}

module "firestore" {
  source = "./modules/firestore"

  project_id        = var.project_id
  location_id       = coalesce(var.firestore_location, var.region)
  create_database   = var.create_firestore_database
  layout            = module.spec.firestore
  index_exemptions  = module.spec.index_exemptions
  kms_key_name      = module.cmek.firestore_kms_key_name
  delete_protection = var.firestore_delete_protection

  depends_on = [module.project]
}

module "functions" {
  source = "./modules/functions"

  project_id               = var.project_id
  region                   = var.region
  functions                = module.spec.functions
  invoker_grants           = module.spec.invoker_grants
  public_functions         = module.spec.public_functions
  api_invoker_members      = var.api_invoker_members
  service_account_emails   = module.service_accounts.function_emails
  service_account_ids      = module.service_accounts.function_ids
  invoker_members          = module.service_accounts.invoker_members
  pubsub_agent_member      = module.project.agents.pubsub
  bucket_names             = module.storage.names
  source_bucket            = module.source.bucket
  source_object            = module.source.object
  build_service_account_id = module.service_accounts.build_id
  build_member             = module.service_accounts.build_member
  kms_key_name             = var.kms_key_name

  # Cloud Build reads the archive, writes logs and pushes the image as the build account; a
  # function starts with its grants (secret, buckets, topics, project roles, a URL signer's right
  # to sign as itself). All are made before this module starts (depends_on); the module makes the
  # image-push grant, then waits iam_propagation_wait for IAM to propagate before the builds.
  grant_ids            = concat([module.source.reader_grant], module.service_accounts.project_roles_granted, module.service_accounts.signer_grants)
  iam_propagation_wait = var.iam_propagation_wait

  depends_on = [module.source, module.secrets, module.storage, module.pubsub, module.service_accounts]
}

module "delivery" {
  source = "./modules/delivery"

  project_id                 = var.project_id
  subscriptions              = module.spec.subscriptions
  topic_ids                  = module.pubsub.ids
  function_uris              = module.functions.uris
  push_service_account_email = try(module.service_accounts.invoker_emails["push"], null)
  push_service_account_id    = try(module.service_accounts.invoker_ids["push"], null)
  pubsub_agent_member        = module.project.agents.pubsub

  depends_on = [module.functions]
}

module "tasks" {
  source = "./modules/tasks"

  project_id          = var.project_id
  region              = var.region
  queues              = module.spec.queues
  enqueuers           = module.spec.queue_enqueuers
  members             = module.service_accounts.function_members
  function_uris       = module.functions.uris
  tasks_invoker_email = try(module.service_accounts.invoker_emails["tasks"], null)
  tasks_invoker_id    = try(module.service_accounts.invoker_ids["tasks"], null)

  depends_on = [module.project]
}

module "scheduler" {
  source = "./modules/scheduler"

  project_id                      = var.project_id
  region                          = var.region
  schedules                       = module.spec.schedules
  function_uris                   = module.functions.uris
  scheduler_service_account_email = try(module.service_accounts.invoker_emails["scheduler"], null)

  depends_on = [module.functions]
}

module "monitoring" {
  source = "./modules/monitoring"

  project_id              = var.project_id
  functions               = module.spec.functions
  step_functions          = module.spec.step_functions
  dead_letter_topics      = concat(module.spec.dead_letter_topics, module.spec.archive_topics) # an event a consumer gave up on alerts too
  subscriptions           = { for k, s in module.spec.subscriptions : k => s.topic }
  queues                  = keys(module.spec.queues)
  notification_channels   = var.notification_channels
  error_rate_threshold    = var.error_rate_threshold
  failure_threshold       = var.failure_threshold
  latency_threshold_ratio = var.latency_threshold_ratio

  depends_on = [module.project]
}
