"""`/docs` and `/redoc` reference only assets this server serves (the browser proof is test_docs_browser.py)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from fastapi import FastAPI

from api.docs_pages import install_offline_docs
from content_catalog.store import Store
from tests.test_api_support import make_store, store_only_client

ASSET_REF = re.compile(r"""(?:src|href|spec-url|url)\s*[=:]\s*['"]([^'"]+)['"]""")


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_docs_pages_load_every_asset_from_this_server(tmp_path: Path, page: str) -> None:
    store: Store = make_store(tmp_path)
    try:
        with store_only_client(tmp_path, store) as client:
            response = client.get(page)
            assert response.status_code == 200 and response.headers["content-type"].startswith("text/html")
            refs = ASSET_REF.findall(response.text)
            assert any(ref.endswith(".js") for ref in refs), refs
            for ref in refs:
                assert ref.startswith("/"), f"{page} references {ref}, not a path on this server"
                assert client.get(ref).status_code == 200, f"{page}: {ref} is not served"
    finally:
        store.close()


def test_offline_docs_refuse_an_app_that_already_has_cdn_pages() -> None:
    with pytest.raises(ValueError, match="docs_url=None"):
        install_offline_docs(FastAPI())
