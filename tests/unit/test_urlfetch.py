"""The SSRF-safe URL fetcher: what it refuses, what it fetches, and the bounds it keeps.

No network beyond loopback: names are resolved by injected resolvers, and the servers for allowed
fetches (plain and TLS) bind 127.0.0.1 on port 0, reachable only through `allow_loopback=True`.
"""

from __future__ import annotations

import datetime
import gzip
import http.server
import ipaddress
import json
import socket
import ssl
import threading
import time
from collections.abc import Callable

import pytest
import urllib3.util.connection

from contentflow.errors import InvalidInput, PermanentError, TransientError
from contentflow.urlfetch import (FetchFailed, FetchPolicy, UrlNotFetchable, UrlRefused, check_url,
                                  default_resolver, fetch)

PUBLIC = "93.184.215.14"  # a global address; never connected to in these tests


def resolver_of(table: dict[str, list[str]]) -> Callable:
    """A resolver answering from `table`; any other name fails the test (no real DNS here)."""
    calls: list[str] = []

    def resolve(host, port, timeout_s):
        calls.append(host)
        assert host in table, f"unexpected lookup of {host}"
        return table[host]

    resolve.calls = calls
    return resolve


# --- the test servers -----------------------------------------------------------------------------

class _Handler(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args):  # quiet
        pass

    def _send(self, status: int, body: bytes = b"", headers: dict | None = None) -> None:
        self.send_response(status)
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _stream_until_stopped(self, piece: bytes, pause_s: float) -> None:
        stop = self.server.stop
        try:
            while not stop.is_set():
                self.wfile.write(piece)
                self.server.bytes_streamed += len(piece)
                if pause_s:
                    stop.wait(pause_s)
        except OSError:
            pass  # the client hung up: what the fetcher should do

    def do_GET(self):  # noqa: C901  (a routing table)
        self.server.paths.append(self.path)
        path = self.path
        if path == "/doc.txt":
            self._send(200, b"hello, world\n", {"Content-Type": "text/plain; charset=UTF-8"})
        elif path == "/":
            self._send(200, b"<html><body>home</body></html>", {"Content-Type": "text/html"})
        elif path == "/report":
            self._send(200, b"%PDF-1.4 fake", {"Content-Type": "application/pdf",
                                              "Content-Disposition": "attachment; filename*=UTF-8''Q3%20report%20..%2F..%2Fetc.pdf"})
        elif path == "/odd-type":
            self._send(200, b"x", {"Content-Type": "text/html<script>; charset=\"utf-8\x01\""})
        elif path == "/echo-headers":
            body = json.dumps(dict(self.headers.items())).encode()
            self._send(200, body, {"Content-Type": "application/json"})
        elif path == "/relative-redirect":
            self._send(302, headers={"Location": "sub/../doc.txt#frag"})
        elif path == "/cookie-redirect":
            self._send(302, headers={"Location": "/echo-headers", "Set-Cookie": "session=secret; Path=/"})
        elif path.startswith("/chain/"):  # /chain/N redirects N more times, then the document
            left = int(path.rsplit("/", 1)[1])
            if left:
                self._send(301, headers={"Location": f"/chain/{left - 1}"})
            else:
                self._send(200, b"end of chain", {"Content-Type": "text/plain"})
        elif path == "/to-private":
            self._send(302, headers={"Location": "http://10.0.0.1/admin"})
        elif path == "/to-metadata":
            self._send(307, headers={"Location": "http://169.254.169.254/computeMetadata/v1/"})
        elif path == "/to-metadata-name":
            self._send(308, headers={"Location": "http://metadata.google.internal/computeMetadata/v1/"})
        elif path == "/missing":
            self._send(404, b"not here")
        elif path == "/unavailable":
            self._send(503, b"later")
        elif path == "/busy":
            self._send(429, b"slow down")
        elif path == "/declared-huge":
            self.send_response(200)
            self.send_header("Content-Length", str(10**12))
            self.end_headers()
            self._stream_until_stopped(b"x" * 65536, 0.0)
        elif path == "/endless":  # no Content-Length: only the cap can stop it
            self.send_response(200)
            self.send_header("Content-Type", "application/octet-stream")
            self.end_headers()
            self._stream_until_stopped(b"x" * 65536, 0.0)
        elif path == "/gzip-bomb":  # 64 MiB of zeros in ~64 KiB, compressed although we asked not to
            self._send(200, self.server.bomb, {"Content-Encoding": "gzip", "Content-Type": "text/plain"})
        elif path == "/drip":  # one byte every 20 ms: every single read is quick, the whole is endless
            self.send_response(200)
            self.end_headers()
            self._stream_until_stopped(b"x", 0.02)
        elif path == "/drip-headers":
            try:
                self.wfile.write(b"HTTP/1.0 200 OK\r\nX-Slow: ")
            except OSError:
                return
            self._stream_until_stopped(b"a", 0.02)
        elif path == "/stall":  # says nothing at all
            self.server.stop.wait(30)
        else:
            self._send(404)


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, tls: ssl.SSLContext | None = None):
        super().__init__(("127.0.0.1", 0), _Handler)
        if tls is not None:
            self.socket = tls.wrap_socket(self.socket, server_side=True)
        self.stop = threading.Event()
        self.paths: list[str] = []
        self.bytes_streamed = 0
        self.bomb = gzip.compress(bytes(64 * 1024 * 1024), compresslevel=9)

    @property
    def port(self) -> int:
        return self.server_address[1]


