"""Limits that keep hostile input from hurting the extract function; all overridable by settings
(CONTENTFLOW_EXTRACTION__<FIELD>, e.g. CONTENTFLOW_EXTRACTION__TIMEOUT_S=30)."""

from pydantic import BaseModel, Field, model_validator


class ExtractionLimits(BaseModel):
    # Input. Decimal units so the message reads "212 MB > 100 MB" without rounding surprises.
    max_bytes: int = Field(default=100_000_000, ge=1)
    max_pages: int = Field(default=2000, ge=1)
    # Longer text is cut (with a warning): it bounds memory, the processed object and chunk count.
    max_text_chars: int = Field(default=10_000_000, ge=1000)

    # Containers (DOCX is a zip): total unpacked size and per-member compression ratio.
    max_unpacked_bytes: int = Field(default=200_000_000, ge=1)
    max_compression_ratio: int = Field(default=100, ge=2)
    max_archive_members: int = Field(default=10_000, ge=1)
    # HTML elements, JSON values. libxml2 drops anything deeper than 255 silently, so the HTML
    # check can never allow more than that.
    max_nesting_depth: int = Field(default=200, ge=8, le=255)
    # HTML above this skips trafilatura's main-content scoring (it reads large pages at well under
    # 1 MB/s, so a 15 MB page would use the whole timeout) for the structural reader: the
    # main/article/body element with navigation, scripts and styles dropped, and a warning.
    html_scoring_max_bytes: int = Field(default=3_000_000, ge=0)

    # Images: refused above max_image_pixels; larger than ocr_max_pixels are scaled down for OCR.
    max_image_pixels: int = Field(default=100_000_000, ge=1)
    ocr_max_pixels: int = Field(default=12_000_000, ge=100_000)
    ocr_dpi: int = Field(default=200, ge=72, le=600)  # rendering of PDF pages without text
    max_ocr_pages: int = Field(default=20, ge=0)  # 0 turns OCR off
    ocr_languages: str = Field(default="eng", pattern=r"^[a-z_]{3,8}(\+[a-z_]{3,8})*$")

    # The sandboxed parser: wall-clock limit per document and address-space limit of the child.
    timeout_s: float = Field(default=60.0, gt=0)
    max_memory_mib: int = Field(default=1024, ge=128)

    chunk_chars: int = Field(default=1500, ge=100)
    chunk_overlap_chars: int = Field(default=200, ge=0)
    preview_chars: int = Field(default=500, ge=0, le=10_000)  # le: core.MAX_PREVIEW_CHARS, a record field

    @model_validator(mode="after")
    def _overlap_smaller_than_chunk(self):
        if self.chunk_overlap_chars >= self.chunk_chars:
            raise ValueError("chunk_overlap_chars must be smaller than chunk_chars")
        return self
