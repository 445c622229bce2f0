"""A local Vertex AI model server for tests and the local stack: see README.md."""

from .server import FAULT_MODES, FakeVertex, count_tokens, embed_vector

__all__ = ["FAULT_MODES", "FakeVertex", "count_tokens", "embed_vector"]
