"""Text encoders: one `TextEncoder` interface; `hybrid` (default) = `tfidf-svd` ⊕ offline `use-multilingual`;
sentence-transformers for a production model.

encoder = make_encoder("hybrid").fit(texts)         # or "tfidf-svd", "use-multilingual", "sentence-transformers:/path"
vectors = encoder.encode(texts)                      # float32 (n, encoder.dim), unit rows
encoder.save(folder); encoder = load_encoder(folder)
"""

from content_catalog.encoders.base import TextEncoder, l2_normalize
from content_catalog.encoders.bundled import bundled_minilm_path
from content_catalog.encoders.factory import DEFAULT_SPEC, load_encoder, make_encoder
from content_catalog.encoders.hybrid import HybridEncoder
from content_catalog.encoders.sentence_transformer import SentenceTransformerEncoder
from content_catalog.encoders.tfidf_svd import TfidfSvdEncoder
from content_catalog.encoders.use_multilingual import UseMultilingualEncoder

__all__ = [
    "DEFAULT_SPEC",
    "HybridEncoder",
    "SentenceTransformerEncoder",
    "TextEncoder",
    "TfidfSvdEncoder",
    "UseMultilingualEncoder",
    "bundled_minilm_path",
    "l2_normalize",
    "load_encoder",
    "make_encoder",
]
