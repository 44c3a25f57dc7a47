"""The `kepu` command line (typer): catalog ingest/stats/embed/search, tag, train, evaluate, serve, demo,
users erase/export and maintenance purge (`api.cli_privacy`).

Every command exits non-zero with a clear message (file and line for bad input) on failure; long steps
show a rich progress display.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.status import Status
from rich.table import Table

from api.cli_events import events_app
from api.cli_privacy import maintenance_app, users_app
from api.output import make_console, one_line_log_config
from content_catalog.settings import Settings

if TYPE_CHECKING:
    from content_catalog.store import Store

app = typer.Typer(help="Kepu (科普): personalized science-content recommendation.", no_args_is_help=True)
catalog_app = typer.Typer(help="Inspect and load the content catalog.", no_args_is_help=True)
app.add_typer(catalog_app, name="catalog")

console = make_console()

StoreUrl = Annotated[
    str | None, typer.Option("--store-url", help="SQLAlchemy URL (default: KEPU_STORE_URL or ./var/kepu.db)")
]
VarDir = Annotated[Path | None, typer.Option("--var-dir", help="Working folder (default: KEPU_VAR_DIR or ./var)")]


def _settings(store_url: str | None = None, var_dir: Path | None = None) -> Settings:
    """Environment settings with command-line overrides applied; caches follow the chosen var dir."""
    from content_catalog.text import use_cache_dir

    overrides: dict[str, object] = {}
    if store_url:
        overrides["store_url"] = store_url
    if var_dir:
        overrides["var_dir"] = var_dir
    settings = Settings(**overrides)  # type: ignore[arg-type]
    use_cache_dir(settings.resolved_cache_dir)
    return settings


def _fail(message: str, code: int = 1) -> typer.Exit:
    """Print an error to stderr and return the Exit to raise (keeps call sites one line)."""
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code)


def _open_store(settings: Settings) -> Store:
    """Open (and migrate) the configured store; imported lazily so `--help` stays fast."""
    from content_catalog.store import Store

    if settings.resolved_store_url.startswith("sqlite:///"):
        Path(settings.resolved_store_url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    return Store(settings.resolved_store_url)


# ------------------------------------------------------------------------------------------ catalog
@catalog_app.command("ingest")
def catalog_ingest(
    files: Annotated[list[Path], typer.Argument(help="CSV, JSONL or Parquet files of items")],
    actor: Annotated[str, typer.Option(help="Who is ingesting (kept in the audit trail)")] = "cli",
    store_url: StoreUrl = None,
    var_dir: VarDir = None,
) -> None:
    """Validate every row of every file, then upsert all items in one transaction (or write nothing)."""
    from content_catalog.ingest import IngestError, ingest_files

    missing = [str(f) for f in files if not f.is_file()]
    if missing:
        raise _fail(f"no such file: {', '.join(missing)}", 2)
    settings = _settings(store_url, var_dir)
    store = _open_store(settings)
    try:
        with console.status("validating and ingesting…"):
            report = ingest_files(store, files, actor=actor)
    except IngestError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(1) from None
    except ValueError as exc:
        raise _fail(str(exc)) from None
    finally:
        store.close()
    console.print(
        f"ingested {report.rows} rows from {len(report.files)} file(s): "
        f"{report.created} created, {report.updated} updated, {report.unchanged} unchanged"
    )


@catalog_app.command("stats")
def catalog_stats(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of tables")] = False,
    store_url: StoreUrl = None,
    var_dir: VarDir = None,
) -> None:
    """Counts by audience, topic and format; untagged, expired and unverified items."""
    from content_catalog.taxonomy import AUDIENCES, FORMATS, TOPICS

    store = _open_store(_settings(store_url, var_dir))
    try:
        stats = store.catalog_stats()
    finally:
        store.close()
    if as_json:
        typer.echo(json.dumps(stats, ensure_ascii=False, indent=2))
        return
    summary = Table(title="catalog")
    summary.add_column("measure")
    summary.add_column("count", justify="right")
    for key in ("items", "active", "expired", "scheduled", "unverified", "editor_tagged", "auto_tagged", "untagged"):
        summary.add_row(key, str(stats[key]))
    console.print(summary)
    for key, labels, title in (
        ("by_audience", AUDIENCES, "audience"),
        ("by_topic", TOPICS, "topic"),
        ("by_format", FORMATS, "format"),
    ):
        table = Table(title=f"items by {title}")
        table.add_column(title)
        table.add_column("label")
        table.add_column("items", justify="right")
        for ident, count in sorted(stats[key].items(), key=lambda kv: -kv[1]):
            table.add_row(ident, labels.get(ident, ""), str(count))
        console.print(table)


@catalog_app.command("tag")
def catalog_tag(store_url: StoreUrl = None, var_dir: VarDir = None) -> None:
    """Auto-tag every item without editor labels (editor labels always win and are never touched)."""
    from content_catalog.audience.tag_store import tag_store

    store = _open_store(_settings(store_url, var_dir))
    try:
        with err_status("fitting the audience tagger and tagging…"):
            report = tag_store(store, actor="cli-tagger")
    finally:
        store.close()
    console.print(
        f"auto-tagged {report.tagged} items ({report.editor_labelled} keep their editor labels); "
        f"tagger trained on {report.trained_on}"
    )


@catalog_app.command("embed")
def catalog_embed(
    refit: Annotated[bool, typer.Option("--refit", help="Fit a new encoder instead of syncing the saved one")] = False,
    encoder: Annotated[str | None, typer.Option("--encoder", help="Encoder spec (default: KEPU_ENCODER)")] = None,
    store_url: StoreUrl = None,
    var_dir: VarDir = None,
) -> None:
    """Embed the catalog and save the faiss index (only new or edited items are encoded again)."""
    from content_catalog.catalog_index import embed_catalog

    settings = _settings(store_url, var_dir)
    if encoder:
        settings = settings.model_copy(update={"encoder": encoder})
    store = _open_store(settings)
    try:
        with err_status(f"embedding the catalog with {settings.encoder}…"):
            catalog, report = embed_catalog(store, settings, refit=refit, show_progress=False)
    except ValueError as exc:
        raise _fail(str(exc)) from None
    finally:
        store.close()
    what = "built" if report is None else f"synced (+{report.added} ~{report.updated} -{report.removed})"
    console.print(
        f"{what}: {len(catalog.index)} items, dim {catalog.encoder.dim}, encoder {catalog.encoder.spec}, "
        f"catalog version {catalog.catalog_version}"
    )


@catalog_app.command("search")
def catalog_search(
    query: Annotated[str, typer.Argument(help="Free text, e.g. 水稻病虫害")],
    k: Annotated[int, typer.Option("--k", "-k", min=1, max=100)] = 10,
    audience: Annotated[str | None, typer.Option("--audience", help="Only items for this audience")] = None,
    include_hidden: Annotated[
        bool, typer.Option("--include-hidden", help="Also show expired and unverified items (editors)")
    ] = False,
    store_url: StoreUrl = None,
    var_dir: VarDir = None,
) -> None:
    """Hybrid search from the terminal: the same search, filters and scores as GET /v1/search."""
    from content_catalog.catalog_index import embed_catalog
    from content_catalog.taxonomy import AUDIENCES
    from recommender.service import RecommendationService, ServiceSettings

    if audience is not None and audience not in AUDIENCES:
        raise _fail(f"--audience: unknown audience {audience!r}; expected one of {', '.join(AUDIENCES)}", 2)
    if not query.strip():
        raise _fail("QUERY must not be empty", 2)
    settings = _settings(store_url, var_dir)
    store = _open_store(settings)
    try:
        if store.count_items() == 0:
            raise _fail("the catalog is empty: run `kepu catalog ingest FILE…` first")
        catalog, _ = embed_catalog(store, settings)
        # The API's service without a model bundle (search does not use it); a fixed cursor secret so that
        # a read-only search never writes one into the store.
        service = RecommendationService(
            store, None, catalog.encoder, catalog.index, settings=ServiceSettings(cursor_secret="cli-search")
        )
        hits, hint = service.search_with_hint(query, k, audience=audience, include_hidden=include_hidden)
    finally:
        store.close()
    if not hits:
        console.print(f"「{query}」: no results. {hint or ''}")
        return
    table = Table(title=f"「{query}」")
    for column in ("#", "score", "id", "title", "audiences", "format"):
        table.add_column(column)
    for rank, hit in enumerate(hits, start=1):
        table.add_row(str(rank), f"{hit.score:.3f}", hit.id, hit.title, ",".join(hit.audiences), hit.format)
    console.print(table)


# ---------------------------------------------------------------------------------------------- tag
@app.command("tag")
def tag(
    input_path: Annotated[Path, typer.Option("--input", "-i", help="JSONL of items (need not be in the store)")],
    output_path: Annotated[Path, typer.Option("--output", "-o", help="Where to write the tagged JSONL")],
) -> None:
    """Add `audiences` and `audience_scores` to each JSON line, keeping every other field."""
    from content_catalog.audience.tag_file import ItemFileError, tag_jsonl

    if not input_path.is_file():
        raise _fail(f"no such file: {input_path}", 2)
    try:
        with console.status("fitting the audience tagger and tagging…"):
            count = tag_jsonl(input_path, output_path)
    except ItemFileError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(1) from None
    console.print(f"tagged {count} items → {output_path}")


# ---------------------------------------------------------------------------------- train / models
models_app = typer.Typer(help="Model versions: list and activate.", no_args_is_help=True)
app.add_typer(models_app, name="models")
app.add_typer(users_app, name="users")
app.add_typer(maintenance_app, name="maintenance")
app.add_typer(events_app, name="events")


@app.command("train")
def train(
    activate_now: Annotated[bool, typer.Option("--activate", help="Activate the new version when trained")] = False,
    seed: Annotated[int | None, typer.Option("--seed", help="Random seed (default: KEPU_SEED)")] = None,
    model: Annotated[
        str,
        typer.Option(
            "--model",
            help="auto (default: the candidate whose served list scores best on the last 10% of events) "
            "or one of lightfm, als, ease, item-knn, ease+lightfm, content-bilinear, cold-user",
        ),
    ] = "auto",
    store_url: StoreUrl = None,
    var_dir: VarDir = None,
) -> None:
    """Train a new model bundle from the store (versioned folder + manifest with checksums)."""
    from content_catalog.catalog_index import embed_catalog
    from recommender.registry import activate
    from recommender.train import index_vectors, train_bundle

    settings = _settings(store_url, var_dir)
    store = _open_store(settings)
    try:
        if store.count_items() == 0:
            raise _fail("the catalog is empty: run `kepu catalog ingest FILE…` first")
        with err_status("embedding the catalog…"):
            catalog, _ = embed_catalog(store, settings)
        with err_status("training…") as status:

            def progress(line: str) -> None:
                status.update(line)

            bundle = train_bundle(
                store,
                catalog.encoder,
                settings.models_dir,
                settings.seed if seed is None else seed,
                model=model,
                log=progress,
                vectors=index_vectors(catalog.index),  # what embed just encoded: never re-encode
            )
        if activate_now:
            activate(store, bundle.version)
    except ValueError as exc:  # no events yet, unknown model, a version folder that exists, a bad bundle
        raise _fail(str(exc)) from None
    finally:
        store.close()
    _print_training(bundle.version, str(bundle.path), bundle.manifest)
    if activate_now:
        console.print(f"activated {bundle.version} (running servers pick it up within KEPU_MODEL_SYNC_SECONDS)")


def _print_training(version: str, path: str, manifest: dict) -> None:
    """What was trained on, what was chosen and why (validation figures of every candidate)."""
    counts = manifest.get("data_counts", {})
    console.print(f"trained {version} → {path}")
    console.print("data: " + ", ".join(f"{name} {value:,}" for name, value in counts.items()))
    selection = manifest.get("selection", {})
    for message in selection.get("messages", []):
        console.print(message)
    candidates = selection.get("candidates", {})
    if not candidates:
        console.print(f"model {selection.get('model')}: {selection.get('reason', '')}")
        return
    table = Table(title=f"validation ({selection.get('validation', {}).get('split', '')})")
    for column in ("model", "served NDCG@10", "bare model NDCG@10", "popularity NDCG@10", "users"):
        table.add_column(column)
    for name, figures in candidates.items():
        mark = " ✓" if name == selection.get("model") else ""
        table.add_row(
            name + mark,
            f"{figures.get('served_ndcg@10', 0):.4f}",
            f"{figures.get('bare_model_ndcg@10', 0):.4f}",
            f"{figures.get('popularity_ndcg@10', 0):.4f}",
            str(figures.get("validation_users", "")),
        )
    console.print(table)
    console.print(f"serving {selection.get('model')}: {selection.get('reason', '')}")
    console.print(f"took {manifest.get('train_seconds', 0):.1f} s")


@models_app.command("list")
def models_list(store_url: StoreUrl = None, var_dir: VarDir = None) -> None:
    """Registered model versions, newest first, with their metrics."""
    store = _open_store(_settings(store_url, var_dir))
    try:
        versions = store.list_model_versions()
    finally:
        store.close()
    if not versions:
        console.print("no model versions yet: run `kepu train`")
        return
    table = Table(title="model versions")
    table.add_column("version", no_wrap=True)
    for column in ("active", "created", "metrics", "path"):
        table.add_column(column)
    for v in versions:
        metrics = ", ".join(f"{k}={val:.3f}" for k, val in sorted(v.metrics.items()) if isinstance(val, float))
        table.add_row(v.version, "✓" if v.active else "", v.created_at.strftime("%Y-%m-%d %H:%M"), metrics, v.path)
    console.print(table)


@models_app.command("activate")
def models_activate(
    version: Annotated[str, typer.Argument(help="A version from `kepu models list`")],
    store_url: StoreUrl = None,
    var_dir: VarDir = None,
) -> None:
    """Verify a bundle's checksums and make it the active version (a bad bundle never activates)."""
    from recommender.registry import BundleError, activate

    store = _open_store(_settings(store_url, var_dir))
    try:
        activate(store, version)
    except BundleError as exc:
        raise _fail(str(exc)) from None
    finally:
        store.close()
    console.print(f"activated {version}")


