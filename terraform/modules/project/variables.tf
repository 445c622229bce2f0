variable "project_id" {
  description = "Project to deploy into."
  type        = string
}

variable "apis" {
  description = "Service APIs to enable (e.g. run.googleapis.com). They stay enabled on destroy."
  type        = list(string)

  validation {
    condition     = alltrue([for a in var.apis : can(regex("^[a-z0-9-]+\\.googleapis\\.com$", a))])
    error_message = "Each API must be a service name ending in .googleapis.com."
  }
}

variable "enable_apis" {
  description = "Enable the APIs (false: they are enabled already, e.g. by an organisation's project factory)."
  type        = bool
  default     = true
}

variable "storage_triggers" {
  description = "Whether any function has a Cloud Storage trigger (the Storage service agent then publishes to Pub/Sub for Eventarc)."
  type        = bool
}

variable "kms_key_name" {
  description = "CMEK key (projects/P/locations/L/keyRings/R/cryptoKeys/K) or null: when set, the service agents that encrypt with it get roles/cloudkms.cryptoKeyEncrypterDecrypter on it."
  type        = string
  default     = null
}
