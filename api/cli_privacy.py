"""`kepu users erase|export` and `kepu maintenance purge`: the personal-information rights from the
command line, for a data-protection officer's requests and for cron (see docs/privacy.md).

Ids are given as the client knows them; with `KEPU_ID_PEPPER` set they are hashed the way the API
stores them, so the same id finds the same user.
"""

from __future__ import annotations

import json
import re
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from content_catalog.pseudonyms import ClientIds
from content_catalog.schema import ID_PATTERN
from content_catalog.settings import Settings

if TYPE_CHECKING:
    from content_catalog.store import Store

users_app = typer.Typer(help="Residents' personal information: erase and export (admin).", no_args_is_help=True)
maintenance_app = typer.Typer(help="Housekeeping: the retention purge.", no_args_is_help=True)

StoreUrl = Annotated[
    str | None, typer.Option("--store-url", help="SQLAlchemy URL (default: KEPU_STORE_URL or ./var/kepu.db)")
]
VarDir = Annotated[Path | None, typer.Option("--var-dir", help="Working folder (default: KEPU_VAR_DIR or ./var)")]
_ID = re.compile(ID_PATTERN)


def _settings(store_url: str | None, var_dir: Path | None) -> Settings:
    overrides: dict[str, object] = {"store_url": store_url} if store_url else {}
    if var_dir:
        overrides["var_dir"] = var_dir
    return Settings(**overrides)  # type: ignore[arg-type]


def _open_store(settings: Settings) -> Store:
    from content_catalog.store import Store

    return Store(settings.resolved_store_url)


def _fail(message: str) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(1)


def read_id_file(path: Path) -> list[str]:
    """One user id per line (blank lines and `#` comments skipped); a bad id fails naming file and line."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise _fail(f"{path}: cannot read ({exc})") from None
    ids = []
    for number, line in enumerate(lines, start=1):
        value = line.strip()
        if not value or value.startswith("#"):
            continue
        if not _ID.match(value):
            raise _fail(f"{path}:{number}: not a valid user id: {value!r}")
        ids.append(value)
    return ids


@users_app.command("erase")
def erase(
    user_ids: Annotated[list[str] | None, typer.Argument(help="User ids as the client knows them")] = None,
    file: Annotated[Path | None, typer.Option("--file", help="A file with one user id per line")] = None,
    actor: Annotated[str, typer.Option(help="Who asks (kept in the audit log)")] = "cli",
    store_url: StoreUrl = None,
    var_dir: VarDir = None,
) -> None:
    """Erase users: profile, linked sessions, their events and feed snapshots; the live service
    forgets them at once and the next training leaves them out. Prints one audit reference per id."""
    wanted = list(user_ids or [])
    for number, value in enumerate(wanted, start=1):
        if not _ID.match(value):
            raise _fail(f"argument {number}: not a valid user id: {value!r}")
    if file is not None:
        wanted += read_id_file(file)
    if not wanted:
        raise _fail("give user ids or --file")
    settings = _settings(store_url, var_dir)
    ids = ClientIds(settings.id_pepper)
    store = _open_store(settings)
    try:
        for user_id in dict.fromkeys(wanted):
            result = store.erase_user(ids.stored(user_id), actor=actor)
            held = "erased" if result.found else "nothing held"
            typer.echo(
                f"{user_id}\t{held}\treference={result.reference}\tprofile={int(result.profile)}"
                f"\tsessions={result.sessions}\tevents={result.events}\tsnapshots={result.snapshots}"
            )
    finally:
        store.close()


@users_app.command("export")
def export(
    user_id: Annotated[str, typer.Argument(help="User id as the client knows it")],
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Write the JSON here instead of stdout")] = None,
    store_url: StoreUrl = None,
    var_dir: VarDir = None,
) -> None:
    """Everything held about one user (profile, sessions, events, feed snapshots) as JSON."""
    if not _ID.match(user_id):
        raise _fail(f"not a valid user id: {user_id!r}")
    settings = _settings(store_url, var_dir)
    store = _open_store(settings)
    try:
        exported = store.export_user(ClientIds(settings.id_pepper).stored(user_id))
    finally:
        store.close()
    if exported is None:
        raise _fail(f"nothing is held about user {user_id!r}")
    text = json.dumps(exported, ensure_ascii=False, indent=2)
    if output is None:
        typer.echo(text)
    else:
        output.write_text(text + "\n", encoding="utf-8")


@maintenance_app.command("purge")
def purge(
    days: Annotated[
        int | None, typer.Option("--days", min=0, help="Retention in days (default: KEPU_EVENT_RETENTION_DAYS)")
    ] = None,
    batch_size: Annotated[int, typer.Option("--batch-size", min=1, help="Rows per transaction")] = 1_000,
    store_url: StoreUrl = None,
    var_dir: VarDir = None,
) -> None:
    """Delete events and feed snapshots older than the retention period (what the server does hourly)."""
    from content_catalog.store.types import utc_now

    settings = _settings(store_url, var_dir)
    retention = settings.event_retention_days if days is None else days
    if retention == 0:
        typer.echo("retention is off (0 days): nothing purged")
        return

    now = utc_now()
    store = _open_store(settings)
    try:
        result = store.purge_before(now - timedelta(days=retention), batch_size=batch_size, now=now)
    finally:
        store.close()
    typer.echo(
        f"purged {result.events} events and {result.snapshots} feed snapshots from before "
        f"{result.cutoff.isoformat()} in {result.batches} batches"
    )
