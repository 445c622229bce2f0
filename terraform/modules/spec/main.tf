# Decodes the pipeline spec into the maps every other module iterates over (for_each). Nothing in
# the other modules names a bucket, topic, queue, schedule or function: they all come from here, so
# a change to the spec reaches the infrastructure with no .tf edit.
#
# Rules that turn the spec into access (documented in terraform/README.md, "Access"):
#   - a step function hands on to the next step's trigger and announces results on the output
#     topic (derived from `steps`);
#   - a function that runs no step declares what it hands on: `hands_on: first_step` (it registers
#     documents: the first step's trigger) or `any_step` (it re-drives a document at its step:
#     every step's trigger), and `announces: true` if it publishes document.failed (output topic);
#   - a function with `enqueues` creates tasks for exactly those queue-triggered functions: it may
#     enqueue on their queues;
#   - a function's bucket access is its declared `buckets`: list => legacyBucketReader, read =>
#     objectViewer, create => objectCreator, delete => the custom role contentflowObjectDeleter
#     (storage.objects.delete alone: no predefined role deletes without creating);
#   - `signs_urls`: the function's account may sign as itself (serviceAccountTokenCreator on
#     itself, IAM signBlob) and is named in CONTENTFLOW_UPLOAD_SIGNER_EMAIL;
#   - a function whose project_roles hold roles/aiplatform.user calls the model; it, and a function
#     that `enqueues` tasks for one (it must compute the same embedding space), get the inference
#     settings (CONTENTFLOW_INFERENCE__*).