@models_app.command("delete")
def models_delete(
    versions: Annotated[list[str] | None, typer.Argument(help="Versions from `kepu models list`")] = None,
    superseded: Annotated[
        bool, typer.Option("--superseded", help="Every inactive version created before the active one")
    ] = False,
    store_url: StoreUrl = None,
    var_dir: VarDir = None,
) -> None:
    """Unregister versions and delete their bundle folders (after an erasure or a retention purge, old
    bundles still hold the trained ids and vectors of the people concerned; see docs/privacy.md)."""
    import shutil

    from content_catalog.store import ConflictError, NotFoundError

    store = _open_store(_settings(store_url, var_dir))
    try:
        wanted = list(versions or [])
        if superseded:
            registered = store.list_model_versions()
            active = next((v for v in registered if v.active), None)
            if active is None:
                raise _fail("no active version: --superseded needs one")
            wanted += [v.version for v in registered if not v.active and v.created_at < active.created_at]
        if not wanted:
            raise _fail("give versions or --superseded")
        for version in dict.fromkeys(wanted):
            try:
                record = store.delete_model_version(version, actor="cli")
            except (ConflictError, NotFoundError) as exc:
                raise _fail(str(exc)) from None
            folder = Path(record.path)
            if (folder / "manifest.json").is_file():  # only ever a bundle folder
                shutil.rmtree(folder)
            console.print(f"deleted {version} ({folder})")
    finally:
        store.close()


