variable "project_id" {
  description = "Project to deploy into."
  type        = string
}

variable "region" {
  description = "Location of the jobs."
  type        = string
}

variable "schedules" {
  description = "Schedule id => cron, time zone, target function, JSON body, attempt deadline (from module.spec.schedules)."
  type = map(object({
    description      = string
    schedule         = string
    time_zone        = string
    function         = string
    body             = string
    attempt_deadline = string
  }))

  validation {
    condition     = alltrue([for s in values(var.schedules) : length(split(" ", s.schedule)) == 5])
    error_message = "A schedule is a five-field cron expression."
  }
}

variable "function_uris" {
  description = "Function name => URI of its service (the job's target and token audience)."
  type        = map(string)
}

variable "scheduler_service_account_email" {
  description = "Account whose OIDC token each job sends (it may invoke only the schedule targets); null when there is no schedule."
  type        = string
  default     = null
}
