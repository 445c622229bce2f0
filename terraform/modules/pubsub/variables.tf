variable "project_id" {
  description = "Project to deploy into."
  type        = string
}

variable "region" {
  description = "The only region where messages are stored (message storage policy), for data residency."
  type        = string
}

variable "topics" {
  description = "Topic id => role, dead-letter topic and an archive's subscription name (from module.spec.topics)."
  type = map(object({
    description          = string
    role                 = string
    dead_letter          = bool
    dead_letter_topic    = optional(string)
    archive              = optional(bool, false)
    archive_subscription = optional(string)
  }))

  validation {
    condition     = alltrue([for t in values(var.topics) : t.dead_letter || t.archive || t.dead_letter_topic != null])
    error_message = "Every topic but a dead-letter or archive topic names its dead-letter topic."
  }
  validation {
    condition     = alltrue([for t in values(var.topics) : t.dead_letter_topic == null || contains([for k, d in var.topics : k if(t.role == "events" ? d.archive : d.dead_letter)], coalesce(t.dead_letter_topic, "-"))])
    error_message = "A dead_letter_topic must be one of the dead-letter topics; an events topic's, one of the archive topics (an event among step messages would be dropped)."
  }
  validation {
    condition     = alltrue([for t in values(var.topics) : !t.archive || t.archive_subscription != null])
    error_message = "An archive topic names the subscription that keeps its messages."
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
  description = "How long a dead-letter or archive topic, and an archive's subscription, keep their messages (for replay), as a duration such as 604800s."
  type        = string
  default     = "604800s"

  validation {
    condition     = can(regex("^[0-9]+s$", var.dead_letter_retention))
    error_message = "A duration in seconds, such as 604800s."
  }
}
