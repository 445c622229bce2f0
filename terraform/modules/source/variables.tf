variable "project_id" {
  description = "Project to deploy into."
  type        = string
}

variable "region" {
  description = "Location of the source bucket."
  type        = string
}

variable "source_root" {
  description = "Repository root the files are read from."
  type        = string
}

variable "files" {
  description = "Paths relative to source_root to package (from module.spec.source_files): functions/, lib/, requirements.txt."
  type        = list(string)

  validation {
    condition     = contains(var.files, "requirements.txt") && alltrue([for f in var.files : can(regex("^(functions/|lib/|requirements\\.txt$)", f))])
    error_message = "The archive holds requirements.txt and files under functions/ and lib/ only."
  }
}

variable "spec_path" {
  description = "The spec Terraform read: packaged as spec_in_archive so the functions run the same wiring."
  type        = string
}

variable "spec_in_archive" {
  description = "Path of the spec inside the archive."
  type        = string
}

variable "output_path" {
  description = "Where the zip is written locally (ignored by git)."
  type        = string
}

variable "build_member" {
  description = "IAM member of the build account, which reads the archive."
  type        = string
}

variable "kms_key_name" {
  description = "CMEK key for the source bucket, or null."
  type        = string
  default     = null
}

variable "archive_retention_days" {
  description = "Days an archive that is no longer the current one is kept (for rollbacks)."
  type        = number
  default     = 30

  validation {
    condition     = var.archive_retention_days >= 1
    error_message = "archive_retention_days must be at least 1."
  }
}
