"""A reader/writer lock: many concurrent readers, or one writer.

Why: faiss indexes may be searched by many threads at once but must not be searched while `add`,
`remove_ids` or a rebuild changes them. A plain lock would serialise every search too; this one lets
searches overlap and makes a writer wait for them (and new readers wait for a waiting writer, so a
steady stream of searches cannot starve catalog writes).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager


class ReadWriteLock:
    """`with lock.reading():` for readers, `with lock.writing():` for writers (not re-entrant)."""

    def __init__(self) -> None:
        self._condition = threading.Condition(threading.Lock())
        self._readers = 0
        self._writer = False
        self._waiting_writers = 0

    @contextmanager
    def reading(self) -> Iterator[None]:
        with self._condition:
            while self._writer or self._waiting_writers:
                self._condition.wait()
            self._readers += 1
        try:
            yield
        finally:
            with self._condition:
                self._readers -= 1
                if self._readers == 0:
                    self._condition.notify_all()

    @contextmanager
    def writing(self) -> Iterator[None]:
        with self._condition:
            self._waiting_writers += 1
            try:
                while self._writer or self._readers:
                    self._condition.wait()
            finally:
                self._waiting_writers -= 1
            self._writer = True
        try:
            yield
        finally:
            with self._condition:
                self._writer = False
                self._condition.notify_all()
