"""The local inference backend: analysis fields on realistic texts, embeddings, bounds, and a run
with the network made impossible (the models must ship inside the packages)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import yaml

from contentflow import metering
from contentflow.errors import InvalidInput, PermanentError
from contentflow.inference.local import MAX_EMBED_CHARS, LocalBackend
from contentflow.inference.offline_text import can_open
from contentflow.inference.options import InferenceOptions
from contentflow.inference.port import MAX_KEYWORDS, MAX_SUMMARY_CHARS, MAX_TEXT_FIELD, Taxonomy

ROOT = Path(__file__).resolve().parents[2]
TAXONOMY = Taxonomy.model_validate(yaml.safe_load((ROOT / "lib/contentflow/taxonomy.yaml").read_text()))

FINANCE = """Northwind Trading plc - Interim results for the six months to 30 June 2025

Revenue rose 8.4% to £412.6 million, driven by higher volumes in the wholesale division and by price
increases that took effect in January. Gross margin improved by 120 basis points to 31.2%.

Operating profit was £58.1 million (2024: £49.7 million). Net debt fell to £96.0 million after strong
cash conversion, and the leverage ratio is now 0.9 times EBITDA.

The board has declared an interim dividend of 4.2 pence per share, an increase of 10%, payable on
3 October 2025 to shareholders on the register on 5 September 2025.

Outlook. We expect full-year earnings to be in line with market expectations. Capital expenditure will
be around £30 million, mainly for the new distribution centre, and we will continue to reduce debt.
"""

GARDENING = """How to grow tomatoes from seed

Sow tomato seeds indoors six to eight weeks before the last frost, in small pots of moist seed compost.
Keep the pots somewhere warm and bright; the seedlings usually appear within ten days.

When the first true leaves show, prick the seedlings out into individual pots and water them from below.
Harden the young plants off for a week before you plant them out in the greenhouse or in a sunny bed.

Tie the main stem to a cane, pinch out the side shoots every week and feed with a high-potash fertiliser
once the first trusses have set. Water regularly: irregular watering splits the fruit.
"""

LEGAL = """SERVICES AGREEMENT

This Agreement is made on 1 March 2025 between Harbourview Ltd (the "Supplier") and Cobalt Analytics
GmbH (the "Customer").

1. Term. This Agreement starts on the Effective Date and continues for twelve months unless terminated
earlier in accordance with clause 9.

2. Liability. Neither party limits its liability for death or personal injury caused by negligence.
Subject to that, each party's total liability under this Agreement shall not exceed the fees paid in the
twelve months before the claim.

3. Governing law. This Agreement is governed by the laws of England and Wales, and the courts of
England have exclusive jurisdiction over any dispute arising out of it.
"""

SOFTWARE = """Release 4.2.0

This release adds single sign-on with OpenID Connect and a new command-line export.

Fixed
- The scheduler no longer runs a job twice after a daylight-saving change.
- Uploads larger than 2 GB resume correctly after a dropped connection.

Changed
- The minimum supported Python version is now 3.10.
- The REST API returns 409 instead of 500 when a resource is modified concurrently.

Upgrade notes: run the database migration before starting the new version.
"""

COMPLAINT = """Subject: Order 55812 still not delivered

Hello,

I ordered a coffee grinder three weeks ago and it still has not arrived. The tracking page has shown
"in transit" for twelve days and nobody answers the phone. This is really disappointing and frankly
unacceptable. I was charged immediately, but I have received nothing.

I want a full refund or the grinder delivered this week. If I do not hear from you by Friday I will
dispute the payment with my bank. Terrible service.

Regards,
Tom Baxter
tom.baxter@example.org
"""

REVIEW = """Our stay at the Seaview Guesthouse

We had a wonderful week at the Seaview Guesthouse. The room was spotless, bright and quiet, and the view
over the bay was beautiful. The owners were friendly and helpful and gave us great tips for walks.

Breakfast was excellent, with fresh bread and local eggs every morning. We loved the little garden and
will certainly come back next summer. Highly recommended!
"""

GERMAN = """Richtlinie zur mobilen Arbeit

Alle Beschäftigten können nach Absprache mit ihrer Führungskraft bis zu drei Tage pro Woche mobil arbeiten.
Die Kernarbeitszeit von 10 bis 15 Uhr gilt auch bei mobiler Arbeit. Überstunden müssen vorher genehmigt werden.

