"""Binary or text is judged by the share of control/NUL bytes and where they sit, not by their
mere presence: a readable windows-1252 HTML email with a few stray NUL/control bytes inside one
attribute value is text, while random bytes and NUL-heavy files stay refused."""

from __future__ import annotations

import random

import pytest

from contentflow.errors import UnreadableDocument
from contentflow.extraction.detect import looks_binary

# 14 stray bytes (NULs and other C0 controls), as a broken mail client leaves them in a tracking id.
STRAY = b"\x00\x01\x00\x02\x00\x03\x00\x1b\x00\x04\x00\x05\x00\x06"


def _newsletter_email(with_meta_charset: bool = True) -> bytes:
    meta = '<meta http-equiv="Content-Type" content="text/html; charset=windows-1252">' if with_meta_charset else ""
    page = f"""<!DOCTYPE html>
<html lang="fr"><head>{meta}
<title>Votre commande n° 48213 est expédiée</title></head>
<body>
<table width="100%" cellpadding="0"><tr><td>
<img src="https://mail.example.com/open.gif" data-track="@@STRAY@@" width="1" height="1" alt="">
<h1>Votre commande est expédiée</h1>
<p>Bonjour Hélène,</p>
<p>Bonne nouvelle : votre commande n° 48213 a quitté notre entrepôt de Lyon ce matin.
Le montant débité est de 129,90 € TTC, frais de livraison compris.</p>
<p>Le transporteur indique une livraison prévue le mercredi 9 décembre, avant 13 h.
Pour suivre le colis, cliquez sur « Suivre mon colis » dans votre espace client.</p>
<p>Comme l’écrit notre fondatrice : “Un colis attendu est un colis déjà aimé.”</p>
<p>Merci de votre confiance et à très bientôt,<br>L’équipe Atelier Céleste</p>
</td></tr></table>
</body></html>
"""
    return page.encode("cp1252").replace(b"@@STRAY@@", STRAY)


@pytest.mark.parametrize("with_meta_charset", [True, False], ids=["meta-charset", "no-charset"])
def test_windows_1252_email_with_stray_control_bytes_in_an_attribute_is_read(extract, with_meta_charset):
    email = _newsletter_email(with_meta_charset)
    assert email.count(b"\x00") == 7 and STRAY in email

    result = extract(email, filename="commande-48213.html")

    assert result.mime_type == "text/html"
    assert result.encoding == "cp1252"
    text = result.text
    assert "Bonjour Hélène," in text
    assert "Le montant débité est de 129,90 € TTC, frais de livraison compris." in text
    assert "Comme l’écrit notre fondatrice : “Un colis attendu est un colis déjà aimé.”" in text
    assert "livraison prévue le mercredi 9 décembre" in text
    assert "\x00" not in text and "\x1b" not in text


def test_random_bytes_named_html_are_still_refused(extract):
    noise = random.Random(13).randbytes(4096)
    with pytest.raises(UnreadableDocument) as failure:
        extract(noise, filename="page.html")
    assert failure.value.reason == "binary data in a text/html file: not text"


def test_random_bytes_behind_an_html_preamble_are_still_refused(extract):
    """Markup around the noise does not excuse it: the bytes a reader would see are junk."""
    noise = b"<!DOCTYPE html><html><body><p>" + random.Random(14).randbytes(4096) + b"</p></body></html>"
    with pytest.raises(UnreadableDocument) as failure:
        extract(noise, filename="page.html")
    assert failure.value.reason == "binary data in a text/html file: not text"


def test_text_with_a_high_share_of_nuls_is_still_refused(extract):
    # One NUL in every 8 bytes, scattered: neither UTF-16 (every other byte) nor UTF-32.
    words = b"quarterly figures for the northern region\n" * 60
    nul_heavy = b"".join(words[i:i + 7] + b"\x00" for i in range(0, len(words), 7))
    with pytest.raises(UnreadableDocument) as failure:
        extract(nul_heavy, filename="figures.txt")
    assert failure.value.reason == "binary data in a text/plain file: not text"


def test_the_judgement_counts_share_and_place():
    email = _newsletter_email()
    assert not looks_binary(email)
    # The same 14 bytes in the visible text of a short page are junk a reader would see.
    assert looks_binary(b"<html><body><p>Total: " + STRAY + b" EUR</p></body></html>")
    # Many controls inside markup are not excused either: only a few stray bytes are.
    assert looks_binary(b"<html><body><img alt='" + bytes(range(1, 9)) * 20 + b"'><p>Hello</p></body></html>")
    # A plain text file with one stray NUL in a few kilobytes is text; one with a NUL in every
    # 20 bytes is not.
    line = b"Minutes of the meeting held on Tuesday, with the budget review.\n"
    assert not looks_binary(line * 40 + b"\x00" + line * 40)
    assert looks_binary(b"".join(line[i:i + 19] + b"\x00" for i in range(0, len(line), 19)) * 40)


def test_a_stray_nul_in_utf8_text_does_not_change_its_reading(extract):
    line = "Procès-verbal de la réunion du mardi : revue du budget.\n".encode()
    result = extract(line * 40 + b"\x00" + line * 40, filename="proces-verbal.txt")
    assert result.encoding == "utf-8"
    assert result.warnings == []  # read as UTF-8 directly, nothing replaced
    assert result.text.startswith("Procès-verbal de la réunion du mardi : revue du budget.\n")
    assert "\x00" not in result.text and result.text.count("revue du budget") == 80
