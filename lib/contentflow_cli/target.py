"""Which api the CLI talks to, and with what credentials.

1. `--api-url URL` (or CONTENTFLOW_API_URL): that api.
2. `--project P`: the deployed api of project P, https://REGION-P.cloudfunctions.net/api (the URL
   Cloud Functions gives the function Terraform deploys as `api`; `--region`, default europe-west3
   as scripts/deploy; `terraform output api_url` shows it), called with an ID token from
   Application Default Credentials (Cloud Functions IAM). `--api-url` wins over the derived URL.
3. Neither: the local stack started by `contentflow local up` (or scripts/stack), found through its
   state file in the data folder (`--data-dir`, default .local-data in the checkout).

`X-API-Key` is sent when CONTENTFLOW_API_KEY is set (an api that requires a key); it is never printed.
"""

from __future__ import annotations

import os
import re
import sys
from dataclasses import dataclass
from pathlib import Path

from contentflow_cli.client import ApiClient, CliError, ExitCode, Unreachable

REPO = Path(__file__).resolve().parents[2]  # the checkout: lib/contentflow_cli -> lib -> repo
DEFAULT_DATA_DIR = REPO / ".local-data"  # as local/__main__.py
DEFAULT_REGION = "europe-west3"  # as scripts/deploy
API_FUNCTION = "api"  # the spec's function name; deployed under the same name
_PROJECT_ID = re.compile(r"^[a-z][a-z0-9-]{4,28}[a-z0-9]$")
_REGION = re.compile(r"^[a-z]+-[a-z]+[0-9]+$")


@dataclass(frozen=True)
class Target:
    api_url: str | None = None
    project: str | None = None
    region: str = DEFAULT_REGION
    data_dir: Path | None = None


def usage_error(message: str) -> CliError:
    return CliError("usage", message, ExitCode.USAGE)


def local_stack_state(data_dir: Path) -> dict | None:
    """The running local stack's state (local.stack.read_state), or None. Needs the checkout."""
    if str(REPO) not in sys.path:
        sys.path.append(str(REPO))
    try:
        from local.stack import read_state
    except ImportError:
        raise Unreachable("the local stack needs a contentflow checkout (the `local` package was not found); "
                          "give --api-url or --project") from None
    return read_state(data_dir)


def resolve(target: Target) -> ApiClient:
    api_key = os.environ.get("CONTENTFLOW_API_KEY") or None
    if target.project is not None:
        if not _PROJECT_ID.fullmatch(target.project):
            raise usage_error(f"not a Google Cloud project id: {target.project!r}")
        if not _REGION.fullmatch(target.region):
            raise usage_error(f"not a region: {target.region!r}")
        url = target.api_url or f"https://{target.region}-{target.project}.cloudfunctions.net/{API_FUNCTION}"
        audience = url.rstrip("/")
        return ApiClient(url, auth_headers=lambda: {"Authorization": f"Bearer {id_token(audience)}",
                                                    **({"X-API-Key": api_key} if api_key else {})})
    headers = (lambda: {"X-API-Key": api_key}) if api_key else None
    if target.api_url:
        if not re.match(r"^https?://", target.api_url):
            raise usage_error(f"--api-url must start with http:// or https://, not {target.api_url[:60]!r}")
        return ApiClient(target.api_url, auth_headers=headers)
    data_dir = target.data_dir or DEFAULT_DATA_DIR
    state = local_stack_state(data_dir)
    if not state or not state.get("ready") or API_FUNCTION not in state.get("function_urls", {}):
        raise Unreachable(f"no local stack running under {data_dir}: start it with `contentflow local up`, "
                          "or give --api-url or --project")
    return ApiClient(state["function_urls"][API_FUNCTION], auth_headers=headers)


def id_token(audience: str) -> str:
    """A Google ID token for `audience` from Application Default Credentials. A service account (or
    the metadata server) mints one for the audience; a user's ADC (`gcloud auth application-default
    login`) cannot, so its OAuth ID token is used, which Cloud Functions accepts for users too."""
    try:
        import google.auth
        import google.auth.transport.requests
        from google.auth import exceptions as auth_exceptions
        from google.oauth2 import id_token as oauth_id_token
    except ImportError:  # pragma: no cover - google-auth is in requirements.txt
        raise CliError("auth", "--project needs the google-auth package", ExitCode.FAILED) from None
    request = google.auth.transport.requests.Request()
    try:
        return oauth_id_token.fetch_id_token(request, audience)
    except auth_exceptions.DefaultCredentialsError:
        pass  # user credentials: below
    except auth_exceptions.GoogleAuthError as err:
        raise CliError("auth", f"could not get an ID token ({type(err).__name__})", ExitCode.FAILED) from None
    try:
        credentials, _ = google.auth.default(scopes=["openid", "https://www.googleapis.com/auth/userinfo.email"])
        credentials.refresh(request)
    except auth_exceptions.GoogleAuthError as err:
        raise CliError("auth", "no Application Default Credentials: run `gcloud auth application-default login` "
                       f"({type(err).__name__})", ExitCode.FAILED) from None
    token = getattr(credentials, "id_token", None)
    if not token:
        raise CliError("auth", "these Application Default Credentials give no ID token: use a service account, "
                       "or `gcloud auth application-default login`", ExitCode.FAILED)
    return token
