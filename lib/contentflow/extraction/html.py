"""HTML: main content with trafilatura (Apache-2.0) over an lxml (BSD) tree; navigation, scripts,
styles, footers and sidebars are dropped. Title, language, author and dates come from the page's
own markup first (it says what the author meant), trafilatura's heuristics second."""

from __future__ import annotations

import functools
import re

from contentflow.errors import UnreadableDocument
from contentflow.extraction import dates, text
from contentflow.extraction.parsed import Parsed, from_pages

_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([a-zA-Z0-9_.:-]+)""", re.I)
_XML_DECLARATION = re.compile(r"^\s*<\?xml[^>]*\?>", re.I)
# C0 controls but tab and newlines: no reader sees them, the text drops them anyway, and lxml
# refuses to set a tail holding one (a page with BEL characters in its footnotes crashed).
_CONTROL_CHARS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
# Never content, whatever the page: dropped before trafilatura looks (its fallbacks would
# otherwise return a menu or a "please enable JavaScript" notice for pages with no article).
# Schema.org JSON-LD stays for trafilatura: for a page rendered by JavaScript it is where the
# article is (articleBody, a HowTo's steps), and trafilatura reads it when the markup has none.
_SCRIPT = "//script[not(@type='application/ld+json')]"
_JSON_LD = "//script[@type='application/ld+json']"
_NEVER_CONTENT = (
    _SCRIPT + "|//style|//template|//svg|//nav|//aside|//form|//iframe|//button"
    "|//select|//object|//embed|//canvas|//*[@hidden]|//*[@aria-hidden='true']"
    "|//*[@role='navigation' or @role='banner' or @role='contentinfo' or @role='complementary'"
    " or @role='search']"
)
# Usually boilerplate too, but some pages put their article there (a small site's template with
# the story in a page-level <header>, a script-built page with it only in <noscript>): when
# pruning takes most of the page's paragraphs, the page is read again without it (see parse).
# Headers and footers only outside the article: an article's own <header> holds its headline.
_PAGE_FRAME = ("//noscript|//header[not(ancestor::article or ancestor::main)]"
               "|//footer[not(ancestor::article or ancestor::main)]")
_BOILERPLATE = _NEVER_CONTENT + "|" + _PAGE_FRAME
_INVISIBLE = _SCRIPT + "|//style|//template"
_PROSE = "//p[not(ancestor::script or ancestor::style or ancestor::template or ancestor::*[@hidden])]"
# Text outside these (paragraphs are counted whole, links are menus, the rest is never seen):
# a forum's posts in <div>s and <span>s, <br>-separated lines.
_NOT_LOOSE = frozenset({"p", "a", "script", "style", "template", "noscript"})
# A sentence, not a menu entry, a button or an "enable JavaScript" notice.
_SENTENCE_MIN_CHARS = 60
# Paragraph text that makes an article, not a banner line or an "enable JavaScript" notice.
_ARTICLE_MIN_CHARS = 200
_BLOCKS = ("p", "div", "section", "article", "main", "li", "h1", "h2", "h3", "h4", "h5", "h6",
           "pre", "blockquote", "table", "tr", "dt", "dd", "figcaption", "br")


def _decode(data: bytes, charset: str | None, mime: str) -> tuple[str, str, list[str]]:
    # Precedence as in the HTML standard: BOM, then transport (content type), then <meta>.
    hint = charset
    if hint is None:
        match = _META_CHARSET.search(data[:4096])
        hint = match.group(1).decode("ascii") if match else None
    return text.decode(data, mime=mime, hint=hint)


@functools.lru_cache(maxsize=4)
def _level_below(levels: int):
    from lxml import etree

    return etree.XPath("boolean(" + "/".join(["*"] * levels) + ")")


def _deeper_than(root, levels: int) -> bool:
    """Whether an element sits more than `levels` levels deep (the root is level 1): one XPath of
    `levels` child steps, evaluated in C (a Python walk of the tree cost 12 % of an HTML page's
    extraction)."""
    return bool(_level_below(levels)(root))


def _meta(root, *names: str) -> str | None:
    for name in names:
        for node in root.xpath(
            "//meta[translate(@name,'ABCDEFGHIJKLMNOPQRSTUVWXYZ','abcdefghijklmnopqrstuvwxyz')=$n"
            " or @property=$n or @itemprop=$n]", n=name
        ):
            value = (node.get("content") or "").strip()
            if value:
                return value
    return None


def _language(root) -> str | None:
    value = root.get("lang") or root.get("{http://www.w3.org/XML/1998/namespace}lang") \
        or _meta(root, "content-language") or ""
    for node in root.xpath("//meta[@http-equiv]"):
        if not value and node.get("http-equiv", "").lower() == "content-language":
            value = node.get("content") or ""
    primary = value.strip().split("-")[0].split("_")[0].lower()
    return primary if re.fullmatch(r"[a-z]{2,3}", primary) else None


def _prune(root) -> None:
    for node in root.xpath(_BOILERPLATE):
        if node.getparent() is not None:
            node.drop_tree()


def _prose_length(nodes) -> int:
    return sum(len(" ".join(node.text_content().split())) for node in nodes)


def _page_prose(root) -> int:
    """Characters of running text on the page: its paragraphs, and sentence-length text outside
    them (pages built of <div>s have no <p>)."""
    from lxml import etree

    loose = 0
    # One walk in document order (an XPath over text() with ancestor tests took 300 s on 50,000
    # paragraphs). A node's tail is its parent's text: counted even when the node is skipped.
    for _, node in (walker := etree.iterwalk(root, events=("start",))):
        if node.tag in _NOT_LOOSE or not isinstance(node.tag, str) or node.get("hidden") is not None:
            walker.skip_subtree()
            runs = (node.tail,)
        else:
            runs = (node.text, node.tail)
        for run in runs:
            if run and len(run) >= _SENTENCE_MIN_CHARS:  # cheap test first: most runs are short
                size = len(" ".join(run.split()))
                loose += size if size >= _SENTENCE_MIN_CHARS else 0
    return _prose_length(root.xpath(_PROSE)) + loose


def _prune_gently(root) -> None:
    """Only what no reader sees (scripts, styles, templates); <noscript> content stays in place,
    as a browser without JavaScript shows it. The page as trafilatura would read it raw: for
    pages whose article the structural rules take away (a story in a page-level <header> or only
    in <noscript>, an ASP.NET page wrapped whole in one <form>, an unclosed <nav> that swallows
    the page). Trafilatura's choice between its readings is sensitive to any element taken away
    (dropping one small <noscript> notice cost one news page its headline and lede)."""
    for node in root.xpath("//noscript"):
        node.drop_tag()
    for node in root.xpath(_INVISIBLE):
        if node.getparent() is not None:
            node.drop_tree()


def _main_text(root, *, scoring: bool) -> tuple[object, str, str, str]:
    """(trafilatura's result or None, the text, readers' comments, the extractor's name) for a
    pruned tree. Comments are what trafilatura's defaults read too; they are returned apart so the
    record marks them (a search hit in a comment says so)."""
    found, body, comments, extractor = None, "", "", "lxml-structural"
    if scoring:
        import trafilatura

        found = trafilatura.bare_extraction(root, with_metadata=True, include_comments=True,
                                            include_tables=True, include_images=False)
        body = getattr(found, "text", None) or ""
        comments = getattr(found, "comments", None) or ""
        extractor = "trafilatura"
    if body.strip():
        # trafilatura puts one block per line
        return found, body.replace("\n", "\n\n"), comments.replace("\n", "\n\n"), extractor
    return found, _fallback_text(root), "", "lxml-fallback" if scoring else extractor


def _fallback_text(root) -> str:
    """The main element's text, block by block: for pages trafilatura finds no article in."""
    for node in root.xpath(_JSON_LD):  # data for trafilatura, not text a reader sees
        node.drop_tree()
    candidates = root.xpath("//main|//article|//*[@role='main']") or root.xpath("//body") or [root]
    main = candidates[0]
    for node in main.iter(*_BLOCKS):
        node.tail = "\n\n" + (node.tail or "")
    return main.text_content()


def parse(data: bytes, *, mime: str, charset: str | None, limits, **_) -> Parsed:
    import lxml.html

    source, encoding, warnings = _decode(data, charset, mime)
    source = _XML_DECLARATION.sub("", source, count=1)  # lxml refuses str input that declares one
    source = _CONTROL_CHARS.sub("", source)
    if not source.strip():
        raise UnreadableDocument("empty file: no text to extract")
    parser = lxml.html.HTMLParser(remove_comments=True, remove_pis=True, no_network=True,
                                  huge_tree=False)
    try:
        root = lxml.html.document_fromstring(source, parser=parser)
    except Exception as err:  # lxml's ParserError for a document with no elements at all
        raise UnreadableDocument(f"malformed HTML: {err}"[:200]) from None
    if _deeper_than(root, limits.max_nesting_depth):
        raise UnreadableDocument(f"HTML nested too deeply: more than {limits.max_nesting_depth} levels")

    title = (root.findtext(".//title") or "").strip() or _meta(root, "og:title")
    author = _meta(root, "author", "article:author", "dc.creator")
    created = _meta(root, "article:published_time", "datepublished", "date", "dc.date",
                    "dcterms.created", "dc.date.issued")
    modified = _meta(root, "article:modified_time", "datemodified", "dcterms.modified",
                     "last-modified")
    if not created:  # trafilatura's date guesses (from a copyright line, say) are too loose
        stamps = root.xpath("(//article//time/@datetime | //main//time/@datetime)[1]")
        created = str(stamps[0]) if stamps else None
    language = _language(root)
    prose = _page_prose(root)
    _prune(root)

    scoring = len(data) <= limits.html_scoring_max_bytes
    if not scoring:
        warnings.append(f"large page ({len(data) / 1e6:.1f} MB): read structurally, without main-content scoring")
    found, body, comments, extractor = _main_text(root, scoring=scoring)
    if prose >= _ARTICLE_MIN_CHARS and 2 * len(" ".join(body.split())) < prose:
        # Pruning took most of the page's paragraphs: read the page again as trafilatura would
        # read it raw (it has its own boilerplate rules) and take that reading if it holds more
        # than twice the text. A second parse and scoring only for these pages.
        root = None  # one tree in memory at a time: a large page is parsed twice here
        gentle = lxml.html.document_fromstring(source, parser=parser)
        _prune_gently(gentle)
        again = _main_text(gentle, scoring=scoring)
        if len(" ".join(again[1].split())) > 2 * len(" ".join(body.split())):
            found, body, comments, extractor = again
    if extractor == "trafilatura":
        title = getattr(found, "title", None) or title  # without the "| Site name" suffix
        author = author or getattr(found, "author", None)
    if not body.strip():
        raise UnreadableDocument("no text found: the page has no readable content")
    if author and author.startswith(("http://", "https://")):
        author = None
    page = [["body", body], ["comment", comments]] if comments.strip() else body
    return from_pages([page], extractor=extractor, max_chars=limits.max_text_chars, paged=False,
                      title=(title or "").strip()[:1000] or None, author=author,
                      created=dates.iso_date(created), modified=dates.iso_date(modified),
                      declared_language=language, encoding=encoding, warnings=warnings)
