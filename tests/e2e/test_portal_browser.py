"""The customer portal in a real browser: headless Chromium (Debian's `chromium` and
`chromium-driver`, installed by `scripts/browser.sh`, which `make test` runs) against
`ledger up` on a free port, signing in as the demo's customers would."""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys

from ledger.licensefile import public_keys_from_published, verify_license_file
from tests.e2e.cli import run_json
from tests.e2e.test_up import Up, free_port

ARTIFACTS = Path(os.environ.get("LEDGER_TEST_ARTIFACTS", Path(__file__).parents[2] / ".cache" / "test-artifacts"))


@pytest.fixture(scope="module")
def system(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Up, Path, str]]:
    directory = tmp_path_factory.mktemp("portal")
    port = free_port()
    started = Up(directory, port)
    yield started, directory, f"http://127.0.0.1:{port}"
    if started.process.poll() is None:
        started.stop()


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[webdriver.Chrome]:
    chromium, driver = shutil.which("chromium"), shutil.which("chromedriver")
    if not chromium or not driver:
        pytest.fail("no chromium/chromedriver on PATH: run 'bash scripts/browser.sh' "
                    "(apt-get install chromium chromium-driver), as 'make test' does")
    downloads = tmp_path_factory.mktemp("downloads")
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--window-size=1200,1600"):
        options.add_argument(flag)
    options.add_experimental_option("prefs", {"download.default_directory": str(downloads),
                                              "download.prompt_for_download": False})
    started = webdriver.Chrome(service=Service(driver), options=options)
    started.implicitly_wait(10)  # each lookup waits for the page a form submission loads
    started.execute_cdp_cmd("Page.setDownloadBehavior", {"behavior": "allow",
                                                        "downloadPath": str(downloads)})
    started.downloads = downloads  # type: ignore[attr-defined]
    yield started
    started.quit()


def customer_key(directory: Path, customer: str) -> str:
    issued = run_json(directory, "apikey", "create", "--tenant", "demo", "--role", "customer",
                      "--customer", customer)
    return str(issued["key"])


def sign_in(browser: webdriver.Chrome, base: str, key: str) -> None:
    """As a person would: open /portal, type the key, press Enter (keyboard only)."""
    browser.delete_all_cookies()
    browser.get(f"{base}/portal")
    field = browser.find_element(By.ID, "key")
    assert browser.find_element(By.CSS_SELECTOR, "label[for=key]").text == "Your API key"
    field.send_keys(key, Keys.ENTER)
    deadline = time.monotonic() + 10
    while not browser.find_elements(By.TAG_NAME, "h1") or "Licenses of" not in \
            browser.find_element(By.TAG_NAME, "h1").text:
        assert time.monotonic() < deadline, browser.page_source
        time.sleep(0.05)


def test_a_customer_sees_its_licenses_usage_as_the_check_counts_it_and_nothing_of_others(
        system: tuple[Up, Path, str], browser: webdriver.Chrome) -> None:
    up, directory, base = system
    key = customer_key(directory, "cust-acme")
    sign_in(browser, base, key)

    assert browser.find_element(By.TAG_NAME, "h1").text == "Licenses of cust-acme"
    card = browser.find_element(By.CSS_SELECTOR, "[data-license='lic-acme-1']")
    assert card.find_element(By.CSS_SELECTOR, ".status").get_attribute("data-status") == "active"
    assert "3 used, 7 free of 10" in card.text and "u-alice" in card.text
    assert "Upgraded to plan pro" in card.text  # the history, in plain words
    off = card.find_element(By.CSS_SELECTOR, "[data-feature='audit_export']")
    assert "off (not in plan pro)" in off.text

    check = httpx.post(f"{base}/v1/check", headers={"Authorization": f"Bearer {up.key}"},
                       json={"customer_id": "cust-acme", "feature": "api_calls"}).json()
    usage = card.find_element(By.CSS_SELECTOR, ".usage[data-feature='api_calls']")
    bar = usage.find_element(By.CSS_SELECTOR, "[role=progressbar]")
    assert (int(bar.get_attribute("aria-valuenow") or -1),
            int(bar.get_attribute("aria-valuemax") or -1)) == (check["used"], check["limit"])
    assert f"{check['used']} of {check['limit']} this month" in usage.text

    page = browser.page_source
    for other in ("cust-globex", "lic-globex", "cust-initech", "cust-tyrell", "u-hans"):
        assert other not in page
    assert key not in page and key not in browser.current_url

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    assert browser.save_screenshot(str(ARTIFACTS / "portal-cust-acme.png"))
    browser.set_window_size(390, 1600)  # a phone's width: still one readable column
    assert browser.execute_script("return document.documentElement.scrollWidth") <= 390
    assert browser.save_screenshot(str(ARTIFACTS / "portal-cust-acme-phone.png"))
    browser.set_window_size(1200, 1600)


