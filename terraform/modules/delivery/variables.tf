variable "project_id" {
  description = "Project to deploy into."
  type        = string
}

variable "subscriptions" {
  description = "\"<topic>--<function>\" => push delivery of a topic to a function with the spec's policy (from module.spec.subscriptions)."
  type = map(object({
    topic                 = string
    function              = string
    dead_letter_topic     = optional(string)
    max_delivery_attempts = number
    ack_deadline_seconds  = number
    minimum_backoff       = string
    maximum_backoff       = string
  }))

  validation {
    condition     = alltrue([for s in values(var.subscriptions) : s.max_delivery_attempts >= 5 && s.max_delivery_attempts <= 100])
    error_message = "max_delivery_attempts is between 5 and 100 (a Pub/Sub limit)."
  }
  validation {
    condition     = alltrue([for s in values(var.subscriptions) : s.ack_deadline_seconds >= 10 && s.ack_deadline_seconds <= 600])
    error_message = "ack_deadline_seconds is between 10 and 600 (a Pub/Sub limit)."
  }
}

variable "topic_ids" {
  description = "Topic id => full topic id."
  type        = map(string)
}

variable "function_uris" {
  description = "Function name => URI of its service (the push endpoint and the token audience)."
  type        = map(string)
}

variable "push_service_account_email" {
  description = "The push invoker: Pub/Sub signs each push with an OIDC token of this account (null when there is no subscription)."
  type        = string
  default     = null
}

variable "push_service_account_id" {
  description = "Resource id of the push invoker account (null when there is no subscription)."
  type        = string
  default     = null
}

variable "pubsub_agent_member" {
  description = "The Pub/Sub service agent (mints the push tokens, acknowledges dead-lettered messages)."
  type        = string
}

variable "message_retention" {
  description = "How long an undelivered message is kept, as a duration such as 604800s (7 days, the maximum)."
  type        = string
  default     = "604800s"

  validation {
    condition     = can(regex("^[0-9]+s$", var.message_retention))
    error_message = "A duration in seconds, such as 604800s."
  }
}
