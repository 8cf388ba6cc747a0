"""A crew signs in on the tablet with a user name and password (bound to its own unit); when its access token is
revoked or runs out the page refreshes it and carries on, and a crew change signs it out."""

from __future__ import annotations

import asyncio
import json
import secrets
import time

import asyncpg
from playwright.async_api import Browser, expect

from dispatch import tokens
from prealert.harness import Service
from tests.authkit import admin, call
from tests.conftest import REGION, SECRET, make_scene, token
from tests.e2e.test_pages import browser
from tests.e2e.test_tablet import enter_vitals, rows

__all__ = ["browser"]
PASSWORD = "tablet sign-in passphrase"


async def _paramedic(service: Service) -> str:
    username = f"medic-{secrets.token_hex(3)}"
    body = {"username": username, "role": "paramedic", "password": PASSWORD}
    assert (await call(service, "POST", "/v1/admin/accounts", admin(), body)).status_code == 201
    return username


async def _stored_hrs(db: asyncpg.Pool, unit: str, count: int) -> list[int]:
    """The heart rates the unit's stored vitals hold, once there are ``count`` of them (or after 10 s)."""
    deadline = time.monotonic() + 10
    while True:
        found = [json.loads(r["body"])["hr"] for r in await rows(db, unit)]
        if len(found) >= count or time.monotonic() > deadline:
            return found
        await asyncio.sleep(0.05)


async def test_a_crew_signs_in_with_a_password_and_the_page_refreshes_its_token(
    service: Service, browser: Browser, db: asyncpg.Pool
) -> None:
    scene = await make_scene(service)
    medic, other = await _paramedic(service), await _paramedic(service)
    crew = await call(service, "PUT", f"/v1/units/{scene.unit}/crew", token("dispatcher", REGION), {"members": [medic]})
    assert crew.status_code == 200
    context = await browser.new_context(viewport={"width": 1280, "height": 1000})
    page = await context.new_page()
    page.set_default_timeout(10_000)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    await page.goto(f"{service.http}/tablet")

    await page.fill("#signin-unit", scene.unit)
    await page.fill("#signin-user", medic)
    await page.fill("#signin-password", "not the password")
    await page.click("#signin-form button[type=submit]")
    await expect(page.locator("#signin-error")).to_contain_text("wrong username or password")
    await page.fill("#signin-password", PASSWORD)
    await page.click("#signin-form button[type=submit]")
    await expect(page.locator("#connection")).to_have_text("live")
    await expect(page.locator("#incident")).to_contain_text(f"#{scene.incident}")
    await enter_vitals(page, hr="101")
    assert await _stored_hrs(db, scene.unit, 1) == [101]

    # An administrator revokes the access token the page holds: the socket closes with 4401, the page swaps its
    # refresh token for a new pair, reconnects, and what is entered next is stored.
    first = await page.evaluate("new URLSearchParams(location.hash.slice(1)).get('token')")
    jti = tokens.verify(SECRET, first, now=int(time.time())).token_id
    revoked = await call(service, "POST", "/v1/admin/revocations", admin(), {"kind": "token", "id": jti})
    assert revoked.status_code == 204
    await expect(page.locator("#connection")).to_have_text("live")
    await page.wait_for_function("t => new URLSearchParams(location.hash.slice(1)).get('token') !== t", arg=first)
    await enter_vitals(page, hr="99")
    assert await _stored_hrs(db, scene.unit, 2) == [101, 99]

    # A crew change takes this medic off the unit: the refresh is refused and the page says so.
    change = await call(
        service, "PUT", f"/v1/units/{scene.unit}/crew", token("dispatcher", REGION), {"members": [other]}
    )
    assert change.status_code == 200
    await expect(page.locator("#last-error")).to_contain_text("signed out")
    assert errors == []
    await context.close()
