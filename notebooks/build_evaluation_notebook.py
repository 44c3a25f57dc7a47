"""Writes `notebooks/evaluation.ipynb` (clean: no outputs) so the notebook is reviewed as plain Python here.

Run `.venv/bin/python notebooks/build_evaluation_notebook.py` after editing; `tests/test_notebooks.py` checks
that the committed notebook is exactly what this script writes, and executes it on the real data sets.
"""

from __future__ import annotations

import sys
from pathlib import Path
from textwrap import dedent

import nbformat
from nbformat.notebooknode import NotebookNode

NOTEBOOK_PATH = Path(__file__).resolve().parent / "evaluation.ipynb"

KERNELSPEC = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}

CELLS: list[tuple[str, str]] = [
    (
        "markdown",
        """
        # Kepu offline evaluation

        The MovieLens-100k metric tables of `docs/evaluation.md`, recomputed live, with the numbers RecBole and
        LightFM publish for the same settings; then plots of accuracy by age band (our stand-in for audiences),
        popularity bias, the shipped demo catalog's embedding map coloured by audience, and — when registered —
        the per-audience results of the SYNTHETIC `demo-simulated` protocol.

        * Data: `KEPU_DATA_DIR` must point at the data root holding `movielens-100k/` (read in place).
        * `KEPU_NOTEBOOK_FAST=1` (CI): one seed and each protocol's fast settings (≈ 2 min on 2 busy cores).
          Otherwise seeds 0, 1, 2 and the full settings, as in the docs (≈ 10 min).
        * Runs offline; everything it writes (matplotlib's font cache, the demo protocol's store) goes to
          temporary folders.
        """,
    ),
    (
        "code",
        """
        import os

        # one BLAS/OpenMP thread, set before numpy loads: the CI machine is small and shared
        for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
            os.environ[_var] = "1"

        import tempfile

        SCRATCH = tempfile.TemporaryDirectory(prefix="kepu-notebook-")
        os.environ["MPLCONFIGDIR"] = os.path.join(SCRATCH.name, "matplotlib")  # font cache stays in the temp dir

        import importlib
        import importlib.util
        import shutil
        import subprocess
        import time
        from pathlib import Path

        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        import numpy as np
        import pandas as pd
        from IPython.display import Markdown, display
        from matplotlib_inline.backend_inline import set_matplotlib_formats
        from threadpoolctl import threadpool_limits

        threadpool_limits(1)
        set_matplotlib_formats("png")  # figures are shown as inline PNGs rendered by Agg
        pd.set_option("display.precision", 4)
        pd.set_option("display.width", 160)

        NOTEBOOK_START = time.perf_counter()
        FAST = os.environ.get("KEPU_NOTEBOOK_FAST") == "1"
        SEEDS = (0,) if FAST else (0, 1, 2)
        K = 10

        _raw_data_dir = os.environ.get("KEPU_DATA_DIR", "")
        if not _raw_data_dir:
            raise RuntimeError("KEPU_DATA_DIR is unset: point it at the data root holding movielens-100k/")
        DATA_DIR = Path(_raw_data_dir).expanduser()
        if not (DATA_DIR / "movielens-100k").is_dir():
            raise FileNotFoundError(f"KEPU_DATA_DIR={DATA_DIR} has no movielens-100k/ folder")


        def show(fig):
            \"\"\"Display a figure as an inline PNG and free it (Agg has no window to keep it in).\"\"\"
            display(fig)
            plt.close(fig)


        print(f"data: {DATA_DIR}  fast={FAST}  seeds={SEEDS}  k={K}")
        """,
    ),
    (
        "markdown",
        """
        Chinese audience names need a CJK font. If fontconfig lists one for Chinese that matplotlib can load, the
        plots use it (`老年人 seniors`); otherwise they fall back to the English audience ids. Nothing is downloaded.
        """,
    ),
    (
        "code",
        """
        from matplotlib import font_manager

        from content_catalog.taxonomy import AUDIENCES


        def cjk_font_family():
            \"\"\"First Chinese-capable family that both fontconfig and matplotlib know, or None.\"\"\"
            if shutil.which("fc-list") is None:
                return None
            listing = subprocess.run(
                ["fc-list", ":lang=zh", "family"], capture_output=True, text=True, check=False
            ).stdout
            known = {font.name for font in font_manager.fontManager.ttflist}
            families = [f.strip() for line in listing.splitlines() for f in line.split(",") if f.strip() in known]
            # proportional fonts read better than monospaced ones in legends and tick labels
            families.sort(key=lambda family: "mono" in family.lower())
            return families[0] if families else None


        CJK_FONT = cjk_font_family()
        if CJK_FONT:
            plt.rcParams["font.sans-serif"] = [CJK_FONT, *plt.rcParams["font.sans-serif"]]
            plt.rcParams["font.family"] = "sans-serif"


        def audience_label(audience):
            \"\"\"'老年人 seniors' with a CJK font, 'seniors' without one.\"\"\"
            return f"{AUDIENCES[audience]} {audience}" if CJK_FONT else audience


        print("CJK font:", CJK_FONT or "none found - legends use English audience ids")
        """,
    ),
    (
        "markdown",
        """
        ## 1. MovieLens-100k metric tables

        Each protocol evaluates all its models on the same split(s); `summary()` gives mean and sample std over
        seeds (std is 0 with one seed). The compact table below each one puts the means next to the published
        reference numbers that the protocol registry carries (blank where a project publishes no such metric).
        Definitions and the 3-seed numbers: `docs/evaluation.md`.
        """,
    ),
    (
        "code",
        """
        from recommender.evaluation import available_protocols, format_table, run_protocol

        MOVIELENS_PROTOCOLS = ("movielens-recbole", "movielens-lightfm", "movielens-cold-items", "movielens-cold-users")
        results = {}
        wall_seconds = {}
        for _name in MOVIELENS_PROTOCOLS:
            _start = time.perf_counter()
            results[_name] = run_protocol(_name, DATA_DIR, seeds=SEEDS, k=K, fast=FAST)
            wall_seconds[_name] = time.perf_counter() - _start
            print(f"{_name}: {wall_seconds[_name]:.1f} s, models: {', '.join(results[_name].models())}")


        def with_published(result, metrics):
            \"\"\"Mean over seeds per model for `metrics`, followed by one row per published reference.\"\"\"
            means = result.summary().xs("mean", axis=1, level=1)
            table = means[[m for m in metrics if m in means.columns]]
            if result.published:
                published = pd.DataFrame.from_dict(result.published, orient="index").reindex(columns=table.columns)
                published.index = [f"[published] {name}" for name in published.index]
                table = pd.concat([table, published])
            return table
        """,
    ),
    (
        "markdown",
        """
        ### `movielens-recbole` — RecBole's general-recommendation setting

        Per-user random 0.8 / 0.1 / 0.1 split, full ranking, train and validation items excluded. Published:
        RecBole's BPR.
        """,
    ),
    (
        "code",
        """
        recbole = results["movielens-recbole"]
        print(format_table(recbole, ["ndcg", "recall", "mrr", "hit", "precision", "auc", "coverage"]))
        display(recbole.summary())
        display(with_published(recbole, ["ndcg", "recall", "mrr", "hit", "precision", "auc", "coverage", "novelty"]))
        """,
    ),
    (
        "markdown",
        """
        ### `movielens-lightfm` — LightFM's implicit-feedback example

        `ua.base` / `ua.test`. `precision` / `auc` exclude train items (what Kepu serves); the `_unfiltered`
        columns keep them, which is how LightFM's published 0.11 / 0.90 were computed (see the docs).
        """,
    ),
    (
        "code",
        """
        lightfm = results["movielens-lightfm"]
        print(format_table(lightfm, ["precision", "auc", "precision_unfiltered", "auc_unfiltered", "ndcg"]))
        display(lightfm.summary())
        display(with_published(lightfm, ["precision", "auc", "precision_unfiltered", "auc_unfiltered", "ndcg"]))
        """,
    ),
    (
        "markdown",
        """
        ### `movielens-cold-items` and `movielens-cold-users`

        Cold items: 20 % of items held out, ranked from content only (AUC among held-out items). Cold users:
        20 % of users held out, ranked from demographics only; the ratio to global popularity is the headline.
        """,
    ),
    (
        "code",
        """
        cold_items = results["movielens-cold-items"]
        print(format_table(cold_items, ["auc", "ndcg", "precision", "recall"]))
        display(with_published(cold_items, ["auc", "ndcg", "precision", "recall"]))

        cold_users = results["movielens-cold-users"]
        print(format_table(cold_users, ["ndcg", "precision", "auc"]))
        _cold_users_table = with_published(cold_users, ["ndcg", "precision", "auc"])
        _cold_users_table["ndcg_vs_popularity"] = _cold_users_table["ndcg"] / cold_users.mean("Popularity", "ndcg")
        display(_cold_users_table)
        """,
    ),
    (
        "markdown",
        """
        ## 2. Plots

        ### Accuracy by audience segment

        MovieLens has no science audiences, but it has real ages: the age bands stand in for 青少年 (youth) and
        老年人 (seniors). NDCG@10 per age band from `EvaluationResult.segment_summary("age_band", "ndcg")`, for the
        warm-start protocol and for cold-start users (where segment popularity is the fallback).
        """,
    ),
    (
        "code",
        """
        from recommender.evaluation.datasets import AGE_BANDS

        AGE_ORDER = [label for _low, _high, label in AGE_BANDS]
        fig, axes = plt.subplots(1, 2, figsize=(13, 4.5), sharey=False)
        for ax, result in zip(axes, (recbole, cold_users), strict=True):
            by_age = result.segment_summary("age_band", "ndcg")
            by_age = by_age.reindex([a for a in AGE_ORDER if a in by_age.index])
            for model in by_age.columns:
                ax.plot(by_age.index, by_age[model], marker="o", label=model)
            ax.set_title(f"{result.protocol}: NDCG@{K} by age band")
            ax.set_xlabel("age band")
            ax.set_ylabel(f"NDCG@{K}")
            ax.grid(alpha=0.3)
            ax.legend(fontsize=8)
        fig.tight_layout()
        show(fig)
        display(recbole.segment_summary("age_band", "ndcg").reindex(AGE_ORDER))
        """,
    ),
    (
        "markdown",
        """
        ### Popularity bias

        Catalogue coverage (share of items that appear in anyone's top 10) and novelty (mean −log2 of an item's
        share of training users: higher = less popular items) against NDCG@10, per model. Popularity sits in the
        low-coverage, low-novelty corner; models that reach further into the long tail without losing NDCG are
        what a science office wants (a long tail of niche content for small audiences).
        """,
    ),
    (
        "code",
        """
        fig, axes = plt.subplots(1, 2, figsize=(13, 5))
        for result, marker, label_offset in ((recbole, "o", (4, 3)), (lightfm, "s", (4, -10))):
            means = result.summary().xs("mean", axis=1, level=1)
            for ax, metric in zip(axes, ("coverage", "novelty"), strict=True):
                ax.scatter(means[metric], means["ndcg"], marker=marker, s=60, label=result.protocol)
                for model, row in means.iterrows():
                    ax.annotate(model, (row[metric], row["ndcg"]), fontsize=7, xytext=label_offset,
                                textcoords="offset points")
        for ax, metric in zip(axes, ("coverage", "novelty"), strict=True):
            ax.set_xlabel(f"{metric}@{K}")
            ax.set_ylabel(f"NDCG@{K}")
            ax.set_title(f"{metric} vs accuracy")
            ax.grid(alpha=0.3)
            ax.legend(fontsize=8)
        fig.tight_layout()
        show(fig)
        """,
    ),
    (
        "markdown",
        """
        ### The shipped demo catalog in embedding space

        Every item of `content_catalog/demo/` encoded with the default offline encoder (`tfidf-svd`), projected to
        2-D with PCA and with t-SNE (on a 50-d TruncatedSVD, fixed seed), coloured by the item's primary editor
        audience (grey: no editor label). The number under the plot says how often a labelled item's nearest
        labelled neighbour (cosine, full embedding) shares its primary audience, against the chance rate.
        """,
    ),
    (
        "code",
        """
        from collections import Counter

        from sklearn.decomposition import PCA, TruncatedSVD
        from sklearn.manifold import TSNE

        from content_catalog.demo_catalog import load_demo_items
        from content_catalog.encoders import DEFAULT_SPEC, make_encoder

        _start = time.perf_counter()
        demo_items = load_demo_items()
        demo_texts = [item.text for item in demo_items]
        encoder = make_encoder(DEFAULT_SPEC, random_state=0)
        demo_vectors = encoder.fit(demo_texts).encode(demo_texts)
        primary = np.array([item.editor_audiences[0] if item.editor_audiences else "" for item in demo_items])
        wall_seconds["demo catalog encoding"] = time.perf_counter() - _start
        print(f"{len(demo_items)} items, {DEFAULT_SPEC} dim={demo_vectors.shape[1]}, "
              f"{wall_seconds['demo catalog encoding']:.1f} s")
        print("primary editor audience:", dict(Counter(str(a) or "(none)" for a in primary).most_common()))

        _start = time.perf_counter()
        maps = {"PCA": PCA(n_components=2, random_state=0).fit_transform(demo_vectors)}
        _reduced = TruncatedSVD(n_components=min(50, demo_vectors.shape[1] - 1), random_state=0).fit_transform(
            demo_vectors
        )
        maps["t-SNE"] = TSNE(n_components=2, perplexity=30, init="pca", random_state=0).fit_transform(_reduced)
        wall_seconds["2-D projections"] = time.perf_counter() - _start

        fig, axes = plt.subplots(1, 2, figsize=(14, 6))
        _colours = plt.get_cmap("tab10")
        for ax, (method, xy) in zip(axes, maps.items(), strict=True):
            _none = primary == ""
            ax.scatter(xy[_none, 0], xy[_none, 1], c="lightgrey", s=12, label="(no editor label)")
            for i, audience in enumerate(AUDIENCES):
                _mask = primary == audience
                if _mask.any():
                    ax.scatter(xy[_mask, 0], xy[_mask, 1], color=_colours(i), s=22, label=audience_label(audience))
            ax.set_title(f"demo catalog, {method}")
            ax.set_xticks([])
            ax.set_yticks([])
        axes[1].legend(fontsize=8, loc="center left", bbox_to_anchor=(1.0, 0.5))
        fig.tight_layout()
        show(fig)

        _labelled = np.flatnonzero(primary != "")
        _sims = demo_vectors[_labelled] @ demo_vectors[_labelled].T
        np.fill_diagonal(_sims, -np.inf)
        _nn_agree = float(np.mean(primary[_labelled] == primary[_labelled][_sims.argmax(axis=1)]))
        _shares = np.array(list(Counter(primary[_labelled]).values())) / len(_labelled)
        print(f"nearest labelled neighbour shares the primary audience: {_nn_agree:.3f} "
              f"(chance {float(np.sum(_shares**2)):.3f}, {len(_labelled)} labelled items)")
        """,
    ),
    (
        "markdown",
        """
        ## 3. `demo-simulated` (SYNTHETIC) per-audience results

        This protocol lives in `recommender/demo_protocol.py` (registered on import). It scores models on events
        generated by Kepu's own simulator over the demo catalog, so it checks the feature → model → service
        pipeline and the per-audience slices — it is **not** a headline result. The next cell imports the module
        if it exists and then checks the registry explicitly; if the protocol is absent, the section says so
        instead of failing.
        """,
    ),
    (
        "code",
        """
        if importlib.util.find_spec("recommender.demo_protocol") is not None:
            importlib.import_module("recommender.demo_protocol")
        DEMO_AVAILABLE = "demo-simulated" in available_protocols()
        print("demo-simulated registered:", DEMO_AVAILABLE)
        """,
    ),
    (
        "code",
        """
        if DEMO_AVAILABLE:
            _start = time.perf_counter()
            demo = run_protocol("demo-simulated", DATA_DIR, seeds=SEEDS, k=K, fast=FAST)
            wall_seconds["demo-simulated"] = time.perf_counter() - _start
            print(format_table(demo, ["ndcg", "recall", "precision", "hit", "auc", "coverage"]))
            by_audience = demo.segment_summary("audience", "ndcg")
            by_audience = by_audience.reindex([a for a in AUDIENCES if a in by_audience.index])
            display(Markdown(f"NDCG@{K} per audience (SYNTHETIC events, seeds {list(SEEDS)}):"))
            display(by_audience)

            fig, ax = plt.subplots(figsize=(12, 4.5))
            _width = 0.8 / len(by_audience.columns)
            _x = np.arange(len(by_audience.index))
            for i, model in enumerate(by_audience.columns):
                ax.bar(_x + i * _width, by_audience[model], width=_width, label=model)
            ax.set_xticks(_x + 0.4 - _width / 2, [audience_label(a) for a in by_audience.index])
            ax.set_ylabel(f"NDCG@{K}")
            ax.set_title("demo-simulated (SYNTHETIC): NDCG@10 per audience")
            ax.grid(axis="y", alpha=0.3)
            ax.legend(fontsize=8)
            fig.tight_layout()
            show(fig)
        else:
            display(Markdown(
                "**Skipped:** the `demo-simulated` protocol is not registered in this checkout "
                "(`recommender/demo_protocol.py` is missing or did not register it)."
            ))
        """,
    ),
    (
        "markdown",
        """
        ## Run time
        """,
    ),
    (
        "code",
        """
        wall_seconds["total"] = time.perf_counter() - NOTEBOOK_START
        display(pd.Series(wall_seconds, name="seconds").round(1).to_frame())
        SCRATCH.cleanup()
        """,
    ),
]


def build_notebook() -> NotebookNode:
    """The notebook with stable cell ids and no outputs, so regenerating it gives identical bytes."""
    cells = []
    for number, (kind, source) in enumerate(CELLS):
        text = dedent(source).strip("\n")
        cell_id = f"cell-{number:02d}"
        if kind == "markdown":
            cells.append(nbformat.v4.new_markdown_cell(text, id=cell_id))
        else:
            cells.append(nbformat.v4.new_code_cell(text, id=cell_id))
    notebook = nbformat.v4.new_notebook(cells=cells)
    notebook.metadata["kernelspec"] = dict(KERNELSPEC)
    notebook.metadata["language_info"] = {"name": "python"}
    nbformat.validate(notebook)
    return notebook


def render(notebook: NotebookNode) -> str:
    """The exact text written to disk (nbformat's JSON layout plus a final newline)."""
    return nbformat.writes(notebook) + "\n"


def main(argv: list[str]) -> int:
    """Write the clean notebook to the path given (default: next to this script)."""
    target = Path(argv[1]) if len(argv) > 1 else NOTEBOOK_PATH
    target.write_text(render(build_notebook()), encoding="utf-8")
    print(f"wrote {target}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
