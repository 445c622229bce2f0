"""Language of the extracted text with py3langid (BSD-3-Clause, 97 languages, model in the wheel).

Runs in the function process: its input is text the worker already produced, not hostile bytes,
and the model (about 0.6 s and 90 MiB to load) then stays loaded across documents. See README.md
for the measurements against lingua and langdetect.
"""

from __future__ import annotations

import re
import threading

MIN_LETTERS = 20  # below this any guess is noise
MIN_PROBABILITY = 0.5
SAMPLE_CHARS = 1500  # from the start, middle and end: a cover page alone can mislead
_lock = threading.Lock()
_identifier = None


def _model():
    global _identifier
    with _lock:
        if _identifier is None:
            from py3langid.langid import MODEL_FILE, LanguageIdentifier

            _identifier = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
        return _identifier


def sample(text: str) -> str:
    if len(text) <= 3 * SAMPLE_CHARS:
        return text
    middle = len(text) // 2
    return "\n".join((text[:SAMPLE_CHARS], text[middle:middle + SAMPLE_CHARS], text[-SAMPLE_CHARS:]))


def detect_language(text: str) -> str | None:
    """ISO 639-1 code (e.g. "en"), or None when the text is too short or the guess too unsure."""
    piece = sample(text)
    if len(re.findall(r"[^\W\d_]", piece)) < MIN_LETTERS:
        return None
    language, probability = _model().classify(piece)
    return language if probability >= MIN_PROBABILITY else None
