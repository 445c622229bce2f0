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
  description = "Collection, composite indexes (sweeper, listing), TTL policies and the chunk search's vector indexes the code relies on (from module.spec.firestore)."
  type = object({
    collection = string
    sweeper_index = list(object({
      field_path = string
      order      = string
    }))
    ttl_field             = string
    ttl_expiration_offset = string
    vector_indexes = map(object({
      collection = string
      field      = string
      dimension  = number
      filters = list(object({
        field_path   = string
        order        = optional(string)
        array_config = optional(string)
      }))
    }))
    listing_indexes = map(object({
      collection = string
      fields = list(object({
        field_path   = string
        order        = optional(string)
        array_config = optional(string)
      }))
    }))
    expiring = map(object({
      collection = string
      field      = string
    }))
  })

  validation {
    condition     = alltrue([for i in values(var.layout.vector_indexes) : i.dimension >= 1 && i.dimension <= 2048])
    error_message = "A Firestore vector index has 1 to 2048 dimensions."
  }
  validation {
    condition     = alltrue(flatten([for i in values(var.layout.vector_indexes) : [for f in i.filters : (f.order == null) != (f.array_config == null)]]))
    error_message = "Each pre-filter field of a vector index has either an order (equality) or an array_config (array-contains)."
  }

  validation {
    condition     = alltrue(flatten([for i in values(var.layout.listing_indexes) : [for f in i.fields : (f.order == null) != (f.array_config == null)]]))
    error_message = "Each field of a listing index has either an order or an array_config (array-contains)."
  }

  validation {
    condition     = alltrue([for i in values(var.layout.listing_indexes) : length([for f in i.fields : f if f.array_config != null]) <= 1])
    error_message = "A composite index has at most one array-contains field."
  }
}

variable "index_exemptions" {
  description = "Single-field index exemptions (from module.spec.index_exemptions): \"<collection>/<field>\" => collection, field path, the automatic indexes the field keeps (each an order or array-contains; none: an empty list) and under_exempted_map (a subfield that keeps indexes under an exempted map, set before the map's exemption)."
  type = map(object({
    collection = string
    field      = string
    indexes = list(object({
      order        = optional(string)
      array_config = optional(string)
    }))
    under_exempted_map = bool
  }))
  default = {}

  validation {
    condition     = alltrue([for k, e in var.index_exemptions : k == "${e.collection}/${e.field}"])
    error_message = "Each index exemption is keyed \"<collection>/<field>\" (a field takes one google_firestore_field)."
  }
  validation {
    condition     = alltrue([for e in values(var.index_exemptions) : can(regex("^[A-Za-z_][A-Za-z0-9_]*(\\.[A-Za-z_][A-Za-z0-9_]*)*$", e.field))])
    error_message = "An index exemption's field is a path of names (letters, digits, _) joined by dots."
  }
  validation {
    condition = alltrue(flatten([for e in values(var.index_exemptions) : [for i in e.indexes :
      (i.order == null) != (i.array_config == null) && contains(["ASCENDING", "DESCENDING"], coalesce(i.order, "ASCENDING")) && coalesce(i.array_config, "CONTAINS") == "CONTAINS"
    ]]))
    error_message = "Each kept index is an order (ASCENDING or DESCENDING) or array_config CONTAINS, not both."
  }
  validation {
    condition     = alltrue([for e in values(var.index_exemptions) : length(distinct(e.indexes)) == length(e.indexes)])
    error_message = "An index exemption keeps each index at most once."
  }
  validation {
    condition     = length(var.index_exemptions) < 200
    error_message = "Firestore takes at most 200 single-field index exemptions per database (the expiry policies' fields count too)."
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
