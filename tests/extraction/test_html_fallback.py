"""HTML pre-cleaning never reads less than trafilatura would on the raw page: an article that sits
only in a page-level <header>, or only in <noscript>, is still the text; ordinary boilerplate
(navigation, page header and footer, sidebar) is still dropped."""

from __future__ import annotations

import pytest

_PARAGRAPHS = (
    "The harbour authority confirmed on Tuesday that the northern breakwater will be rebuilt in "
    "three stages, starting with the section nearest the lighthouse.",
    "Engineers found that winter storms had washed out most of the rubble core, leaving the "
    "concrete crown resting on little more than sand and broken stone.",
    "Fishing boats will keep using the inner basin during the works, while the ferry moves to the "
    "temporary pontoon by the old customs house until the spring of next year.",
    "Residents can see the plans at the library on Harbour Street every weekday afternoon.",
)
_SIDEBAR = ("Most read this week", "Council tax bands explained", "Tide tables for March",
            "Letters to the editor", "Subscribe to our newsletter")


def _article_html() -> str:
    return ("<h1>Northern breakwater to be rebuilt in three stages</h1>"
            + "".join(f"<p>{paragraph}</p>" for paragraph in _PARAGRAPHS))


def _sidebar_html() -> str:
    return ('<div class="sidebar"><ul>'
            + "".join(f'<li><a href="/story/{i}">{title}</a></li>' for i, title in enumerate(_SIDEBAR))
            + "</ul></div>")


def _assert_article(text: str) -> None:
    for paragraph in _PARAGRAPHS:
        assert paragraph in text, f"missing paragraph {paragraph[:40]!r} in {text[:300]!r}"


def test_an_article_inside_a_page_level_header_is_read(extract):
    # A small site's template: the whole story sits in <header class="entry">, no <main>/<article>.
    page = ("<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
            "<title>Northern breakwater to be rebuilt | Harbour Gazette</title></head><body>"
            f"<header class='entry'>{_article_html()}</header>"
            "<div class='copyright'><small>Harbour Gazette</small></div></body></html>")
    result = extract(page.encode(), "breakwater.html", "text/html")
    _assert_article(result.text)


def test_an_article_only_inside_noscript_is_read_instead_of_the_sidebar(extract):
    # A JavaScript app shell: the server-rendered story is in <noscript>, the list of links outside.
    page = ("<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
            "<title>Northern breakwater to be rebuilt</title>"
            "<script>window.__APP__ = {route: '/story/breakwater'};</script></head><body>"
            "<div id='root'></div>"
            f"<noscript><div class='story'>{_article_html()}</div></noscript>"
            f"{_sidebar_html()}<script src='/static/app.91c2.js'></script></body></html>")
    result = extract(page.encode(), "breakwater.html", "text/html")
    _assert_article(result.text)
    for title in _SIDEBAR:
        assert title not in result.text


def test_ordinary_boilerplate_is_still_removed(extract):
    page = ("<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
            "<title>Northern breakwater to be rebuilt</title></head><body>"
            "<header><a href='/'>Harbour Gazette</a> <span>Log in to your account</span></header>"
            "<nav><a href='/news'>News</a> <a href='/sport'>Sport</a> <a href='/weather'>Weather</a></nav>"
            f"<main><article>{_article_html()}</article></main>"
            f"<aside>{_sidebar_html()}</aside>"
            "<footer><p>All rights reserved. Harbour Gazette Ltd, registered in Scotland.</p></footer>"
            "<noscript>Please enable JavaScript to comment.</noscript></body></html>")
    result = extract(page.encode(), "breakwater.html", "text/html")
    _assert_article(result.text)
    for boilerplate in ("Log in to your account", "Weather", "All rights reserved",
                        "Please enable JavaScript", *_SIDEBAR):
        assert boilerplate not in result.text


def test_a_banner_line_and_a_javascript_notice_are_still_no_content(extract):
    # Paragraphs too short to be an article: the frame is not read back in, the page stays empty.
    from contentflow.errors import UnreadableDocument

    page = (b"<!DOCTYPE html><html><head><title>Loading...</title></head><body>"
            b"<header><p>Free delivery on orders over 50 EUR</p></header>"
            b"<nav><a href='/'>Home</a> <a href='/shop'>Shop</a></nav><div id='app'></div>"
            b"<noscript><p>Please enable JavaScript to use this site.</p></noscript>"
            b"<footer><p>&copy; 2024 Example Shop</p></footer></body></html>")
    with pytest.raises(UnreadableDocument) as raised:
        extract(page, "shop.html", "text/html")
    assert raised.value.reason == "no text found: the page has no readable content"


def test_readers_comments_are_read_and_marked_as_comments(extract):
    # trafilatura's defaults read a page's comment section; the record keeps it, marked, so a
    # search hit in a comment says it came from one.
    comments = ("Good to hear the ferry keeps running while the works go on, my mother relies on it.",
                "Will the pontoon have a ramp for wheelchairs? The old one by the customs house never did.")
    page = ("<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>Breakwater</title>"
            f"</head><body><main><article>{_article_html()}</article>"
            "<div id='comments' class='comments'><h3>2 comments</h3><ul class='comment-list'>"
            + "".join(f"<li class='comment'><p>{comment}</p></li>" for comment in comments)
            + "</ul></div></main></body></html>")
    result = extract(page.encode(), "breakwater.html", "text/html")
    _assert_article(result.text)
    [region] = result.regions
    assert region["kind"] == "comment"
    marked = result.text[region["start"]:region["end"]]
    assert all(comment in marked for comment in comments)
    assert not any(paragraph in marked for paragraph in _PARAGRAPHS)


def test_the_second_reading_keeps_noscript_text_in_place_and_drops_only_the_unseen():
    # The raw reading is the page as a browser without JavaScript shows it: even a short
    # <noscript> line stays where it is (taking one away changed which reading trafilatura chose
    # on a news page and lost its headline and lede); scripts, styles and templates go.
    import lxml.html

    from contentflow.extraction.html import _prune_gently

    root = lxml.html.document_fromstring(
        "<html><head><style>p{color:red}</style></head><body><div><h1>Headline</h1>"
        "<noscript><span>Works best with scripts on.</span></noscript><p>Lede.</p></div>"
        "<script>var track = 1;</script><template><p>Card</p></template></body></html>")
    _prune_gently(root)
    assert root.text_content() == "HeadlineWorks best with scripts on.Lede."
    assert not root.xpath("//noscript|//script|//style|//template")
