variable "project_id" {
  description = "Project to deploy into."
  type        = string
}

variable "region" {
  description = "Location of the buckets (a region keeps the data in it, e.g. europe-west3)."
  type        = string
}

variable "buckets" {
  description = "Bucket id => real name, retention and versioning (from module.spec.buckets)."
  type = map(object({
    name           = string
    description    = string
    retention_days = number
    versioning     = bool
  }))

  validation {
    condition     = alltrue([for b in values(var.buckets) : b.retention_days >= 1])
    error_message = "retention_days must be at least 1."
  }
}

variable "grants" {
  description = "\"<function>/<bucket>/<role>\" => bucket-level role of a function's account (from module.spec.bucket_grants)."
  type = map(object({
    function = string
    bucket   = string
    role     = string
  }))

  validation {
    condition     = alltrue([for g in values(var.grants) : startswith(g.role, "roles/storage.") || can(regex("^projects/[^/]+/roles/[A-Za-z0-9_.]+$", g.role))])
    error_message = "Only Cloud Storage roles and the custom roles of var.custom_roles (Cloud Storage permissions only) are granted on buckets."
  }
}

variable "custom_roles" {
  description = "Key => custom project role some grant uses: role_id, title, description, permissions, and its full name projects/P/roles/ID (from module.spec.custom_roles)."
  type = map(object({
    role_id     = string
    name        = string
    title       = string
    description = string
    permissions = list(string)
  }))
  default = {}

  validation {
    condition     = alltrue(flatten([for r in values(var.custom_roles) : [for p in r.permissions : startswith(p, "storage.objects.")]]))
    error_message = "The custom roles granted on buckets hold Cloud Storage object permissions only."
  }
}

variable "members" {
  description = "Function name => IAM member of its service account."
  type        = map(string)
}

variable "kms_key_name" {
  description = "CMEK key for the buckets' default encryption, or null (Google-managed keys)."
  type        = string
  default     = null
}

variable "soft_delete_retention_days" {
  description = "Days a deleted object can still be restored (0 turns soft delete off; 7 to 90 otherwise)."
  type        = number
  default     = 7

  validation {
    condition     = var.soft_delete_retention_days == 0 || (var.soft_delete_retention_days >= 7 && var.soft_delete_retention_days <= 90)
    error_message = "soft_delete_retention_days is 0 or between 7 and 90."
  }
}

variable "access_log_bucket" {
  description = "Bucket that receives the usage logs of the pipeline's buckets, or null (Cloud Audit Logs only)."
  type        = string
  default     = null
}

variable "force_destroy" {
  description = "Let `terraform destroy` delete non-empty buckets (for throw-away projects only)."
  type        = bool
  default     = false
}