# ------------------------------------------------------------------------------------- serve / demo
Host = Annotated[str, typer.Option("--host", help="Interface to listen on")]
Port = Annotated[int, typer.Option("--port", min=1, max=65535, help="TCP port")]


@app.command("serve")
def serve(
    host: Host = "127.0.0.1",
    port: Port = 8000,
    workers: Annotated[int, typer.Option("--workers", min=1, max=64, help="Worker processes")] = 1,
    store_url: StoreUrl = None,
    var_dir: VarDir = None,
    worker_healthcheck: Annotated[
        int | None,
        typer.Option(
            "--worker-healthcheck",
            min=1,
            help="Seconds a worker may leave uvicorn's ping unanswered before it is replaced "
            "(default 120, api.http_protocol.WORKER_HEALTHCHECK_SECONDS: warm-up at 100k items is CPU-bound)",
        ),
    ] = None,
) -> None:
    """Serve an existing store over HTTP (never builds demo data). Configure with KEPU_* variables."""
    import os

    import uvicorn

    from api.http_protocol import WORKER_HEALTHCHECK_SECONDS, uvicorn_options

    settings = _settings(store_url, var_dir)
    # Workers build the app from the environment (uvicorn factory mode), so pass the overrides there.
    os.environ["KEPU_STORE_URL"] = settings.resolved_store_url
    os.environ["KEPU_VAR_DIR"] = str(settings.var_dir)
    store = _open_store(settings)
    try:
        if store.count_items() == 0:
            typer.echo("warning: the catalog is empty: ingest items first (`kepu catalog ingest`)", err=True)
    finally:
        store.close()
    uvicorn.run(
        "api.app:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        proxy_headers=True,
        log_config=one_line_log_config(),
        **uvicorn_options(worker_healthcheck or WORKER_HEALTHCHECK_SECONDS),
    )


