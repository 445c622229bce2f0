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

variable "inference_backend" {
  description = "Inference backend of the functions that use the model (CONTENTFLOW_INFERENCE__BACKEND): vertex (Vertex AI) or local (models packaged with the code)."
  type        = string
  default     = "vertex"

  validation {
    condition     = contains(["local", "vertex"], var.inference_backend)
    error_message = "The inference_backend is local or vertex."
  }
}

variable "vertex_location" {
  description = "Vertex AI location of the model calls (CONTENTFLOW_INFERENCE__VERTEX_LOCATION), e.g. global or europe-west3."
  type        = string
  default     = "global"

  validation {
    condition     = can(regex("^(global|[a-z]+-[a-z]+[0-9]+|eu|us)$", var.vertex_location))
    error_message = "The vertex_location is global, a region such as europe-west3, or a multi-region (eu, us)."
  }
}

variable "generation_model" {
  description = "Generation model id (CONTENTFLOW_INFERENCE__GENERATION_MODEL); null leaves the code's default."
  type        = string
  default     = null

  validation {
    condition     = var.generation_model == null || can(regex("^[a-zA-Z0-9][a-zA-Z0-9._@/-]{0,199}$", coalesce(var.generation_model, "x")))
    error_message = "A model id such as gemini-2.5-flash, or null."
  }
}

variable "embedding_model" {
  description = "Embedding model id (CONTENTFLOW_INFERENCE__EMBEDDING_MODEL); null leaves the code's default. Its output dimensionality must be the spec's embeddings.dimensions of the backend."
  type        = string
  default     = null

  validation {
    condition     = var.embedding_model == null || can(regex("^[a-zA-Z0-9][a-zA-Z0-9._@/-]{0,199}$", coalesce(var.embedding_model, "x")))
    error_message = "A model id such as text-embedding-005, or null."
  }
}
