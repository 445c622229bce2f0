"""OCR with the tesseract command from Debian's tesseract-ocr package (Apache-2.0).

The command, not a binding: nothing to compile, and a tesseract that misbehaves is one more child
in the worker's process group, killed with it on a timeout. Images go in as greyscale PGM on
stdin (no temporary files, no compression work)."""

from __future__ import annotations

import os
import shutil
import subprocess
import time

from contentflow.errors import UnreadableDocument


class OcrUnavailable(RuntimeError):
    """tesseract or its language data is missing: a deployment problem, not the document's."""


def prepare(image, max_pixels: int):
    """Greyscale, scaled down to at most max_pixels: more pixels make OCR slower, not better."""
    from PIL import Image

    image = image.convert("L")
    pixels = image.width * image.height
    if pixels > max_pixels:
        scale = (max_pixels / pixels) ** 0.5
        image = image.resize((max(1, int(image.width * scale)), max(1, int(image.height * scale))),
                             Image.Resampling.BILINEAR)
    return image


def recognise(image, *, languages: str, deadline: float, dpi: int | None = None) -> str:
    """Text of a prepared ("L" mode) PIL image. `deadline` is a time.monotonic() value."""
    binary = shutil.which("tesseract")
    if binary is None:
        raise OcrUnavailable("OCR engine missing: the tesseract command is not installed")
    pgm = b"P5\n%d %d\n255\n" % image.size + image.tobytes()
    command = [binary, "stdin", "stdout", "-l", languages, "--psm", "3"]
    if dpi:
        command += ["--dpi", str(dpi)]
    env = dict(os.environ, OMP_THREAD_LIMIT="1")  # one core; threads only add contention here
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise TimeoutError("no time left for OCR")
    try:
        done = subprocess.run(command, input=pgm, capture_output=True, timeout=remaining, env=env)
    except subprocess.TimeoutExpired:
        raise TimeoutError("OCR did not finish in time") from None
    if done.returncode != 0:
        message = done.stderr.decode("utf-8", "replace")
        if "bad_alloc" in message or "Cannot allocate" in message:
            raise MemoryError("tesseract ran out of memory")
        if "Failed loading language" in message or "Error opening data file" in message:
            raise OcrUnavailable(f"OCR language data missing for {languages!r}: install tesseract-ocr-<lang>")
        last = message.strip().splitlines()[-1:] or [f"exit status {done.returncode}"]
        raise UnreadableDocument(f"OCR failed: {last[0][:200]}")
    return done.stdout.decode("utf-8", "replace")