def _serve(server: _Server):
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.stop.set()  # releases handlers that stream or stall
        server.shutdown()
        server.server_close()
        thread.join(5)


@pytest.fixture(scope="module")
def server():
    yield from _serve(_Server())


@pytest.fixture(scope="module")
def tls(tmp_path_factory):
    """A CA and a certificate for `secure.example` it signed (PEM paths)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = datetime.datetime.now(datetime.timezone.utc)

    def cert(subject, issuer, key, signer, ca: bool, san=None):
        builder = (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer)
                   .public_key(key.public_key()).serial_number(x509.random_serial_number())
                   .not_valid_before(now - datetime.timedelta(hours=1))
                   .not_valid_after(now + datetime.timedelta(days=1))
                   .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
        if ca:
            builder = builder.add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
            builder = builder.add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        else:
            builder = builder.add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(signer.public_key()), critical=False)
        if san:
            builder = builder.add_extension(x509.SubjectAlternativeName(san), critical=False)
        return builder.sign(signer, hashes.SHA256())

    ca_key, leaf_key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "contentflow test CA")])
    ca_cert = cert(ca_name, ca_name, ca_key, ca_key, ca=True)
    leaf = cert(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "secure.example")]), ca_name, leaf_key, ca_key,
                ca=False, san=[x509.DNSName("secure.example")])
    folder = tmp_path_factory.mktemp("tls")
    (folder / "ca.pem").write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    (folder / "leaf.pem").write_bytes(leaf.public_bytes(serialization.Encoding.PEM) + leaf_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    return {"ca": str(folder / "ca.pem"), "leaf": str(folder / "leaf.pem")}


@pytest.fixture(scope="module")
def tls_server(tls):
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(tls["leaf"])
    yield from _serve(_Server(tls=context))


@pytest.fixture
def connections(monkeypatch):
    """Every (address, port) a socket is opened to by the fetcher, and proof no name is looked up by
    the system while connecting: a lookup of anything but an IP literal fails the test."""
    opened: list[tuple[str, int]] = []
    real_create, real_getaddrinfo = urllib3.util.connection.create_connection, socket.getaddrinfo

    def create_connection(address, *args, **kwargs):
        opened.append(address)
        return real_create(address, *args, **kwargs)

    def getaddrinfo(host, *args, **kwargs):
        ipaddress.ip_address(host)  # ValueError for a name: the fetch would then fail loudly
        return real_getaddrinfo(host, *args, **kwargs)

    monkeypatch.setattr(urllib3.util.connection, "create_connection", create_connection)
    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return opened


def loopback_policy(**kwargs) -> FetchPolicy:
    return FetchPolicy(allow_loopback=True, **{"timeout_s": 3.0, "max_bytes": 1024 * 1024, **kwargs})


# --- refused ----------------------------------------------------------------------------------------

NAMES = {"evil.example": ["127.0.0.1"], "mixed.example": [PUBLIC, "10.0.0.5"],
         "mapped.example": ["::ffff:10.0.0.1"], "public.example": [PUBLIC], "meta.example": ["169.254.169.254"],
         "cgnat.example": ["100.100.100.100"], "v6-private.example": ["2606:4700::1111", "fd12:3456::1"]}

REFUSED = [
    ("http://127.0.0.1/", "loopback"),
    ("http://localhost/", "loopback"),
    ("http://LOCALHOST./", "loopback"),
    ("http://10.0.0.1/", "private"),
    ("http://172.16.0.1/", "private"),
    ("http://192.168.1.1/", "private"),
    ("http://100.64.0.1/", "CGNAT"),
    ("http://169.254.169.254/computeMetadata/v1/", "metadata server"),
    ("http://metadata.google.internal/computeMetadata/v1/", "metadata server"),
    ("http://metadata/computeMetadata/v1/", "metadata server"),
    ("http://db.prod.internal/", "private"),
    ("http://[::1]/", "loopback"),
    ("http://[::ffff:127.0.0.1]/", "IPv4-mapped"),
    ("http://[::ffff:a9fe:a9fe]/", "metadata server"),
    ("http://[fe80::1]/", "link-local"),
    ("http://[fc00::1]/", "private"),
    ("http://[2002:a00:1::]/", "6to4"),  # 6to4 around 10.0.0.1
    ("http://[64:ff9b::7f00:1]/", "NAT64"),  # NAT64 around 127.0.0.1
    ("http://2130706433/", "dotted-decimal"),
    ("http://0x7f000001/", "dotted-decimal"),
    ("http://0177.0.0.1/", "dotted-decimal"),
    ("http://127.1/", "dotted-decimal"),
    ("http://0x7f.0.0.1/", "dotted-decimal"),
    ("http://0.0.0.0/", "unspecified"),
    ("http://127.0.0.1./", "loopback"),
    ("http://224.0.0.1/", "multicast"),
    ("http://240.0.0.1/", "reserved"),
    ("http://192.0.2.1/", "reserved"),
    ("http://evil.example/", "loopback"),  # a name that resolves to loopback
    ("http://mixed.example/", "private"),  # several addresses, one private
    ("http://v6-private.example/", "private"),
    ("http://mapped.example/", "IPv4-mapped"),
    ("http://meta.example/", "metadata server"),
    ("http://cgnat.example/", "CGNAT"),
    ("http://intranet/", "fully qualified"),
    ("file:///etc/passwd", "only http and https"),
    ("ftp://public.example/file", "only http and https"),
    ("gopher://public.example:70/_GET", "only http and https"),
    ("javascript:alert(1)", "only http and https"),
    ("http://user:pass@public.example/", "user name or password"),
    ("http://public.example@127.0.0.1/", "user name or password"),
    ("http://public.example\\@127.0.0.1/", "backslash"),
    ("http://public.example/a\nHost: 10.0.0.1", "control characters"),
    ("http:///no-host", "no host"),
    ("http://public.example:6379/", "port 6379"),
    ("http://public.example:0/", "port 0"),
    ("http://[fe80::1%25eth0]/", "zone"),
    ("http://public.example/" + "a" * 2048, "longer than 2048"),
]


@pytest.mark.parametrize("url, why", REFUSED, ids=[u[:60] for u, _ in REFUSED])
def test_hostile_urls_are_refused_by_check_and_fetch_without_connecting(url, why, connections):
    policy = FetchPolicy(timeout_s=2.0)
    assert policy.allow_loopback is False  # the default
    with pytest.raises(UrlRefused) as checked:
        check_url(url, policy, resolver_of(NAMES))
    assert why in checked.value.reason
    assert checked.value.reason.startswith("url refused: ")
    assert isinstance(checked.value, InvalidInput) and not checked.value.retryable
    with pytest.raises(UrlRefused):
        fetch(url, policy, resolver_of(NAMES))
    assert connections == []


def test_refusal_of_a_name_does_not_repeat_the_address_it_resolved_to():
    with pytest.raises(UrlRefused) as refused:
        check_url("http://mixed.example/", FetchPolicy(), resolver_of(NAMES))
    assert refused.value.reason == "url refused: mixed.example resolves to a private address"


@pytest.mark.parametrize("url", [
    "http://10.0.0.1/", "http://172.16.0.1/", "http://192.168.1.1/", "http://100.64.0.1/",
    "http://169.254.169.254/", "http://[fc00::1]/", "http://0.0.0.0/", "http://metadata.google.internal/",
    "http://mixed.example/", "http://mapped.example/", "http://public.example:6379/",
])
def test_allowing_loopback_still_refuses_everything_else(url):
    with pytest.raises(UrlRefused):
        check_url(url, loopback_policy(), resolver_of({**NAMES, "mixed.example": ["127.0.0.1", "10.0.0.5"]}))


def test_a_public_address_passes_and_the_url_is_normalised():
    resolve = resolver_of({"xn--bcher-kva.example": [PUBLIC, "2606:4700::1111"]})
    target = check_url("HTTPS://Bücher.EXAMPLE./a b".replace(" ", "%20") + "/é?q=1#frag", FetchPolicy(), resolve)
    assert target.url == "https://xn--bcher-kva.example/a%20b/%C3%A9?q=1"
    assert (target.host, target.port, target.addresses) == ("xn--bcher-kva.example", 443, (PUBLIC, "2606:4700::1111"))
    assert target.connect_address == PUBLIC and target.host_header == "xn--bcher-kva.example"
    assert resolve.calls == ["xn--bcher-kva.example"]  # resolved once


def test_an_ipv4_mapped_public_address_is_connected_as_ipv4():
    target = check_url("http://public.example/", FetchPolicy(), resolver_of({"public.example": [f"::ffff:{PUBLIC}"]}))
    assert target.addresses == (PUBLIC,)


# --- allowed fetches from the loopback server ----------------------------------------------------------

def test_a_document_is_fetched_with_its_type_and_name(server, connections):
    url = f"http://127.0.0.1:{server.port}/doc.txt"
    fetched = fetch(url, loopback_policy())
    assert fetched.data == b"hello, world\n"
    assert (fetched.content_type, fetched.charset, fetched.filename) == ("text/plain", "utf-8", "doc.txt")
    assert (fetched.status, fetched.final_url, fetched.redirects) == (200, url, 0)
    assert connections == [("127.0.0.1", server.port)]


def test_the_filename_comes_from_content_disposition_made_safe(server):
    fetched = fetch(f"http://127.0.0.1:{server.port}/report", loopback_policy())
    assert (fetched.content_type, fetched.filename) == ("application/pdf", "etc.pdf")
    home = fetch(f"http://127.0.0.1:{server.port}/", loopback_policy())
    assert (home.content_type, home.filename) == ("text/html", "download.html")


def test_a_malformed_content_type_is_not_recorded(server):
    fetched = fetch(f"http://127.0.0.1:{server.port}/odd-type", loopback_policy())
    assert (fetched.content_type, fetched.charset) == (None, None)


def test_the_connection_goes_to_the_checked_address_with_the_name_as_host(server, connections):
    # Rebinding: the name answers loopback once, a private address afterwards. One hop, one lookup,
    # one connection to the address that was checked, and the system resolver never asked.
    answers = iter([["127.0.0.1"], ["10.0.0.1"], ["10.0.0.1"]])
    calls = []

    def rebinding(host, port, timeout_s):
        calls.append(host)
        return next(answers)

    fetched = fetch(f"http://rebind.example:{server.port}/echo-headers", loopback_policy(), rebinding)
    sent = {k.lower(): v for k, v in json.loads(fetched.data).items()}
    assert calls == ["rebind.example"]
    assert connections == [("127.0.0.1", server.port)]
    assert sent["host"] == f"rebind.example:{server.port}"
    assert sent["accept-encoding"] == "identity"
    assert "cookie" not in sent and "authorization" not in sent


def test_every_redirect_hop_is_resolved_and_checked_again(server, connections):
    answers = iter([["127.0.0.1"], ["10.0.0.1"]])
    calls = []

    def rebinding(host, port, timeout_s):
        calls.append(host)
        return next(answers)

    with pytest.raises(UrlRefused, match="private"):
        fetch(f"http://rebind.example:{server.port}/relative-redirect", loopback_policy(), rebinding)
    assert calls == ["rebind.example", "rebind.example"]
    assert connections == [("127.0.0.1", server.port)]


def test_a_relative_redirect_is_followed(server, connections):
    fetched = fetch(f"http://127.0.0.1:{server.port}/relative-redirect", loopback_policy())
    assert fetched.data == b"hello, world\n"
    assert fetched.final_url == f"http://127.0.0.1:{server.port}/doc.txt"
    assert (fetched.redirects, fetched.filename) == (1, "doc.txt")
    assert connections == [("127.0.0.1", server.port)] * 2


def test_cookies_set_by_a_redirect_are_not_sent_on(server):
    fetched = fetch(f"http://127.0.0.1:{server.port}/cookie-redirect", loopback_policy())
    assert "cookie" not in {k.lower() for k in json.loads(fetched.data)}


@pytest.mark.parametrize("path", ["/to-private", "/to-metadata", "/to-metadata-name"])
def test_a_redirect_to_a_private_address_is_refused_without_connecting(server, connections, path):
    with pytest.raises(UrlRefused):
        fetch(f"http://127.0.0.1:{server.port}{path}", loopback_policy())
    assert connections == [("127.0.0.1", server.port)]  # only the loopback server was reached


def test_redirects_are_bounded(server):
    server.paths.clear()
    assert fetch(f"http://127.0.0.1:{server.port}/chain/5", loopback_policy(max_redirects=5)).redirects == 5
    server.paths.clear()
    with pytest.raises(UrlNotFetchable, match="more than 5 redirects") as refused:
        fetch(f"http://127.0.0.1:{server.port}/chain/6", loopback_policy(max_redirects=5))
    assert isinstance(refused.value, PermanentError)
    assert len(server.paths) == 6  # five redirects followed, the sixth not


def test_an_endless_body_is_cut_at_max_bytes(server):
    started = time.monotonic()
    with pytest.raises(UrlNotFetchable, match="larger than 100000 bytes") as refused:
        fetch(f"http://127.0.0.1:{server.port}/endless", loopback_policy(max_bytes=100_000, timeout_s=5.0))
    assert time.monotonic() - started < 2.0  # stopped at the cap, not at the deadline
    assert not refused.value.retryable


def test_a_declared_oversized_body_is_refused_before_reading(server):
    started = time.monotonic()
    with pytest.raises(UrlNotFetchable, match="larger than"):
        fetch(f"http://127.0.0.1:{server.port}/declared-huge", loopback_policy(max_bytes=100_000))
    assert time.monotonic() - started < 2.0


def test_a_compressed_body_is_capped_after_decompression(server):
    started = time.monotonic()
    with pytest.raises(UrlNotFetchable, match="larger than 1048576 bytes"):
        fetch(f"http://127.0.0.1:{server.port}/gzip-bomb", loopback_policy(max_bytes=1024 * 1024))
    assert time.monotonic() - started < 2.0


@pytest.mark.parametrize("path", ["/stall", "/drip", "/drip-headers"])
def test_the_whole_fetch_is_cut_at_its_deadline(server, path):
    # /drip and /drip-headers send a byte every 20 ms, so no single read ever times out: only the
    # overall deadline ends them.
    started = time.monotonic()
    failed = _fetch_in_thread(f"http://127.0.0.1:{server.port}{path}", loopback_policy(timeout_s=0.5, max_bytes=10**9),
                              give_up_after_s=3.0)
    elapsed = time.monotonic() - started
    assert isinstance(failed, FetchFailed) and failed.retryable, failed
    assert 0.45 <= elapsed < 1.5, elapsed


def _fetch_in_thread(url: str, policy: FetchPolicy, give_up_after_s: float):
    """What fetch raised (or returned); a fetch that outlives `give_up_after_s` fails the test
    instead of hanging it (the server's teardown then ends the request)."""
    outcome: list = []

    def run():
        try:
            outcome.append(fetch(url, policy))
        except Exception as err:
            outcome.append(err)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(give_up_after_s)
    assert outcome, f"fetch still running after {give_up_after_s} s: the deadline was not enforced"
    return outcome[0]


def test_a_4xx_is_permanent_and_a_5xx_transient(server):
    with pytest.raises(UrlNotFetchable, match="answered 404") as missing:
        fetch(f"http://127.0.0.1:{server.port}/missing", loopback_policy())
    assert isinstance(missing.value, PermanentError)
    with pytest.raises(FetchFailed, match="answered 503") as unavailable:
        fetch(f"http://127.0.0.1:{server.port}/unavailable", loopback_policy())
    assert isinstance(unavailable.value, TransientError)
    with pytest.raises(FetchFailed, match="answered 429"):
        fetch(f"http://127.0.0.1:{server.port}/busy", loopback_policy())


def test_a_refused_connection_is_transient_and_says_nothing_of_the_socket_error():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]  # closed when the block ends: nothing listens there
    with pytest.raises(FetchFailed) as failed:
        fetch(f"http://127.0.0.1:{closed_port}/", loopback_policy())
    assert failed.value.reason == "url fetch failed: could not get an answer from the server"


