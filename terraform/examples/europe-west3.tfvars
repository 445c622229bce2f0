# EU data residency: everything in Frankfurt, Google-managed keys.
# terraform -chdir=terraform apply -var-file=examples/europe-west3.tfvars
project_id = "my-contentflow-project"
region     = "europe-west3"

api_invoker_members = ["group:contentflow-clients@example.com"]

notification_channels = [] # e.g. ["projects/my-contentflow-project/notificationChannels/1234567890"]

labels = { env = "prod" }

# Model calls: "global" lets Google choose where a call is processed. For EU processing set a region
# where the generation and embedding models are offered, e.g. vertex_location = "europe-west4".
inference_backend = "vertex"
