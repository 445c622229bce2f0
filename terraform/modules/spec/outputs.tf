output "spec_version" {
  description = "The spec's format version (this module reads version 1)."
  value       = local.spec.version

  precondition {
    condition     = local.spec.version == 1
    error_message = "This Terraform reads pipeline spec version 1."
  }
}

output "functions" {
  description = "Function name => everything its deployment needs: service name, account id, trigger, sizing, environment, and the topics, queues and buckets it may use."
  value       = local.functions

  precondition {
    condition     = length(distinct([for f in values(local.functions) : f.service_name])) == length(local.functions)
    error_message = "Two functions map to the same service name (underscores become hyphens)."
  }
  precondition {
    condition     = length(distinct(concat([for f in values(local.functions) : f.account_id], [for i in values(local.invokers) : i.account_id], ["cf-build"]))) == length(local.functions) + length(local.invokers) + 1
    error_message = "Two service accounts would get the same account id (ids are cut to 30 characters)."
  }
  precondition {
    condition     = alltrue([for f in values(local.functions) : contains(f.project_roles, "roles/eventarc.eventReceiver") if f.trigger_type == "storage"])
    error_message = "A storage-triggered function's own account is its Eventarc trigger's account: list roles/eventarc.eventReceiver in its project_roles."
  }
  precondition {
    condition     = length(setintersection(toset(flatten([for f in values(local.functions) : f.project_roles])), toset(["roles/owner", "roles/editor", "roles/viewer"]))) == 0
    error_message = "Primitive roles (owner, editor, viewer) are not allowed."
  }
  precondition {
    condition     = alltrue([for t in local.task_target_functions : try(local.raw_functions[t].trigger.type, "") == "queue"])
    error_message = "A function's enqueues names a function that is not queue-triggered."
  }
  precondition {
    condition     = contains(keys(local.embeddings.dimensions), var.inference_backend)
    error_message = "The inference_backend has no embedding dimension in the spec (embeddings.dimensions)."
  }
  precondition {
    condition = alltrue(flatten([for n, buckets in local.declared_buckets : [
      for id, access in buckets : contains(keys(local.raw_buckets), id) && length(access) > 0 && alltrue([for a in access : contains(keys(local.bucket_access_roles), a)])
    ]]))
    error_message = "A function's buckets names an unknown bucket, or an access other than list, read, create, delete."
  }
  precondition {
    condition     = alltrue([for n, k in local.kinds : contains(["", "first_step", "any_step"], k.hands_on) && !(k.step && (k.hands_on != "" || try(local.raw_functions[n].announces, false) == true))])
    error_message = "hands_on is first_step or any_step, and only on a function that runs no step (a step's hand-on and events follow from steps)."
  }
  precondition {
    condition     = alltrue([for n, k in local.kinds : !k.signs_urls || anytrue([for access in values(local.declared_buckets[n]) : contains(access, "create")])])
    error_message = "A function that signs URLs needs create on a bucket (a signed request acts as the signer)."
  }
}

output "function_urls" {
  description = "Function name => its HTTPS URL (https://REGION-PROJECT.cloudfunctions.net/NAME), known before deployment; given to every function as CONTENTFLOW_FUNCTION_URLS."
  value       = local.function_urls
}

output "buckets" {
  description = "Bucket id => real name (\"<project_id>-<id>\"), retention, versioning and whether it is an ingest (storage trigger) bucket."
  value       = local.buckets
}

output "topics" {
  description = "Topic id => role (pipeline, events, dead_letter or archive), dead-letter topic, and an archive's pull subscription."
  value       = local.topics

  precondition {
    condition = alltrue([for id, t in local.topics : contains(keys(local.dead_letter_role), t.role) && (
      local.dead_letter_role[t.role] == "" ? t.dead_letter_topic == null :
      try(local.topics[t.dead_letter_topic].role, "") == local.dead_letter_role[t.role]
    )])
    error_message = "A pipeline topic dead-letters into a dead_letter topic, an events topic into an archive topic; dead_letter and archive topics have none."
  }
  precondition {
    condition     = try(local.topics[local.code.output_topic].role, "") == "events"
    error_message = "The output topic carries events (role: events): its consumers' dead letters go to its archive."
  }
}

output "archive_topics" {
  description = "Ids of the archive topics (output events consumers gave up on, kept for replay)."
  value       = local.archive_topics
}

output "subscriptions" {
  description = "\"<topic>--<function>\" => the push subscription that delivers the topic to the function, with the spec's delivery policy."
  value       = local.subscriptions
}

output "queues" {
  description = "Queue id => rate limits, retry configuration and consumer functions."
  value       = local.queues
}

output "schedules" {
  description = "Schedule id => cron, time zone, target function and body."
  value       = local.schedules
}

output "invokers" {
  description = "Invoker identity (push, scheduler, tasks) => account id and the functions it may invoke."
  value       = local.invokers
}

output "invoker_grants" {
  description = "\"<identity>/<function>\" => an identity (push, scheduler, tasks, or self: a storage-triggered function's own account) that may invoke a function."
  value       = local.invoker_grants
}

output "public_functions" {
  description = "HTTP functions no schedule calls: reachable from the internet (ingress ALLOW_ALL), behind IAM and the API key."
  value       = local.public_functions
}

