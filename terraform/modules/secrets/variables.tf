variable "project_id" {
  description = "Project to deploy into."
  type        = string
}

variable "region" {
  description = "The only region the secret is replicated to (data residency)."
  type        = string
}

variable "secret_id" {
  description = "Id of the API key secret (the functions read it as CONTENTFLOW_API_KEY)."
  type        = string

  validation {
    condition     = can(regex("^[A-Za-z0-9_-]{1,255}$", var.secret_id))
    error_message = "A secret id is letters, digits, hyphens and underscores."
  }
}

variable "accessors" {
  description = "Function name => IAM member of its account, for the functions that read the secret."
  type        = map(string)
}

variable "kms_key_name" {
  description = "CMEK key (in the same region) for the secret's replica, or null."
  type        = string
  default     = null
}
