"""Fetching a document from a URL a user gave us, without letting that URL reach anything it should
not (server-side request forgery).

The rules, all enforced here so the api (fast 400 at submission) and the pipeline's fetch apply the
same ones:
- http and https only; no userinfo; a bounded URL; IPv4 only in canonical dotted-decimal form
  (getaddrinfo would read `2130706433`, `0x7f000001`, `0177.0.0.1` or `127.1` as 127.0.0.1, so such
  forms are refused outright, and their resolved address would be refused anyway);
- the host resolved ONCE and every address checked: anything not globally routable is refused
  (loopback, private, link-local with the metadata server, CGNAT, multicast, unspecified, reserved,
  documentation and benchmarking ranges, IPv4 embedded in IPv6), and the metadata server's names;
- the connection made to the checked address (never resolved again, so DNS rebinding cannot swap
  it), with the original name in the Host header and for TLS SNI and certificate checks;
- redirects followed by hand, each hop checked again, at most `max_redirects`;
- the body streamed and cut at `max_bytes`, the whole fetch (every hop, resolution included) cut at
  one overall deadline: a watchdog shuts the socket down when it passes, so a server dripping one
  byte at a time cannot stretch the fetch the way it stretches per-socket timeouts.
`FetchPolicy(allow_loopback=True)` is the only way to reach this machine (local tests' servers);
it opens loopback only, never the private ranges.

Error reasons are our own words (they are stored on the document and shown by the api); what a
dependency said goes to the log.
"""

from __future__ import annotations

import dataclasses
import email.message
import ipaddress
import mimetypes
import re
import socket
import ssl
import threading
import time
from collections.abc import Callable, Sequence
from http.client import HTTPException
from urllib.parse import quote, unquote, urljoin, urlsplit

import urllib3
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.util.ssl_match_hostname import CertificateError

from contentflow.errors import InvalidInput, TransientError
from contentflow.intake import safe_filename
from contentflow.logs import get_logger

log = get_logger("contentflow.urlfetch")

MAX_URL_CHARS = 2048
_DEFAULT_PORTS = {"http": 80, "https": 443}
_REDIRECTS = frozenset({301, 302, 303, 307, 308})  # 300 and 305 (use proxy) are not followed
_READ_CHUNK = 64 * 1024
_MAX_HEADER_VALUE = 1024  # longer Content-Type / Content-Disposition values are ignored
_USER_AGENT = "contentflow-urlfetch/1"

_LABEL = re.compile(r"^[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?$")
_ENDS_IN_NUMBER = re.compile(r"^(?:[0-9]+|0x[0-9a-f]*)$")  # WHATWG: such a host is parsed as IPv4
_MEDIA_TYPE = re.compile(r"^[a-z0-9][a-z0-9!#$&^_.+-]{0,63}/[a-z0-9][a-z0-9!#$&^_.+-]{0,126}$")
_CHARSET = re.compile(r"^[a-z0-9][a-z0-9._:+-]{0,39}$")

# Names refused whatever they resolve to: the metadata server (its short name works through the
# search domain on GCE) and the `.internal` names ICANN reserves for private networks.
_METADATA_NAMES = frozenset({"metadata", "metadata.google.internal"})
_PRIVATE_SUFFIXES = (".internal",)
_LOOPBACK_NAMES = ("localhost", ".localhost")  # RFC 6761: always loopback

_METADATA_ADDRESSES = frozenset({ipaddress.ip_address("169.254.169.254"), ipaddress.ip_address("fd00:ec2::254"),
                                 ipaddress.ip_address("fd20:ce::254")})
