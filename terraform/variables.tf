variable "project_id" {
  description = "Google Cloud project to deploy into (bucket names are \"<project_id>-<bucket id>\")."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{4,28}[a-z0-9]$", var.project_id))
    error_message = "A project id is 6-30 lowercase letters, digits and hyphens, starting with a letter."
  }
}

variable "region" {
  description = "Region of every regional resource and the only place data is stored (buckets, Pub/Sub message storage, secret replica, functions, queues, schedules), e.g. europe-west3 for EU residency."
  type        = string
  default     = "europe-west3"

  validation {
    condition     = can(regex("^[a-z]+-[a-z]+[0-9]+$", var.region))
    error_message = "A region such as europe-west3."
  }
}

variable "firestore_location" {
  description = "Firestore location; null means the region. A multi-region (eur3, nam5) survives a regional outage but stores data in more places."
  type        = string
  default     = null

  validation {
    condition     = var.firestore_location == null || can(regex("^([a-z]+-[a-z]+[0-9]+|eur3|nam5|nam7)$", coalesce(var.firestore_location, "x")))
    error_message = "A region (europe-west3) or a Firestore multi-region (eur3, nam5, nam7)."
  }
}

variable "create_firestore_database" {
  description = "Create the (default) Firestore database. Set false when the project has one (Native mode) already."
  type        = bool
  default     = true
}

variable "kms_key_name" {
  description = "CMEK key (projects/P/locations/REGION/keyRings/R/cryptoKeys/K) for buckets, topics, the secret, functions and their images, and a new regional Firestore database; null uses Google-managed keys. It must be in the region (checked at plan time)."
  type        = string
  default     = null

  validation {
    condition     = var.kms_key_name == null || can(regex("^projects/[^/]+/locations/[^/]+/keyRings/[^/]+/cryptoKeys/[^/]+$", coalesce(var.kms_key_name, "x")))
    error_message = "A key id: projects/P/locations/L/keyRings/R/cryptoKeys/K."
  }
}

variable "firestore_kms_key_name" {
  description = "CMEK key of a new Firestore database, in the database's location: the same region, or the Cloud KMS multi-region europe for eur3 and us for nam5 (nam7 has no documented key location). Null: kms_key_name for a regional database; a multi-region database with kms_key_name set needs this (checked at plan time)."
  type        = string
  default     = null

  validation {
    condition     = var.firestore_kms_key_name == null || can(regex("^projects/[^/]+/locations/[^/]+/keyRings/[^/]+/cryptoKeys/[^/]+$", coalesce(var.firestore_kms_key_name, "x")))
    error_message = "A key id: projects/P/locations/L/keyRings/R/cryptoKeys/K."
  }
}

variable "api_activation_wait" {
  description = "Wait after enabling APIs before their first use (a duration such as 60s): activation is eventually consistent, a first call can get a 403."
  type        = string
  default     = "60s"

  validation {
    condition     = can(regex("^[0-9]+[smh]$", var.api_activation_wait))
    error_message = "A duration such as 60s or 2m."
  }
}

variable "iam_propagation_wait" {
  description = "Wait for IAM grants to propagate before the functions are built (a duration such as 120s): typically 2 minutes, sometimes 7 or more (IAM, access change propagation)."
  type        = string
  default     = "120s"

  validation {
    condition     = can(regex("^[0-9]+[smh]$", var.iam_propagation_wait))
    error_message = "A duration such as 120s or 7m."
  }
}

variable "spec_path" {
  description = "The pipeline spec; null means lib/contentflow/pipeline.yaml of this repository. The same file is packaged with the functions."
  type        = string
  default     = null
}

variable "source_root" {
  description = "Repository root holding functions/, lib/ and requirements.txt; null means the parent of this folder."
  type        = string
  default     = null
}

variable "inference_backend" {
  description = "Inference backend of the functions that use the model (CONTENTFLOW_INFERENCE__BACKEND): vertex (Vertex AI, Gemini and text embeddings) or local (small models packaged with the code, no model calls). It selects the embedding dimension from the spec's embeddings.dimensions."
  type        = string
  default     = "vertex"

  validation {
    condition     = contains(["local", "vertex"], var.inference_backend)
    error_message = "The inference_backend is local or vertex."
  }
}

