"""Sentence splitting, summary candidates and keyword candidates of the local backend (no model needed)."""

from __future__ import annotations

import pytest

from contentflow.inference.offline_text import can_open, sentences, split_sentences, summary_candidates, units


def texts(text: str) -> list[str]:
    return [s.text for s in sentences(text)]


@pytest.mark.parametrize("text, expected", [
    ("Der Bürgermeister, z.B. Herr Dr. Müller, sprach am 5. März 2024. Danach gab es u.a. Kaffee.",
     ["Der Bürgermeister, z.B. Herr Dr. Müller, sprach am 5. März 2024.", "Danach gab es u.a. Kaffee."]),
    ("Die Brücke kostet 14 Mio. Euro und ist 180 m lang. Sie wurde am Samstag eröffnet.",
     ["Die Brücke kostet 14 Mio. Euro und ist 180 m lang.", "Sie wurde am Samstag eröffnet."]),
    ("M. Dupont a dit : « C'est fini. » Le conseil s'est réuni le mardi 5 mars.",
     ["M. Dupont a dit : « C'est fini. »", "Le conseil s'est réuni le mardi 5 mars."]),
    ("Mr. Smith left at 5 p.m. and went home. See Fig. 3 for details.",
     ["Mr. Smith left at 5 p.m. and went home.", "See Fig. 3 for details."]),
])
def test_sentences_in_english_german_and_french(text, expected):
    assert split_sentences(text) == expected


def test_wrapped_lines_are_joined_and_headers_stay_apart():
    page = ("Harbour Logistics - page 1 of 12\n"
            "This report summarises the operating results of the northern terminals, the rail shuttle and the\n"
            "cold-storage warehouse in the period from July to September.\n"
            "The dredger Amsel will\nenter the channel at dawn\n\non Thursday. Please keep\nberth seven clear.\n"
            "To: Harbour Master\nFrom: Pilot Station West\n")
    found = texts(page)
    assert found[0] == "Harbour Logistics - page 1 of 12"
    assert ("This report summarises the operating results of the northern terminals, the rail shuttle and the "
            "cold-storage warehouse in the period from July to September.") in found
    assert "The dredger Amsel will enter the channel at dawn on Thursday." in found  # across an OCR blank line
    assert "To: Harbour Master" in found and "From: Pilot Station West" in found


def test_units_know_headings_tables_and_lists():
    kinds = [(u.kind, u.text) for u in units("# Tools\n\nTool | Owner\nGitea | Platform team\n\n- Ship the export.\n")]
    assert kinds == [("heading", "Tools"), ("table", "Tool | Owner"), ("table", "Gitea | Platform team"),
                     ("list", "Ship the export.")]


def test_candidates_are_whole_readable_sentences():
    text = ("# Quarterly report\n\nHarbour Logistics - page 2 of 12\nHarbour Logistics - page 3 of 12\n"
            "Container volumes rose for the fourth quarter in a row, while dwell time fell.\n"
            "Region | Units\nNorth | 1240\n\nOK.\n\nSee https://example.com/report for the full figures today.")
    assert [s.text for s in summary_candidates(sentences(text), 10)] == [
        "Container volumes rose for the fourth quarter in a row, while dwell time fell."]


@pytest.mark.parametrize("sentence, opens", [
    ("Revenue rose 8.4% to £412.6 million in the first half.", True),
    ("This Agreement is made on 1 March 2025 between the parties.", True),
    ("This is really disappointing and frankly unacceptable.", False),
    ("It was the decision to give every train a dedicated path.", False),
    ("The second change was maintenance at the destination.", False),
    ("Present: six members of the committee and two guests.", False),
    ("Aber die Kosten lagen über der Planung.", False),
])
def test_a_summary_opens_with_a_sentence_that_stands_alone(sentence, opens):
    assert can_open(sentence) is opens


# --- keywords (the word statistics alone; with the word vectors in test_local_backend.py) ----------

def phrases(text: str, language: str | None = "en") -> set[str]:
    from contentflow.inference.offline_keywords import candidates

    found, _, _ = candidates(text, language)
    return {candidate.surface() for candidate in found.values()}


def test_keyword_candidates_stop_at_punctuation_lines_numbers_and_stopwords():
    found = phrases("Subject: Q3 results\n"
                    "The COVID-19 rules of the Harbour Authority apply. See https://example.com/harbour-rules or "
                    "write to harbour.master@example.org.\n"
                    "Revenue reached 412 million euros in Q3; the company's annual report follows.\n"
                    "Terminal | Containers\nIsle of Kerrera\n")
    assert {"Q3 results", "COVID-19 rules", "Harbour Authority", "annual report", "Isle of Kerrera"} <= found
    assert not {"Subject", "412", "412 million euros", "Terminal Containers", "results The"} & found
    assert not any("example" in p or "https" in p or "harbour.master" in p for p in found)   # links are not words
    assert not any(p.split()[0].lower() in ("the", "of", "see") or p.split()[-1].lower() in ("the", "of")
                   for p in found)
    assert "company's annual report" not in found and "company" in found  # a possessive ends a run


def test_keyword_candidates_in_french_and_german():
    french = phrases("Le taux d'intérêt de la Banque centrale s'élève à 4 %. L'école du quartier ferme.", "fr")
    assert {"taux d'intérêt", "Banque centrale", "école du quartier"} <= french
    assert not any(p.startswith(("l'", "L'", "d'", "s'")) for p in french)
    assert "élève" not in french  # after "s'" comes a verb
    german = phrases("Die neue Fahrradbrücke über den Kanal wurde am Samstag eröffnet.", "de")
    assert {"neue Fahrradbrücke", "Fahrradbrücke", "Kanal"} <= german
    assert not {"Samstag", "den Kanal", "wurde"} & german


def test_keywords_without_vectors_and_for_unknown_languages():
    from contentflow.inference.offline_keywords import keywords, stopwords

    text = ("Oxalic acid treatment\n\nBeekeepers treat varroa mites with oxalic acid in winter. The oxalic acid "
            "is trickled between the frames. Varroa mites drop onto a sticky board.")
    found = keywords(text, "en")
    assert found[:2] == ["oxalic acid", "varroa mites"] or found[:2] == ["varroa mites", "oxalic acid"]
    assert keywords(text, "en") == found  # deterministic
    assert stopwords(None) == stopwords("xx") == stopwords("en")  # unknown: English
    assert keywords(text, None) == keywords(text, "xx") == found
    assert keywords("", "en") == [] and keywords("12 34, 56!", "de") == []


def test_stopword_lists_ship_in_the_package():
    from pathlib import Path

    import stop_words

    from contentflow.inference.offline_keywords import stopwords

    lists = Path(stop_words.__file__).parent / "stop-words"
    assert {"english.txt", "german.txt", "french.txt"} <= {p.name for p in lists.iterdir()}
    assert {"the", "and", "which"} <= stopwords("en") and {"und", "der", "wurde"} <= stopwords("de")
    assert {"le", "de", "des"} <= stopwords("fr") and "research" not in stopwords("en")
