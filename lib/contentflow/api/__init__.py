"""The HTTP api (FastAPI): routes, request/response models and the status page. An adapter at the
edge: it calls the domain's use cases through `Services` and maps their errors to one error shape.
`functions/api.py` serves it inside functions-framework (see `app.create_app`)."""
