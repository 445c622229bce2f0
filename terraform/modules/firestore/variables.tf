variable "project_id" {
  description = "Project to deploy into."
  type        = string
}

variable "location_id" {
  description = "Firestore location: a region (e.g. europe-west3) or a multi-region (eur3, nam5)."
  type        = string
}

variable "create_database" {
  description = "Create the (default) database; false when the project has one already (it must be Firestore in Native mode)."
  type        = bool
  default     = true
}

variable "layout" {
  description = "Collection, composite index, TTL and vector index the code relies on (from module.spec.firestore)."
  type = object({
    collection = string
    sweeper_index = list(object({
      field_path = string
      order      = string
    }))
    ttl_field             = string
    ttl_expiration_offset = string
    vector = object({
      collection_group = string
      field            = string
      dimension        = number
    })
  })

  validation {
    condition     = var.layout.vector.dimension >= 1 && var.layout.vector.dimension <= 2048
    error_message = "A Firestore vector index has 1 to 2048 dimensions."
  }
}

variable "kms_key_name" {
  description = "CMEK key for a new database (in the database's location), or null. Only applies when the database is created."
  type        = string
  default     = null
}

variable "delete_protection" {
  description = "Refuse to delete the database (turn off only for throw-away projects)."
  type        = bool
  default     = true
}

variable "point_in_time_recovery" {
  description = "Keep 7 days of versions for point-in-time recovery."
  type        = bool
  default     = true
}
