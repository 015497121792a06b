#!/usr/bin/python3
"""The web page of gitc serve in a real browser: headless Chromium (through
chromium-driver and python3-selenium) loads /, uploads
examples/shapes_0_224x224.png and must show the CLI's caption, streamed in.
A screenshot goes to ARTIFACT_DIR/serve_page.png. Exits 77 (skipped) only
when no chromium is installed.

Usage: test_serve_browser.py REPO_ROOT GITC_BINARY ARTIFACT_DIR"""
import json
import os
import shutil
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from serve_client import Server

ROOT, GITC, ARTIFACTS = sys.argv[1], sys.argv[2], sys.argv[3]
IMAGE = "shapes_0_224x224.png"


def main():
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if not chromium:
        print("test_serve_browser: SKIPPED: no chromium installed (scripts/install-deps.sh installs it)")
        return 77
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    ref = {r["file"]: r for r in json.load(open(os.path.join(ROOT, "tests/data/cli/examples.json")))["images"]}
    want = ref[IMAGE]["greedy_text"]
    os.makedirs(ARTIFACTS, exist_ok=True)
    shot = os.path.join(ARTIFACTS, "serve_page.png")
    profile = tempfile.mkdtemp(prefix="gitc-chromium-")
    srv = Server(GITC, ["--threads", "2"])
    opts = webdriver.ChromeOptions()
    opts.binary_location = chromium
    for flag in ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-dev-shm-usage",
                 "--window-size=900,1000", "--user-data-dir=" + profile]:
        opts.add_argument(flag)
    driver_path = shutil.which("chromedriver") or "/usr/bin/chromedriver"
    driver = None
    failures = []
    try:
        driver = webdriver.Chrome(service=Service(driver_path), options=opts)
        driver.set_page_load_timeout(30)
        driver.get("http://127.0.0.1:%d/" % srv.port)
        WebDriverWait(driver, 20).until(lambda d: "git-shapes" in d.find_element(By.ID, "model").text)
        upload = driver.find_element(By.ID, "file")
        driver.execute_script("arguments[0].style.display = 'block';", upload)
        upload.send_keys(os.path.abspath(os.path.join(ROOT, "examples", IMAGE)))
        try:
            WebDriverWait(driver, 30).until(lambda d: d.find_element(By.ID, "status").text.startswith(("done", "error")))
        except Exception:  # noqa: BLE001 - reported below with the page state
            pass
        caption = driver.find_element(By.ID, "caption").text
        status = driver.find_element(By.ID, "status").text
        timings = driver.find_element(By.ID, "timings").text
        driver.save_screenshot(shot)
        print("page: caption %r, status %r, timings %r" % (caption, status, timings))
        print("screenshot:", shot)
        if caption != want:
            failures.append("caption %r, want %r" % (caption, want))
        if status != "done (stop)":
            failures.append("status %r, want 'done (stop)'" % status)
        if "total" not in timings:
            failures.append("no timings shown: %r" % timings)
    finally:
        if driver:
            driver.quit()
        rc, _ = srv.stop()
        shutil.rmtree(profile, ignore_errors=True)
    if rc != 0:
        failures.append("server exit status %d" % rc)
    for f in failures:
        print("FAIL:", f)
    print("test_serve_browser: %d failed" % len(failures))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