output "secret_readers" {
  description = "Functions that read the API key secret."
  value       = local.secret_readers
}

output "url_signers" {
  description = "Functions that sign Cloud Storage URLs as their own account (signs_urls): each may sign as itself (serviceAccountTokenCreator on its own account) and gets CONTENTFLOW_UPLOAD_SIGNER_EMAIL."
  value       = local.url_signers
}

output "custom_roles" {
  description = "Custom project roles the bucket grants use (object_deleter: storage.objects.delete alone), with their full name; only those some grant uses."
  value       = local.custom_roles
}

output "step_functions" {
  description = "Functions that run a pipeline step."
  value       = local.step_functions
}

output "project_role_grants" {
  description = "\"<function>/<role>\" => project-level role of a function's own account (the spec's project_roles)."
  value       = local.project_role_grants
}

output "topic_publishers" {
  description = "\"<function>/<topic>\" => a function's right to publish to one topic, derived from the wiring."
  value       = local.topic_publishers
}

output "queue_enqueuers" {
  description = "\"<function>/<queue>\" => a function's right to enqueue on one queue, derived from the wiring."
  value       = local.queue_enqueuers
}

output "bucket_grants" {
  description = "\"<function>/<bucket>/<role>\" => a bucket-level role of a function's account, from its declared buckets access."
  value       = local.bucket_grants
}

output "dead_letter_topics" {
  description = "Ids of the dead-letter topics."
  value       = local.dead_letter_topics
}

output "steps" {
  description = "Step name => function, status and stuck_after_s, in the spec's order (a map: order is in step_names)."
  value       = local.step_statuses
}

output "step_names" {
  description = "Step names in order."
  value       = local.step_names
}

output "firestore" {
  description = "Firestore layout the code relies on: collection, the sweeper's composite index, the TTL field and offset, the chunk search's vector indexes (one per dimension and pre-filter combination), the listing's composite indexes (one per filter combination), the collections whose documents carry their expiry time."
  value       = local.firestore

  precondition {
    condition     = alltrue([for i in values(local.vector_indexes) : i.dimension >= 1 && i.dimension <= 2048])
    error_message = "A Firestore vector index has 1 to 2048 dimensions (embeddings.dimensions)."
  }
}

output "index_exemptions" {
  description = "\"<collection>/<field>\" => a single-field index exemption of the spec's firestore.index_exemptions (steps.*.<field> expanded to every step record): collection, field, the automatic indexes it keeps (order or array_config; none: an empty list) and under_exempted_map (a subfield that keeps indexes under an exempted map)."
  value       = local.index_exemptions

  precondition {
    condition     = alltrue([for c in keys(local.raw_exemptions) : contains(local.exemption_collections, c)])
    error_message = "firestore.index_exemptions names a collection the code does not write."
  }
  precondition {
    condition     = alltrue([for e in local.declared_exemptions : can(regex("^[A-Za-z_][A-Za-z0-9_]*(\\.[A-Za-z_][A-Za-z0-9_]*)*$", e.field))])
    error_message = "An index exemption's field is a path of names (letters, digits, _) joined by dots; `*` only as steps.*.<field>."
  }
  precondition {
    condition     = alltrue([for e in local.declared_exemptions : alltrue([for o in e.keep : contains(keys(local.index_orders), o)]) && length(distinct(e.keep)) == length(e.keep)])
    error_message = "An index exemption keeps each of ASCENDING, DESCENDING and ARRAY_CONTAINS at most once."
  }
  precondition {
    condition     = alltrue([for k, group in local.exemption_groups : length(group) == 1])
    error_message = "A field is exempted twice in firestore.index_exemptions (steps.*.<field> counts for every step)."
  }
  precondition {
    condition     = !contains(keys(local.exemption_groups), "${local.code.expiring.collection}/${local.code.expiring.field}")
    error_message = "The idempotency keys' expiry field has no single-field index already (its TTL policy turns them off): a field takes one google_firestore_field."
  }
  precondition {
    condition     = length(local.exemption_groups) + length(local.firestore.expiring) <= 200
    error_message = "Firestore takes at most 200 single-field index exemptions per database."
  }
}

output "model_users" {
  description = "Functions that get the inference settings (CONTENTFLOW_INFERENCE__*): those with roles/aiplatform.user in project_roles, and those that enqueue tasks for one."
  value       = local.model_users
}

output "role_apis" {
  description = "Service APIs of the spec's project_roles (roles/aiplatform.user => aiplatform.googleapis.com), enabled with the platform's."
  value       = distinct([for g in values(local.project_role_grants) : "${split(".", trimprefix(g.role, "roles/"))[0]}.googleapis.com"])
}

output "code_facts" {
  description = "Names fixed by the code (output topic, collection, API key secret, the chunk search's pre-filters, the inference variables): checked against lib/ by the tests."
  value       = local.code
}

output "source_files" {
  description = "Paths (relative to source_root) packaged into the function source archive, besides the spec itself."
  value       = local.source_files
}

output "spec_in_archive" {
  description = "Where the spec Terraform read is placed in the archive (the functions load it from there)."
  value       = local.spec_in_archive
}