Die Arbeitszeit wird wie im Büro erfasst. Für die Ausstattung stellt das Unternehmen einen Laptop und ein
Headset zur Verfügung. Die Regelung gilt ab dem 1. April 2025 und wird nach einem Jahr überprüft.
"""

# A PDF-like page: a running header, hard-wrapped lines, a table row.
REPORT_PAGE = """Harbour Logistics - page 1 of 12
Harbour Logistics Quarterly Report, third quarter 2024.
This report summarises the operating results of the northern terminals, the rail shuttle service and the
cold-storage warehouse in the period from July to September.
Terminal | Containers | Change
North | 41,200 | +6%

Harbour Logistics - page 2 of 12
Financial results. Net revenue grew by fourteen percent to 182 million euros, driven by reefer traffic
and by the new storage contracts signed in the spring.
"""

SALES_CSV = """region: North; product: Trail running shoes; units: 1240; revenue_eur: 148800
region: North; product: Waterproof jacket; units: 860; revenue_eur: 171140
region: South; product: Insulated bottle; units: 2310; revenue_eur: 57750
"""


@pytest.fixture(scope="module")
def backend():
    return LocalBackend(InferenceOptions(), 256)


def analyse(backend, text, language="en", taxonomy=TAXONOMY):
    return backend.analyse(text, [text], taxonomy, language)


def normalised(text: str) -> str:
    return " ".join(text.split())


def names(result) -> list[str]:
    return [label.name for label in result.analysis.labels]


# --- labels ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("text, expected, unexpected", [
    (FINANCE, "finance", "gardening"),
    (GARDENING, "gardening", "finance"),
    (LEGAL, "legal", "gardening"),
    (SOFTWARE, "software-release", "healthcare"),
    (COMPLAINT, "customer-support", "education"),
    (REVIEW, "travel", "legal"),
])
def test_labels_fit_the_document(backend, text, expected, unexpected):
    result = analyse(backend, text)
    labels = result.analysis.labels
    assert expected in names(result) and unexpected not in names(result)
    assert 1 <= len(labels) <= 3
    assert [label.score for label in labels] == sorted((label.score for label in labels), reverse=True)
    taxonomy = {label.name: label.description for label in TAXONOMY.labels}
    for label in labels:
        assert 0.0 <= label.score <= 1.0 and label.description == taxonomy[label.name]


def test_labels_come_from_the_given_taxonomy_only(backend):
    small = Taxonomy.model_validate({"labels": [
        {"name": "astronomy",
         "description": "Astronomy: stars, planets, telescope, galaxy, orbit, comet, observatory."},
        {"name": "cooking", "description": "Cooking: recipe, oven, flour, butter, bake, simmer, kitchen, dinner."},
    ]})
    # The small taxonomy's vectors are cached by its fingerprint, apart from the default one's.
    assert names(analyse(backend, GARDENING, taxonomy=small)) == []  # nothing fits: no label, not a guess
    assert "gardening" in names(analyse(backend, GARDENING))
    recipe = "Preheat the oven. Mix the flour and butter, add sugar and eggs, and bake the cake for forty minutes."
    assert names(analyse(backend, recipe, taxonomy=small)) == ["cooking"]


# --- summary ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("text", [FINANCE, GARDENING, LEGAL, SOFTWARE, COMPLAINT, REVIEW, GERMAN, REPORT_PAGE])
def test_summary_is_whole_sentences_of_the_text(backend, text):
    summary = analyse(backend, text, "de" if text is GERMAN else "en").analysis.summary
    assert 0 < len(summary) <= MAX_SUMMARY_CHARS
    source = normalised(text)
    sentences = re.split(r"(?<=[.!?])\s+(?=\S)", summary)
    assert 1 <= len(sentences) <= 3
    for sentence in sentences:
        assert normalised(sentence) in source, sentence
    # the first sentence stands alone: not a heading, a fragment or a sentence leaning on another
    assert re.search(r"[.!?]$", sentences[0]) and can_open(sentences[0])


def test_summary_skips_running_headers_headings_and_tables(backend):
    summary = analyse(backend, REPORT_PAGE).analysis.summary
    assert "page 1 of 12" not in summary and "|" not in summary
    # hard-wrapped lines are joined back into the sentence
    assert "the rail shuttle service and the cold-storage warehouse" in summary or "Net revenue grew" in summary


def test_summary_of_data_rows_is_empty_and_says_why(backend):
    analysis = analyse(backend, SALES_CSV).analysis
    assert analysis.summary == ""
    assert "summary" in analysis.unavailable


def test_summary_of_a_data_file_with_a_title_line_is_that_line(backend):
    catalogue = ("catalogue: Spring seed catalogue\npublisher: Fenwick Seed Cooperative\nitems:\n\n"
                 "    name: Golden Beetroot\n    sow: April to July\n    price_eur: 2.5\n")
    assert analyse(backend, catalogue).analysis.summary == "catalogue: Spring seed catalogue"


def test_summary_is_bounded_for_long_sentences(backend):
    sentence = "The committee " + " ".join(["reviewed the long list of proposals"] * 9) + " in detail."
    text = "\n\n".join(f"{sentence} Item {i} was approved by a clear majority of the members present."
                       for i in range(50))
    assert len(analyse(backend, text).analysis.summary) <= MAX_SUMMARY_CHARS


# --- keywords --------------------------------------------------------------------------------------

VARROA = """Treating varroa mites in late winter

