variable "spec_path" {
  description = "Path of the pipeline spec (lib/contentflow/pipeline.yaml, or a copy of it in tests)."
  type        = string

  validation {
    condition     = can(regex("\\.ya?ml$", var.spec_path)) && fileexists(var.spec_path)
    error_message = "The spec_path must name an existing .yaml file."
  }
}

variable "source_root" {
  description = "Repository root: the deployed archive holds functions/, lib/ and requirements.txt from here."
  type        = string

  validation {
    condition     = fileexists("${var.source_root}/requirements.txt")
    error_message = "The source_root must be the repository root (it has no requirements.txt)."
  }
}

variable "project_id" {
  description = "Google Cloud project id: bucket names are \"<project_id>-<bucket id>\"."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{4,28}[a-z0-9]$", var.project_id))
    error_message = "The project_id must be a Google Cloud project id (6-30 lowercase letters, digits, hyphens)."
  }
}

variable "region" {
  description = "Region of every regional resource (functions, buckets, queues, schedules), e.g. europe-west3."
  type        = string

  validation {
    condition     = can(regex("^[a-z]+-[a-z]+[0-9]+$", var.region))
    error_message = "The region must be a Google Cloud region such as europe-west3."
  }
}