_CGNAT = ipaddress.ip_network("100.64.0.0/10")
_PRIVATE = tuple(ipaddress.ip_network(n) for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7"))
_NAT64 = (ipaddress.ip_network("64:ff9b::/96"), ipaddress.ip_network("64:ff9b:1::/48"))
# Special-purpose ranges (RFC 6890 and successors) named explicitly, so the answer does not depend on
# which Python release's ipaddress tables are installed.
_SPECIAL_PURPOSE = tuple(ipaddress.ip_network(n) for n in (
    "0.0.0.0/8", "192.0.0.0/24", "192.0.2.0/24", "192.88.99.0/24", "198.18.0.0/15", "198.51.100.0/24",
    "203.0.113.0/24", "240.0.0.0/4", "255.255.255.255/32",
    "::/128", "::/96", "100::/64", "2001::/23", "2001:db8::/32", "3fff::/20", "5f00::/16",
    "fec0::/10", "ff00::/8",
))

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
# resolve(host, port, timeout_s) -> the host's addresses as strings (IPv4 or IPv6 literals)
Resolver = Callable[[str, int, float], Sequence[str]]


class UrlRefused(InvalidInput):
    """The URL is not allowed, now or ever (scheme, form, or where it points)."""


class UrlNotFetchable(InvalidInput):
    """The URL was allowed but what it answers cannot be ingested, and a retry will not change that:
    a 4xx, too large, too many redirects, a host name that does not exist, a bad certificate."""


class FetchFailed(TransientError):
    """The network or the server failed or timed out; the same fetch may succeed later."""


@dataclasses.dataclass(frozen=True)
class FetchPolicy:
    max_bytes: int = 25 * 1024 * 1024
    timeout_s: float = 30.0  # the whole fetch: resolution, every hop, the whole body
    max_redirects: int = 5
    # Only the web's ports: an http request aimed at another service's port (SMTP, Redis, ...) is
    # a classic SSRF move even on a public address. Loopback, when allowed, takes any port (local
    # test servers bind port 0).
    allowed_ports: frozenset[int] = frozenset({80, 443})
    allow_loopback: bool = False  # local tests only; never private ranges, never by default
    ca_bundle: str | None = None  # PEM file of trust anchors; None: the system's

    def __post_init__(self):
        if self.max_bytes < 1 or self.timeout_s <= 0 or self.max_redirects < 0:
            raise ValueError("FetchPolicy needs max_bytes >= 1, timeout_s > 0 and max_redirects >= 0")


@dataclasses.dataclass(frozen=True)
class Target:
    """A URL that passed every check, with the addresses its host resolved to (all checked)."""

    url: str  # normalised: scheme://host[:port]/path?query, no fragment
    scheme: str
    host: str  # ASCII (IDNA) name or IP literal, lower case, no brackets, no trailing dot
    port: int
    request_target: str  # path and query, as sent
    addresses: tuple[str, ...]  # every one checked; the connection goes to the first

    @property
    def connect_address(self) -> str:
        return self.addresses[0]

    @property
    def host_header(self) -> str:
        return _authority(self.scheme, self.host, self.port)


@dataclasses.dataclass(frozen=True)
class Fetched:
    data: bytes
    content_type: str | None  # the media type alone, validated, lower case ("text/html")
    charset: str | None  # the Content-Type's charset parameter, validated
    final_url: str  # after redirects
    filename: str  # safe (letters, digits, . _ -), at most 120 characters
    status: int
    redirects: int


# --- checking -------------------------------------------------------------------------------------


def check_url(url: str, policy: FetchPolicy, resolve: Resolver | None = None) -> Target:
    """Validate `url` and resolve its host once, checking every address; the Target it returns is
    what `fetch` connects to. Raises UrlRefused, or FetchFailed/UrlNotFetchable if resolution fails."""
    return _check(url, policy, resolve or default_resolver, time.monotonic() + policy.timeout_s)


def _check(url: str, policy: FetchPolicy, resolve: Resolver, deadline: float) -> Target:
    if not isinstance(url, str) or not url:
        raise UrlRefused("url refused: empty url")
    if len(url) > MAX_URL_CHARS:
        raise UrlRefused(f"url refused: longer than {MAX_URL_CHARS} characters")
    # urlsplit silently drops tabs and newlines, and parsers disagree on backslashes: refuse them.
    if any(ord(c) <= 0x20 or ord(c) == 0x7F for c in url) or "\\" in url:
        raise UrlRefused("url refused: contains spaces, control characters or backslashes")
    try:
        parts = urlsplit(url)
        port = parts.port
        hostname = parts.hostname
    except ValueError:
        raise UrlRefused("url refused: not a valid url") from None
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS:
        raise UrlRefused("url refused: only http and https urls can be fetched")
    if "@" in parts.netloc:
        raise UrlRefused("url refused: urls with a user name or password are not fetched")
    if not hostname:
        raise UrlRefused("url refused: no host")
    port = _DEFAULT_PORTS[scheme] if port is None else port
    if port == 0:
        raise UrlRefused("url refused: port 0")

    literal = _ip_literal(hostname, bracketed=parts.netloc.rpartition("]")[0].startswith("["))
    host = str(literal) if literal is not None else _checked_name(hostname, policy)
    if port not in policy.allowed_ports and not policy.allow_loopback:
        raise UrlRefused(f"url refused: port {port} is not allowed")

    if literal is not None:
        reason = _refusal(literal, policy.allow_loopback)
        if reason:
            raise UrlRefused(f"url refused: {literal} is {reason}")
        addresses = [_connectable(literal)]
    else:
        addresses = _resolve_checked(host, port, policy, resolve, deadline)

    if port not in policy.allowed_ports and not all(ipaddress.ip_address(a).is_loopback for a in addresses):
        raise UrlRefused(f"url refused: port {port} is not allowed")
    request_target = quote(parts.path or "/", safe="/%:@!$&'()*+,;=-._~")
    if parts.query:
        request_target += "?" + quote(parts.query, safe="/?%:@!$&'()*+,;=-._~")
    url = f"{scheme}://{_authority(scheme, host, port)}{request_target}"
    return Target(url, scheme, host, port, request_target, tuple(addresses))


def _authority(scheme: str, host: str, port: int) -> str:
    host = f"[{host}]" if ":" in host else host
    return host if port == _DEFAULT_PORTS[scheme] else f"{host}:{port}"


def _ip_literal(hostname: str, bracketed: bool) -> IPAddress | None:
    """The host as an IP address if it is one; refuses the IPv4 spellings other than dotted-decimal."""
    if bracketed:
        if "%" in hostname:
            raise UrlRefused("url refused: IPv6 zone identifiers are not allowed")
        try:
            return ipaddress.IPv6Address(hostname)
        except ValueError:
            raise UrlRefused("url refused: not a valid IPv6 address") from None
    name = hostname.removesuffix(".")
    if _ENDS_IN_NUMBER.match(name.rpartition(".")[2]):
        try:
            return ipaddress.IPv4Address(name)  # strict: four decimal parts, no leading zeros
        except ValueError:
            raise UrlRefused("url refused: IPv4 addresses must be written in dotted-decimal form") from None
    return None


def _checked_name(hostname: str, policy: FetchPolicy) -> str:
    name = hostname.removesuffix(".")
    try:
        name = name.encode("idna").decode("ascii") if not name.isascii() else name
    except UnicodeError:
        raise UrlRefused("url refused: not a valid host name") from None
    name = name.lower()
    labels = name.split(".")
    if len(name) > 253 or not all(_LABEL.match(label) for label in labels):
        raise UrlRefused("url refused: not a valid host name")
    if name in _METADATA_NAMES:
        raise UrlRefused("url refused: the metadata server")
    if name.endswith(_PRIVATE_SUFFIXES):
        raise UrlRefused("url refused: .internal names are private")
    is_loopback_name = name == _LOOPBACK_NAMES[0] or name.endswith(_LOOPBACK_NAMES[1])
    if is_loopback_name and not policy.allow_loopback:
        raise UrlRefused("url refused: localhost is a loopback address")
    if len(labels) < 2 and not is_loopback_name:
        # A single label resolves through the search domain, i.e. to some neighbour of ours.
        raise UrlRefused("url refused: the host must be a fully qualified name")
    return name


def _resolve_checked(host: str, port: int, policy: FetchPolicy, resolve: Resolver, deadline: float) -> list[str]:
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise FetchFailed(f"url fetch failed: no answer within {policy.timeout_s:g} s")
    try:
        answers = list(resolve(host, port, remaining))
    except (UrlRefused, UrlNotFetchable, FetchFailed):
        raise
    except Exception as err:  # a resolver's own failure: its text stays in the log
        log.warning("url host resolution failed", host=host, error=repr(err))
        raise FetchFailed("url fetch failed: the host name could not be resolved") from None
    if not answers:
        raise UrlNotFetchable(f"url not fetched: {host} has no addresses")
    addresses: list[str] = []
    for answer in answers:
        try:
            address = ipaddress.ip_address(answer)
        except ValueError:
            log.warning("resolver returned something that is not an address", host=host, answer=repr(answer)[:100])
            raise UrlRefused(f"url refused: {host} resolves to something that is not an IP address") from None
        reason = _refusal(address, policy.allow_loopback)
        if reason:
            # The address itself is not repeated: it would tell the submitter how our DNS sees names.
            log.warning("url refused: host resolves to a refused address", host=host, address=str(address), reason=reason)
            raise UrlRefused(f"url refused: {host} resolves to {reason}")
        addresses.append(_connectable(address))
    return addresses


def _refusal(address: IPAddress, allow_loopback: bool) -> str | None:
    """Why `address` may not be connected to (None: it may)."""
    if isinstance(address, ipaddress.IPv6Address):
        if address.scope_id:
            return "a scoped IPv6 address"
        if address.ipv4_mapped is not None:
            reason = _refusal(address.ipv4_mapped, allow_loopback)
            return reason and f"{reason} (IPv4-mapped)"
        if address.teredo is not None:
            return "a Teredo tunnel address"
        if address.sixtofour is not None:
            reason = _refusal(address.sixtofour, allow_loopback)
            if reason:
                return f"{reason} (inside a 6to4 address)"
        if any(address in net for net in _NAT64):
            reason = _refusal(ipaddress.IPv4Address(int(address) & 0xFFFFFFFF), allow_loopback)
            if reason:
                return f"{reason} (inside a NAT64 address)"
    if address in _METADATA_ADDRESSES:
        return "the metadata server"
    if address.is_unspecified:
        return "an unspecified address"
    if address.is_loopback:
        return None if allow_loopback else "a loopback address"
    if address.is_link_local:
        return "a link-local address"
    if address.is_multicast:
        return "a multicast address"
    if isinstance(address, ipaddress.IPv4Address) and address in _CGNAT:
        return "a shared (CGNAT) address"
    if any(address in net for net in _PRIVATE if net.version == address.version):
        return "a private address"
    if address.is_reserved or any(address in net for net in _SPECIAL_PURPOSE if net.version == address.version):
        return "a reserved address"
    if address.is_private or not address.is_global:
        return "a non-public address"
    return None


def _connectable(address: IPAddress) -> str:
    """The address to open a socket to: an IPv4-mapped IPv6 address is connected as IPv4."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return str(address.ipv4_mapped)
    return str(address)


# --- resolving ------------------------------------------------------------------------------------

# getaddrinfo has no timeout of its own and cannot be interrupted, so it runs in a daemon thread
# that we stop waiting for at the deadline. A lookup we gave up on still holds its thread until the
# system resolver's own timeout; the semaphore caps how many such threads can pile up.
_LOOKUPS_IN_FLIGHT = threading.BoundedSemaphore(16)
_NO_SUCH_NAME = {socket.EAI_NONAME} | ({socket.EAI_NODATA} if hasattr(socket, "EAI_NODATA") else set())


def default_resolver(host: str, port: int, timeout_s: float) -> list[str]:
    """The host's TCP addresses from the system resolver, within `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    if not _LOOKUPS_IN_FLIGHT.acquire(timeout=max(0.0, timeout_s)):
        raise FetchFailed("url fetch failed: too many host name lookups in progress")
    outcome: dict = {}
    done = threading.Event()

    def lookup():
        try:
            outcome["infos"] = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)
        except BaseException as err:  # handed to the waiting thread
            outcome["error"] = err
        finally:
            _LOOKUPS_IN_FLIGHT.release()
            done.set()

    threading.Thread(target=lookup, name="urlfetch-resolve", daemon=True).start()
    if not done.wait(max(0.0, deadline - time.monotonic())):
        raise FetchFailed("url fetch failed: the host name did not resolve in time")
    error = outcome.get("error")
    if isinstance(error, socket.gaierror) and error.errno in _NO_SUCH_NAME:
        raise UrlNotFetchable(f"url not fetched: the host name {host} does not exist")
    if error is not None:
        log.warning("url host resolution failed", host=host, error=repr(error))
        raise FetchFailed("url fetch failed: the host name could not be resolved")
    return list(dict.fromkeys(info[4][0] for info in outcome["infos"]))


