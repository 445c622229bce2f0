# EU data residency with customer-managed keys: one key in the same region encrypts the buckets,
# topics, the API key secret, the functions and their images and the (new) Firestore database.
# Cloud KMS keys serve only their own location (checked at plan time, modules/cmek).
project_id   = "my-contentflow-project"
region       = "europe-west3"
kms_key_name = "projects/my-kms-project/locations/europe-west3/keyRings/contentflow/cryptoKeys/data"

# A multi-region Firestore database needs a key of its own in the matching Cloud KMS multi-region:
# eur3 => europe, nam5 => us (a regional key cannot serve it; nam7 has no documented key location).
# firestore_location     = "eur3"
# firestore_kms_key_name = "projects/my-kms-project/locations/europe/keyRings/contentflow/cryptoKeys/firestore"

api_invoker_members = ["serviceAccount:uploader@my-client-project.iam.gserviceaccount.com"]

soft_delete_retention_days = 30
labels                     = { env = "prod", data = "confidential" }
