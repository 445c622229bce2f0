# EU data residency with customer-managed keys: one key in the same region encrypts the buckets,
# topics, the API key secret, the function images and the (new) Firestore database.
project_id   = "my-contentflow-project"
region       = "europe-west3"
kms_key_name = "projects/my-kms-project/locations/europe-west3/keyRings/contentflow/cryptoKeys/data"

api_invoker_members = ["serviceAccount:uploader@my-client-project.iam.gserviceaccount.com"]

soft_delete_retention_days = 30
labels                     = { env = "prod", data = "confidential" }
