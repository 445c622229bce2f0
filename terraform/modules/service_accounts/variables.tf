variable "project_id" {
  description = "Project to deploy into."
  type        = string
}

variable "functions" {
  description = "Function name => its account id and description (from module.spec.functions)."
  type = map(object({
    account_id  = string
    description = string
  }))

  validation {
    condition     = alltrue([for f in values(var.functions) : can(regex("^[a-z][a-z0-9-]{4,28}[a-z0-9]$", f.account_id))])
    error_message = "Account ids are 6-30 lowercase letters, digits and hyphens."
  }
}

variable "invokers" {
  description = "Invoker identity (push, scheduler, tasks) => account id (from module.spec.invokers)."
  type = map(object({
    account_id = string
    functions  = list(string)
  }))
}

variable "project_role_grants" {
  description = "\"<function>/<role>\" => the project-level roles of each function's own account (the spec's project_roles)."
  type = map(object({
    function = string
    role     = string
  }))

  validation {
    condition     = alltrue([for g in values(var.project_role_grants) : !contains(["roles/owner", "roles/editor", "roles/viewer"], g.role)])
    error_message = "Primitive roles are not allowed."
  }
}

variable "url_signers" {
  description = "Functions that sign Cloud Storage URLs as their own account (from module.spec.url_signers): each gets serviceAccountTokenCreator on its own account."
  type        = list(string)
  default     = []
}

variable "firestore_database" {
  description = "Id of the pipeline's Firestore database: the Firestore roles of the functions hold on it only (an IAM condition)."
  type        = string
  default     = "(default)"
}
