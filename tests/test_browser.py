"""The Dagster UI in a real browser: a demo refresh materialised on a
temporary instance, `dagster dev` serving it on localhost, and headless
Debian Chromium (Playwright) opening the ranked list's asset page. Checks
that the top-ranked service's name and a funnel plot are shown, and keeps
screenshots in tests/artifacts/ (git-ignored) for a person to look at."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import duckdb
import pytest

from pipeline.defs.checks import ONE_ROW_PER_SERVICE
from pipeline.settings import REPO_ROOT
from tests.conftest import AS_OF, DEMO_DIR

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
ARTIFACTS = REPO_ROOT / "tests" / "artifacts"
DAGSTER = Path(sys.executable).parent / "dagster"
NUX_DISMISSED = "window.localStorage.setItem('communityNux', JSON.stringify('1'))"

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(),
                                reason="needs Debian's chromium at /usr/bin/chromium (`make test` installs it)")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until_serving(url: str, proc: subprocess.Popen, log: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"dagster dev exited ({proc.returncode}):\n{log.read_text()[-3000:]}")
        with contextlib.suppress(OSError):
            urllib.request.urlopen(f"{url}/server_info", timeout=2).read()
            return
        time.sleep(0.5)
    pytest.fail(f"dagster dev did not serve {url} in {timeout:.0f} s:\n{log.read_text()[-3000:]}")


@contextlib.contextmanager
def dagster_dev(port: int, env: dict, log: Path):
    """`dagster dev` in its own process group, always stopped (TERM, then KILL)."""
    with open(log, "w") as out:
        proc = subprocess.Popen([str(DAGSTER), "dev", "-h", "127.0.0.1", "-p", str(port)],
                                cwd=REPO_ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)
    try:
        yield proc
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(5)
        with contextlib.suppress(ProcessLookupError):  # children that ignored TERM
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)


def dismiss_welcome(page) -> None:
    """The UI may greet a new instance with a 'Join the community' dialog."""
    skip = page.get_by_role("button", name="Skip")
    if skip.is_visible():
        skip.click()


def show_markdown(page, key: str):
    """Open a metadata entry's Markdown dialog on the asset page; returns it."""
    dismiss_welcome(page)
    page.locator("tr", has_text=key).get_by_text("[Show Markdown]").first.click()
    dialog = page.get_by_role("dialog").filter(has_text=key)
    dialog.wait_for(timeout=10_000)
    page.wait_for_timeout(600)  # let the fade-in finish before a screenshot
    return dialog


def test_ranked_list_page_shows_the_top_service_and_a_funnel_plot(tmp_path):
    from playwright.sync_api import sync_playwright

    home = tmp_path / "home"
    home.mkdir()
    shutil.copy(REPO_ROOT / "dagster.yaml", home / "dagster.yaml")
    warehouse = tmp_path / "warehouse.duckdb"
    env = {**os.environ, "DAGSTER_HOME": str(home), "YJT_DATA_DIR": str(DEMO_DIR),
           "YJT_WAREHOUSE": str(warehouse), "YJT_AS_OF": AS_OF}
    refresh = subprocess.run([sys.executable, "-m", "pipeline", "refresh", "--top", "1"],
                             cwd=tmp_path, env=env, capture_output=True, text=True, timeout=180)
    assert refresh.returncode == 0, refresh.stderr
    with duckdb.connect(str(warehouse), read_only=True) as con:
        top = con.execute("SELECT yjs_name FROM inspection_targets WHERE rank = 1").fetchone()[0]
    ARTIFACTS.mkdir(exist_ok=True)

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with dagster_dev(port, env, tmp_path / "dagster_dev.log") as proc, sync_playwright() as pw:
        wait_until_serving(url, proc, tmp_path / "dagster_dev.log")
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(viewport={"width": 1500, "height": 1100})
            # The UI greets a new instance with a "Join the community" dialog one
            # second after load, unless the browser has dismissed it before:
            # mark it dismissed so it cannot cover what the test clicks.
            context.add_init_script(NUX_DISMISSED)
            page = context.new_page()
            page.goto(f"{url}/assets/inspection_targets")
            page.locator("tr", has_text="funnel_fte").wait_for(timeout=45_000)
            dismiss_welcome(page)
            page.screenshot(path=ARTIFACTS / "inspection_targets_overview.png", full_page=True)

            dialog = show_markdown(page, "top_of_list")
            assert top in dialog.inner_text()
            page.screenshot(path=ARTIFACTS / "inspection_targets_top_of_list.png")
            page.keyboard.press("Escape")
            dialog.wait_for(state="hidden", timeout=10_000)

            dialog = show_markdown(page, "funnel_fte")
            img = dialog.locator("img")
            img.wait_for(timeout=10_000)
            assert img.get_attribute("src").startswith("data:image/svg+xml;base64,")
            assert img.evaluate("el => el.complete && el.naturalWidth") > 300
            page.screenshot(path=ARTIFACTS / "inspection_targets_funnel_fte.png")

            page.goto(f"{url}/assets/inspection_targets?view=checks")
            page.get_by_text(ONE_ROW_PER_SERVICE).first.wait_for(timeout=20_000)
            dismiss_welcome(page)
            page.screenshot(path=ARTIFACTS / "inspection_targets_checks.png")
        finally:
            browser.close()