variable "vertex_location" {
  description = "Vertex AI location of the model calls (CONTENTFLOW_INFERENCE__VERTEX_LOCATION): global (Google routes the request, highest availability) or a region such as europe-west3 to keep processing in the region."
  type        = string
  default     = "global"

  validation {
    condition     = can(regex("^(global|[a-z]+-[a-z]+[0-9]+|eu|us)$", var.vertex_location))
    error_message = "The vertex_location is global, a region such as europe-west3, or a multi-region (eu, us)."
  }
}

variable "generation_model" {
  description = "Generation model id for the analysis (CONTENTFLOW_INFERENCE__GENERATION_MODEL); null keeps the code's default (contentflow.inference.options)."
  type        = string
  default     = null

  validation {
    condition     = var.generation_model == null || can(regex("^[a-zA-Z0-9][a-zA-Z0-9._@/-]{0,199}$", coalesce(var.generation_model, "x")))
    error_message = "A model id such as gemini-2.5-flash, or null."
  }
}

variable "embedding_model" {
  description = "Embedding model id (CONTENTFLOW_INFERENCE__EMBEDDING_MODEL); null keeps the code's default. Its output dimensionality is the spec's embeddings.dimensions of the backend; a change starts a re-embedding (the backfill schedule)."
  type        = string
  default     = null

  validation {
    condition     = var.embedding_model == null || can(regex("^[a-zA-Z0-9][a-zA-Z0-9._@/-]{0,199}$", coalesce(var.embedding_model, "x")))
    error_message = "A model id such as text-embedding-005, or null."
  }
}

variable "api_invoker_members" {
  description = "Principals (user:, group:, serviceAccount:) allowed to call the public api function, which also checks the X-API-Key. allUsers is refused."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for m in var.api_invoker_members : can(regex("^(user|group|serviceAccount|domain|principal|principalSet):", m))])
    error_message = "Name principals as user:..., group:..., serviceAccount:..., domain:... (allUsers and allAuthenticatedUsers are not allowed)."
  }
}

variable "notification_channels" {
  description = "Monitoring notification channel ids the alerts are sent to."
  type        = list(string)
  default     = []
}

variable "error_rate_threshold" {
  description = "Error-rate alert: fraction of a function's requests answered 5xx over 5 minutes."
  type        = number
  default     = 0.05

  validation {
    condition     = var.error_rate_threshold > 0 && var.error_rate_threshold < 1
    error_message = "A fraction between 0 and 1."
  }
}

variable "failure_threshold" {
  description = "Error-rate alert: failures (ERROR log lines with a reason) in 5 minutes."
  type        = number
  default     = 5

  validation {
    condition     = var.failure_threshold >= 0
    error_message = "Cannot be negative."
  }
}

variable "latency_threshold_ratio" {
  description = "Step latency alert: p95 latency as a fraction of the step function's timeout."
  type        = number
  default     = 0.8

  validation {
    condition     = var.latency_threshold_ratio > 0 && var.latency_threshold_ratio <= 1
    error_message = "A fraction between 0 and 1."
  }
}

variable "enable_apis" {
  description = "Enable the service APIs the pipeline uses (they stay enabled on destroy)."
  type        = bool
  default     = true
}

variable "soft_delete_retention_days" {
  description = "Days a deleted object of the pipeline's buckets can be restored (0, or 7 to 90)."
  type        = number
  default     = 7

  validation {
    condition     = var.soft_delete_retention_days == 0 || (var.soft_delete_retention_days >= 7 && var.soft_delete_retention_days <= 90)
    error_message = "0, or between 7 and 90."
  }
}

variable "access_log_bucket" {
  description = "Existing bucket for the usage logs of the pipeline's buckets; null keeps Cloud Audit Logs only."
  type        = string
  default     = null
}

variable "force_destroy_buckets" {
  description = "Let `terraform destroy` delete the pipeline's buckets with their objects (throw-away projects only)."
  type        = bool
  default     = false
}

variable "firestore_delete_protection" {
  description = "Refuse to delete the Firestore database."
  type        = bool
  default     = true
}

variable "labels" {
  description = "Labels added to every resource that takes labels."
  type        = map(string)
  default     = {}

  validation {
    condition     = alltrue([for k, v in var.labels : can(regex("^[a-z][a-z0-9_-]{0,62}$", k)) && can(regex("^[a-z0-9_-]{0,63}$", v))])
    error_message = "Label keys and values are lowercase letters, digits, hyphens and underscores."
  }
}
