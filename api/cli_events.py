"""`kepu events ingest FILE…`: bulk event import from JSONL / CSV, the file twin of `POST /v1/events`.

Valid rows are stored and bad rows reported as `file:line: field: reason` (exit 1); re-running a file
is idempotent by `event_id`. The policy is documented in `content_catalog.event_ingest`.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Annotated

import typer

from content_catalog.ingest import MAX_LISTED_ERRORS
from content_catalog.pseudonyms import ClientIds
from content_catalog.settings import Settings

events_app = typer.Typer(help="Interaction events: bulk import.", no_args_is_help=True)

StoreUrl = Annotated[
    str | None, typer.Option("--store-url", help="SQLAlchemy URL (default: KEPU_STORE_URL or ./var/kepu.db)")
]
VarDir = Annotated[Path | None, typer.Option("--var-dir", help="Working folder (default: KEPU_VAR_DIR or ./var)")]


@events_app.command("ingest")
def events_ingest(
    files: Annotated[list[Path], typer.Argument(help="JSONL or CSV files of events (the /v1/events fields)")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON")] = False,
    store_url: StoreUrl = None,
    var_dir: VarDir = None,
) -> None:
    """Store the valid events of every file (duplicates skipped); list bad rows and exit 1 if any."""
    from content_catalog.event_ingest import ingest_event_files
    from content_catalog.store import Store

    missing = [str(f) for f in files if not f.is_file()]
    if missing:
        typer.echo(f"error: no such file: {', '.join(missing)}", err=True)
        raise typer.Exit(2)
    overrides: dict[str, object] = {"store_url": store_url} if store_url else {}
    if var_dir:
        overrides["var_dir"] = var_dir
    settings = Settings(**overrides)  # type: ignore[arg-type]
    started = time.perf_counter()
    with Store(settings.resolved_store_url) as store:
        try:
            report = ingest_event_files(store, files, ids=ClientIds(settings.id_pepper))
        except ValueError as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(1) from None
    seconds = time.perf_counter() - started
    bad_rows = len({(e.file, e.line) for e in report.rejected})
    summary = {
        "files": report.files,
        "rows": report.rows,
        "accepted": report.accepted,
        "duplicates": report.duplicates,
        "erased": report.erased,
        "rejected_rows": bad_rows,
        "seconds": round(seconds, 3),
    }
    if as_json:
        typer.echo(json.dumps(summary, ensure_ascii=False))
    else:
        typer.echo(
            f"{report.rows} rows from {len(report.files)} file(s) in {seconds:.1f} s: {report.accepted} stored, "
            f"{report.duplicates} duplicates, {report.erased} erased, {bad_rows} rejected"
        )
    if report.rejected:
        typer.echo(f"{bad_rows} bad row(s) were not stored ({len(report.rejected)} error(s)):", err=True)
        for error in report.rejected[:MAX_LISTED_ERRORS]:
            typer.echo(f"  {error}", err=True)
        if len(report.rejected) > MAX_LISTED_ERRORS:
            typer.echo(f"  ... and {len(report.rejected) - MAX_LISTED_ERRORS} more", err=True)
        raise typer.Exit(1)