# --- fetching -------------------------------------------------------------------------------------


def fetch(url: str, policy: FetchPolicy, resolve: Resolver | None = None) -> Fetched:
    """GET `url` under `policy`, following redirects by hand, each hop checked by `check_url`.
    Raises UrlRefused / UrlNotFetchable (permanent) or FetchFailed (transient)."""
    resolve = resolve or default_resolver
    deadline = time.monotonic() + policy.timeout_s
    watchdog = _Watchdog(deadline)
    try:
        current = url
        for hop in range(policy.max_redirects + 1):
            target = _check(current, policy, resolve, deadline)
            answer = _get(target, policy, watchdog)
            if isinstance(answer, Fetched):
                return dataclasses.replace(answer, redirects=hop)
            current = answer  # the next hop's URL, checked at the top of the loop
        raise UrlNotFetchable(f"url not fetched: more than {policy.max_redirects} redirects")
    finally:
        watchdog.cancel()


class _Watchdog:
    """Shuts down every socket of a fetch when its deadline passes, which ends any blocked read:
    per-socket timeouts restart with every byte received, so they alone cannot bound a fetch."""

    def __init__(self, deadline: float):
        self.deadline = deadline
        self._lock = threading.Lock()
        self._sockets: list[socket.socket] = []
        self._expired = False
        self._timer = threading.Timer(max(0.0, deadline - time.monotonic()), self._expire)
        self._timer.daemon = True
        self._timer.start()

    @property
    def expired(self) -> bool:
        return self._expired or time.monotonic() >= self.deadline

    def remaining(self) -> float:
        return max(0.001, self.deadline - time.monotonic())

    def track(self, sock: socket.socket) -> None:
        with self._lock:
            self._sockets.append(sock)
            if self._expired:
                _shut(sock)

    def cancel(self) -> None:
        self._timer.cancel()

    def _expire(self) -> None:
        with self._lock:
            self._expired = True
            for sock in self._sockets:
                _shut(sock)


