"""The local backend's pattern entities and personal-data detectors (pure functions, no model)."""

from __future__ import annotations

import random
import time

import pytest

from contentflow.inference.offline_patterns import entities, iban_valid, luhn_valid, personal_data


def found(text: str, kind: str) -> list[str]:
    return [value for type_, value, _ in entities(text) if type_ == kind]


# --- entities --------------------------------------------------------------------------------------

def test_entities_are_spans_of_the_text_with_counts():
    text = ("Revenue rose 8.4% to £412.6 million in the six months to 30 June 2025. Contact ir@northwind.example "
            "or see https://northwind.example/results. Operating profit was £58.1 million; revenue rose 8.4% again. "
            "Call +44 20 7946 0958 before 3 October 2025.")
    result = entities(text)
    assert {t for t, _, _ in result} == {"email", "url", "phone", "money", "percent", "date"}
    for _, value, count in result:
        assert value in text and count >= 1
    assert dict(((t, v), c) for t, v, c in result)[("percent", "8.4%")] == 2
    assert found(text, "url") == ["https://northwind.example/results"]  # the full stop is not part of it
    assert set(found(text, "money")) == {"£412.6 million", "£58.1 million"}


@pytest.mark.parametrize("text, kind, value", [
    ("Net revenue grew by fourteen percent to 182 million euros.", "money", "182 million euros"),
    ("Net revenue grew by fourteen percent to 182 million euros.", "percent", "fourteen percent"),
    ("Die Baukosten lagen bei 14 Millionen Euro.", "money", "14 Millionen Euro"),
    ("The deposit of 4,500 pounds is held in escrow.", "money", "4,500 pounds"),
    ("Price: USD 1,200.50 per seat.", "money", "USD 1,200.50"),
    ("Availability reached 97.8 percent.", "percent", "97.8 percent"),
    ("Le conseil s'est réuni le mardi 5 mars.", "date", "5 mars"),
    ("Readings from 2024-05-01T06:00:00Z onwards.", "date", "2024-05-01T06:00:00Z"),
    ("Signed on March 5, 2024 in Leeds.", "date", "March 5, 2024"),
    ("Gültig ab dem 01.04.2025.", "date", "01.04.2025"),
    ("Telefon: 0451 123456", "phone", "0451 123456"),
    ("Call (555) 123-4567 today.", "phone", "(555) 123-4567"),
])
def test_entity_examples(text, kind, value):
    assert value in found(text, kind)


@pytest.mark.parametrize("text, kind", [
    ("Version 3.2.10 fixes the export.", "date"),            # a version is not a date
    ("The 2024 season starts in Spring 2024.", "money"),
    ("Order number 0451 123456 was shipped.", "phone"),      # a national number without a phone keyword
    ("Europe and neuroscience are words.", "money"),         # "Euro" inside a word
    ("Shelves G and H hold 312 volumes.", "percent"),
    ("Ticket 2024-13-45 is open.", "date"),                  # no month 13
])
def test_entity_non_examples(text, kind):
    assert found(text, kind) == []


def test_entities_are_bounded_and_no_kind_crowds_out_the_others():
    text = " ".join(f"on {day} March 2024" for day in range(1, 29)) + " write to a@b.example"
    result = entities(text)
    assert len([t for t, _, _ in result if t == "date"]) <= 12
    assert found(text, "email") == ["a@b.example"]


# --- personal data ---------------------------------------------------------------------------------

@pytest.mark.parametrize("text, kind", [
    ("Write to jane.doe@example.com for details.", "email"),
    ("Mobil: 0171 2345678", "phone"),
    ("Call +49 30 1234567 after ten.", "phone"),
    ("Please pay to DE89 3704 0044 0532 0130 00 by Friday.", "iban"),
    ("IBAN: GB82WEST12345698765432", "iban"),
    ("Card 4111 1111 1111 1111, expiry 12/27.", "payment_card"),
    ("Amex 3782 822463 10005 on file.", "payment_card"),
    ("SSN: 123-45-6789", "national_id"),
    ("National Insurance number AB 12 34 56 C", "national_id"),
    ("Date of birth: 3 March 1980", "date_of_birth"),
    ("geboren am 05.03.1980 in Kiel", "date_of_birth"),
    ("Name: Käthe Schröder; Straße: Gartenstraße 19; Ort: Göttingen", "postal_address"),
    ("Alder & Finch Solicitors, 12 Quarry Lane, Northfield", "postal_address"),
    ("Dear Ms Okafor, we confirm receipt of the lease.", "person_name"),
    ("-----BEGIN RSA PRIVATE KEY-----\nMIIEpAIBAAKCAQEA", "credentials"),
    ("aws_access_key_id = AKIAIOSFODNN7EXAMPLE", "credentials"),
])
def test_personal_data_found(text, kind):
    assert kind in personal_data(text)


@pytest.mark.parametrize("text", [
    # a product code with the shape of a card number that fails the Luhn check
    "Product code 4111 1111 1111 1112 is back in stock.",
    # Luhn-valid but no card issuer starts with 9
    "Tracking number 9000 0000 0000 0008 was scanned.",
    # an IBAN with a wrong check digit
    "Pay to DE88 3704 0044 0532 0130 00.",
    # an SSN-shaped number without the keyword, and an invalid area number
    "Reference 123-45-6789 and SSN 000-12-3456.",
    # years, versions, sizes and times are not dates of birth or phone numbers
    "Version 2.4.1 shipped in 2024; uploads over 2 GB resume; the API key goes in the X-Key header.",
    "The rail shuttle carried 41,200 containers, 3.6 days on average, from 2024-07-01.",
    "In 2024 Our Way of working changed.",  # a year and capitalised words are not an address
    "The pager rotates every Wednesday at ten o'clock; born in spring, the idea grew.",
])
def test_no_personal_data_in_ordinary_text(text):
    assert personal_data(text) == []


def test_luhn_and_iban_checks():
    assert luhn_valid("4111111111111111") and not luhn_valid("4111111111111112")
    assert luhn_valid("79927398713") and not luhn_valid("79927398710")
    assert iban_valid("DE89 3704 0044 0532 0130 00") and iban_valid("FR1420041010050500013M02606")
    assert not iban_valid("DE89 3704 0044 0532 0130 0")  # one digit short for Germany
    assert not iban_valid("DE89 3704 0044 0532 0130 01")


def test_detectors_on_ten_million_characters_stay_within_seconds():
    # Digits everywhere is the slowest input for these patterns; the text ends with the only hit.
    rng = random.Random(3)
    rows = "\n".join(f"{rng.randint(1, 99999)};{rng.randint(10**6, 10**11)};{rng.random() * 1000:.2f};"
                     f"2024-0{rng.randint(1, 9)}-1{rng.randint(0, 9)}" for _ in range(40_000))
    text = (rows * (10_000_000 // len(rows) + 1))[:10_000_000] + "\nIBAN DE89 3704 0044 0532 0130 00"
    started = time.perf_counter()
    kinds = personal_data(text)
    seconds = time.perf_counter() - started
    assert kinds == ["iban"]
    assert seconds < 30, f"{seconds:.1f} s"  # about 3 s on 2 cores; generous for a noisy machine
