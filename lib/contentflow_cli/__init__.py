"""The `contentflow` command line: a client of the HTTP api (see lib/contentflow/api and its /docs).

Kept apart from the domain package `contentflow`: nothing there imports typer or rich, and nothing
here imports the domain (the CLI talks to a deployed api as well as to the local stack)."""
