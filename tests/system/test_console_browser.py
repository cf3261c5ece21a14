"""The web console in a real browser: headless Debian chromium (driven by Playwright, never a downloaded browser)
against a real dev server, worker and API.

An agent and a supervisor sign in with their tokens. A complaint opened on the `demo` contract (acknowledge in
30 s, warnings at 50 % and 80 %) turns at risk and then breached on the agent's board while the page stays
loaded; the agent assigns it from the board in bulk; the supervisor acknowledges and resolves it on its page;
the agent, whose page offers no resolve, is refused both a stale acknowledge and a forged resolve with the API's
own sentences; the timeline says who did what and why. Each page is photographed into reports/screenshots/,
and every page passes the accessibility checks below (a name for every control, the actions reachable by Tab).
"""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
import pytest_asyncio

from bench.report_screenshot import CHROMIUM
from tests.helpers.service import Service, Tokens, service_settings

pytestmark = [pytest.mark.e2e, pytest.mark.skipif(
    not CHROMIUM.exists(), reason=f"{CHROMIUM} missing: `make tools` installs Debian's chromium as root")]
playwright_api = pytest.importorskip("playwright.async_api", reason="playwright missing: pip install -e '.[dev]'")
async_playwright, expect = playwright_api.async_playwright, playwright_api.expect

SCREENSHOTS = Path(__file__).resolve().parents[2] / "reports" / "screenshots"
DEMO_BREACH = 60_000  # ms the board may take to show the breach (acknowledge is due 30 s after receipt)

# Every control that is not hidden: its accessible name (aria-label, aria-labelledby, a <label>, or the text of a
# button/summary); offenders are returned as short descriptions.
UNNAMED_CONTROLS = """() => [...document.querySelectorAll(
    'input:not([type=hidden]), select, textarea, button, summary')].filter(el => {
    const text = (el.getAttribute('aria-label') || '').trim() || (el.textContent || '').trim()
      && ['BUTTON', 'SUMMARY'].includes(el.tagName);
    const labelled = el.getAttribute('aria-labelledby') || (el.labels && el.labels.length);
    return !(text || labelled);
  }).map(el => el.outerHTML.slice(0, 120))"""


@pytest.fixture(scope="module")
def tokens() -> Tokens:
    return Tokens()


@pytest_asyncio.fixture(loop_scope="session")
async def console(own_dev_env, tmp_path, tokens) -> AsyncIterator[Service]:
    """Worker and API (with the console) on the shipped policy, which has the `demo` contract."""
    settings = service_settings(own_dev_env.client.service_client.config.target_host, tmp_path, tokens)
    with Service(settings) as running:
        yield running


@pytest_asyncio.fixture(loop_scope="session")
async def browser():
    async with async_playwright() as p:
        chromium = await p.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        yield chromium
        await chromium.close()


async def sign_in(browser, base: str, token: str):
    context = await browser.new_context(base_url=base, viewport={"width": 1280, "height": 900},
                                        timezone_id="Asia/Shanghai", locale="en-GB")
    page = await context.new_page()
    await page.goto("/ui/board")
    assert page.url.startswith(f"{base}/ui/signin"), page.url  # signed out: sent to the sign-in page
    await page.get_by_label("API token").fill(token)
    await page.get_by_role("button", name="Sign in").click()
    await expect(page).to_have_url(re.compile(r"/ui/board"))
    return context, page


async def check_accessibility(page, *must_reach: str) -> None:
    """Every control has a name, and Tab from the top reaches each of `must_reach` (accessible names)."""
    assert await page.evaluate(UNNAMED_CONTROLS) == [], f"controls without an accessible name on {page.url}"
    await page.evaluate("document.activeElement && document.activeElement.blur()")
    reached: list[str] = []
    for _ in range(250):
        await page.keyboard.press("Tab")
        name = await page.evaluate("""() => { const el = document.activeElement; if (!el || el === document.body)
            return ''; return (el.getAttribute('aria-label') || (el.labels && el.labels[0] && el.labels[0].textContent)
            || el.textContent || '').trim().replace(/\\s+/g, ' '); }""")
        reached.append(name)
        if all(any(want in got for got in reached) for want in must_reach):
            return
    missing = [want for want in must_reach if not any(want in got for got in reached)]
    raise AssertionError(f"Tab never reached {missing} on {page.url}")


