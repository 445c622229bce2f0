variable "project_id" {
  description = "Project to deploy into."
  type        = string
}

variable "region" {
  description = "The only region where messages are stored (message storage policy), for data residency."
  type        = string
}

variable "topics" {
  description = "Topic id => role and dead-letter topic (from module.spec.topics)."
  type = map(object({
    description       = string
    role              = string
    dead_letter       = bool
    dead_letter_topic = optional(string)
  }))

  validation {
    condition     = alltrue([for t in values(var.topics) : t.dead_letter || t.dead_letter_topic != null])
    error_message = "Every topic but a dead-letter topic names its dead-letter topic."
  }
  validation {
    condition     = alltrue([for t in values(var.topics) : t.dead_letter_topic == null || contains([for k, d in var.topics : k if d.dead_letter], coalesce(t.dead_letter_topic, "-"))])
    error_message = "A dead_letter_topic must be one of the dead-letter topics."
  }
}

variable "publishers" {
  description = "\"<function>/<topic>\" => a function's right to publish to one topic (from module.spec.topic_publishers)."
  type = map(object({
    function = string
    topic    = string
  }))
}

variable "members" {
  description = "Function name => IAM member of its service account."
  type        = map(string)
}

variable "pubsub_agent_member" {
  description = "The Pub/Sub service agent (it forwards undeliverable messages to the dead-letter topics)."
  type        = string
}

variable "kms_key_name" {
  description = "CMEK key for the topics, or null."
  type        = string
  default     = null
}

variable "dead_letter_retention" {
  description = "How long a dead-letter topic keeps its messages (for replay), as a duration such as 604800s."
  type        = string
  default     = "604800s"

  validation {
    condition     = can(regex("^[0-9]+s$", var.dead_letter_retention))
    error_message = "A duration in seconds, such as 604800s."
  }
}
