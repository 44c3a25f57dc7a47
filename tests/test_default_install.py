"""The default install leaves torch, sentence-transformers and the test/notebook tools out: every module of the
four packages still imports without them, the sentence-transformers encoder says which extra it needs, and the
packaging files keep the split (and the lock file the Makefile installs with)."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from content_catalog.encoders.factory import make_encoder

ROOT = Path(__file__).resolve().parent.parent
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
EXTRAS_ONLY = ("torch", "sentence-transformers", "httpx", "matplotlib", "threadpoolctl")
NOT_INSTALLED = "torch,sentence_transformers,transformers,matplotlib,httpx"

IMPORT_EVERY_MODULE = """
import importlib, pkgutil, sys
names = []
for package in ("content_catalog", "features", "recommender", "api"):
    root = importlib.import_module(package)
    names += [m.name for m in pkgutil.walk_packages(root.__path__, package + ".")]
for name in names:
    importlib.import_module(name)
from api.app import create_app
print(len(names), "modules imported")
"""


def requirement_name(spec: str) -> str:
    return re.split(r"[\s\[<>=!~;]", spec, maxsplit=1)[0].lower()


def test_every_module_imports_without_the_optional_packages() -> None:
    done = subprocess.run(
        [sys.executable, str(ROOT / "tests" / "without_modules.py"), NOT_INSTALLED, "-c", IMPORT_EVERY_MODULE],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "modules imported" in done.stdout


def test_sentence_transformer_encoder_names_the_missing_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "sentence_transformers", None)  # what `import` sees when it is absent
    encoder = make_encoder("sentence-transformers:BAAI/bge-small-zh-v1.5")
    with pytest.raises(ModuleNotFoundError, match=r"pip install 'kepu\[sentence-transformers\]'"):
        encoder.encode(["水稻"])


def test_default_dependencies_leave_the_extras_out() -> None:
    project = PYPROJECT["project"]
    default = {requirement_name(spec) for spec in project["dependencies"]}
    assert not default & set(EXTRAS_ONLY), sorted(default & set(EXTRAS_ONLY))
    extras = project["optional-dependencies"]
    assert {requirement_name(s) for s in extras["sentence-transformers"]} == {"torch", "sentence-transformers"}
    assert "kepu[sentence-transformers,notebooks,bench]" in extras["dev"] and "httpx>=0.27" in extras["dev"]
    assert project["license"] == "Apache-2.0"  # SPDX string, not the deprecated table


def test_make_installs_with_the_lock_file_and_torch_first() -> None:
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    torch_line = next(line for line in makefile.splitlines() if "install" in line and "torch==2.13.0" in line)
    dev_line = next(line for line in makefile.splitlines() if "-e '.[dev]'" in line)
    assert "-c constraints.txt" in torch_line and "-c constraints.txt" in dev_line
    assert makefile.index(torch_line) < makefile.index(dev_line)
    pins = {
        requirement_name(line): line.split("==", 1)[1]
        for line in (ROOT / "constraints.txt").read_text(encoding="utf-8").splitlines()
        if line and not line.startswith("#")
    }
    assert pins["torch"] == "2.13.0"
    wanted = {requirement_name(s) for s in PYPROJECT["project"]["dependencies"]}
    wanted |= {requirement_name(s) for s in PYPROJECT["project"]["optional-dependencies"]["dev"]} - {"kepu"}
    assert not {name.replace("_", "-") for name in wanted} - {name.replace("_", "-") for name in pins}
