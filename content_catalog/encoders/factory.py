"""Build an encoder from a spec string (`KEPU_ENCODER`) or load a saved one by its manifest."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from content_catalog.encoders.base import TextEncoder, read_manifest
from content_catalog.encoders.sentence_transformer import SPEC_PREFIX, SentenceTransformerEncoder
from content_catalog.encoders.tfidf_svd import TfidfSvdEncoder

DEFAULT_SPEC = "tfidf-svd"
ENCODER_KINDS: dict[str, type[TextEncoder]] = {
    TfidfSvdEncoder.kind: TfidfSvdEncoder,
    SentenceTransformerEncoder.kind: SentenceTransformerEncoder,
}
"""Manifest `kind` → class, for `load_encoder`."""


def make_encoder(spec: str = DEFAULT_SPEC, **kwargs: Any) -> TextEncoder:
    """'tfidf-svd' (kwargs → TfidfSvdEncoder) or 'sentence-transformers:<path-or-name>' (kwargs: device …)."""
    spec = spec.strip()
    if spec == TfidfSvdEncoder.kind:
        return TfidfSvdEncoder(**kwargs)
    if spec.startswith(SPEC_PREFIX):
        model = spec[len(SPEC_PREFIX) :].strip()
        if not model:
            raise ValueError(f"encoder spec {spec!r} names no model: use 'sentence-transformers:<path-or-name>'")
        return SentenceTransformerEncoder(model, **kwargs)
    raise ValueError(f"unknown encoder spec {spec!r}: expected 'tfidf-svd' or 'sentence-transformers:<path-or-name>'")


def load_encoder(folder: str | Path) -> TextEncoder:
    """Read `folder/encoder.json` and rebuild the encoder of the kind it names."""
    manifest = read_manifest(folder)
    kind = manifest["kind"]
    if kind not in ENCODER_KINDS:
        raise ValueError(f"{Path(folder) / 'encoder.json'}: unknown encoder kind {kind!r}")
    return ENCODER_KINDS[kind].load(folder)
