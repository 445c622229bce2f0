terraform {
  required_version = ">= 1.5.0"

  required_providers {
    google = {
      source  = "hashicorp/google"
      version = ">= 7.35, < 8.0"
    }
    google-beta = {
      source  = "hashicorp/google-beta"
      version = ">= 7.35, < 8.0"
    }
    archive = {
      source  = "hashicorp/archive"
      version = ">= 2.4, < 3.0"
    }
    time = {
      source  = "hashicorp/time"
      version = ">= 0.11, < 1.0"
    }
  }
}

provider "google" {
  project        = var.project_id
  region         = var.region
  default_labels = merge({ app = "contentflow" }, var.labels)
}

provider "google-beta" {
  project        = var.project_id
  region         = var.region
  default_labels = merge({ app = "contentflow" }, var.labels)
}