def test_the_downloaded_license_file_verifies_with_the_published_keys(
        system: tuple[Up, Path, str], browser: webdriver.Chrome) -> None:
    _, directory, base = system
    sign_in(browser, base, customer_key(directory, "cust-acme"))
    browser.find_element(By.ID, "download").click()
    target = browser.downloads / "license-cust-acme.json"  # type: ignore[attr-defined]
    deadline = time.monotonic() + 10
    while not target.exists():
        assert time.monotonic() < deadline, list(browser.downloads.iterdir())  # type: ignore[attr-defined]
        time.sleep(0.05)
    document = json.loads(target.read_text(encoding="utf-8"))
    keys = public_keys_from_published(httpx.get(f"{base}/v1/license-files/keys").json())
    verified = verify_license_file(document, keys)
    assert verified.license["customer_id"] == "cust-acme"


def test_a_suspended_license_says_so_and_its_features_are_off_for_that_reason(
        system: tuple[Up, Path, str], browser: webdriver.Chrome) -> None:
    _, directory, base = system
    sign_in(browser, base, customer_key(directory, "cust-initech"))
    card = browser.find_element(By.CSS_SELECTOR, "[data-license='lic-initech-1']")
    assert card.find_element(By.CSS_SELECTOR, ".status").text == "Suspended"
    reports = card.find_element(By.CSS_SELECTOR, "[data-feature='reports']")
    assert reports.get_attribute("data-reason") == "suspended"
    assert "off (the license is suspended)" in reports.text
    assert "Suspended (payment_failed)" in card.text
    assert "cust-acme" not in browser.page_source


def test_a_revoked_or_unknown_key_is_refused_and_an_admin_picks_any_customer(
        system: tuple[Up, Path, str], browser: webdriver.Chrome) -> None:
    up, _, base = system
    browser.delete_all_cookies()
    browser.get(f"{base}/portal")
    browser.find_element(By.ID, "key").send_keys("ldg_not-a-key", Keys.ENTER)
    assert "unknown or was revoked" in browser.find_element(By.ID, "error").text

    sign_in_admin = browser.find_element(By.ID, "key")
    sign_in_admin.send_keys(up.key, Keys.ENTER)
    browser.find_element(By.ID, "customer").send_keys("cust-tyrell", Keys.ENTER)
    card = browser.find_element(By.CSS_SELECTOR, "[data-license='lic-tyrell-1']")
    audit = card.find_element(By.CSS_SELECTOR, "[data-feature='audit_export']")
    assert audit.get_attribute("data-reason") == "region_blocked"
    assert "not available in region IR" in audit.text


def test_a_sign_in_form_posted_from_another_site_is_refused(system: tuple[Up, Path, str]) -> None:
    up, _, base = system
    answer = httpx.post(f"{base}/portal/session", data={"key": up.key},
                        headers={"Origin": "https://elsewhere.example"})
    assert answer.status_code == 403 and "set-cookie" not in answer.headers
    same = httpx.post(f"{base}/portal/session", data={"key": up.key}, headers={"Origin": base})
    assert same.status_code == 303 and "ledger_portal_key=" in same.headers["set-cookie"]
    assert "HttpOnly" in same.headers["set-cookie"] and "SameSite=strict" in same.headers["set-cookie"].replace("Strict", "strict")
