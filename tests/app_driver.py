"""Start the web demo in a subprocess and drive it with headless Chromium (Playwright)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

CHROMIUM_HELP = (
    "the browser test drives Debian's Chromium, which is not installed: run the suite with scripts/test "
    "(it apt-get installs chromium as root), or `apt-get install chromium`, or set UCFBENCH_CHROMIUM=<a Chromium binary>"
)


def find_chromium() -> str | None:
    """``UCFBENCH_CHROMIUM``, else ``chromium`` / ``chromium-browser`` on PATH."""
    given = os.environ.get("UCFBENCH_CHROMIUM")
    if given:
        return given if Path(given).is_file() else None
    return shutil.which("chromium") or shutil.which("chromium-browser")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def running_app(checkpoint: str | Path, *, log: Path, timeout: float = 300.0, extra: tuple[str, ...] = ()):
    """``python -m ucfbench.app checkpoint=... port=<free>`` until the block ends; yields its URL."""
    port = free_port()
    with log.open("w") as out:
        proc = subprocess.Popen([sys.executable, "-m", "ucfbench.app", f"checkpoint={checkpoint}", f"port={port}", *extra],
                                stdout=out, stderr=subprocess.STDOUT)
        url = f"http://127.0.0.1:{port}/"
        try:
            deadline = time.monotonic() + timeout
            while True:
                if proc.poll() is not None:
                    raise RuntimeError(f"the app exited with status {proc.returncode}:\n{log.read_text()[-3000:]}")
                try:
                    with urllib.request.urlopen(url, timeout=5) as response:
                        if response.status == 200:
                            break
                except OSError:
                    pass
                if time.monotonic() > deadline:
                    raise TimeoutError(f"the app did not answer on {url} within {timeout:.0f} s:\n{log.read_text()[-3000:]}")
                time.sleep(1.0)
            yield url
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


@contextmanager
def chromium_page(executable: str, *, width: int = 1280, height: int = 1000):
    """A page of a headless Chromium (no sandbox: CI runs as root)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=executable, headless=True,
                                    args=["--no-sandbox", "--disable-dev-shm-usage"])
        try:
            yield browser.new_page(viewport={"width": width, "height": height})
        finally:
            browser.close()


def upload_and_wait(page, video: str | Path, *, timeout_ms: float = 180_000) -> str:
    """Upload ``video`` through the demo's file input; return the status line once the prediction shows."""
    from playwright.sync_api import expect

    page.locator("#video-input input[type=file]").set_input_files(str(video))
    expect(page.locator("#status")).to_contain_text(Path(video).name, timeout=timeout_ms)
    return page.locator("#status").inner_text()
