"""Starting Debian's Chromium for the browser tests, with everything it writes kept in a pytest temp folder.

Chromium writes under $HOME (`~/.config/chromium/Crash Reports`, `~/.cache/dconf`, `~/.pki`) even when
headless; the browser process gets HOME and the XDG folders pointed at `home` so a test run leaves
nothing in the user's home. Playwright's own throwaway profile goes to the system temp folder and is
removed when the browser closes.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-breakpad",
]


def require_chromium() -> None:
    """Skip the calling module without Chromium; under CI=true its absence is an error instead."""
    if CHROMIUM.exists():
        return
    if os.environ.get("CI", "").lower() == "true":
        raise RuntimeError(f"{CHROMIUM} is missing: browser tests must run in CI (install Debian chromium)")
    pytest.skip(f"{CHROMIUM} not installed: browser tests need Debian's chromium", allow_module_level=True)


def chromium_env(home: Path) -> dict[str, str]:
    """The browser process's environment: this one with HOME and the XDG folders under `home`."""
    folders = {"HOME": home, "XDG_CONFIG_HOME": home / ".config", "XDG_CACHE_HOME": home / ".cache"}
    for folder in folders.values():
        folder.mkdir(parents=True, exist_ok=True)
    return {**os.environ, **{name: str(path) for name, path in folders.items()}}


def launch_chromium(playwright: object, home: Path) -> object:
    """Headless Chromium (Debian's build, via Playwright) whose home folder is `home`."""
    return playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, env=chromium_env(home))


def screenshots_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """KEPU_SCREENSHOTS_DIR when set (e.g. docs/screenshots to refresh the README's pictures), else a pytest
    temp folder, so a test run neither rewrites tracked files nor leaves pictures in the system temp."""
    folder = Path(os.environ.get("KEPU_SCREENSHOTS_DIR") or tmp_path_factory.mktemp("screenshots"))
    folder.mkdir(parents=True, exist_ok=True)
    return folder
