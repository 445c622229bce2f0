"""The status page (GET /) and the API docs (GET /docs) as a browser renders them: Debian's
Chromium, headless, against the local stack's api, with documents that went through the pipeline.

Chromium runs twice (about a second each): once on the status page with a search (its DOM and a
screenshot), once on the docs."""

from __future__ import annotations

import base64
import hashlib
import os
import re
import shutil
import struct
import subprocess
import uuid
from pathlib import Path
from types import SimpleNamespace
from urllib.parse import urlencode

import pytest
import requests
from google.cloud.firestore_v1.base_query import FieldFilter
from lxml import html as lxml_html

from contentflow.api.pages import duration
from contentflow.errors import TransientError
from contentflow.spec import load_spec
from local.procs import end_process_group
from local.stack import REPO

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_TIMEOUT_S = 45
SCREENSHOT_COPY = Path("/tmp/contentflow-status-page.png")  # a stable place to look at the last run's page
WINDOW = (1280, 1600)
SEARCH_TEXT = ("Bell Rock lighthouse log. The keepers counted gannets, puffins and kittiwakes on the reef at low "
               "water, trimmed the lamp wicks at dusk and sounded the fog bell through the night.")
SEARCH_QUERY = "lighthouse keepers counting gannets and puffins"
OTHER_TEXTS = ("Allotment society minutes: the committee agreed to buy two water butts and a new padlock for the shed.",
               "Bakery price list: sourdough loaf four pounds, rye loaf three pounds fifty, cinnamon buns two pounds.")
SAMPLE_FILE = REPO / "samples" / "documents" / "quarterly-report-q3-2024.pdf"
UNREADABLE = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00binary"  # a Windows executable's header: extract refuses it
DURATION = re.compile(r"^(\d+) ms$|^(\d+\.\d\d) s$|^(\d+\.\d) min$")


@pytest.fixture(scope="module")
def api(stack):
    return stack.function_url("api").rstrip("/")


