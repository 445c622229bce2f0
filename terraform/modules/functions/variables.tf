variable "project_id" {
  description = "Project to deploy into."
  type        = string
}

variable "region" {
  description = "Region of the functions, their image repository and their storage triggers."
  type        = string
}

variable "functions" {
  description = "Function name => deployment (from module.spec.functions)."
  type = map(object({
    description        = string
    service_name       = string
    entry_point        = string
    runtime            = string
    trigger_type       = string
    trigger_bucket     = optional(string)
    storage_event      = optional(string)
    available_memory   = string
    available_cpu      = string
    concurrency        = number
    timeout_seconds    = number
    max_instances      = number
    min_instances      = number
    ingress            = string
    build_environment  = map(string)
    environment        = map(string)
    secret_environment = map(string)
  }))

  validation {
    condition     = alltrue([for f in values(var.functions) : contains(["storage", "pubsub", "queue", "http"], f.trigger_type)])
    error_message = "A trigger type is storage, pubsub, queue or http."
  }
  validation {
    condition     = alltrue([for f in values(var.functions) : f.trigger_type != "storage" || (f.trigger_bucket != null && f.storage_event != null)])
    error_message = "A storage trigger names its bucket and event."
  }
  validation {
    condition     = alltrue([for f in values(var.functions) : contains(["ALLOW_ALL", "ALLOW_INTERNAL_ONLY", "ALLOW_INTERNAL_AND_GCLB"], f.ingress)])
    error_message = "Unknown ingress setting."
  }
}

variable "invoker_grants" {
  description = "\"<identity>/<function>\" => which identity (push, scheduler, tasks, or self for a storage trigger) may invoke which function (from module.spec.invoker_grants)."
  type = map(object({
    identity = string
    function = string
  }))
}

variable "public_functions" {
  description = "Functions reachable from the internet (ingress ALLOW_ALL); only api_invoker_members may call them."
  type        = list(string)
}

variable "api_invoker_members" {
  description = "Principals allowed to call the public functions (IAM is required on top of the API key; allUsers is refused)."
  type        = list(string)
  default     = []

  validation {
    condition     = length(setintersection(toset(var.api_invoker_members), toset(["allUsers", "allAuthenticatedUsers"]))) == 0
    error_message = "allUsers and allAuthenticatedUsers are not allowed: name the callers."
  }
}

variable "service_account_emails" {
  description = "Function name => email of its own service account."
  type        = map(string)
}

variable "service_account_ids" {
  description = "Function name => resource id of its own service account."
  type        = map(string)
}

variable "invoker_members" {
  description = "Invoker identity (push, scheduler, tasks) => IAM member."
  type        = map(string)
}

variable "pubsub_agent_member" {
  description = "The Pub/Sub service agent: it mints the OIDC tokens of Eventarc's push deliveries."
  type        = string
}

variable "bucket_names" {
  description = "Bucket id => real name (storage triggers filter on it)."
  type        = map(string)
}

variable "source_bucket" {
  description = "Bucket holding the source archive."
  type        = string
}

variable "source_object" {
  description = "The source archive's object name."
  type        = string
}

variable "build_service_account_id" {
  description = "Resource id of the account Cloud Build runs as."
  type        = string
}

variable "build_member" {
  description = "IAM member of the build account (it pushes images to the repository)."
  type        = string
}

variable "kms_key_name" {
  description = "CMEK key for the functions and their image repository, or null."
  type        = string
  default     = null
}

variable "image_versions_kept" {
  description = "Images kept per function in the repository (older ones are cleaned up)."
  type        = number
  default     = 5

  validation {
    condition     = var.image_versions_kept >= 1
    error_message = "Keep at least one image."
  }
}

variable "grant_ids" {
  description = "Ids of the grants the builds and the functions rely on (build account, function accounts): the wait for IAM propagation starts again when one changes."
  type        = list(string)
  default     = []
}

variable "iam_propagation_wait" {
  description = "How long the builds wait for the grants to propagate (a duration such as 120s): IAM changes take typically 2 minutes, sometimes 7 or more."
  type        = string
  default     = "120s"

  validation {
    condition     = can(regex("^[0-9]+[smh]$", var.iam_propagation_wait))
    error_message = "A duration such as 120s or 7m."
  }
}
