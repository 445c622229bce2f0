# Provider-free on purpose, like modules/spec: `terraform plan` runs offline on this module, so
# the tests check the key-location rules with the real expressions.
terraform {
  required_version = ">= 1.5.0"
}