def _chromium(tmp_path: Path, *args: str) -> str:
    """Runs headless Chromium on loopback pages with a throwaway profile; answers its stdout.
    Its process group is ended whatever happens (Chromium leaves helper processes behind)."""
    home = tmp_path / f"chromium-{uuid.uuid4().hex[:8]}"  # profile, config and cache: nothing lands in ~
    command = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
               "--disable-background-networking", "--disable-component-update", "--disable-sync",
               "--disable-crash-reporter", "--disable-dev-shm-usage", "--no-proxy-server", "--hide-scrollbars",
               f"--user-data-dir={home / 'profile'}", *args]
    env = {**os.environ, "XDG_CONFIG_HOME": str(home / "config"), "XDG_CACHE_HOME": str(home / "cache")}
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
                            env=env, start_new_session=True)
    try:
        out, err = proc.communicate(timeout=CHROMIUM_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        end_process_group(proc.pid, timeout=5)
        out, err = proc.communicate()
        raise AssertionError(f"chromium did not finish in {CHROMIUM_TIMEOUT_S} s; stderr ends: {err.decode(errors='replace')[-2000:]}")
    finally:
        end_process_group(proc.pid, timeout=5)
    assert proc.returncode == 0, f"chromium exited {proc.returncode}; stderr ends: {err.decode(errors='replace')[-2000:]}"
    return out.decode("utf-8")


def _post(api: str, **body) -> str:
    r = requests.post(f"{api}/documents", json=body, timeout=30)
    assert r.status_code == 202, r.text
    return r.json()["id"]


def _post_file(api: str, path: Path, name: str) -> str:
    with path.open("rb") as f:
        r = requests.post(f"{api}/documents", files={"file": (name, f, "application/pdf")}, timeout=30)
    assert r.status_code == 202, r.text
    return r.json()["id"]


def _count(db, status: str) -> int:
    [[result]] = db.collection("documents").where(filter=FieldFilter("status", "==", status)).count().get()
    return int(result.value)


def _text(element) -> str:
    return " ".join(element.text_content().split())


def _milliseconds(shown: str) -> float:
    match = DURATION.match(shown)
    assert match, f"not a duration: {shown!r}"
    ms, seconds, minutes = match.groups()
    return float(ms) if ms else float(seconds) * 1000 if seconds else float(minutes) * 60_000


def _png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()[:24]
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR", "not a PNG"
    return struct.unpack(">II", data[16:24])


def test_status_page_shows_counts_failures_latency_and_search_in_chromium(api, db, wait_status, tmp_path):
    run = uuid.uuid4().hex[:8]
    searched = _post(api, text=SEARCH_TEXT, filename=f"bell-rock-{run}.txt")
    others = [_post(api, text=text, filename=f"note-{i}-{run}.txt") for i, text in enumerate(OTHER_TEXTS)]
    pdf = _post_file(api, SAMPLE_FILE, f"quarterly-{run}.pdf")
    broken = _post(api, content_base64=base64.b64encode(UNREADABLE).decode(), filename=f"broken-{run}.txt")
    records = {doc_id: wait_status(doc_id, timeout=60) for doc_id in [searched, *others, pdf, broken]}
    done = [doc_id for doc_id in (searched, *others, pdf) if records[doc_id]["status"] == "done"]
    assert done == [searched, *others, pdf], {d: records[d].get("error") for d in records}
    failure = records[broken]
    assert failure["status"] == "failed" and failure["error"]["reason"]

    before = {status: _count(db, status) for status in ("done", "failed")}
    screenshot = tmp_path / "status-page.png"
    page_url = f"{api}/?{urlencode({'q': SEARCH_QUERY})}"
    dom = _chromium(tmp_path, "--dump-dom", f"--screenshot={screenshot}", f"--window-size={WINDOW[0]},{WINDOW[1]}", page_url)
    after = {status: _count(db, status) for status in ("done", "failed")}
    page = lxml_html.fromstring(dom)

    # Documents by status: what the store held while the page was made (other tests' documents may still finish).
    shown = {li.get("data-status"): int(_text(li.find(".//span[@class='n']")))
             for li in page.xpath("//section[@id='counts']//li[@data-status]")}
    assert list(shown) == ["fetching", "received", *(step.status for step in load_spec().steps), "done", "failed"]
    for status in ("done", "failed"):
        assert before[status] <= shown[status] <= after[status], (status, before, shown, after)
    assert shown["done"] >= len(done) and shown["failed"] >= 1
    [total] = page.xpath("//section[@id='counts']//*[@data-total]")
    assert int(total.get("data-total")) == sum(shown.values())

    # The failure, with its reason as recorded (whitespace collapsed; the page cuts it at 300 characters).
    [row] = page.xpath(f"//section[@id='failures']//tr[@data-document-id='{broken}']")
    reason = " ".join(failure["error"]["reason"].split())
    shown_reason = _text(row.xpath(".//td[@class='reason']")[0])
    assert shown_reason == reason if len(reason) <= 300 else shown_reason.startswith(reason[:250])
    assert _text(row.xpath(".//span[@class='step']")[0]) == failure["error"]["step"] == "extract"
    assert row.xpath(f".//a[@href='documents/{broken}']")

    # Per-step latency over the most recent done documents (every done document has each step's duration).
    done_records = [snap.to_dict() for snap in db.collection("documents").where(filter=FieldFilter("status", "==", "done")).stream()]
    for step in ("extract", "analyse", "index", "end-to-end"):
        [latency_row] = page.xpath(f"//section[@id='latency']//tr[@data-step='{step}']")
        samples = int(_text(latency_row.xpath("./td[@class='samples']")[0]))
        assert min(100, before["done"]) <= samples <= min(100, after["done"]), (step, samples, before, after)
        p50, p95 = (_text(latency_row.xpath(f"./td[@class='{q}']")[0]) for q in ("p50", "p95"))
        assert 0 <= _milliseconds(p50) <= _milliseconds(p95), (step, p50, p95)
        if step != "end-to-end":  # nearest-rank percentiles: each one a duration some done document measured
            measured = {duration(r["steps"][step]["duration_ms"]) for r in done_records}
            assert {p50, p95} <= measured, (step, p50, p95, sorted(measured)[:20])

    # The search lists the document whose words were searched for, with its title, score and a snippet.
    results = page.xpath("//section[@id='search']//li[@data-document-id]")
    assert results, _text(page.xpath("//section[@id='search']")[0])
    assert searched in [li.get("data-document-id") for li in results[:3]]
    [hit] = [li for li in results if li.get("data-document-id") == searched]
    assert _text(hit.xpath(".//a[@class='doc']")[0]) and hit.xpath(f".//a[@href='documents/{searched}']")
    assert 0 < float(_text(hit.xpath(".//span[@class='score']")[0])) <= 1
    assert "gannets" in _text(hit.xpath(".//p[@class='snippet']")[0])

    # Recent documents: ours, each with its status.
    recent = {tr.get("data-document-id"): tr.get("data-status") for tr in page.xpath("//section[@id='recent']//tr[@data-document-id]")}
    assert {doc_id: recent.get(doc_id) for doc_id in records} == {doc_id: r["status"] for doc_id, r in records.items()}

    # Nothing external, nothing scripted.
    assert not page.xpath("//script")
    assert not [url for url in page.xpath("//@href | //@src | //@action") if re.match(r"^(?:[a-z]+:)?//", url)]

    width, height = _png_size(screenshot)
    assert (width, height) == WINDOW
    assert screenshot.stat().st_size > 40_000  # a rendered page, not a blank one
    shutil.copyfile(screenshot, SCREENSHOT_COPY)


def test_docs_page_renders_every_operation_without_a_cdn(api, tmp_path):
    dom = _chromium(tmp_path, "--dump-dom", f"{api}/docs")
    page = lxml_html.fromstring(dom)
    openapi = requests.get(f"{api}/openapi.json", timeout=10).json()
    expected = {f"{method.upper()} {path}" for path, item in openapi["paths"].items() for method in item}
    assert {s.get("data-operation") for s in page.xpath("//section[@data-operation]")} == expected
    assert "POST /documents" in expected
    [submit] = page.xpath("//section[@data-operation='POST /documents']")
    assert "Idempotency-Key" in _text(submit) and "at most 255 characters" in _text(submit)
    assert submit.xpath(".//span[@class='media' and text()='multipart/form-data']")
    assert {code.get("data-error-code") for code in page.xpath("//tr[@data-error-code]")} >= {"invalid_request", "not_found", "unavailable"}
    assert {s.get("data-schema") for s in page.xpath("//section[@data-schema]")} == set(openapi["components"]["schemas"])
    assert not page.xpath("//script")
    assert not [url for url in page.xpath("//@href | //@src") if re.match(r"^(?:[a-z]+:)?//", url)]


def test_status_page_answers_bad_queries_with_a_message_and_escapes_them(api):
    for query, message in (("   ", "the query is empty"), ("x" * 1001, "too long")):
        r = requests.get(f"{api}/", params={"q": query}, timeout=30)
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/html"), r.text[:500]
        assert message in _text(lxml_html.fromstring(r.text).xpath("//section[@id='search']//p[@class='notice']")[0])
    hostile = "<script>alert(1)</script>"
    r = requests.get(f"{api}/", params={"q": hostile}, timeout=30)
    assert r.status_code == 200
    assert "<script" not in r.text and "&lt;script&gt;" in r.text
    assert lxml_html.fromstring(r.text).xpath("//input[@name='q']")[0].get("value") == hostile
    policy = r.headers["content-security-policy"]
    assert "default-src 'none'" in policy and "script-src" not in policy and "unsafe-inline" not in policy
    # The one inline stylesheet is the one the policy allows by hash (else browsers would drop it).
    [style] = re.findall(r"<style>(.*?)</style>", r.text, flags=re.S)
    assert f"style-src 'sha256-{base64.b64encode(hashlib.sha256(style.encode()).digest()).decode()}'" in policy


# --- degraded dependencies: the page still renders (no stack needed: the services are stand-ins) ----
class _Store:
    def __init__(self, documents=(), down: bool = False):
        self.documents = list(documents)
        self.down = down
        self.calls: list[str] = []

    def count(self, field, value):
        self.calls.append(f"count:{value}")
        if self.down:
            raise TransientError("Firestore unavailable: 503 connect to 10.1.2.3:8443 refused")
        return sum(1 for d in self.documents if d.status == value)

    def list_documents(self, *, status=None, limit=20, **_):
        self.calls.append(f"list:{status}")
        return [d for d in self.documents if status is None or d.status == status][:limit]


class _BrokenReports:
    def latest(self):
        raise RuntimeError("a bug in the reports")


def _page_with(store, reports=None):
    from fastapi.testclient import TestClient

    from contentflow.api.app import create_app
    from contentflow.api.deps import get_services

    services = SimpleNamespace(settings=SimpleNamespace(spec=load_spec()), store=store, reports=reports or _BrokenReports(),
                               search=SimpleNamespace(search=lambda request: pytest.fail("search was not asked for")))
    app = create_app()
    app.dependency_overrides[get_services] = lambda: services
    with TestClient(app) as client:
        r = client.get("/")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    return r.text, lxml_html.fromstring(r.text)


def test_status_page_renders_when_firestore_is_down_and_tries_it_once():
    store = _Store(down=True)
    text, page = _page_with(store)
    for section in ("counts", "latency", "report", "failures", "recent"):
        assert "unavailable" in _text(page.xpath(f"//section[@id='{section}']//p[@class='unavailable']")[0]), section
    assert store.calls == ["count:fetching"]  # the first timeout stops the page from asking again
    assert "10.1.2.3" not in text and "refused" not in text  # the dependency's own text stays in the log


def test_status_page_bounds_and_escapes_what_documents_hold_and_isolates_a_failing_section():
    from contentflow.documents import Document, Failure, Source, StepRecord, utcnow

    now = utcnow()
    hostile = '<img src=x onerror="alert(1)">' + "n" * 500 + ".txt"
    failed = Document(id="f" * 32, status="failed", source=Source(bucket="inbox", name=f"api/x/{hostile}"), trace_id="t",
                      created_at=now, updated_at=now, metadata={"filename": hostile},
                      error=Failure(step="extract", reason="<b>bad</b> " + "r" * 5000, at=now))
    done = Document(id="d" * 32, status="done", source=Source(bucket="inbox", name="a.txt"), trace_id="t",
                    created_at=now, updated_at=now, labels=["<label>"] * 50,
                    steps={s: StepRecord(state="succeeded", duration_ms=ms) for s, ms in
                           (("extract", 1500), ("analyse", 20), ("index", 7))})
    text, page = _page_with(_Store([failed, done]))
    assert "<img" not in text and "<b>" not in text and "&lt;b&gt;bad&lt;/b&gt;" in text
    [reason] = page.xpath(f"//tr[@data-document-id='{'f' * 32}']/td[@class='reason']")
    assert _text(reason).startswith("<b>bad</b> rrr") and len(_text(reason)) <= 300
    assert all(len(_text(a)) <= 80 for a in page.xpath("//a[@class='doc']"))
    assert len(page.xpath(f"//tr[@data-document-id='{'d' * 32}']//span[@class='label']")) <= 6
    assert [_text(td) for td in page.xpath("//tr[@data-step='extract']/td")] == ["1", "1.50 s", "1.50 s", "1.50 s"]
    assert "unavailable" in _text(page.xpath("//section[@id='report']")[0])  # the broken section only
    assert not page.xpath("//section[@id='recent']//p[@class='unavailable']")
