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

variable "retry" {
  description = "Retries of a failed run (non-2xx or past its attempt deadline): retry_count (0 to 5), backoffs and doublings; short, so that a retry ends before the next run."
  type = object({
    retry_count   = number
    min_backoff   = string
    max_backoff   = string
    max_doublings = number
  })
  default = {
    retry_count   = 2
    min_backoff   = "30s"
    max_backoff   = "120s"
    max_doublings = 2
  }

  validation {
    condition     = var.retry.retry_count >= 0 && var.retry.retry_count <= 5 && can(regex("^[0-9]+s$", var.retry.min_backoff)) && can(regex("^[0-9]+s$", var.retry.max_backoff))
    error_message = "retry_count is 0 to 5; backoffs are durations in seconds such as \"30s\"."
  }
}
