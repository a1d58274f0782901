"""The portal's two inputs a person or a billing system controls: the key pasted into its form
and the customer id that names a download. Neither may make it answer 500."""

from __future__ import annotations

from urllib.parse import quote

import httpx
import pytest

from tests.integration.test_api_endpoints import grant
from tests.integration.test_api_harness import Api


@pytest.mark.parametrize("pasted", ["ldg_abc…", "“ldg_abc”", "ldg_a\r\nSet-Cookie: x=1", "ldg_é"])
def test_a_pasted_key_that_cannot_be_a_key_is_refused_on_the_form(api: Api, pasted: str) -> None:
    with httpx.Client(base_url=api.url, timeout=30) as browser:
        answer = browser.post("/portal/session", data={"key": pasted}, follow_redirects=False)
    assert answer.status_code == 400 and "not an API key" in answer.text
    assert "set-cookie" not in answer.headers


@pytest.mark.parametrize("customer", ["cust-漢字", "cust-é", "cust/7 \"x\""])
def test_a_license_file_of_any_customer_id_downloads(api: Api, admin: httpx.Client,
                                                      customer: str) -> None:
    [result] = admin.post("/v1/events", json=grant("lic-u", customer=customer)).json()["results"]
    assert result["status"] == "accepted", result
    with httpx.Client(base_url=api.url, timeout=30, cookies={"ledger_portal_key": api.key()}) as browser:
        answer = browser.get(f"/portal/license-file?customer={quote(customer, safe='')}")
    assert answer.status_code == 200, answer.text
    assert answer.json()["license"]["customer_id"] == customer
    disposition = answer.headers["content-disposition"]
    assert disposition.isascii() and 'filename="license-cust' in disposition
    if not customer.isascii():
        assert f"filename*=UTF-8''{quote(f'license-{customer}.json', safe='')}" in disposition
