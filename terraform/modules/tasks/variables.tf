variable "project_id" {
  description = "Project to deploy into."
  type        = string
}

variable "region" {
  description = "Location of the queues."
  type        = string
}

variable "queues" {
  description = "Queue id => rate limits, retry configuration, consumer functions (from module.spec.queues)."
  type = map(object({
    max_dispatches_per_second = number
    max_concurrent_dispatches = number
    max_attempts              = number
    min_backoff               = string
    max_backoff               = string
    max_doublings             = number
    max_retry_duration        = string
    consumers                 = list(string)
  }))

  validation {
    condition     = alltrue([for q in values(var.queues) : q.max_dispatches_per_second > 0 && q.max_dispatches_per_second <= 500])
    error_message = "max_dispatches_per_second is above 0 and at most 500."
  }
}

variable "enqueuers" {
  description = "\"<function>/<queue>\" => a function's right to create tasks on one queue (from module.spec.queue_enqueuers)."
  type = map(object({
    function = string
    queue    = string
  }))
}

variable "members" {
  description = "Function name => IAM member of its service account."
  type        = map(string)
}

variable "function_uris" {
  description = "Function name => URI of its service (the token audience of the queue's consumer)."
  type        = map(string)
}

variable "tasks_invoker_email" {
  description = "Account whose OIDC token Cloud Tasks attaches to the tasks of queues with one consumer, or null when no function is queue-triggered."
  type        = string
  default     = null
}

variable "tasks_invoker_id" {
  description = "Resource id of that account, or null."
  type        = string
  default     = null
}

variable "log_sampling_ratio" {
  description = "Fraction of task operations logged (0 to 1)."
  type        = number
  default     = 1

  validation {
    condition     = var.log_sampling_ratio >= 0 && var.log_sampling_ratio <= 1
    error_message = "log_sampling_ratio is between 0 and 1."
  }
}
