# Provider-free on purpose: `terraform init` and `terraform plan` work offline on this module, so
# the tests evaluate the real expressions the root module uses (tests/terraform/).
terraform {
  required_version = ">= 1.5.0"
}
