variable "region" {
  description = "Region of the buckets, topics, secret, functions and image repository: the regional key must be here."
  type        = string
}

variable "firestore_location" {
  description = "Location of the Firestore database: a region (e.g. europe-west3) or a multi-region (eur3, nam5, nam7)."
  type        = string
}

variable "create_firestore_database" {
  description = "Whether Terraform creates the database (only a new database takes a key)."
  type        = bool
  default     = true
}

variable "kms_key_name" {
  description = "The regional CMEK key (projects/P/locations/L/keyRings/R/cryptoKeys/K), or null (Google-managed keys)."
  type        = string
  default     = null
}

variable "firestore_kms_key_name" {
  description = "The Firestore database's CMEK key, or null: then kms_key_name serves a regional database; a multi-region database needs a key of its own."
  type        = string
  default     = null
}