locals {
  spec = yamldecode(file(var.spec_path))

  # Facts fixed by the code in lib/ that the spec does not state; tests/terraform checks each one
  # against the code, so they cannot drift silently.
  code = {
    output_topic   = "document-events"     # contentflow.pipeline.OUTPUT_TOPIC
    collection     = "documents"           # contentflow.settings.Settings.collection
    api_key_secret = "contentflow-api-key" # read as CONTENTFLOW_API_KEY (Settings.api_key)
    api_key_env    = "CONTENTFLOW_API_KEY"
    runtime        = "python311"
    storage_events = { finalized = "google.cloud.storage.object.v1.finalized" }
    # The pre-filters of the chunk search (contentflow.chunks.ChunkStore.nearest): an equality on the
    # embedding space ALWAYS, plus the spec's embeddings.filter_fields (the ones in array_fields as
    # array-contains, the others as equality), or plus an equality on the document id alone.
    chunk_query = {
      space_field  = "embedding_space"
      scope_field  = "document_id"
      array_fields = ["labels"]
    }
    # The project role of the functions that call the model (Vertex AI).
    model_role = "roles/aiplatform.user"
    # Signed upload URLs (contentflow.uploads): Settings.upload_signer_email.
    signer_env = "CONTENTFLOW_UPLOAD_SIGNER_EMAIL"
    # GET /documents (contentflow.store.DocumentStore.list_documents, LISTING_FILTER_FIELDS):
    # equalities on any combination of `combinable` (the ones in array_fields as array-contains),
    # or on one of `alone` by itself, ordered by order_field then the document key, both
    # descending, with an optional range on order_field.
    listing_query = {
      combinable   = ["status", "labels", "stats.extraction.language"]
      alone        = ["source.name"]
      array_fields = ["labels"]
      order_field  = "created_at"
    }
    # Idempotency keys of the api (contentflow.idempotency): a collection whose documents carry
    # their own expiry time (Settings.idempotency_collection).
    expiring = {
      collection = "idempotency"
      field      = "expires_at"
    }
    # Every collection the code writes (contentflow.settings.Settings: collection and the
    # *_collection defaults; the chunks are the spec's embeddings.collection): the ones an index
    # exemption may name.
    collections = ["documents", "jobs", "reports", "idempotency"]
    # A record's `steps` map (contentflow.documents.Document.steps) is keyed by step name, and by
    # the URL documents' first stage (contentflow.documents.FETCH_STEP), which is no spec step.
    step_records = "steps"
    fetch_step   = "fetch"
    # contentflow.settings.Settings.inference (env_nested_delimiter "__"): InferenceOptions fields.
    inference_env = {
      backend          = "CONTENTFLOW_INFERENCE__BACKEND"
      vertex_location  = "CONTENTFLOW_INFERENCE__VERTEX_LOCATION"
      generation_model = "CONTENTFLOW_INFERENCE__GENERATION_MODEL"
      embedding_model  = "CONTENTFLOW_INFERENCE__EMBEDDING_MODEL"
    }
  }

  raw_topics    = local.spec.topics
  raw_buckets   = local.spec.buckets
  raw_queues    = try(local.spec.queues, null) == null ? {} : local.spec.queues
  raw_schedules = try(local.spec.schedules, null) == null ? {} : local.spec.schedules
  raw_functions = local.spec.functions
  steps         = local.spec.steps
  delivery      = local.spec.delivery
  embeddings    = local.spec.embeddings

  step_names       = [for s in local.steps : s.name]
  step_functions   = distinct([for s in local.steps : s.function])
  first_step       = local.steps[0].name
  next_step        = { for i, s in local.steps : s.name => i + 1 < length(local.steps) ? local.steps[i + 1].name : "" }
  step_trigger     = { for s in local.steps : s.name => local.raw_functions[s.function].trigger }
  schedule_targets = distinct([for s in values(local.raw_schedules) : s.target.function])

  ingest_buckets = distinct([for n, f in local.raw_functions : f.trigger.bucket if f.trigger.type == "storage"])

  dead_letter_topics = [for id, t in local.raw_topics : id if try(t.role, "pipeline") == "dead_letter"]
  # Archives keep the output events a consumer's subscription gave up on, for replay (a pull
  # subscription, no function): a topic of role events dead-letters into one, never among the
  # step messages (contentflow.spec.DEAD_LETTER_ROLE).
  archive_topics   = [for id, t in local.raw_topics : id if try(t.role, "pipeline") == "archive"]
  dead_letter_role = { pipeline = "dead_letter", events = "archive", dead_letter = "", archive = "" }

  # The queue-triggered functions each function creates tasks for (the spec's `enqueues`), and
  # every function that is such a target.
  task_targets          = { for n, f in local.raw_functions : n => try(f.enqueues, null) == null ? [] : f.enqueues }
  task_target_functions = distinct(flatten(values(local.task_targets)))

  # What each function is, from its trigger, its place in the wiring and its declarations.
  kinds = { for n, f in local.raw_functions : n => {
    trigger         = f.trigger.type
    step            = contains(local.step_functions, n)
    schedule_target = contains(local.schedule_targets, n)
    public          = f.trigger.type == "http" && !contains(local.schedule_targets, n)
    hands_on        = try(f.hands_on, null) == null ? "" : f.hands_on # first_step, any_step or ""
    announces       = contains(local.step_functions, n) || try(f.announces, false) == true
    signs_urls      = try(f.signs_urls, false) == true
  } }

  # The steps a function hands documents to: a step's next step; what a non-step function declares.
  hands_on_to = { for n, k in local.kinds : n => distinct(concat(
    k.hands_on == "first_step" ? [local.first_step] : [],
    k.hands_on == "any_step" ? local.step_names : [],
    [for s in local.steps : local.next_step[s.name] if s.function == n && local.next_step[s.name] != ""],
  )) }

  # Declared bucket access (the spec's `buckets`) => roles granted on the bucket. Cloud Storage has
  # no predefined role that deletes objects without creating them: delete is a custom role.
  custom_role_definitions = {
    object_deleter = {
      role_id     = "contentflowObjectDeleter"
      title       = "contentflow object deleter"
      description = "Deletes Cloud Storage objects and nothing else; granted on single buckets only."
      permissions = ["storage.objects.delete"]
    }
  }
  custom_role_names = { for k, r in local.custom_role_definitions : k => "projects/${var.project_id}/roles/${r.role_id}" }
  bucket_access_roles = {
    list   = ["roles/storage.legacyBucketReader"] # storage.objects.list, storage.buckets.get
    read   = ["roles/storage.objectViewer"]       # storage.objects.get, storage.objects.list
    create = ["roles/storage.objectCreator"]      # storage.objects.create (not overwrite: that deletes too)
    delete = [local.custom_role_names.object_deleter]
  }
  declared_buckets = { for n, f in local.raw_functions : n => try(f.buckets, null) == null ? {} : f.buckets }

  hands_on_queues = { for n, steps in local.hands_on_to : n => distinct([for s in steps : local.step_trigger[s].queue if local.step_trigger[s].type == "queue"]) }
  # Queues a function enqueues on: its hand-ons and the queues of its `enqueues` targets.
  enqueue_queues = { for n, targets in local.task_targets : n => distinct(concat(
    local.hands_on_queues[n],
    [for t in targets : try(local.raw_functions[t].trigger.queue, "")],
  )) }

  # Functions that call the model (the role in their project_roles), and those that get the
  # inference settings: the callers, and the functions that create tasks for a caller (backfill
  # decides which documents reembed must redo by the current embedding space, which the settings fix).
  model_callers = [for n, f in local.raw_functions : n if contains(try(f.project_roles, []), local.code.model_role)]
  model_users   = [for n, targets in local.task_targets : n if contains(local.model_callers, n) || length(setintersection(targets, local.model_callers)) > 0]
  inference_environment = { for k, v in {
    (local.code.inference_env.backend)          = var.inference_backend
    (local.code.inference_env.vertex_location)  = var.vertex_location
    (local.code.inference_env.generation_model) = var.generation_model
    (local.code.inference_env.embedding_model)  = var.embedding_model
  } : k => v if v != null }

  kebab        = { for n in keys(local.raw_functions) : n => replace(n, "_", "-") }
  account_base = { for n, k in local.kebab : n => "cf-${k}" }
  account_ids  = { for n, b in local.account_base : n => length(b) >= 6 ? trimsuffix(substr(b, 0, 30), "-") : "${b}-fn" }
  # Known before the accounts exist (an account's email is <id>@<project>.iam.gserviceaccount.com).
  account_emails = { for n, id in local.account_ids : n => "${id}@${var.project_id}.iam.gserviceaccount.com" }

  functions = { for n, f in local.raw_functions : n => {
    description      = f.description
    service_name     = local.kebab[n]
    account_id       = local.account_ids[n]
    source           = f.source
    entry_point      = f.entry_point
    runtime          = local.code.runtime
    trigger_type     = f.trigger.type
    trigger_topic    = try(f.trigger.topic, null)
    trigger_queue    = try(f.trigger.queue, null)
    trigger_bucket   = try(f.trigger.bucket, null)
    storage_event    = f.trigger.type == "storage" ? local.code.storage_events[try(f.trigger.event, "finalized")] : null
    available_memory = "${f.runtime.memory_mb}Mi"
    available_cpu    = tostring(f.runtime.cpu)
    concurrency      = f.runtime.concurrency
    timeout_seconds  = f.runtime.timeout_s
    max_instances    = f.runtime.max_instances
    min_instances    = try(f.runtime.min_instances, 0)
    project_roles    = try(f.project_roles, [])
    ingress          = local.kinds[n].public ? "ALLOW_ALL" : "ALLOW_INTERNAL_ONLY"
    build_environment = {
      GOOGLE_FUNCTION_SOURCE = f.source # the buildpack loads this file instead of main.py
    }
    environment = merge(
      {
        CONTENTFLOW_PROJECT_ID    = var.project_id
        CONTENTFLOW_REGION        = var.region # where the Cloud Tasks queues are
        CONTENTFLOW_FUNCTION_URLS = jsonencode(local.function_urls)
        PYTHONPATH                = "lib" # relative to the app root (/workspace), the working directory
      },
      # A function that creates tasks names the account whose OIDC token the tasks carry.
      length(local.enqueue_queues[n]) > 0 && contains(keys(local.invokers), "tasks") ? {
        CONTENTFLOW_TASKS_SERVICE_ACCOUNT = local.invoker_emails.tasks
      } : {},
      # Backend, Vertex AI location and model ids; only for the functions that use the model.
      contains(local.model_users, n) ? local.inference_environment : {},
      # A function that signs URLs signs as its own account (IAM signBlob, no key file).
      local.kinds[n].signs_urls ? { (local.code.signer_env) = local.account_emails[n] } : {},
    )
    secret_environment = local.kinds[n].public ? { (local.code.api_key_env) = local.code.api_key_secret } : {}
    publishes = distinct(concat(
      [for s in local.hands_on_to[n] : local.step_trigger[s].topic if local.step_trigger[s].type == "pubsub"],
      local.kinds[n].announces ? [local.code.output_topic] : [],
    ))
    enqueues       = local.enqueue_queues[n]
    task_targets   = local.task_targets[n]
    bucket_access  = local.declared_buckets[n]
    bucket_roles   = { for b, access in local.declared_buckets[n] : b => sort(distinct(flatten([for a in access : try(local.bucket_access_roles[a], [])]))) }
    signs_own_urls = local.kinds[n].signs_urls
  } }

  # Known before anything is created (no cycle: every function gets every URL).
  function_urls = { for n, k in local.kebab : n => "https://${var.region}-${var.project_id}.cloudfunctions.net/${k}" }

  buckets = { for id, b in local.raw_buckets : id => {
    name           = "${var.project_id}-${id}"
    description    = b.description
    retention_days = b.retention_days
    versioning     = try(b.versioning, false)
    ingest         = contains(local.ingest_buckets, id)
  } }

  topics = { for id, t in local.raw_topics : id => {
    description       = t.description
    role              = try(t.role, "pipeline")
    dead_letter       = try(t.role, "pipeline") == "dead_letter"
    dead_letter_topic = try(t.dead_letter_topic, null)
    archive           = try(t.role, "pipeline") == "archive"
    # The pull subscription that keeps an archive's messages, named as contentflow.spec names it.
    archive_subscription = try(t.role, "pipeline") == "archive" ? "${id}--archive" : null
  } }

  # One push subscription per pubsub-triggered function, named as the local stack names it.
  subscriptions = { for n, f in local.raw_functions : "${f.trigger.topic}--${n}" => {
    topic                 = f.trigger.topic
    function              = n
    dead_letter_topic     = try(local.raw_topics[f.trigger.topic].dead_letter_topic, null)
    max_delivery_attempts = local.delivery.max_delivery_attempts
    ack_deadline_seconds  = min(600, max(local.delivery.ack_deadline_s, f.runtime.timeout_s))
    minimum_backoff       = "${local.delivery.min_backoff_s}s"
    maximum_backoff       = "${local.delivery.max_backoff_s}s"
  } if f.trigger.type == "pubsub" }

  queues = { for id, q in local.raw_queues : id => {
    description               = q.description
    max_dispatches_per_second = q.rate_limits.max_dispatches_per_second
    max_concurrent_dispatches = q.rate_limits.max_concurrent_dispatches
    max_burst_size            = q.rate_limits.max_burst_size # output-only in Cloud Tasks: informational
    max_attempts              = q.retry.max_attempts
    min_backoff               = "${q.retry.min_backoff_s}s"
    max_backoff               = "${q.retry.max_backoff_s}s"
    max_doublings             = q.retry.max_doublings
    max_retry_duration        = "${q.retry.max_retry_duration_s}s"
    consumers                 = [for n, f in local.raw_functions : n if f.trigger.type == "queue" && try(f.trigger.queue, "") == id]
  } }

  schedules = { for id, s in local.raw_schedules : id => {
    description      = s.description
    schedule         = s.cron
    time_zone        = try(s.time_zone, "Etc/UTC")
    function         = s.target.function
    body             = jsonencode(try(s.target.body, {}))
    attempt_deadline = "${min(1800, max(15, local.raw_functions[s.target.function].runtime.timeout_s))}s"
  } }

  # Identities that call the functions (not the functions' own accounts): each exists only when
  # something needs it, and may invoke only the functions listed.
  invokers = { for k, v in {
    push      = { account_id = "cf-invoker-push", functions = distinct([for s in values(local.subscriptions) : s.function]) }
    scheduler = { account_id = "cf-invoker-scheduler", functions = local.schedule_targets }
    tasks     = { account_id = "cf-invoker-tasks", functions = [for n, f in local.raw_functions : n if f.trigger.type == "queue"] }
  } : k => v if length(v.functions) > 0 }

  # Who may invoke what: the invokers above, and each storage-triggered function's own account
  # (it is its Eventarc trigger's account).
  invoker_grants = merge(
    merge([for k, v in local.invokers : { for fn in v.functions : "${k}/${fn}" => { identity = k, function = fn } }]...),
    { for n, f in local.raw_functions : "self/${n}" => { identity = "self", function = n } if f.trigger.type == "storage" },
  )
  public_functions = [for n, k in local.kinds : n if k.public]
  secret_readers   = [for n, f in local.functions : n if length(f.secret_environment) > 0]
  url_signers      = [for n, k in local.kinds : n if k.signs_urls]

  # Known before the accounts exist (an account's email is <id>@<project>.iam.gserviceaccount.com).
  invoker_emails = { for k, v in local.invokers : k => "${v.account_id}@${var.project_id}.iam.gserviceaccount.com" }

  # Flattened grants, one for_each entry each.
  project_role_grants = merge([for n, f in local.functions : { for r in f.project_roles : "${n}/${r}" => { function = n, role = r } }]...)
  topic_publishers    = merge([for n, f in local.functions : { for t in f.publishes : "${n}/${t}" => { function = n, topic = t } }]...)
  queue_enqueuers     = merge([for n, f in local.functions : { for q in f.enqueues : "${n}/${q}" => { function = n, queue = q } }]...)
  bucket_grants = merge(flatten([for n, f in local.functions : [
    for b, roles in f.bucket_roles : { for r in roles : "${n}/${b}/${r}" => { function = n, bucket = b, role = r } }
  ]])...)
  # The custom roles some grant uses (created once per project, granted on buckets only).
  custom_roles = { for k, r in local.custom_role_definitions : k => merge(r, { name = local.custom_role_names[k] })
  if contains([for g in values(local.bucket_grants) : g.role], local.custom_role_names[k]) }

  # The listing's composite indexes (GET /documents): one per non-empty combination of the
  # combinable equality filters and one per filter used alone, each followed by the order field
  # and the document key, descending. Keys: "<field>+<field>...".
  listing = local.code.listing_query
  listing_filters = concat(
    [for i in range(1, pow(2, length(local.listing.combinable))) : [for j, f in local.listing.combinable : f if floor(i / pow(2, j)) % 2 == 1]],
    [for f in local.listing.alone : [f]],
  )
  listing_indexes = { for fs in local.listing_filters : join("+", fs) => {
    collection = local.code.collection
    fields = concat(
      [for f in fs : {
        field_path   = f
        order        = contains(local.listing.array_fields, f) ? null : "ASCENDING"
        array_config = contains(local.listing.array_fields, f) ? "CONTAINS" : null
      }],
      [
        { field_path = local.listing.order_field, order = "DESCENDING", array_config = null },
        { field_path = "__name__", order = "DESCENDING", array_config = null },
      ],
    )
  } }

  # Vector indexes of the chunk search: one per distinct embedding dimension of the spec (one per
  # inference backend, fewer if two share a size) and per combination of pre-filters the search
  # uses: the embedding space with every subset of embeddings.filter_fields, and the embedding
  # space with the document id. Keys: "<dimension>/<filter>+<filter>...".
  filter_fields  = try(local.embeddings.filter_fields, null) == null ? [] : local.embeddings.filter_fields
  filter_subsets = [for i in range(pow(2, length(local.filter_fields))) : [for j, f in local.filter_fields : f if floor(i / pow(2, j)) % 2 == 1]]
  vector_filters = concat([for s in local.filter_subsets : concat([local.code.chunk_query.space_field], s)], [[local.code.chunk_query.space_field, local.code.chunk_query.scope_field]])
  vector_dims    = distinct([for d in values(local.embeddings.dimensions) : tonumber(d)])
  vector_indexes = merge([for d in local.vector_dims : { for fs in local.vector_filters : "${d}/${join("+", fs)}" => {
    collection = local.embeddings.collection
    field      = local.embeddings.field
    dimension  = d
    filters = [for f in fs : {
      field_path   = f
      order        = contains(local.code.chunk_query.array_fields, f) ? null : "ASCENDING"
      array_config = contains(local.code.chunk_query.array_fields, f) ? "CONTAINS" : null
    }]
  } }]...)

  # Single-field index exemptions (the spec's firestore.index_exemptions): one entry per collection
  # and field path, "<collection>/<field>" => the automatic indexes the field keeps (an order, or
  # array-contains), steps.*.<field> expanded to that field of every step record (the spec's steps
  # and the fetch stage: adding a step adds its exemptions). under_exempted_map: a subfield that
  # keeps indexes under an exempted map (modules/firestore sets those first).
  raw_firestore    = try(local.spec.firestore, null) == null ? {} : local.spec.firestore
  raw_exemptions   = try(local.raw_firestore.index_exemptions, null) == null ? {} : local.raw_firestore.index_exemptions
  step_record_keys = concat([local.code.fetch_step], local.step_names)
  step_wildcard    = "${local.code.step_records}.*."
  declared_exemptions = flatten([for c, entries in local.raw_exemptions : [for e in entries : [
    for k in(startswith(e.field, local.step_wildcard) ? local.step_record_keys : [""]) : {
      collection = c
      field      = k == "" ? e.field : "${local.code.step_records}.${k}.${trimprefix(e.field, local.step_wildcard)}"
      keep       = e.keep
    }
  ]]])
  exemption_groups = { for e in local.declared_exemptions : "${e.collection}/${e.field}" => e... }
  index_orders = {
    ASCENDING      = { order = "ASCENDING", array_config = null }
    DESCENDING     = { order = "DESCENDING", array_config = null }
    ARRAY_CONTAINS = { order = null, array_config = "CONTAINS" }
  }
  index_exemptions = { for k, group in local.exemption_groups : k => {
    collection         = group[0].collection
    field              = group[0].field
    indexes            = [for o in group[0].keep : lookup(local.index_orders, o, { order = o, array_config = null })]
    under_exempted_map = anytrue([for e in local.declared_exemptions : e.collection == group[0].collection && startswith(group[0].field, "${e.field}.")])
  } }
  exemption_collections = distinct(concat(local.code.collections, [local.embeddings.collection]))

  firestore = {
    collection = local.code.collection
    # The sweeper's query: status in [...] and updated_at < cutoff (DocumentStore.stale_candidates);
    # it also serves the daily report's status == with a range on (and order by) updated_at.
    # The other queries on the collection need no composite index: the backfill's page
    # (status == "done" ordered by document id, DocumentStore.page), the coverage and report
    # counts (count() of status ==, of embedding_space ==, of a created_at range), the retention's
    # created_at < cutoff ordered by created_at and the unsent events' event_pending_since < t are
    # served by the automatic single-field indexes.
    sweeper_index = [
      { field_path = "status", order = "ASCENDING" },
      { field_path = "updated_at", order = "ASCENDING" },
    ]
    # A record is kept as long as the longest-kept bucket keeps its outputs, counted from its last change.
    ttl_field             = "updated_at"
    ttl_expiration_offset = "${max([for b in values(local.raw_buckets) : b.retention_days]...) * 86400}s"
    # Chunk documents: nearest-neighbour search (ChunkStore.nearest). Their other queries (document
    # id ==, and document id == with embedding space ==) are equalities the single-field indexes serve.
    vector_indexes = local.vector_indexes
    # GET /documents: a composite index per filter combination (DocumentStore.list_documents).
    listing_indexes = local.listing_indexes
    # Collections whose documents carry their expiry time (a TTL policy with no offset); the
    # field is never queried, so it is not indexed either.
    expiring = { (local.code.expiring.collection) = local.code.expiring }
  }

  # The deployed archive: functions/, lib/ (without the spec, replaced by the one Terraform read)
  # and requirements.txt. Text files only (archive_file takes their content).
  spec_in_archive = "lib/contentflow/pipeline.yaml"
  source_files = sort(concat(
    ["requirements.txt"],
    tolist(fileset(var.source_root, "functions/**/*.py")),
    [for p in fileset(var.source_root, "lib/**/*.{py,yaml,yml,json,txt,typed,html,css}") : p if p != local.spec_in_archive],
  ))

  step_statuses = { for s in local.steps : s.name => { function = s.function, status = s.status, stuck_after_s = s.stuck_after_s } }
}