def _say(line: str) -> None:
    """Print one line as it is: no markup parsing, no highlighting (paths and keys may contain brackets)."""
    console.print(line, highlight=False, markup=False)


def stage_printer(out: Console, clock: Callable[[], float] = time.monotonic) -> Callable[[str], None]:
    """A progress callback printing one line per build stage, prefixed with the seconds since it was made
    (a spinner shows nothing in a log file, and the first demo build takes ~20 s)."""
    start = clock()

    def show(stage: str) -> None:
        out.print(f"[{clock() - start:5.1f} s] {stage}…", highlight=False, markup=False)

    return show


@app.command("demo")
def demo(host: Host = "127.0.0.1", port: Port = 8000, var_dir: VarDir = None) -> None:
    """The demo service: builds the demo store under ./var/ on first run (ingest, tag, embed, simulate,
    train, activate), then serves it with public reads and a local admin key. Stop it with Ctrl+C."""
    import os

    import uvicorn

    from api.demo import build_demo
    from api.http_protocol import uvicorn_options

    settings = _settings(None, var_dir)
    started = time.monotonic()
    _say(f"preparing the demo in {settings.var_dir} (the first run takes about 20 s)")
    store = _open_store(settings)
    try:
        build = build_demo(store, settings, progress=stage_printer(console))
    finally:
        store.close()
    os.environ.update(
        {
            "KEPU_STORE_URL": settings.resolved_store_url,
            "KEPU_VAR_DIR": str(settings.var_dir),
            "KEPU_API_KEYS_FILE": str(build.keys_file),
            "KEPU_PUBLIC_READS": "true",
            "KEPU_PUBLIC_EVENTS": "true",
            "KEPU_CORS_ORIGINS": os.environ.get("KEPU_CORS_ORIGINS", "*"),
        }
    )
    base = f"http://{host}:{port}"
    built = ", ".join(build.steps_run) if build.steps_run else f"nothing to build (reusing {settings.var_dir})"
    elapsed = time.monotonic() - started
    for line in (
        f"demo ready in {elapsed:.1f} s: {built}; model {build.model_version}",
        f"  editor page   {base}/editor/",
        f"  API docs      {base}/docs",
        f"  museum widget {base}/examples/museum.html",
        f"  admin API key {build.admin_key}  (for the editor page and write calls; stored in {build.keys_file})",
        "  stop with Ctrl+C; the next `kepu demo` reuses what was built",
    ):
        _say(line)
    uvicorn.run(
        "api.app:create_app",
        factory=True,
        host=host,
        port=port,
        proxy_headers=True,
        log_config=one_line_log_config(),
        **uvicorn_options(),
    )


