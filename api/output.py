"""What the `kepu` commands print and log, made safe for files and pipes.

rich hard-wraps at the terminal width, and at 80 columns when output is not a terminal, so a line like
`admin API key … (stored in /long/path/var/…)` arrived in a log file split in two. The consoles here
never insert line breaks into printed text, and when output is not a terminal (and COLUMNS is unset)
tables are as wide as their content instead of cut with "…" at 80 columns. Server logs go through
`one_line_log_config()`: uvicorn's formatters with a timestamp, and every newline inside a record (a
traceback, a message with a line break) escaped, so one record is always exactly one line.
"""

from __future__ import annotations

import copy
import logging
import os
from typing import Any

from rich.console import Console
from uvicorn.config import LOGGING_CONFIG
from uvicorn.logging import AccessFormatter, DefaultFormatter

UNBOUNDED_WIDTH = 1000
"""Width for files and pipes: wide enough that no table column is cut."""


def make_console(*, stderr: bool = False) -> Console:
    """A rich console that lets the terminal (or nothing, for a file) wrap long lines."""
    console = Console(stderr=stderr, soft_wrap=True)
    if not console.is_terminal and "COLUMNS" not in os.environ:
        console.width = UNBOUNDED_WIDTH
    return console


def _one_line(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\n", "\\n")


class OneLineFormatter(DefaultFormatter):
    """uvicorn's server-log formatter, one line per record (exception text included, newlines escaped)."""

    def format(self, record: logging.LogRecord) -> str:
        return _one_line(super().format(record))


class OneLineAccessFormatter(AccessFormatter):
    """uvicorn's access-log formatter, one line per record."""

    def format(self, record: logging.LogRecord) -> str:
        return _one_line(super().format(record))


def one_line_log_config() -> dict[str, Any]:
    """uvicorn's default logging config with timestamped one-line formatters (pass as `log_config=`)."""
    config = copy.deepcopy(LOGGING_CONFIG)
    config["formatters"]["default"].update(
        {"()": f"{__name__}.OneLineFormatter", "fmt": "%(asctime)s %(levelprefix)s %(message)s"}
    )
    config["formatters"]["access"].update(
        {
            "()": f"{__name__}.OneLineAccessFormatter",
            "fmt": '%(asctime)s %(levelprefix)s %(client_addr)s - "%(request_line)s" %(status_code)s',
        }
    )
    return config
