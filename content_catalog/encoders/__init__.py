"""Text encoders: one `TextEncoder` interface, the offline `tfidf-svd` default, sentence-transformers.

encoder = make_encoder("tfidf-svd").fit(texts)      # or "sentence-transformers:/path/to/model"
vectors = encoder.encode(texts)                      # float32 (n, encoder.dim), unit rows
encoder.save(folder); encoder = load_encoder(folder)
"""

from content_catalog.encoders.base import TextEncoder, l2_normalize
from content_catalog.encoders.bundled import bundled_minilm_path
from content_catalog.encoders.factory import DEFAULT_SPEC, load_encoder, make_encoder
from content_catalog.encoders.sentence_transformer import SentenceTransformerEncoder
from content_catalog.encoders.tfidf_svd import TfidfSvdEncoder

__all__ = [
    "DEFAULT_SPEC",
    "SentenceTransformerEncoder",
    "TextEncoder",
    "TfidfSvdEncoder",
    "bundled_minilm_path",
    "l2_normalize",
    "load_encoder",
    "make_encoder",
]