# ------------------------------------------------------------------------------------------ evaluate
def _parse_seeds(raw: str) -> tuple[int, ...]:
    try:
        seeds = tuple(int(part) for part in raw.replace(" ", ",").split(",") if part)
    except ValueError:
        raise typer.BadParameter(f"seeds must be integers separated by commas, got {raw!r}") from None
    if not seeds:
        raise typer.BadParameter("give at least one seed")
    return seeds


@app.command("evaluate")
def evaluate(
    protocol: Annotated[str, typer.Option("--protocol", "-p", help="Protocol name (see --list)")] = "movielens-recbole",
    data_dir: Annotated[
        Path | None, typer.Option("--data-dir", help="Data root or the data set's folder (default: KEPU_DATA_DIR)")
    ] = None,
    seeds: Annotated[str, typer.Option("--seeds", help="Comma-separated seeds, e.g. 0,1,2")] = "0",
    k: Annotated[int, typer.Option("--k", min=1, max=100, help="Cut-off for list metrics")] = 10,
    fast: Annotated[bool, typer.Option("--fast", help="Small setting (fewer epochs) for CI and notebooks")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the full result as JSON")] = False,
    list_protocols: Annotated[bool, typer.Option("--list", help="List the protocols and exit")] = False,
) -> None:
    """Offline evaluation: every model and baseline of a protocol in one run, as a table or JSON."""
    from recommender.evaluation import available_protocols, format_table, run_protocol, to_json

    _register_optional_protocols()
    protocols = available_protocols()
    if list_protocols:
        for name, description in sorted(protocols.items()):
            typer.echo(f"{name}\t{description}")
        return
    if protocol not in protocols:
        raise _fail(f"unknown protocol {protocol!r}; available: {', '.join(sorted(protocols))}", 2)
    if data_dir is not None and not data_dir.exists():
        raise _fail(f"--data-dir {data_dir} does not exist", 2)
    seed_tuple = _parse_seeds(seeds)
    try:
        with err_status(f"running {protocol} on seed(s) {', '.join(map(str, seed_tuple))}…"):
            result = run_protocol(protocol, data_dir, seeds=seed_tuple, k=k, fast=fast)
    except (FileNotFoundError, ValueError) as exc:
        raise _fail(str(exc)) from None
    typer.echo(to_json(result) if as_json else format_table(result))


def _register_optional_protocols() -> None:
    """Protocols that live beside the core ones register themselves on import."""
    import importlib.util

    if importlib.util.find_spec("recommender.demo_protocol") is not None:
        import recommender.demo_protocol  # noqa: F401


def err_status(message: str) -> Status:
    """A spinner on stderr, so `--json` output on stdout stays machine-readable."""
    return make_console(stderr=True).status(message)


def main() -> None:  # pragma: no cover - console entry point convenience
    app(prog_name="kepu")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
