"""Build an encoder from a spec string (`KEPU_ENCODER`) or load a saved one by its manifest."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from content_catalog.encoders.base import TextEncoder, read_manifest
from content_catalog.encoders.hybrid import HybridEncoder
from content_catalog.encoders.sentence_transformer import SPEC_PREFIX, SentenceTransformerEncoder
from content_catalog.encoders.tfidf_svd import TfidfSvdEncoder
from content_catalog.encoders.use_multilingual import UseMultilingualEncoder

DEFAULT_SPEC = "hybrid"
"""Chosen by measurement (docs/encoders.md, docs/search.md); `tfidf-svd` stays the light fallback."""
ENCODER_KINDS: dict[str, type[TextEncoder]] = {
    TfidfSvdEncoder.kind: TfidfSvdEncoder,
    SentenceTransformerEncoder.kind: SentenceTransformerEncoder,
    UseMultilingualEncoder.kind: UseMultilingualEncoder,
    HybridEncoder.kind: HybridEncoder,
}
"""Manifest `kind` → class, for `load_encoder`."""


def make_encoder(spec: str = DEFAULT_SPEC, **kwargs: Any) -> TextEncoder:
    """'tfidf-svd' | 'use-multilingual' | 'hybrid' | 'sentence-transformers:<path-or-name>'.

    kwargs go to the encoder's constructor; for 'hybrid', `dim` and `random_state` go to its tfidf-svd part.
    """
    spec = spec.strip()
    if spec == TfidfSvdEncoder.kind:
        return TfidfSvdEncoder(**kwargs)
    if spec == UseMultilingualEncoder.kind:
        return UseMultilingualEncoder(**kwargs)
    if spec == HybridEncoder.kind:
        lexical = {name: kwargs.pop(name) for name in ("dim", "random_state") if name in kwargs}
        return HybridEncoder(tfidf=TfidfSvdEncoder(**lexical), **kwargs)
    if spec.startswith(SPEC_PREFIX):
        model = spec[len(SPEC_PREFIX) :].strip()
        if not model:
            raise ValueError(f"encoder spec {spec!r} names no model: use 'sentence-transformers:<path-or-name>'")
        return SentenceTransformerEncoder(model, **kwargs)
    raise ValueError(
        f"unknown encoder spec {spec!r}: expected 'tfidf-svd', 'use-multilingual', 'hybrid' or "
        "'sentence-transformers:<path-or-name>'"
    )


def load_encoder(folder: str | Path) -> TextEncoder:
    """Read `folder/encoder.json` and rebuild the encoder of the kind it names."""
    manifest = read_manifest(folder)
    kind = manifest["kind"]
    if kind not in ENCODER_KINDS:
        raise ValueError(f"{Path(folder) / 'encoder.json'}: unknown encoder kind {kind!r}")
    return ENCODER_KINDS[kind].load(folder)
