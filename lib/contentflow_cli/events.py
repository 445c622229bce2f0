"""`contentflow events replay`: republishes the output events consumers gave up on (the archive
of the output topic, see contentflow.events_replay). Talks to Pub/Sub itself, not to the api: the
local stack's emulator by default, or a deployed project's Pub/Sub with --project (Application
Default Credentials; the caller needs pubsub.subscriber on the archive subscription and
pubsub.publisher on the output topic)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.text import Text

from contentflow_cli import render
from contentflow_cli.client import CliError, ExitCode, Unreachable, clean
from contentflow_cli.target import DEFAULT_DATA_DIR, local_stack_state, usage_error

events_app = typer.Typer(help="Output events (document.processed, document.failed) consumers could not take.",
                         no_args_is_help=True, rich_markup_mode=None)

MAX_LIMIT = 1000  # contentflow.events_replay.MAX_REPLAY


def _clients(project: str | None, data_dir: Path | None):
    """(project id, subscriber, publisher) for a deployed project or the running local stack."""
    from google.cloud import pubsub_v1

    if project is not None:
        from contentflow_cli.target import _PROJECT_ID

        if not _PROJECT_ID.fullmatch(project):
            raise usage_error(f"not a Google Cloud project id: {project!r}")
        return project, pubsub_v1.SubscriberClient(), pubsub_v1.PublisherClient()
    state = local_stack_state(data_dir or DEFAULT_DATA_DIR)
    if not state or not state.get("ready"):
        raise Unreachable(f"no local stack running under {data_dir or DEFAULT_DATA_DIR} (start it: contentflow local up), "
                          "or give --project")
    import grpc
    from google.pubsub_v1.services.publisher.transports import PublisherGrpcTransport
    from google.pubsub_v1.services.subscriber.transports import SubscriberGrpcTransport

    host = state["env"]["PUBSUB_EMULATOR_HOST"]  # the emulator: plain gRPC, no credentials
    return (state["project_id"],
            pubsub_v1.SubscriberClient(transport=SubscriberGrpcTransport(channel=grpc.insecure_channel(host))),
            pubsub_v1.PublisherClient(transport=PublisherGrpcTransport(channel=grpc.insecure_channel(host))))


@events_app.command("replay")
def replay(
    limit: Annotated[int, typer.Option("--limit", min=1, max=MAX_LIMIT, help="Replay at most this many events in this run.")] = 100,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="List the archived events; replay nothing, take nothing.")] = False,
    project: Annotated[Optional[str], typer.Option("--project", help="A deployed project (its Pub/Sub, with ADC).")] = None,
    data_dir: Annotated[Optional[Path], typer.Option("--data-dir", help=f"The local stack's data folder. Default: {DEFAULT_DATA_DIR}.")] = None,
    json_output: Annotated[bool, typer.Option("--json", help="Print one JSON document on stdout.")] = False,
):
    """Republish archived output events (a consumer's subscription dead-lettered them) to the output
    topic, data and attributes unchanged: consumers de-duplicate on the event id. Each is taken from
    the archive only once its publish is confirmed (exit 1 if a publish failed: the rest stay)."""
    try:
        from contentflow.events_replay import EventReplay, ReplayError
        from contentflow.spec import load_spec

        project_id, subscriber, publisher = _clients(project, data_dir)
        try:
            report = EventReplay(load_spec(), project_id, subscriber, publisher).run(limit=limit, dry_run=dry_run)
        except ReplayError as err:
            raise CliError("no_archive", str(err), ExitCode.USAGE) from None
        finally:
            subscriber.close()
            publisher.transport.close()
    except CliError as err:
        render.stderr_console().print(Text(f"error: {err.code}: {clean(err.message)}"), soft_wrap=True)
        if json_output:
            render.print_json({"error": {"code": err.code, "message": clean(err.message)}, "exit_code": int(err.exit_code)})
        raise typer.Exit(int(err.exit_code)) from None
    if json_output:
        render.print_json(report.to_dict())
    else:
        out = render.stdout_console()
        verb = "archived (dry run, nothing replayed)" if dry_run else "replayed"
        for event in report.events:
            out.print(Text(f"{clean(event['event_id'])}  {clean(event['event_type'])}  {clean(event['published_at'])}"), soft_wrap=True)
        out.print(Text(f"{len(report.events)} events {verb}; {report.unreadable} messages that are not events left in the archive"))
    if report.error:
        render.stderr_console().print(Text(f"error: replay_stopped: {clean(report.error)}"), soft_wrap=True)
        raise typer.Exit(int(ExitCode.FAILED))