def _shut(sock: socket.socket) -> None:
    try:
        # The plain socket's shutdown, also for an SSLSocket: it ends a blocked read from another
        # thread without touching the TLS object that thread is using.
        socket.socket.shutdown(sock, socket.SHUT_RDWR)
    except OSError:
        pass  # already closed


class _TrackedSocket:
    """Hands each new socket to the fetch's watchdog (mixed into urllib3's connection classes)."""

    watchdog: _Watchdog

    def _new_conn(self) -> socket.socket:
        ipaddress.ip_address(self.host)  # type: ignore[attr-defined]  # only ever a checked address, never a name
        sock = super()._new_conn()  # type: ignore[misc]
        self.watchdog.track(sock)
        return sock


class _HTTPConnection(_TrackedSocket, HTTPConnection):
    pass


class _HTTPSConnection(_TrackedSocket, HTTPSConnection):
    pass


def _get(target: Target, policy: FetchPolicy, watchdog: _Watchdog) -> Fetched | str:
    """One request to the checked address: the Fetched answer, or the next URL of a redirect."""
    if target.scheme == "https":
        conn: HTTPConnection = _HTTPSConnection(
            target.connect_address, target.port, timeout=watchdog.remaining(),
            server_hostname=target.host, assert_hostname=target.host,  # SNI and certificate: the name
            cert_reqs="CERT_REQUIRED", ca_certs=policy.ca_bundle)
    else:
        conn = _HTTPConnection(target.connect_address, target.port, timeout=watchdog.remaining())
    conn.watchdog = watchdog  # type: ignore[attr-defined]
    # Our headers only: no cookies, no credentials, and no proxy (urllib3's connection classes do
    # not read *_PROXY variables, which would send the request somewhere we did not check).
    headers = {"Host": target.host_header, "User-Agent": _USER_AGENT, "Accept": "*/*",
               "Accept-Encoding": "identity", "Connection": "close"}
    try:
        try:
            conn.connect()
            conn.timeout = watchdog.remaining()
            conn.request("GET", target.request_target, headers=headers, preload_content=False, decode_content=True)
            response = conn.getresponse()
            if response.status in _REDIRECTS:
                return _next_hop(target, response)
            _check_status(target, response.status)
            data = _read_capped(response, policy, watchdog)
        except (UrlRefused, UrlNotFetchable, FetchFailed):
            raise
        except (ssl.SSLCertVerificationError, CertificateError) as err:  # not trusted / not this name
            _raise_network_error(target, err, watchdog, certificate=True)
        except urllib3.exceptions.DecodeError as err:
            log.warning("url body could not be decoded", url=target.url, error=repr(err))
            raise UrlNotFetchable("url not fetched: the body could not be decoded") from None
        except (urllib3.exceptions.HTTPError, HTTPException, OSError, ValueError) as err:
            _raise_network_error(target, err, watchdog)
        if watchdog.expired:  # the watchdog's shutdown looks like the end of a close-delimited body
            raise FetchFailed(f"url fetch failed: no complete answer within {policy.timeout_s:g} s")
        content_type, charset = _content_type(response.headers.get("Content-Type"))
        filename = _filename(response.headers.get("Content-Disposition"), target.request_target, content_type)
        return Fetched(data, content_type, charset, target.url, filename, response.status, redirects=0)
    finally:
        conn.close()


