"""Locally signed tokens for the Authorization header of a dispatch.

Production mints a Google-signed OIDC ID token for the task's service account. The emulator
signs one of the same shape (RS256, iss https://accounts.google.com, aud, email, sub, iat/exp)
with a key it generates, and publishes the public half (PEM and JWKS) so a local target can
verify tokens exactly as it would verify Google's, only with another key.
"""

import base64
import hashlib
import json
import os
import secrets
import time
from pathlib import Path

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

ISSUER = "https://accounts.google.com"
TOKEN_LIFETIME_SECONDS = 3600
PRIVATE_KEY_FILE = "oidc-signing-key.pem"
PUBLIC_KEY_FILE = "oidc-public-key.pem"
JWKS_FILE = "oidc-jwks.json"


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64url_uint(value: int) -> str:
    return _b64url(value.to_bytes((value.bit_length() + 7) // 8, "big"))


class TokenIssuer:
    """Signs OIDC-shaped ID tokens with a local RSA key, kept in `key_dir` when one is given
    so tokens stay verifiable across restarts."""

    def __init__(self, key_dir: Path | None = None):
        self._key = self._load_or_create_key(key_dir)
        public_der = self._key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        self.key_id = hashlib.sha256(public_der).hexdigest()[:32]
        if key_dir is not None:
            (key_dir / PUBLIC_KEY_FILE).write_bytes(self.public_key_pem())
            (key_dir / JWKS_FILE).write_text(json.dumps(self.jwks(), indent=2))

    @staticmethod
    def _load_or_create_key(key_dir: Path | None) -> rsa.RSAPrivateKey:
        path = key_dir / PRIVATE_KEY_FILE if key_dir is not None else None
        if path is not None and path.exists():
            return serialization.load_pem_private_key(path.read_bytes(), password=None)
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        if path is not None:
            pem = key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "wb") as handle:
                handle.write(pem)
        return key

    def public_key_pem(self) -> bytes:
        return self._key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )

    def jwks(self) -> dict:
        numbers = self._key.public_key().public_numbers()
        return {
            "keys": [
                {
                    "kty": "RSA",
                    "alg": "RS256",
                    "use": "sig",
                    "kid": self.key_id,
                    "n": _b64url_uint(numbers.n),
                    "e": _b64url_uint(numbers.e),
                }
            ]
        }

    def id_token(self, audience: str, service_account_email: str, now: float | None = None) -> str:
        issued_at = int(time.time() if now is None else now)
        subject = _numeric_id(service_account_email)
        claims = {
            "aud": audience,
            "azp": subject,
            "email": service_account_email,
            "email_verified": True,
            "exp": issued_at + TOKEN_LIFETIME_SECONDS,
            "iat": issued_at,
            "iss": ISSUER,
            "sub": subject,
        }
        return self._sign(claims)

    def access_token(self, service_account_email: str) -> str:
        """An opaque stand-in for the OAuth access token production sends to *.googleapis.com."""
        return f"ya29.local-emulator.{_numeric_id(service_account_email)}.{secrets.token_urlsafe(24)}"

    def _sign(self, claims: dict) -> str:
        header = {"alg": "RS256", "kid": self.key_id, "typ": "JWT"}
        signing_input = f"{_b64url(json.dumps(header).encode())}.{_b64url(json.dumps(claims).encode())}"
        signature = self._key.sign(signing_input.encode("ascii"), padding.PKCS1v15(), hashes.SHA256())
        return f"{signing_input}.{_b64url(signature)}"


def _numeric_id(email: str) -> str:
    """A stable 21-digit id per service account, like the numeric `sub` Google gives one."""
    return str(int.from_bytes(hashlib.sha256(email.encode()).digest()[:9], "big")).zfill(21)[:21]