Varroa mites are the most serious pest of the honey bee. The mites feed on the fat body of adult bees and
of the developing brood, and they spread deformed wing virus through the colony. A colony that is not
treated usually collapses within two or three years.

In late winter most colonies are broodless, so nearly all the mites sit on the adult bees, where oxalic acid
reaches them. Beekeepers trickle a solution of oxalic acid in sugar syrup between the frames, or sublimate
oxalic acid crystals with a heated vaporiser. One treatment of oxalic acid kills more than 90 percent of the
phoretic mites.

Count the natural mite drop on a sticky board for a week before and after the treatment. If more than one
mite a day falls in spring, treat again with formic acid or thymol after the honey harvest.
"""

FRENCH = """Plan de mobilité de la commune

Le conseil municipal a adopté mardi le nouveau plan de mobilité. La commune veut réduire la circulation
automobile dans le centre-ville et développer les pistes cyclables le long du canal.

D'ici à 2027, trois nouvelles lignes de bus relieront la gare aux quartiers du nord. Les parkings relais
seront gratuits pour les abonnés du réseau de transport. Le budget des travaux s'élève à 4,5 millions
d'euros, dont la moitié est financée par la région.
"""

GERMAN_TECHNICAL = """Wartung der Wärmepumpe

Die Luft-Wasser-Wärmepumpe muss einmal im Jahr gewartet werden. Dabei prüft der Techniker den
Kältemittelkreislauf, die Dichtheit der Leitungen und den Verdampfer. Ein verschmutzter Verdampfer senkt
die Jahresarbeitszahl deutlich. Die Vorlauftemperatur der Heizung sollte so niedrig wie möglich eingestellt
werden, weil die Wärmepumpe dann effizienter arbeitet.
"""

KEYWORD_TEXTS = [(FINANCE, "en"), (SOFTWARE, "en"), (GERMAN, "de"), (REPORT_PAGE, "en"), (VARROA, "en"),
                 (FRENCH, "fr"), (GERMAN_TECHNICAL, "de")]


def keyword_words(keyword: str) -> list[str]:
    return re.findall(r"[\w'’-]+", keyword.lower().replace("’", "'"))


@pytest.mark.parametrize("text, language", KEYWORD_TEXTS)
def test_keywords_are_phrases_of_the_text_without_duplicates(backend, text, language):
    keywords = analyse(backend, text, language).analysis.keywords
    assert 3 <= len(keywords) <= MAX_KEYWORDS
    lowered = [k.lower() for k in keywords]
    assert len(set(lowered)) == len(lowered)
    source = normalised(text).lower()
    for keyword in keywords:
        assert keyword.lower() in source, keyword
        assert len(keyword) <= MAX_TEXT_FIELD and len(keyword_words(keyword)) <= 3
    assert not any(k.lower() in ("page", "und", "die", "der") for k in keywords)
    # near-duplicates are one keyword: no keyword's words (singular or plural) inside another's
    stems = [{w.rstrip("s") for w in keyword_words(k)} for k in keywords]
    for i, one in enumerate(stems):
        for j, other in enumerate(stems):
            assert i == j or not one <= other, (keywords[i], keywords[j])


@pytest.mark.parametrize("text, language", KEYWORD_TEXTS)
def test_keywords_neither_start_nor_end_with_a_stopword(backend, text, language):
    from contentflow.inference.offline_keywords import stopwords

    stop = stopwords(language)
    assert {"the", "of"} <= stopwords("en") and {"der", "und"} <= stopwords("de") and {"le", "de"} <= stopwords("fr")
    for keyword in analyse(backend, text, language).analysis.keywords:
        words = keyword_words(keyword)
        assert not all(w in stop for w in words), keyword
        assert words[0] not in stop and words[-1] not in stop, keyword
        assert re.search(r"[^\W\d_]{2}", keyword), keyword  # letters, not a number or a date


def test_keywords_of_a_technical_text_are_its_key_terms(backend):
    keywords = [k.lower() for k in analyse(backend, VARROA, "en").analysis.keywords]
    assert "varroa mites" in keywords[:3] and "oxalic acid" in keywords[:3], keywords
    french = [k.lower() for k in analyse(backend, FRENCH, "fr").analysis.keywords]
    assert "plan de mobilité" in french[:3] and "conseil municipal" in french[:5], french
    german = analyse(backend, GERMAN_TECHNICAL, "de").analysis.keywords
    assert "Wärmepumpe" in german[:3] or "Luft-Wasser-Wärmepumpe" in german[:3], german
    assert "Verdampfer" in german or "verschmutzter Verdampfer" in german, german


def test_keywords_skip_units_dates_and_clause_pieces(backend):
    keywords = [k.lower() for k in analyse(backend, FINANCE, "en").analysis.keywords]
    assert not {"million", "percent", "pence", "june", "january"} & set(keywords), keywords
    assert not any(k.endswith(("improved", "expect")) for k in keywords), keywords
    german = analyse(backend, GERMAN_TECHNICAL, "de").analysis.keywords
    assert all(k.split()[-1][0].isupper() for k in german), german  # German names of things end with a noun


def test_keywords_are_deterministic(backend):
    first = analyse(backend, VARROA, "en").analysis.keywords
    assert analyse(backend, VARROA, "en").analysis.keywords == first
    assert analyse(LocalBackend(InferenceOptions(), 128), VARROA, "en").analysis.keywords == first


@pytest.mark.parametrize("language", [None, "xx", "en-GB"])
def test_keywords_of_unknown_languages_use_english_stopwords(backend, language):
    keywords = analyse(backend, VARROA, language).analysis.keywords
    assert keywords == analyse(backend, VARROA, "en").analysis.keywords


# --- sentiment -------------------------------------------------------------------------------------

def test_sentiment_follows_the_text(backend):
    complaint = analyse(backend, COMPLAINT).analysis.sentiment
    review = analyse(backend, REVIEW).analysis.sentiment
    assert complaint.label == "negative" and complaint.score < 0
    assert review.label == "positive" and review.score > 0.3
    assert analyse(backend, SOFTWARE).analysis.sentiment.label == "neutral"


@pytest.mark.parametrize("language", ["de", None])
def test_no_english_sentiment_for_other_or_unknown_languages(backend, language):
    analysis = analyse(backend, GERMAN, language).analysis
    assert analysis.sentiment is None
    assert "English" in analysis.unavailable["sentiment"]


# --- entities and sensitivity ----------------------------------------------------------------------

def test_entities_are_pattern_extractions_and_names_are_left_to_vertex(backend):
    analysis = analyse(backend, FINANCE).analysis
    kinds = {entity.type for entity in analysis.entities}
    assert {"money", "percent", "date"} <= kinds
    assert not kinds & {"person", "organization", "location"}
    for entity in analysis.entities:
        assert entity.text in FINANCE and entity.count >= 1
    assert "vertex" in analysis.unavailable["entities"]


def test_sensitivity_flags_personal_data_and_only_then(backend):
    complaint = analyse(backend, COMPLAINT).analysis.sensitivity
    assert complaint.personal_data and "email" in complaint.kinds
    finance = analyse(backend, FINANCE).analysis.sensitivity
    assert not finance.personal_data and finance.kinds == []
    card = analyse(backend, "Please charge my card 4111 1111 1111 1111 for the renewal.").analysis.sensitivity
    assert card.kinds == ["payment_card"]
    code = analyse(backend, "Please reorder product 4111 1111 1111 1112 for the shop.").analysis.sensitivity
    assert code.kinds == []


@pytest.mark.parametrize("text", [
    "eyJhbGciOiJIUzI1NiJ9" * 2000,                        # an encoded blob
    "这是一个测试文档。它包含中文句子。" * 50,               # no spaces between words
    "Hello",
])
def test_no_labels_or_keywords_where_word_statistics_say_nothing(backend, text):
    analysis = analyse(backend, text, None).analysis
    assert analysis.labels == [] and analysis.keywords == []
    assert "too few words" in analysis.unavailable["labels"]


def test_language_tags_are_read_by_their_primary_subtag(backend):
    assert analyse(backend, REVIEW, "en-GB").analysis.sentiment.label == "positive"


# --- bounds and usage ------------------------------------------------------------------------------

def test_long_text_is_analysed_on_a_prefix_but_scanned_whole(backend):
    body = (FINANCE + "\n\n" + GARDENING + "\n\n") * 800  # ~1.3 million characters
    text = body + "Refunds go to IBAN DE89 3704 0044 0532 0130 00.\n"
    chunks = [text[i:i + 1500] for i in range(0, len(text), 1300)]
    result = backend.analyse(text, chunks, TAXONOMY, "en")
    assert result.input_truncated
    assert "iban" in result.analysis.sensitivity.kinds  # on the last line, far past the prefix
    assert {"finance", "gardening"} & set(names(result))
    assert normalised(result.analysis.summary.split(". ")[0]) in normalised(text)


def test_usage_counts_embedder_batches_and_is_metered(backend):
    with metering.metered() as counts:
        result = analyse(backend, LEGAL)
        embeddings = backend.embed_documents([FINANCE, GARDENING])
    assert result.usage.model_calls >= 2  # the document's chunks, then its candidate sentences
    assert embeddings.usage.model_calls == 1
    assert counts["model.calls"] == result.usage.model_calls + embeddings.usage.model_calls
    assert result.backend == "local" and result.model == backend.analysis_model
    assert result.prompt_version == backend.prompt_version and "stop-words" in backend.analysis_model


# --- embeddings ------------------------------------------------------------------------------------

def test_embeddings_are_unit_length_deterministic_and_in_order(backend):
    texts = [FINANCE, GARDENING, LEGAL]
    first = np.array(backend.embed_documents(texts).vectors)
    again = np.array(LocalBackend(InferenceOptions(), 256).embed_documents(texts[::-1]).vectors)[::-1]
    assert first.shape == (3, 256)
    assert np.allclose(np.linalg.norm(first, axis=1), 1.0, atol=1e-5)
    assert np.array_equal(first, again)


def test_similar_texts_are_closer_than_unrelated_ones(backend):
    finance, gardening, legal = np.array(backend.embed_documents([FINANCE, GARDENING, LEGAL]).vectors)
    query = np.array(backend.embed_query("quarterly revenue, operating profit and dividend").vectors[0])
    assert query @ finance > query @ gardening and query @ finance > query @ legal
    seedlings = np.array(backend.embed_query("when to sow tomato seedlings in pots").vectors[0])
    assert seedlings @ gardening > seedlings @ finance


def test_query_and_document_share_one_space(backend):
    query = backend.embed_query(FINANCE)
    document = backend.embed_documents([FINANCE])
    assert query.space == document.space == backend.embedding_space
    assert query.vectors == document.vectors  # static embeddings have no task type
    assert backend.embedding_space.key == "local:wordllama-l2_supercat:256"


@pytest.mark.parametrize("dimension", [64, 128])
def test_matryoshka_dimensions_are_the_normalised_prefix(backend, dimension):
    small = LocalBackend(InferenceOptions(), dimension)
    vector = np.array(small.embed_documents([LEGAL]).vectors[0])
    full = np.array(backend.embed_documents([LEGAL]).vectors[0])
    assert vector.shape == (dimension,) and small.embedding_space.dimension == dimension
    prefix = full[:dimension] / np.linalg.norm(full[:dimension])
    assert np.allclose(vector, prefix, atol=1e-5)


@pytest.mark.parametrize("dimension", [32, 300, 384, 768])
def test_a_dimension_the_model_cannot_produce_is_refused(dimension):
    with pytest.raises(PermanentError, match="64, 128, 256"):
        LocalBackend(InferenceOptions(), dimension)


def test_an_unknown_local_model_is_refused():
    with pytest.raises(PermanentError, match="wordllama-l2_supercat"):
        LocalBackend(InferenceOptions(local_embedding_model="all-MiniLM-L6-v2"), 256)


def test_titles_empty_texts_and_overlong_texts(backend):
    plain, titled = backend.embed_documents([GARDENING, GARDENING], ["", "Tomatoes"]).vectors
    assert plain != titled
    with pytest.raises(InvalidInput):
        backend.embed_documents([GARDENING], ["one", "two"])
    with pytest.raises(InvalidInput):
        backend.embed_documents([GARDENING, "  "])
    with pytest.raises(InvalidInput):
        backend.embed_query("")
    long = backend.embed_documents(["harbour " * (MAX_EMBED_CHARS // 4), "short text"])
    assert long.truncated == 1 and len(long.vectors) == 2
    assert backend.embed_documents([]).vectors == []


# --- offline and cheap to import --------------------------------------------------------------------

def run_python(code: str, tmp_path: Path) -> subprocess.CompletedProcess:
    home = tmp_path / "home"
    cache = tmp_path / "cache"
    home.mkdir()
    cache.mkdir()
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "PYTHONPATH": f"{ROOT / 'lib'}:{ROOT}",
           "HOME": str(home), "XDG_CACHE_HOME": str(cache), "HF_HOME": str(cache / "hf"),
           "PYTHONDONTWRITEBYTECODE": "1"}
    return subprocess.run([sys.executable, "-c", code], env=env, cwd=tmp_path, capture_output=True,
                          text=True, timeout=120)


def test_importing_the_backend_loads_no_model(tmp_path):
    reply = run_python(textwrap.dedent("""
        import sys
        import contentflow.inference.local
        print(sorted(m for m in ("numpy", "wordllama", "tokenizers", "stop_words", "vaderSentiment", "segtok")
                     if m in sys.modules))
    """), tmp_path)
    assert reply.returncode == 0, reply.stderr
    assert reply.stdout.strip() == "[]"


def test_loading_the_model_leaves_the_logging_setup_alone(tmp_path):
    # wordllama calls logging.basicConfig(level=INFO) on import; the functions log JSON lines to stdout
    reply = run_python(textwrap.dedent("""
        import logging
        root = logging.getLogger()
        root.setLevel(logging.WARNING)
        from contentflow.inference.local import LocalBackend
        from contentflow.inference.options import InferenceOptions
        LocalBackend(InferenceOptions(), 256).embed_query("harbour")
        print(len(root.handlers), logging.getLevelName(root.level))
    """), tmp_path)
    assert reply.returncode == 0, reply.stderr
    assert reply.stdout.strip() == "0 WARNING"


def test_analyse_and_embed_with_the_network_impossible(tmp_path):
    # The audit hook goes in first, so any attempt to resolve or reach a host (a hub download, a
    # telemetry ping) raises inside the child; HOME and the caches point at empty folders, so
    # nothing can come from a previous download either.
    code = textwrap.dedent(f"""
        import sys

        def no_network(event, args):
            if event in ("socket.connect", "socket.getaddrinfo", "socket.gethostbyname",
                         "socket.gethostbyaddr", "socket.sendto", "socket.sendmsg"):
                raise RuntimeError(f"network use: {{event}} {{args!r}}"[:200])

        sys.addaudithook(no_network)
        import socket
        try:
            socket.getaddrinfo("pypi.org", 443)
        except RuntimeError:
            pass
        else:
            sys.exit("the audit hook did not stop a lookup")

        import json, yaml
        from contentflow.inference.local import LocalBackend
        from contentflow.inference.options import InferenceOptions
        from contentflow.inference.port import Taxonomy

        taxonomy = Taxonomy.model_validate(yaml.safe_load(open({str(ROOT / "lib/contentflow/taxonomy.yaml")!r})))
        backend = LocalBackend(InferenceOptions(), 128)
        text = {FINANCE!r}
        result = backend.analyse(text, [text], taxonomy, "en")
        vectors = backend.embed_documents([text, "tomato seedlings"]).vectors + backend.embed_query("dividend").vectors
        print(json.dumps({{"analysis": result.analysis.model_dump(), "dims": [len(v) for v in vectors]}}))
    """)
    reply = run_python(code, tmp_path)
    assert reply.returncode == 0, reply.stderr[-3000:]
    out = json.loads(reply.stdout.strip().splitlines()[-1])
    analysis = out["analysis"]
    assert out["dims"] == [128, 128, 128]
    assert analysis["summary"] and analysis["keywords"] and analysis["sentiment"]
    assert "finance" in [label["name"] for label in analysis["labels"]]
    leftovers = [p for name in ("home", "cache") for p in (tmp_path / name).rglob("*")]
    assert leftovers == [], "something was downloaded or cached"