def _raise_network_error(target: Target, err: BaseException, watchdog: _Watchdog, certificate: bool = False):
    log.warning("url fetch failed", url=target.url, address=target.connect_address, error=repr(err))
    # Socket timeouts are set to the time left, so any timeout means the deadline passed (and the
    # exception classes cannot tell: urllib3's NewConnectionError is a ConnectTimeoutError).
    if watchdog.expired:
        raise FetchFailed("url fetch failed: the server did not answer in time") from None
    if certificate:
        raise UrlNotFetchable(f"url not fetched: the server's TLS certificate is not valid for {target.host}") from None
    raise FetchFailed("url fetch failed: could not get an answer from the server") from None


def _next_hop(target: Target, response) -> str:
    location = response.headers.get("Location")
    if not location:
        raise UrlNotFetchable(f"url not fetched: a {response.status} redirect without a Location")
    if len(location) > MAX_URL_CHARS:
        raise UrlRefused(f"url refused: a redirect to a url longer than {MAX_URL_CHARS} characters")
    return urljoin(target.url, location.strip()).partition("#")[0]


def _check_status(target: Target, status: int) -> None:
    if status >= 500 or status in (408, 429):
        raise FetchFailed(f"url fetch failed: the server answered {status}")
    if status >= 400:
        raise UrlNotFetchable(f"url not fetched: the server answered {status}")
    if status not in (200, 203):
        raise UrlNotFetchable(f"url not fetched: unexpected answer {status}")


