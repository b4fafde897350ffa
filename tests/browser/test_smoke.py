"""Browser smoke test: sign in, dashboard, switch language, screenshot."""

from playwright.sync_api import expect

from tests.browser.conftest import sign_in


def test_sign_in_dashboard_and_language(page, live_user, tmp_path):
    user = live_user("officer")
    sign_in(page, user)
    expect(page.locator("h1")).to_have_text("Dashboard")
    page.click("button:has-text('中文')")
    expect(page.locator("h1")).to_have_text("总览")
    page.screenshot(path=str(tmp_path / "dashboard-zh.png"), full_page=True)
    page.click("button:has-text('English')")
    expect(page.locator("h1")).to_have_text("Dashboard")
