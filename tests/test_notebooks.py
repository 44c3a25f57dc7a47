"""The evaluation notebook: committed clean and in sync with its generator, and runs top to bottom on real data."""

from __future__ import annotations

import importlib.util
import os
import shutil
import sys
from pathlib import Path
from types import ModuleType

import nbformat
import pytest
from ipykernel.kernelspec import write_kernel_spec
from jupyter_client.kernelspec import KernelSpecManager
from nbclient import NotebookClient

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
NOTEBOOK = NOTEBOOKS / "evaluation.ipynb"
GENERATOR = NOTEBOOKS / "build_evaluation_notebook.py"
CELL_TIMEOUT_SECONDS = 600


def _load_generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("build_evaluation_notebook", GENERATOR)
    assert spec is not None and spec.loader is not None, f"cannot load {GENERATOR}"
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _texts(notebook: nbformat.NotebookNode) -> list[str]:
    """Every text an output carries: streams, text/plain and text/html reprs, error tracebacks."""
    texts: list[str] = []
    for cell in notebook.cells:
        for output in cell.get("outputs", []):
            if output.output_type == "stream":
                texts.append(output.text)
            elif output.output_type == "error":
                texts.append("\n".join(output.traceback))
            else:
                data = output.get("data", {})
                texts.extend(str(data[mime]) for mime in ("text/plain", "text/html", "text/markdown") if mime in data)
    return texts


def test_committed_notebook_is_clean_and_matches_generator() -> None:
    generator = _load_generator()
    committed = NOTEBOOK.read_text(encoding="utf-8")
    assert committed == generator.render(generator.build_notebook()), (
        f"{NOTEBOOK} differs from what {GENERATOR.name} writes: run `.venv/bin/python {GENERATOR}`"
    )
    notebook = nbformat.reads(committed, as_version=4)
    nbformat.validate(notebook)
    dirty = [cell.id for cell in notebook.cells if cell.cell_type == "code" and (cell.outputs or cell.execution_count)]
    assert not dirty, f"committed notebook has outputs in cells {dirty}"


@pytest.mark.dataset
def test_evaluation_notebook_executes_offline(data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    if not (data_dir / "movielens-100k").is_dir():
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"{data_dir} has no movielens-100k/ folder (required in CI)")
        pytest.skip(f"{data_dir} has no movielens-100k/ folder")
    # everything the kernel machinery would write under $HOME goes to tmp_path instead (set first: looking up
    # the kernelspec below already creates the IPython folder)
    monkeypatch.setenv("JUPYTER_RUNTIME_DIR", str(tmp_path / "runtime"))
    monkeypatch.setenv("IPYTHONDIR", str(tmp_path / "ipython"))
    monkeypatch.setenv("MPLCONFIGDIR", str(tmp_path / "matplotlib"))
    # a kernelspec named python3 that runs THIS interpreter (the venv's), found first via JUPYTER_PATH
    write_kernel_spec(tmp_path / "jupyter" / "kernels" / "python3")
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "jupyter"))
    resolved = KernelSpecManager().get_kernel_spec("python3")  # what nbclient's KernelManager will start
    assert resolved.argv[0] == sys.executable, f"kernel python3 resolves to {resolved.argv}, not {sys.executable}"
    monkeypatch.setenv("KEPU_DATA_DIR", str(data_dir))
    # the kernel runs in another folder: import this checkout, not whatever a shared venv's editable install names
    python_path = [str(NOTEBOOKS.parent), *filter(None, [os.environ.get("PYTHONPATH")])]
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(python_path))
    monkeypatch.setenv("KEPU_NOTEBOOK_FAST", "1")
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        monkeypatch.setenv(var, "1")
    work = tmp_path / "run"
    work.mkdir()
    copy = work / NOTEBOOK.name
    shutil.copyfile(NOTEBOOK, copy)
    notebook = nbformat.read(copy, as_version=4)

    client = NotebookClient(
        notebook,
        kernel_name="python3",
        timeout=CELL_TIMEOUT_SECONDS,
        allow_errors=False,
        resources={"metadata": {"path": str(work)}},
    )
    client.execute()  # raises CellExecutionError naming the cell on the first error

    errors = [o for c in notebook.cells for o in c.get("outputs", []) if o.output_type == "error"]
    assert not errors, errors
    text = "\n".join(_texts(notebook))
    for protocol in ("movielens-recbole", "movielens-lightfm", "movielens-cold-items", "movielens-cold-users"):
        assert f"protocol={protocol} k=10 seeds=[0] fast=True" in text, f"no {protocol} metric table"
    assert "[published] RecBole BPR" in text and "[published] LightFM WARP" in text
    assert "EASE" in text and "ndcg" in text
    if importlib.util.find_spec("recommender.demo_protocol") is not None:
        assert "protocol=demo-simulated" in text, "demo-simulated is available but its table is missing"
    else:
        assert "Skipped:" in text
    images = [o for c in notebook.cells for o in c.get("outputs", []) if "image/png" in o.get("data", {})]
    assert len(images) >= 3, f"expected at least 3 plots, got {len(images)}"
