"""Screenshot of the web demo after a prediction (the README's docs/img/demo.png).

    uv run python scripts/demo_screenshot.py <run dir | .ckpt | model.onnx> <video> [out.png]

Starts ``uv run ucfbench app`` on a free port, uploads ``video`` in headless Chromium, waits
for the prediction and saves a full-page screenshot (default ``docs/img/demo.png``).
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.app_driver import CHROMIUM_HELP, chromium_page, find_chromium, running_app, upload_and_wait  # noqa: E402


def main() -> int:
    if len(sys.argv) not in (3, 4):
        print(__doc__.split("\n\n")[1], file=sys.stderr)
        return 2
    checkpoint, video = sys.argv[1:3]
    out = Path(sys.argv[3]) if len(sys.argv) == 4 else REPO / "docs" / "img" / "demo.png"
    chromium = find_chromium()
    if chromium is None:
        print(CHROMIUM_HELP, file=sys.stderr)
        return 2
    log = Path(tempfile.mkdtemp()) / "app.log"
    with running_app(checkpoint, log=log) as url, chromium_page(chromium, width=1280, height=1120) as page:
        page.goto(url, wait_until="domcontentloaded")
        print(upload_and_wait(page, video))
        page.wait_for_timeout(1000)  # let the gallery's images finish loading
        out.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(out), full_page=True)
    print(f"saved {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