def _read_capped(response, policy: FetchPolicy, watchdog: _Watchdog) -> bytes:
    too_large = UrlNotFetchable(f"url not fetched: the document is larger than {policy.max_bytes} bytes")
    declared = response.headers.get("Content-Length", "")
    if declared.strip().isdigit() and int(declared) > policy.max_bytes:
        raise too_large  # said so up front: not one byte read
    body = bytearray()
    while True:
        if watchdog.expired:
            raise FetchFailed(f"url fetch failed: no complete answer within {policy.timeout_s:g} s")
        # Decoding (if the server compressed despite Accept-Encoding: identity) is bounded by amt.
        chunk = response.read(amt=min(_READ_CHUNK, policy.max_bytes + 1 - len(body)))
        if not chunk:
            return bytes(body)
        body += chunk
        if len(body) > policy.max_bytes:
            raise too_large


def _content_type(value: str | None) -> tuple[str | None, str | None]:
    if not value or len(value) > _MAX_HEADER_VALUE:
        return None, None
    media_type, _, params = value.partition(";")
    media_type = media_type.strip().lower()
    if not _MEDIA_TYPE.match(media_type):
        return None, None
    charset = None
    for param in params.split(";"):
        key, _, val = param.partition("=")
        if key.strip().lower() == "charset":
            val = val.strip().strip('"').lower()
            charset = val if _CHARSET.match(val) else None
    return media_type, charset


def _filename(disposition: str | None, request_target: str, content_type: str | None) -> str:
    name = ""
    if disposition and len(disposition) <= _MAX_HEADER_VALUE:
        header = email.message.Message()
        header["Content-Disposition"] = disposition
        try:
            name = header.get_filename() or ""  # decodes filename*=UTF-8''... too
        except (ValueError, LookupError, TypeError):
            name = ""
    if not name:
        name = unquote(request_target.partition("?")[0].rstrip("/").rpartition("/")[2])
    name = safe_filename(name.replace("\\", "/"), default="download")
    if "." not in name and content_type:
        name += mimetypes.guess_extension(content_type, strict=False) or ""
    return name[:120]
