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
  description = "The regional CMEK key (projects/P/locations/L/keyRings/R/cryptoKeys/K) or null: when set, the service agents of the regional resources get roles/cloudkms.cryptoKeyEncrypterDecrypter on it."
  type        = string
  default     = null
}

variable "firestore_kms_key_name" {
  description = "The Firestore database's CMEK key (in the database's location) or null: when set, the Firestore service agent is generated and gets roles/cloudkms.cryptoKeyEncrypterDecrypter on it."
  type        = string
  default     = null
}

variable "api_activation_wait" {
  description = "How long to wait after enabling APIs before their first use (a duration such as 60s): activation is eventually consistent."
  type        = string
  default     = "60s"

  validation {
    condition     = can(regex("^[0-9]+[smh]$", var.api_activation_wait))
    error_message = "A duration such as 60s or 2m."
  }
}