# --- TLS: the certificate is checked against the name, the socket goes to the checked address -----

def test_https_checks_the_certificate_against_the_original_name(tls_server, tls, connections):
    names = resolver_of({"secure.example": ["127.0.0.1"], "other.example": ["127.0.0.1"]})
    fetched = fetch(f"https://secure.example:{tls_server.port}/doc.txt", loopback_policy(ca_bundle=tls["ca"]), names)
    assert fetched.data == b"hello, world\n"
    assert connections == [("127.0.0.1", tls_server.port)]

    with pytest.raises(UrlNotFetchable, match="certificate is not valid for other.example"):
        fetch(f"https://other.example:{tls_server.port}/doc.txt", loopback_policy(ca_bundle=tls["ca"]), names)
    with pytest.raises(UrlNotFetchable, match="certificate"):  # the system's trust store: our CA is unknown
        fetch(f"https://secure.example:{tls_server.port}/doc.txt", loopback_policy(), names)


# --- the default resolver -------------------------------------------------------------------------------

def test_the_default_resolver_resolves_and_its_answer_is_checked():
    assert "127.0.0.1" in default_resolver("localhost", 80, 2.0)
    with pytest.raises(UrlRefused, match="loopback"):
        check_url("http://localhost/", FetchPolicy())
    assert check_url("http://localhost:8080/", loopback_policy()).connect_address in ("127.0.0.1", "::1")


