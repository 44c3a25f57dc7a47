"""Run a module or code as if some packages were not installed:
`python tests/without_modules.py torch,sentence_transformers -m api.cli demo …` (or `… -c CODE`).
Any import of a blocked package (or its submodules) raises ModuleNotFoundError, which is what a default
install (without the `sentence-transformers` extra) does."""

from __future__ import annotations

import importlib.abc
import runpy
import sys
from collections.abc import Sequence
from importlib.machinery import ModuleSpec
from types import ModuleType


class BlockPackages(importlib.abc.MetaPathFinder):
    """A meta-path finder, first in line, that refuses the named top-level packages."""

    def __init__(self, packages: set[str]) -> None:
        self.packages = packages

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> ModuleSpec | None:
        if fullname.partition(".")[0] in self.packages:
            raise ModuleNotFoundError(f"No module named {fullname!r} (blocked: not installed)", name=fullname)
        return None


def main(argv: list[str]) -> None:
    if len(argv) < 3 or argv[1] not in ("-m", "-c"):
        raise SystemExit("usage: without_modules.py PKG[,PKG…] (-m MODULE | -c CODE) [ARGS…]")
    blocked = {name.strip() for name in argv[0].split(",") if name.strip()}
    if loaded := sorted(blocked & {name.partition(".")[0] for name in sys.modules}):
        raise SystemExit(f"already imported before blocking: {loaded}")
    sys.meta_path.insert(0, BlockPackages(blocked))
    if argv[1] == "-c":
        sys.argv = ["-c", *argv[3:]]
        exec(compile(argv[2], "<string>", "exec"), {"__name__": "__main__"})
        return
    sys.argv = [argv[2], *argv[3:]]
    runpy.run_module(argv[2], run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main(sys.argv[1:])
