variable "project_id" {
  description = "Project to deploy into."
  type        = string
}

variable "functions" {
  description = "Function name => deployed service name and timeout (from module.spec.functions)."
  type = map(object({
    service_name    = string
    timeout_seconds = number
  }))
}

variable "step_functions" {
  description = "Functions that run a pipeline step (each gets a latency alert)."
  type        = list(string)
}

variable "dead_letter_topics" {
  description = "Ids of the dead-letter topics."
  type        = list(string)
}

variable "subscriptions" {
  description = "Subscription name => topic id (from module.spec.subscriptions)."
  type        = map(string)
}

variable "queues" {
  description = "Queue ids (for the dashboard)."
  type        = list(string)
  default     = []
}

variable "notification_channels" {
  description = "Notification channel ids (projects/P/notificationChannels/N) the alerts go to."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for c in var.notification_channels : can(regex("^projects/[^/]+/notificationChannels/[^/]+$", c))])
    error_message = "A channel id looks like projects/P/notificationChannels/N."
  }
}

variable "error_rate_threshold" {
  description = "Alert when more than this fraction of a function's requests fail with 5xx over 5 minutes."
  type        = number
  default     = 0.05

  validation {
    condition     = var.error_rate_threshold > 0 && var.error_rate_threshold < 1
    error_message = "error_rate_threshold is a fraction between 0 and 1."
  }
}

variable "failure_threshold" {
  description = "Alert when more than this many failures (log lines with a reason) are logged in 5 minutes."
  type        = number
  default     = 5

  validation {
    condition     = var.failure_threshold >= 0
    error_message = "failure_threshold cannot be negative."
  }
}

variable "latency_threshold_ratio" {
  description = "Alert when a step's p95 latency exceeds this fraction of its function's timeout."
  type        = number
  default     = 0.8

  validation {
    condition     = var.latency_threshold_ratio > 0 && var.latency_threshold_ratio <= 1
    error_message = "latency_threshold_ratio is a fraction between 0 and 1."
  }
}

variable "metric_availability_wait" {
  description = "How long the alert policies on the failures log-based metric wait after it is created (a duration): Cloud Monitoring may take up to 10 minutes to know a new metric."
  type        = string
  default     = "600s"

  validation {
    condition     = can(regex("^[0-9]+[smh]$", var.metric_availability_wait))
    error_message = "A duration such as 600s or 10m."
  }
}
