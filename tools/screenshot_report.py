"""Render a run's report.html in headless Chromium and save a PNG, as a reader sees it.

Uses Debian's ``chromium`` through Playwright (no browser download), like the report test:

    .venv/bin/python tools/screenshot_report.py runs/small-resnet-digits-l1-filter \\
        --out docs/images/report.png --height 2400

``--height 0`` captures the whole page; otherwise the top ``--height`` pixels.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--out", type=Path, default=Path("report.png"))
    parser.add_argument("--width", type=int, default=1280)
    parser.add_argument("--height", type=int, default=0, help="pixels from the top (0: full page)")
    args = parser.parse_args()
    report = args.run_dir / "report.html"
    if not report.is_file():
        print(f"screenshot_report: no report.html in {args.run_dir}", file=sys.stderr)
        return 2
    executable = shutil.which("chromium") or shutil.which("chromium-browser")
    if executable is None:
        print("screenshot_report: chromium not found (apt install chromium)", file=sys.stderr)
        return 2
    from playwright.sync_api import sync_playwright

    args.out.parent.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=executable, args=["--no-sandbox", "--disable-gpu", "--no-first-run"]
        )
        page = browser.new_page(viewport={"width": args.width, "height": args.height or 900})
        page.goto(report.resolve().as_uri())
        if args.height:
            page.screenshot(path=str(args.out), full_page=False)
        else:
            page.screenshot(path=str(args.out), full_page=True)
        browser.close()
    print(f"{args.out}: {args.out.stat().st_size / 1024:.0f} KiB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
