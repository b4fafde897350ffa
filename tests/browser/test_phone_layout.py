"""Every role's main pages fit a 375 px phone: no sideways scrolling, in Chinese and English.

(The guard station's large kiosk controls once widened the officer's header to 412 px.)"""

import pytest

from tests.browser.conftest import sign_in

pytestmark = pytest.mark.browser

PAGES = {
    "officer": ["/", "/items/", "/checkouts/", "/guard", "/visits", "/visitors", "/rooms/", "/people/",
                "/approvals/", "/registers/", "/audit", "/stocktake/inventories"],
    "guard": ["/guard", "/guard/board", "/guard/end-of-day", "/guard/rollcall"],
    "staff": ["/", "/items/", "/checkouts/"],
}
WIDER = """() => { const W = document.documentElement.clientWidth, out = [];
  for (const el of document.querySelectorAll('body *')) {
    const r = el.getBoundingClientRect(); if (r.width === 0 || r.right <= W + 1) continue;
    let p = el.parentElement, clipped = false;
    while (p) { if (getComputedStyle(p).overflowX !== 'visible') { clipped = true; break; } p = p.parentElement; }
    if (!clipped) out.push(el.tagName + '.' + el.className + ' ' + Math.round(r.right));
  }
  return out.slice(0, 5); }"""


@pytest.mark.parametrize("role", sorted(PAGES))
def test_pages_fit_a_phone(page, live_user, role):
    page.set_viewport_size({"width": 375, "height": 812})
    sign_in(page, live_user(role))
    problems = []
    for lang in ("first", "second"):  # the interface language, then the other one (the header's switch)
        for path in PAGES[role]:
            resp = page.goto(path)
            assert resp.status < 400, (path, resp.status)
            width = page.evaluate("document.documentElement.scrollWidth")
            if width > 375:
                problems.append((lang, path, width, page.evaluate(WIDER)))
        page.locator(".site-user button[name=lang]").first.click()
        page.wait_for_load_state()
    assert not problems, problems
