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
  description = "CMEK key (projects/P/locations/REGION/keyRings/R/cryptoKeys/K) for buckets, topics, the secret, function images and a new Firestore database; null uses Google-managed keys. It must be in the region (and the Firestore location)."
  type        = string
  default     = null

  validation {
    condition     = var.kms_key_name == null || can(regex("^projects/[^/]+/locations/[^/]+/keyRings/[^/]+/cryptoKeys/[^/]+$", coalesce(var.kms_key_name, "x")))
    error_message = "A key id: projects/P/locations/L/keyRings/R/cryptoKeys/K."
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
