"""What `kepu` prints and logs when output goes to a file or a pipe: no line is hard-wrapped at 80 columns,
every demo build stage gets a progress line, and each server log record is exactly one line."""

from __future__ import annotations

import io
import logging
import logging.config
import sys

from rich.console import Console
from rich.table import Table

from api.cli import stage_printer
from api.output import UNBOUNDED_WIDTH, OneLineAccessFormatter, OneLineFormatter, make_console, one_line_log_config

LONG_LINE = "  admin API key kepu-admin-0123456789abcdef  (stored in /srv/" + "very-long-folder/" * 8 + "keys.json)"


def file_console(monkeypatch: object) -> tuple[Console, io.StringIO]:
    """`make_console()` writing to a StringIO stdout (not a terminal), as under `kepu demo > log`."""
    buffer = io.StringIO()
    monkeypatch.setattr(sys, "stdout", buffer)
    monkeypatch.delenv("COLUMNS", raising=False)
    return make_console(), buffer


def test_long_lines_are_not_wrapped_for_a_file(monkeypatch: object) -> None:
    console, buffer = file_console(monkeypatch)
    assert not console.is_terminal and len(LONG_LINE) > 150
    console.print(LONG_LINE, highlight=False, markup=False)
    assert buffer.getvalue() == LONG_LINE + "\n"


def test_tables_are_as_wide_as_their_content_for_a_file(monkeypatch: object) -> None:
    console, buffer = file_console(monkeypatch)
    assert console.width == UNBOUNDED_WIDTH
    table = Table()
    table.add_column("title")
    table.add_row("乡村振兴：设施蔬菜的水肥一体化管理与病虫害绿色防控技术要点（讲座回放）")
    console.print(table)
    assert "病虫害绿色防控技术要点（讲座回放）" in buffer.getvalue() and "…" not in buffer.getvalue()


def test_stage_printer_prints_one_timed_line_per_stage() -> None:
    buffer = io.StringIO()
    out = Console(file=buffer, soft_wrap=True)
    ticks = iter([100.0, 100.0, 102.5, 117.25])
    show = stage_printer(out, clock=lambda: next(ticks))
    for stage in ("ingesting the shipped demo catalog", "tagging [unlabelled] items", "training the hybrid model"):
        show(stage)
    assert buffer.getvalue().splitlines() == [
        "[  0.0 s] ingesting the shipped demo catalog…",
        "[  2.5 s] tagging [unlabelled] items…",  # brackets are text, not rich markup
        "[ 17.2 s] training the hybrid model…",
    ]


def _record(message: str, exc: BaseException | None = None) -> logging.LogRecord:
    exc_info = (type(exc), exc, exc.__traceback__) if exc else None
    return logging.LogRecord("uvicorn.error", logging.ERROR, __file__, 1, message, None, exc_info)


def test_a_log_record_with_a_traceback_stays_on_one_line() -> None:
    formatter = OneLineFormatter(fmt="%(asctime)s %(levelprefix)s %(message)s", use_colors=False)
    try:
        raise RuntimeError("store unreachable\nsecond line")
    except RuntimeError as exc:
        line = formatter.format(_record("Exception in ASGI application\nwith detail", exc))
    assert "\n" not in line
    assert "ERROR:" in line and "Traceback (most recent call last):" in line and "second line" in line


def test_access_records_stay_on_one_line() -> None:
    formatter = OneLineAccessFormatter(fmt='%(levelprefix)s "%(request_line)s" %(status_code)s', use_colors=False)
    record = logging.LogRecord(
        "uvicorn.access",
        logging.INFO,
        __file__,
        1,
        '%s - "%s %s HTTP/%s" %d',
        ("127.0.0.1:5000", "GET", "/v1/search?q=a%0Ab\nc", "1.1", 200),
        None,
    )
    assert "\n" not in formatter.format(record)


def test_log_config_uses_the_one_line_formatters() -> None:
    config = one_line_log_config()
    assert config["formatters"]["default"]["()"] == "api.output.OneLineFormatter"
    assert config["formatters"]["access"]["()"] == "api.output.OneLineAccessFormatter"
    # built the way logging.config.dictConfig (and so uvicorn) builds them, without touching global logging
    configurator = logging.config.DictConfigurator(config)
    default = configurator.configure_formatter(dict(config["formatters"]["default"]))
    access = configurator.configure_formatter(dict(config["formatters"]["access"]))
    assert isinstance(default, OneLineFormatter) and isinstance(access, OneLineAccessFormatter)
    assert "\n" not in default.format(_record("two\nlines"))
