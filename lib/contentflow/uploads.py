"""Signed upload URLs (POST /uploads): a file too large to post inline goes straight to the inbox
bucket with a V4 signed PUT URL; its upload event registers it like any dropped file.

Production signs through IAM signBlob as the api's own service account (the runtime's credentials
and an access token: no key file anywhere; the account needs iam.serviceAccounts.signBlob on
itself, granted by Terraform). The local stack gives a throwaway key instead
(`upload_signing_key_file`): its storage emulator does not check signatures."""

from __future__ import annotations

import secrets
import threading
from datetime import datetime, timedelta, timezone

from contentflow.errors import InvalidInput, TransientError
from contentflow.intake import safe_filename
from contentflow.logs import get_logger

log = get_logger("contentflow.uploads")


class UploadSigner:
    def __init__(self, settings, storage_client):
        self.settings = settings
        self.client = storage_client
        self._lock = threading.Lock()
        self._credentials = None

    def grant(self, filename: str, size: int, content_type: str, now: datetime | None = None) -> dict:
        if size > self.settings.upload_max_bytes:
            raise InvalidInput(f"size: at most {self.settings.upload_max_bytes} bytes")
        now = now or datetime.now(timezone.utc)
        ttl = timedelta(seconds=self.settings.upload_url_ttl_s)
        name = f"uploads/{secrets.token_hex(12)}/{safe_filename(filename)}"
        # Signed headers the client must send as given: the content type, and a size range that
        # Cloud Storage enforces (a larger body is refused).
        headers = {"Content-Type": content_type, "X-Goog-Content-Length-Range": f"0,{size}"}
        blob = self.client.bucket(self.settings.bucket("inbox")).blob(name)
        try:
            url = blob.generate_signed_url(version="v4", method="PUT", expiration=ttl, headers=dict(headers),
                                           content_type=content_type, **self._signing())
        except TransientError:
            raise
        except Exception as err:  # the signer (IAM) failed: retry later; its text stays in the log
            log.warning("signing an upload URL failed", error=f"{type(err).__name__}: {err}")
            raise TransientError("signing the upload URL failed") from err
        return {"upload_url": url, "method": "PUT", "headers": headers, "object": name, "expires_at": now + ttl}

    def _signing(self) -> dict:
        with self._lock:
            key_file = self.settings.upload_signing_key_file
            if key_file:
                if self._credentials is None:
                    from google.oauth2 import service_account

                    self._credentials = service_account.Credentials.from_service_account_file(key_file)
                return {"credentials": self._credentials}
            import google.auth
            import google.auth.transport.requests

            if self._credentials is None:
                self._credentials, _ = google.auth.default(scopes=["https://www.googleapis.com/auth/cloud-platform"])
            if not self._credentials.valid:
                self._credentials.refresh(google.auth.transport.requests.Request())
            email = self.settings.upload_signer_email or getattr(self._credentials, "service_account_email", None)
            if not email:
                raise TransientError("no service account to sign upload URLs as: set CONTENTFLOW_UPLOAD_SIGNER_EMAIL")
            return {"service_account_email": email, "access_token": self._credentials.token}