@pytest.mark.parametrize("form", ["2130706433", "0x7f000001", "0177.0.0.1", "127.1"])
def test_numeric_ipv4_forms_would_be_caught_by_the_address_check_too(form):
    # getaddrinfo reads these as 127.0.0.1; were the syntax check missed (e.g. a name whose lookup
    # goes through such a form), the resolved address is still refused.
    assert default_resolver(form, 80, 2.0) == ["127.0.0.1"]
    with pytest.raises(UrlRefused, match="loopback"):
        check_url("http://numeric.example/", FetchPolicy(), lambda host, port, timeout_s: default_resolver(form, port, timeout_s))


def test_a_hung_lookup_is_abandoned_at_the_deadline(monkeypatch):
    release = threading.Event()

    def hung(*args, **kwargs):
        release.wait(10)
        raise socket.gaierror(socket.EAI_AGAIN, "resolver detail")

    monkeypatch.setattr(socket, "getaddrinfo", hung)
    try:
        started = time.monotonic()
        with pytest.raises(FetchFailed, match="did not resolve in time"):
            check_url("http://slow.example/", FetchPolicy(timeout_s=0.3))
        assert time.monotonic() - started < 1.0
    finally:
        release.set()


@pytest.mark.parametrize("errno, error", [(socket.EAI_NONAME, UrlNotFetchable), (socket.EAI_AGAIN, FetchFailed)])
def test_resolver_failures_are_classified_and_their_text_kept_out(monkeypatch, errno, error):
    def failing(*args, **kwargs):
        raise socket.gaierror(errno, "resolver detail 10.9.8.7")

    monkeypatch.setattr(socket, "getaddrinfo", failing)
    with pytest.raises(error) as failed:
        check_url("http://nowhere.example/", FetchPolicy(timeout_s=1.0))
    assert "resolver detail" not in failed.value.reason and "10.9.8.7" not in failed.value.reason
