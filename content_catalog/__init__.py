"""Content catalog: item schema, ingest, store, Chinese text, encoders, vector index, audience tagging."""