async def shot(page, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    await page.screenshot(path=str(path), full_page=True)
    assert path.stat().st_size > 10_000, f"{path} is nearly empty"
    return path


async def test_board_complaint_and_reports_in_chromium(console, browser, tokens, tmp_path):
    cid = f"ui-{uuid.uuid4().hex[:8]}"
    async with httpx.AsyncClient(base_url=console.url, timeout=30) as http:
        opened = await http.post("/v1/complaints", headers=Tokens.header(tokens.agent), json={
            "id": cid, "contract": "demo", "severity": "major", "channel": "phone", "customer_id": "C-4711",
            "summary": "router keeps rebooting", "customer_name": "Li Na"})
        assert opened.status_code == 201, opened.text

    # --- the agent's board turns at risk, then breached, without a reload -----------------------------------
    agent_context, agent = await sign_in(browser, console.url, tokens.agent)
    await agent.goto("/ui/board?contract=demo")
    await agent.evaluate("window.__notReloaded = true")
    row = agent.locator(f'tr[data-id="{cid}"]')
    await expect(row.locator("td.signal")).to_have_text(re.compile("On track"))
    await expect(row.locator("time[data-countdown]")).to_have_text(re.compile(r"\d\dm \d\ds left"))
    await expect(row.locator("td.signal")).to_have_text(re.compile("At risk"), timeout=DEMO_BREACH)
    await expect(row.locator("td.signal")).to_have_text(re.compile("Breached"), timeout=DEMO_BREACH)
    assert await agent.evaluate("window.__notReloaded === true"), "the board reloaded instead of refreshing"
    assert "✖" in await row.locator("td.signal").inner_text()  # not colour alone: an icon and a word
    assert "breached" in (await agent.locator("#summary").inner_text())

    # search by customer id and by summary text find it; another customer does not
    await agent.goto("/ui/board?q=C-4711")
    await expect(agent.locator(f'tr[data-id="{cid}"]')).to_have_count(1)
    await agent.goto("/ui/board?q=rebooting")
    await expect(agent.locator(f'tr[data-id="{cid}"]')).to_have_count(1)
    await agent.goto("/ui/board?q=C-0000")
    await expect(agent.locator(f'tr[data-id="{cid}"]')).to_have_count(0)

    # --- bulk assign from the board, then "my queue" -------------------------------------------------------
    await agent.goto("/ui/board?contract=demo")
    await agent.get_by_label(f"Select complaint {cid}").check()
    await agent.get_by_label("Action").select_option("assign")
    await agent.get_by_label("Agent").fill("amy")
    await agent.get_by_label("Group").fill("hardware-desk")
    await agent.get_by_role("button", name="Apply to selected").click()
    await expect(agent.locator(".results")).to_contain_text(f"{cid}: done")
    assert "extend" not in await agent.get_by_label("Action").inner_text()  # extend is a supervisor's
    await agent.goto("/ui/board?mine=1")
    await expect(agent.locator(f'tr[data-id="{cid}"] td.assignee')).to_have_text("amy", timeout=15_000)
    await check_accessibility(agent, "Select complaint", "Apply to selected", "Apply filters")

    # --- the complaint page as the agent: no resolve, no extend --------------------------------------------
    await agent.goto(f"/ui/complaints/{cid}")
    actions = agent.locator("details.action summary")
    agent_actions = await actions.all_inner_texts()
    assert "Acknowledge" in agent_actions and "Resolve" not in agent_actions and "Extend" not in agent_actions
    await expect(agent.locator("figure.clock.breached figcaption").first).to_contain_text("acknowledge")
    await check_accessibility(agent, "Acknowledge")

    # --- the supervisor acknowledges and resolves -------------------------------------------------------------
    supervisor_context, supervisor = await sign_in(browser, console.url, tokens.supervisor)
    await expect(supervisor.locator(f'tr[data-id="{cid}"] td.signal')).to_have_text(re.compile("Breached"))
    await supervisor.get_by_label("Select all shown complaints").check()
    await expect(supervisor.get_by_label(f"Select complaint {cid}")).to_be_checked()
    await supervisor.get_by_label("Select all shown complaints").uncheck()
    board_png = await shot(supervisor, "board")
    await supervisor.get_by_role("link", name=cid).click()
    await supervisor.locator("summary", has_text="Acknowledge").click()  # opens the <details>
    await supervisor.get_by_role("button", name="Acknowledge").click()
    await expect(supervisor.locator(".notice")).to_have_text("Acknowledge: done.")
    assert "Resolve" in await supervisor.locator("details.action summary").all_inner_texts()
    await supervisor.locator("summary", has_text="Resolve").click()
    await supervisor.get_by_label("Resolution (required)").fill("replaced the router")
    await supervisor.get_by_role("button", name="Resolve").click()
    await expect(supervisor.locator(".notice")).to_have_text("Resolve: done.")
    await expect(supervisor.locator(".facts")).to_contain_text("resolved")
    complaint_png = await shot(supervisor, "complaint")

    # --- the agent is refused, with the API's words -----------------------------------------------------------
    await agent.locator("summary", has_text="Acknowledge").click()  # the page still offers what it offered
    await agent.get_by_role("button", name="Acknowledge").click()
    await expect(agent.locator("#refused")).to_contain_text("cannot acknowledge a complaint that is resolved")
    csrf = await agent.locator("input[name=csrf]").first.get_attribute("value")
    forged = await agent.request.post(f"/ui/complaints/{cid}/reopen", form={"csrf": csrf, "reason": "try"})
    assert forged.status == 403 and "amy has role agent; this needs supervisor or higher" in await forged.text()
    no_csrf = await agent.request.post(f"/ui/complaints/{cid}/notify_result", form={"note": "x"})
    assert no_csrf.status == 403 and "out of date" in await no_csrf.text()

    # --- the timeline: who, what, why ---------------------------------------------------------------------------
    await agent.goto(f"/ui/complaints/{cid}")
    timeline = agent.locator("table.timeline tbody tr")
    texts = [re.sub(r"\s+", " ", t) for t in await timeline.all_inner_texts()]
    assert any("amy" in t and "received" in t and "router keeps rebooting" in t for t in texts), texts
    assert any("amy" in t and "assigned" in t and "hardware-desk" in t for t in texts), texts
    assert any("sam" in t and "acknowledged" in t for t in texts), texts
    assert any("sam" in t and "resolved" in t and "replaced the router" in t for t in texts), texts
    assert not any("Li Na" in t for t in texts)  # the customer's name is never shown
    assert "Resolve" not in await agent.locator("details.action summary").all_inner_texts()

    # --- reports: an admin starts a cycle of a past period and reads its report in the page ---------------------
    admin_context, admin = await sign_in(browser, console.url, tokens.admin)
    await admin.goto("/ui/reports")
    await admin.get_by_label("Contract", exact=True).first.select_option("demo")
    await admin.get_by_label(re.compile("^Period \\(")).fill("2026-10")
    await admin.get_by_role("button", name="Start cycle").click()
    await expect(admin.locator(".notice")).to_contain_text("cycle-demo-2026-10")
    for _ in range(60):  # the past period is assessed at once; the page says when the report is written
        if await admin.locator("iframe.report").count():
            break
        await admin.wait_for_timeout(1000)
        await admin.reload()
    frame = admin.frame_locator("iframe.report")
    await expect(frame.locator("h1").first).to_contain_text("demo")
    reports_png = await shot(admin, "reports")  # before Tab scrolls the report's frame
    await check_accessibility(admin, "Start cycle", "Import")
    supervisor_reports = await supervisor.goto("/ui/reports")
    assert supervisor_reports is not None and supervisor_reports.status == 200
    assert await supervisor.get_by_role("button", name="Start cycle").count() == 0  # admin only, as in the API
    assert await supervisor.get_by_role("button", name="Import").count() == 1
    answers = tmp_path / "answers.csv"
    answers.write_text("name,csat\nLi,5\nWang,2\n", encoding="utf-8")
    await supervisor.get_by_label("Contract").select_option("demo")
    await supervisor.get_by_label("Period").fill("2026-10")
    await supervisor.get_by_label(re.compile("^CSV file")).set_input_files(str(answers))
    await supervisor.get_by_role("button", name="Import").click()  # into the cycle that has just closed
    await expect(supervisor.locator(".alert")).to_contain_text("cycle-demo-2026-10 has closed")

    for context in (agent_context, supervisor_context, admin_context):
        await context.close()
    print(f"\nscreenshots: {board_png} {complaint_png} {reports_png}")
