"""The `kepu` command line (typer): catalog ingest/stats/embed/search, tag, train, evaluate, serve, demo.

Every command exits non-zero with a clear message (file and line for bad input) on failure; long steps
show a rich progress display.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.status import Status
from rich.table import Table

from content_catalog.settings import Settings

if TYPE_CHECKING:
    from content_catalog.store import Store

app = typer.Typer(help="Kepu (科普): personalized science-content recommendation.", no_args_is_help=True)
catalog_app = typer.Typer(help="Inspect and load the content catalog.", no_args_is_help=True)
app.add_typer(catalog_app, name="catalog")

console = Console()

StoreUrl = Annotated[
    str | None, typer.Option("--store-url", help="SQLAlchemy URL (default: KEPU_STORE_URL or ./var/kepu.db)")
]
VarDir = Annotated[Path | None, typer.Option("--var-dir", help="Working folder (default: KEPU_VAR_DIR or ./var)")]


def _settings(store_url: str | None = None, var_dir: Path | None = None) -> Settings:
    """Environment settings with command-line overrides applied."""
    overrides: dict[str, object] = {}
    if store_url:
        overrides["store_url"] = store_url
    if var_dir:
        overrides["var_dir"] = var_dir
    return Settings(**overrides)  # type: ignore[arg-type]


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
    for key in (
        "items",
        "active",
        "expired",
        "scheduled",
        "unverified",
        "editor_tagged",
        "auto_tagged",
        "untagged",
    ):
        summary.add_column(key, justify="right")
    summary.add_row(*(str(stats[k]) for k in summary.columns and [c.header for c in summary.columns]))
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
    return Console(stderr=True).status(message)


def main() -> None:  # pragma: no cover - console entry point convenience
    app(prog_name="kepu")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
