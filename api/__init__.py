"""HTTP API (FastAPI), editor page and the kepu CLI."""
