"""The painting page in a real browser (Debian's Chromium driven by Playwright, headless, offline)."""
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from playwright.sync_api import expect

from bench.servers import CHROMIUM, CHROMIUM_FLAGS, free_port, wait_for
from miaobi_core.styles import STYLES_FILE
from miaobi_core.variants import FOLDERS, FULL
from tests.conftest import REPO
from tests.helpers import png_b64

pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists() and not os.environ.get("CI"),
                                reason="Debian's chromium is not installed (make test installs it)")


@pytest.fixture(scope="module")
def servers(hub_module_installed):
    """The web app on one port; the static page on a second port, reachable as two origins.

    http://localhost:<static> is whitelisted, http://127.0.0.1:<static> is not: same page, two origins.
    """
    app_port, static_port = free_port(), free_port()
    env = {**os.environ, "MIAOBI_CORS_ORIGINS": f"http://localhost:{static_port}"}
    app = subprocess.Popen([sys.executable, "-m", "webapp", "--port", str(app_port)], cwd=REPO, env=env,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    static = subprocess.Popen([sys.executable, "-m", "http.server", str(static_port), "--bind", "127.0.0.1"],
                              cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for(f"http://127.0.0.1:{app_port}/healthz", app)
        wait_for(f"http://127.0.0.1:{static_port}/static/index.html", static)
        yield {"app": f"http://127.0.0.1:{app_port}", "static_port": static_port}
    finally:
        for process in (app, static):
            process.terminate()
            process.wait(timeout=30)


@pytest.fixture(scope="module")
def swatches(servers):
    """How many colours the page offers: the palette classes the served model paints (GET /labels)."""
    import requests

    return len(requests.get(servers["app"] + "/labels", timeout=30).json()["classes"])


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_FLAGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1280, "height": 860})
    page = context.new_page()
    yield page
    context.close()


def shoot(page, name, tmp_path):
    """docs/ screenshots are rewritten only on request (`make screenshots`), so `make test` leaves git clean."""
    page.screenshot(path=str(Path(os.environ.get("MIAOBI_SCREENSHOTS") or tmp_path) / name), scale="css")


def canvas_pixel(page, x, y):
    return page.evaluate(f"Array.from(document.getElementById('canvas').getContext('2d')"
                         f".getImageData({x}, {y}, 1, 1).data.slice(0, 3))")


def canvas_point(page, fx, fy):
    box = page.locator("#canvas").bounding_box()
    return box["x"] + box["width"] * fx, box["y"] + box["height"] * fy


def test_a_child_paints_and_gets_a_picture(page, servers, swatches, palette, tmp_path):
    page.goto(servers["app"] + "/")
    page.locator("#live").uncheck()  # this test presses the paint button itself
    page.wait_for_selector("body.ready")
    assert page.locator(".swatch").count() == swatches

    # Stroke of sea across the middle with the fat brush.
    page.locator(".swatch", has_text="Sea").click()
    page.locator(".size[data-size='22']").click()
    page.mouse.move(*canvas_point(page, 0.1, 0.5))
    page.mouse.down()
    page.mouse.move(*canvas_point(page, 0.9, 0.5), steps=12)
    page.mouse.up()
    assert canvas_pixel(page, 128, 128) == palette.colors[palette.id_of("sea")].tolist()

    # Undo takes the stroke back; redo restores it.
    before = canvas_pixel(page, 128, 128)
    page.locator("#undo").click()
    assert canvas_pixel(page, 128, 128) != before
    page.locator("#redo").click()
    assert canvas_pixel(page, 128, 128) == before

    # Flood fill the sky with clouds.
    page.locator(".swatch", has_text="Cloud").click()
    page.locator("#tool-fill").click()
    page.mouse.click(*canvas_point(page, 0.02, 0.02))
    assert canvas_pixel(page, 2, 2) == palette.colors[palette.id_of("cloud")].tolist()

    # Every pixel of the drawing is an exact palette colour (no anti-aliasing).
    colours = page.evaluate("""(() => { const d = document.getElementById('canvas').getContext('2d')
        .getImageData(0, 0, 256, 256).data; const s = new Set();
        for (let i = 0; i < d.length; i += 4) s.add(d[i] + ',' + d[i+1] + ',' + d[i+2]); return [...s]; })()""")
    allowed = {",".join(map(str, c)) for c in palette.colors.tolist()}
    assert set(colours) <= allowed

    with page.expect_request(lambda r: r.url.endswith("/predict")) as asked:
        page.locator("#paint").click()
    asked = json.loads(asked.value.post_data)
    frame = page.locator("#frame").bounding_box()["width"]  # this desktop's pixel ratio is 1
    assert asked["format"] == "jpeg" and frame <= asked["size"] < frame + 64
    page.wait_for_selector("#result:not([hidden])", timeout=120_000)
    assert page.locator("#result").get_attribute("src").startswith("data:image/jpeg;base64,")
    first = page.locator("#result").get_attribute("src")

    # Saving gives the drawing and its picture painted again at 1024 px side by side, a new name each time.
    names = []
    for _ in range(2):
        with page.expect_download() as saved:
            page.locator("#download").click()
        download = saved.value
        names.append(download.suggested_filename)
        sheet = np.asarray(Image.open(download.path()))
        assert sheet.shape[:2] == (1024, 2 * 1024 + 16)
        page.wait_for_timeout(1100)  # names carry the second
    assert names[0] != names[1] and all(n.startswith("miaobi-") and n.endswith(".png") for n in names)

    page.locator("#dice").click()  # a new variation of the same drawing
    expect(page.locator("#result")).not_to_have_attribute("src", first, timeout=120_000)

    expect(page.locator("#spinner")).to_be_hidden(timeout=120_000)
    shoot(page, "screenshot.png", tmp_path)


def test_live_preview_paints_after_the_child_stops(page, servers):
    page.goto(servers["app"] + "/")
    page.wait_for_selector("body.ready")
    page.locator(".example", has_text="Beach").click()
    page.wait_for_selector("#result:not([hidden])", timeout=120_000)


def test_whitelisted_other_origin_can_call_the_api(page, servers):
    page.goto(f"http://localhost:{servers['static_port']}/static/index.html?api={servers['app']}")
    page.wait_for_selector("body.ready", timeout=30_000)
    page.locator("#paint").click()
    page.wait_for_selector("#result:not([hidden])", timeout=120_000)


def test_other_origins_are_blocked_by_the_browser(page, servers):
    messages = []
    page.on("console", lambda m: messages.append(m.text))
    page.goto(f"http://127.0.0.1:{servers['static_port']}/static/index.html?api={servers['app']}")
    expect(page.locator("#message")).to_contain_text("did not load", timeout=30_000)
    assert any("CORS" in m for m in messages)


def offer_looks(page, labels):
    """The page sees a model with these looks (GET /styles), whichever model the server runs."""
    import json

    thumbnail = "data:image/png;base64," + png_b64(np.full((96, 96, 3), 200, np.uint8))
    looks = {"styles": [{"name": label.lower().replace(" ", "_"), "label": label, "thumbnail": thumbnail}
                        for label in labels]}
    page.route("**/styles", lambda route: route.fulfill(status=200, content_type="application/json",
                                                        body=json.dumps(looks)))


def test_looks_appear_as_picture_buttons_and_are_sent_with_the_drawing(page, servers):
    import json

    offer_looks(page, ["Misty", "Winter"])
    page.goto(servers["app"] + "/")
    page.wait_for_selector("body.ready")
    buttons = page.locator("#styles .style")
    expect(buttons).to_have_count(4)  # any look, then the model's, then a grown-up's photo
    expect(buttons.nth(3)).to_have_class("style photo-look")
    assert buttons.nth(0).get_attribute("aria-checked") == "true"
    # The look goes with the next painting (after the starter scene's, which may still be on its way).
    with page.expect_request(lambda r: r.url.endswith("/predict") and "style" in json.loads(r.post_data)) as asked:
        buttons.nth(2).click()
    assert buttons.nth(2).get_attribute("aria-checked") == "true"
    assert json.loads(asked.value.post_data)["style"] == "winter"


def test_no_look_buttons_for_a_model_without_styles(page, servers):
    offer_looks(page, [])
    page.goto(servers["app"] + "/")
    page.wait_for_selector("body.ready")
    expect(page.locator("#styles")).to_be_hidden()


def test_a_tablet_asks_for_a_picture_that_fills_its_frame_at_its_pixel_ratio(browser, servers):
    context = browser.new_context(viewport={"width": 820, "height": 1180}, device_scale_factor=2, has_touch=True)
    page = context.new_page()
    with page.expect_request(lambda r: r.url.endswith("/predict")) as asked:
        page.goto(servers["app"] + "/")  # the starter scene is painted at once
    frame = page.locator("#frame").bounding_box()["width"]
    size = json.loads(asked.value.post_data)["size"]
    assert size >= 512 and 2 * frame <= size < 2 * frame + 64
    context.close()


def test_the_starter_scene_is_painted_on_first_load_without_server_times(page, servers):
    requests_sent = []
    page.on("request", lambda r: requests_sent.append(r.url) if r.url.endswith("/predict") else None)
    page.goto(servers["app"] + "/")
    page.wait_for_selector("#result:not([hidden])", timeout=120_000)  # nothing clicked, nothing drawn
    assert len(requests_sent) == 1
    expect(page.locator("#message")).to_have_text("Ta-da!")


def refuse(route, code: str, retry_after: int):
    """Answer an intercepted request as the server refuses one: 429, Retry-After and the API's JSON error."""
    import json

    route.fulfill(status=429, headers={"Retry-After": str(retry_after)}, content_type="application/json",
                  body=json.dumps({"error": {"code": code, "message": code}}))


def test_a_rate_limit_waits_for_retry_after_with_one_retry_at_a_time(page, servers):
    import time

    calls = []

    def limited(route):
        calls.append(time.monotonic())
        if len(calls) <= 2:
            refuse(route, "too_many_requests", 2)
        else:
            route.continue_()

    page.route("**/predict", limited)
    page.goto(servers["app"] + "/")
    expect(page.locator("#message")).to_contain_text("What a lot of pictures", timeout=30_000)
    expect(page.locator("body")).to_have_class("ready waiting")
    expect(page.locator("#paint")).to_be_enabled()  # a press is kept for the retry, not lost on a dead button
    for _ in range(5):  # a child pressing Paint and the dice meanwhile queues nothing new
        page.locator("#live").focus()
        page.evaluate("document.getElementById('paint').click(); document.getElementById('dice').click()")
    page.wait_for_selector("#result:not([hidden])", timeout=120_000)
    assert len(calls) == 3  # the first try, one retry per Retry-After, then the picture
    assert all(b - a >= 1.9 for a, b in zip(calls, calls[1:]))


def test_a_day_refused_as_busy_is_retried_as_a_day(page, servers):
    import json

    asked = []

    def busy_once(route):
        asked.append(json.loads(route.request.post_data).get("animate"))
        if len(asked) == 2:  # the day: refused once, as a busy server refuses twelve pictures
            refuse(route, "busy", 1)
        else:
            route.continue_()

    page.route("**/predict", busy_once)
    page.goto(servers["app"] + "/")
    page.locator("#live").uncheck()
    page.wait_for_function(PAINTED, timeout=120_000)  # the first picture
    page.locator("#day").click()
    page.wait_for_function("() => document.getElementById('result').src.startsWith('data:image/webp')",
                           timeout=120_000)
    assert asked == [None, "day", "day"]


def test_a_server_that_is_gone_shows_a_picture_marks_the_old_one_and_recovers(page, servers):
    page.goto(servers["app"] + "/")
    page.wait_for_selector("#result:not([hidden])", timeout=120_000)
    page.route("**/predict", lambda route: route.abort("connectionrefused"))
    page.locator("#paint").click()
    expect(page.locator("#offline")).to_be_visible(timeout=30_000)
    expect(page.locator("#frame")).to_have_class("frame stale")
    expect(page.locator("#download")).to_be_hidden()  # a stale picture is never offered for saving
    expect(page.locator("#message")).to_contain_text("Trying again in")
    page.unroute("**/predict")  # the server is back: the scheduled retry recovers without a click
    expect(page.locator("#offline")).to_be_hidden(timeout=60_000)
    expect(page.locator("#message")).to_have_text("Ta-da!", timeout=60_000)
    expect(page.locator("#download")).to_be_visible()


def test_a_server_that_never_answers_times_out(page, servers):
    page.add_init_script("window.MIAOBI_TEST_TIMEOUT_MS = 1500")
    page.route("**/predict", lambda route: None)  # swallowed: no answer ever comes
    page.goto(servers["app"] + "/")
    expect(page.locator("#offline")).to_be_visible(timeout=30_000)
    expect(page.locator("#spinner")).to_be_hidden()


@pytest.fixture
def touch_page(browser):
    context = browser.new_context(viewport={"width": 1024, "height": 768}, has_touch=True)
    page = context.new_page()
    yield page
    context.close()


def test_a_second_finger_does_not_take_over_the_stroke(touch_page, servers, palette):
    page = touch_page
    page.goto(servers["app"] + "/")
    page.wait_for_selector("body.ready")
    page.locator(".swatch", has_text="Sand").click()
    sand = palette.colors[palette.id_of("sand")].tolist()
    cdp = page.context.new_cdp_session(page)
    point = lambda fx, fy, i: dict(zip(("x", "y"), canvas_point(page, fx, fy)), id=i)
    touch = lambda kind, *points: cdp.send("Input.dispatchTouchEvent", {"type": kind, "touchPoints": list(points)})
    touch("touchStart", point(0.2, 0.2, 1))
    touch("touchMove", point(0.4, 0.2, 1))
    touch("touchStart", point(0.4, 0.2, 1), point(0.2, 0.8, 2))  # a palm comes down lower
    touch("touchMove", point(0.5, 0.2, 1), point(0.8, 0.8, 2))
    touch("touchEnd", point(0.5, 0.2, 1))
    touch("touchEnd")
    assert canvas_pixel(page, int(0.3 * 256), int(0.2 * 256)) == sand  # the first finger's stroke
    assert canvas_pixel(page, int(0.5 * 256), int(0.8 * 256)) != sand  # not the palm's


def test_leaving_the_canvas_lifts_the_brush_and_idle_taps_add_no_undo_step(page, servers, palette):
    page.goto(servers["app"] + "/")
    page.wait_for_selector("body.ready")
    page.locator(".swatch", has_text="Sand").click()
    sand = palette.colors[palette.id_of("sand")].tolist()
    page.mouse.move(*canvas_point(page, 0.1, 0.2))
    page.mouse.down()
    page.mouse.move(*canvas_point(page, -0.2, 0.2), steps=4)  # out on the left
    page.mouse.move(*canvas_point(page, -0.2, 0.8), steps=8)  # down, outside
    page.mouse.move(*canvas_point(page, 0.1, 0.8), steps=4)  # and back in
    page.mouse.up()
    assert canvas_pixel(page, 1, int(0.5 * 256)) != sand  # no bar painted along the border
    assert canvas_pixel(page, int(0.05 * 256), int(0.8 * 256)) == sand
    page.locator("#undo").click()
    expect(page.locator("#undo")).to_be_disabled()  # that stroke was one step
    page.locator("#tool-eraser").click()
    page.mouse.click(*canvas_point(page, 0.5, 0.05))  # erasing sky with sky changes nothing
    expect(page.locator("#undo")).to_be_disabled()


def test_tools_are_named_and_announce_their_state_and_arrow_keys_pick_colours(page, servers, swatches):
    page.goto(servers["app"] + "/")
    page.wait_for_selector("#result:not([hidden])", timeout=120_000)
    assert page.locator("#result").get_attribute("alt").startswith("Miaobi's landscape of your drawing: ")
    for tool, name in (("brush", "Brush"), ("fill", "Fill an area"), ("eraser", "Eraser (paints sky)")):
        assert page.locator(f"#tool-{tool}").get_attribute("aria-label") == name
    page.locator("#tool-fill").click()
    assert page.locator("#tool-fill").get_attribute("aria-pressed") == "true"
    assert page.locator("#tool-brush").get_attribute("aria-pressed") == "false"
    page.locator(".size[data-size='22']").click()
    assert page.locator(".size[data-size='22']").get_attribute("aria-pressed") == "true"
    selected = page.locator(".swatch.selected")
    start = int(selected.get_attribute("data-id"))
    selected.focus()
    page.keyboard.press("ArrowRight")
    assert int(page.locator(".swatch.selected").get_attribute("data-id")) == (start + 1) % swatches
    assert page.evaluate("document.activeElement.classList.contains('selected')")
    page.keyboard.press("ArrowLeft")
    page.keyboard.press("ArrowLeft")
    assert int(page.locator(".swatch.selected").get_attribute("data-id")) == (start - 1) % swatches


LAYOUTS = {"desktop": (1280, 860, 1), "tablet": (1024, 768, 2), "tablet-with-bars": (1024, 690, 2),
           "phone": (390, 844, 3)}


def _inside(page, selector, width, height):
    box = page.locator(selector).bounding_box()
    return box is not None and box["x"] >= 0 and box["y"] >= 0 and box["x"] + box["width"] <= width + 0.5 \
        and box["y"] + box["height"] <= height + 0.5


@pytest.mark.parametrize("layout", sorted(LAYOUTS))
def test_every_size_shows_what_a_child_needs_without_scrolling(browser, servers, layout, tmp_path):
    width, height, ratio = LAYOUTS[layout]
    context = browser.new_context(viewport={"width": width, "height": height}, device_scale_factor=ratio,
                                  has_touch=layout != "desktop")
    page = context.new_page()
    page.goto(servers["app"] + "/")
    page.wait_for_selector("#thumb[src]", state="attached", timeout=120_000)  # the starter scene's picture
    # The shipped model's own looks, thumbnails loaded, so the screenshots show what a child sees.
    shipped_looks = len(json.loads((REPO / "hub_module" / "miaobi" / FOLDERS[FULL] / STYLES_FILE).read_text())["styles"])
    page.wait_for_function(f"[...document.querySelectorAll('#styles img')].filter(i => i.complete && i.naturalWidth)"
                           f".length === {shipped_looks}", timeout=30_000)
    needed = ["#paint", "#canvas", "#tool-brush", "#tool-fill", "#tool-eraser", "#undo", "#redo", "#clear"]
    needed += [f".swatch >> nth={i}" for i in range(page.locator(".swatch").count())]
    looks = [f"#styles .style >> nth={i}" for i in range(shipped_looks + 1)]  # and "any look"
    if layout == "phone":
        # The drawing has the screen, Paint is in reach, the picture one tap away; a strip beside the canvas
        # lets a finger scroll without painting.
        assert page.locator("#frame").bounding_box() is None
        canvas = page.locator("#canvas").bounding_box()
        assert width - (canvas["x"] + canvas["width"]) >= 40
        for selector in ("#paint", "#show-picture"):
            assert _inside(page, selector, width, height), selector
        assert page.locator("#thumb").get_attribute("src") == page.locator("#result").get_attribute("src")
        shoot(page, f"screenshot-{layout}.png", tmp_path)
        page.locator("#show-picture").tap()
        assert _inside(page, "#frame", width, height) and _inside(page, "#download", width, height)
        assert page.locator("#show-picture").get_attribute("aria-expanded") == "true"
        page.locator("#hide-picture").tap()
        assert page.locator("#frame").bounding_box() is None and _inside(page, "#paint", width, height)
        page.mouse.wheel(0, 400)  # the bar stays in reach when the page scrolls
        assert _inside(page, "#paint", width, height)
    else:
        for selector in needed + looks + ["#frame", "#examples"]:
            assert _inside(page, selector, width, height), selector
        shoot(page, f"screenshot-{layout}.png", tmp_path)
    context.close()


def test_colour_symbols_can_be_shown_over_the_drawing_without_changing_it(page, servers, palette):
    page.goto(servers["app"] + "/")
    page.wait_for_selector("body.ready")
    before = page.evaluate("miaobi.drawingPNG()")
    assert page.locator("#symbols").is_hidden()
    page.locator("#symbols-toggle").click()
    assert page.locator("#symbols-toggle").get_attribute("aria-pressed") == "true"
    drawn = page.evaluate("""(() => { const d = document.getElementById('symbols').getContext('2d')
        .getImageData(0, 0, 512, 512).data; let n = 0; for (let i = 3; i < d.length; i += 4) n += d[i] > 0; return n; })()""")
    assert drawn > 1000  # symbols drawn on the overlay
    assert page.evaluate("miaobi.drawingPNG()") == before  # and not into the drawing Miaobi gets
    page.reload()  # the choice is remembered
    page.wait_for_selector("body.ready")
    assert page.locator("#symbols").is_visible()
    page.locator("#symbols-toggle").click()
    assert page.locator("#symbols").is_hidden()


def labels_of(page):
    return page.evaluate("Array.from(miaobi.state.labels)")


def test_a_saved_picture_opens_again_as_its_drawing_pixel_for_pixel(page, servers, palette, tmp_path):
    page.goto(servers["app"] + "/")
    page.wait_for_selector("#result:not([hidden])", timeout=120_000)
    page.locator(".swatch", has_text="Sea").click()
    page.locator(".size[data-size='4']").click()  # a thin stroke: single-pixel detail must come back too
    page.mouse.move(*canvas_point(page, 0.13, 0.81))
    page.mouse.down()
    page.mouse.move(*canvas_point(page, 0.77, 0.93), steps=9)
    page.mouse.up()
    page.locator("#paint").click()
    expect(page.locator("#message")).to_have_text("Ta-da!", timeout=120_000)
    drawing, seed = labels_of(page), page.evaluate("miaobi.state.seed")
    with page.expect_download() as saved:
        page.locator("#download").click()
    path = tmp_path / saved.value.suggested_filename
    saved.value.save_as(path)

    page.goto(servers["app"] + "/")  # another day: the starter scene, another seed
    page.wait_for_selector("body.ready")
    starter = labels_of(page)
    assert starter != drawing
    page.locator("#open-file").set_input_files(str(path))
    expect(page.locator("#message")).to_have_text("Here is your drawing again!")
    assert labels_of(page) == drawing and page.evaluate("miaobi.state.seed") == seed
    page.locator("#undo").click()  # opening is one undo step
    assert labels_of(page) == starter
    # "Paint as I draw" paints the undone drawing; its Ta-da! must not land on the message checked next.
    expect(page.locator("#message")).to_have_text("Ta-da!", timeout=120_000)

    not_ours = tmp_path / "photo.png"
    Image.fromarray(np.zeros((300, 400, 3), np.uint8)).save(not_ours)
    page.locator("#open-file").set_input_files(str(not_ours))
    expect(page.locator("#message")).to_contain_text("not a picture saved by Miaobi")
    assert labels_of(page) == starter


def test_a_press_while_painting_is_kept_and_ta_da_never_sits_over_an_old_picture(page, servers):
    page.goto(servers["app"] + "/")
    page.locator("#live").uncheck()
    page.wait_for_selector("#result:not([hidden])", timeout=120_000)
    expect(page.locator("#message")).to_have_text("Ta-da!", timeout=120_000)
    sent = []
    page.on("request", lambda r: sent.append(r) if r.url.endswith("/predict") else None)
    page.evaluate("document.getElementById('paint').click(); document.getElementById('paint').click()")
    assert page.evaluate("document.getElementById('paint').disabled") is False
    expect(page.locator("body")).to_have_class("ready queued")
    expect(page.locator("#message")).to_have_text("Ta-da!", timeout=120_000)
    assert len(sent) == 2  # the press during the first picture painted once more afterwards
    page.locator(".example", has_text="Beach").click()  # the drawing changes: the picture is out of date
    expect(page.locator("#frame")).to_have_class("frame stale")
    expect(page.locator("#message")).not_to_have_text("Ta-da!")


def test_an_empty_drawing_gets_a_nudge_not_a_picture(page, servers):
    page.goto(servers["app"] + "/")
    page.locator("#live").uncheck()
    page.wait_for_selector("body.ready")
    sent = []
    page.on("request", lambda r: sent.append(r) if r.url.endswith("/predict") else None)
    page.locator("#clear").click()
    page.locator("#paint").click()
    expect(page.locator("#nudge")).to_be_visible()
    expect(page.locator("#message")).to_have_text("Draw something first! 🖍️")
    assert not sent
    page.locator(".example", has_text="Forest").click()
    page.locator("#paint").click()
    expect(page.locator("#nudge")).to_be_hidden()
    expect(page.locator("#message")).to_have_text("Ta-da!", timeout=120_000)


IDLE = "() => !miaobi.state.busy && !miaobi.state.again && !miaobi.state.retryTimer"  # none painting or waiting
PAINTED = ("() => !miaobi.state.busy && !miaobi.state.again && !miaobi.state.retryTimer"
           " && document.getElementById('message').textContent === 'Ta-da!'")


def paint_and_wait(page, button="#paint"):
    """Press Paint (or the dice) once nothing is painting (the starter scene paints on load), and wait for the
    picture: a press while painting would be kept and paint again, and its Ta-da! would come later."""
    page.wait_for_function(IDLE, timeout=120_000)
    page.locator(button).click()
    page.wait_for_function(PAINTED, timeout=120_000)


def test_kept_pictures_stay_in_the_gallery_and_bring_their_drawing_back(page, servers):
    page.goto(servers["app"] + "/")
    page.locator("#live").uncheck()
    page.wait_for_selector("body.ready")
    expect(page.locator("#gallery")).to_be_hidden()  # nothing kept yet
    paint_and_wait(page)
    first, first_seed = labels_of(page), page.evaluate("miaobi.state.seed")
    page.locator("#keep").click()
    expect(page.locator("#message")).to_have_text("Kept in your gallery! ❤️")
    page.locator(".example", has_text="Beach").click()
    paint_and_wait(page, "#dice")
    page.locator("#keep").click()
    expect(page.locator(".kept")).to_have_count(2)

    page.reload()  # another day
    page.locator("#live").uncheck()
    page.wait_for_selector("body.ready")
    page.wait_for_function(IDLE, timeout=120_000)
    expect(page.locator(".kept")).to_have_count(2)
    page.locator(".kept").nth(1).locator(".open-kept").click()  # newest first: the second is the first kept
    page.wait_for_function("(kept) => Array.from(miaobi.state.labels).every((id, i) => id === kept[i])", arg=first)
    assert page.evaluate("miaobi.state.seed") == first_seed

    page.locator("#slideshow-start").click()
    expect(page.locator("#slideshow")).to_be_visible()
    assert page.locator("#slide").get_attribute("src").startswith("blob:")
    page.locator("#slideshow-stop").click()
    expect(page.locator("#slideshow")).to_be_hidden()

    page.locator(".kept").first.locator(".delete-kept").click()
    expect(page.locator(".kept")).to_have_count(1)
    page.locator("#clear-gallery").click()  # a child's guess keeps the pictures
    page.locator("#grown-up-answer").fill("7")
    page.locator("#grown-up-confirm").click()
    expect(page.locator(".kept")).to_have_count(1)
    page.locator("#clear-gallery").click()
    page.locator("#grown-up-answer").fill(page.evaluate("document.getElementById('grown-up').dataset.answer"))
    page.locator("#grown-up-confirm").click()
    expect(page.locator("#gallery")).to_be_hidden()
    expect(page.locator("#message")).to_have_text("The gallery is empty now.")


def test_a_full_gallery_lets_the_oldest_picture_go_and_says_so(page, servers):
    page.add_init_script("window.MIAOBI_TEST_GALLERY_LIMIT = 2")
    page.goto(servers["app"] + "/")
    page.locator("#live").uncheck()
    page.wait_for_selector("body.ready")
    seeds = []
    for _ in range(3):
        paint_and_wait(page, "#dice")
        seeds.append(page.evaluate("miaobi.state.seed"))
        page.locator("#keep").click()
        expect(page.locator("#message")).to_contain_text("Kept")
    expect(page.locator("#message")).to_have_text("Kept! The gallery was full, so the oldest picture made room.")
    kept = page.evaluate("miaobi.Gallery.list().then((items) => items.map((item) => item.seed))")
    assert kept == seeds[1:]


def test_the_gallery_opens_offline(page, servers):
    page.goto(servers["app"] + "/")
    page.locator("#live").uncheck()
    page.wait_for_selector("body.ready")
    page.evaluate("navigator.serviceWorker.ready")
    page.reload()  # now the service worker serves the page (and has kept it)
    page.locator("#live").uncheck()
    page.wait_for_selector("body.ready")
    assert page.evaluate("Boolean(navigator.serviceWorker.controller)")
    paint_and_wait(page)
    kept = labels_of(page)
    page.locator("#keep").click()
    expect(page.locator(".kept")).to_have_count(1)

    page.context.set_offline(True)
    try:
        page.reload()
        page.wait_for_selector("body.ready")  # the page and its palette, from the browser's copy
        expect(page.locator(".kept")).to_have_count(1)
        page.locator(".example", has_text="Forest").click()
        assert labels_of(page) != kept
        page.locator(".kept .open-kept").click()
        page.wait_for_function("(kept) => Array.from(miaobi.state.labels).every((id, i) => id === kept[i])", arg=kept)
    finally:
        page.context.set_offline(False)


def pdf_pages(page, paper):
    import re

    return len(re.findall(rb"/Type\s*/Page[^s]", page.pdf(format=paper, print_background=True)))


def test_a_picture_prints_on_one_page_with_its_drawing_a_name_and_the_date(page, servers):
    page.add_init_script("window.print = () => { window.printed = (window.printed || 0) + 1; }")
    page.goto(servers["app"] + "/")
    page.locator("#live").uncheck()
    page.wait_for_selector("body.ready")
    paint_and_wait(page)
    page.locator("#print").click()
    page.locator("#print-name-input").fill("Mia, 6")
    page.locator("#print-go").click()
    page.wait_for_function("() => window.printed === 1")  # a function: a bare expression is eval()ed, which the CSP refuses
    page.emulate_media(media="print")
    expect(page.locator("#print-sheet")).to_be_visible()
    expect(page.locator("main")).to_be_hidden()
    expect(page.locator("#print-name")).to_have_text("Mia, 6")
    assert page.locator("#print-picture").get_attribute("src") == page.locator("#result").get_attribute("src")
    assert page.evaluate("document.getElementById('print-drawing').naturalWidth") == 256
    assert pdf_pages(page, "A4") == 1 and pdf_pages(page, "Letter") == 1
    page.emulate_media(media="screen")

    page.locator("#keep").click()  # and from the gallery
    page.locator(".kept .print-kept").click()
    page.locator("#print-go").click()
    page.wait_for_function("() => window.printed === 2")
    assert page.locator("#print-picture").get_attribute("src").startswith("blob:")
    expect(page.locator("#print-name")).to_have_text("")


# The browser's speech, recorded: one voice on the device and one that would send the words away.
FAKE_SPEECH = """
window.said = [];
window.speechVoices = [{name: "here", lang: "en-GB", localService: true}, {name: "cloud", lang: "en-US", localService: false}];
window.SpeechSynthesisUtterance = function (text) { this.text = text; };
Object.defineProperty(window, "speechSynthesis", {value: {
  getVoices: () => window.speechVoices, cancel: () => {}, speak: (u) => window.said.push([u.text, u.voice.name])}});
"""


def test_picks_are_said_aloud_with_a_voice_on_the_device_and_a_grown_up_can_stop_it(page, servers):
    page.add_init_script(FAKE_SPEECH)
    page.goto(servers["app"] + "/")
    page.locator("#live").uncheck()
    page.wait_for_selector("body.ready")
    assert page.evaluate("window.said") == []  # nothing is said until a child picks something
    page.locator(".swatch", has_text="Sea").click()
    page.locator("#tool-fill").click()
    page.locator(".size[data-size='22']").click()
    assert page.evaluate("window.said") == [["Sea", "here"], ["Fill an area", "here"], ["Fat brush", "here"]]
    page.locator("#speech-toggle").click()  # off, and it stays off
    expect(page.locator("#speech-toggle")).to_have_attribute("aria-pressed", "false")
    page.reload()
    page.wait_for_selector("body.ready")
    page.locator(".swatch", has_text="Grass").click()
    assert page.evaluate("window.said") == []
    page.locator("#speech-toggle").click()
    page.evaluate("window.said = []; window.speechVoices = window.speechVoices.slice(1)")  # only a remote voice
    page.locator(".swatch", has_text="Tree").click()
    assert page.evaluate("window.said") == []


def test_a_child_puts_the_sun_in_the_sky_and_takes_it_away(page, servers):
    page.goto(servers["app"] + "/")
    page.locator("#live").uncheck()
    page.wait_for_selector("body.ready")
    page.locator("#tool-sun").click()
    page.mouse.click(*canvas_point(page, 0.7, 0.15))
    sun = page.evaluate("miaobi.state.sun")
    assert sun["x"] == pytest.approx(0.7, abs=0.01) and sun["y"] == pytest.approx(0.15, abs=0.01)
    assert labels_of(page) == page.evaluate("Array.from(miaobi.state.labels)")  # the drawing itself is untouched
    with page.expect_request(lambda r: r.url.endswith("/predict")) as asked:
        page.locator("#paint").click()
    assert json.loads(asked.value.post_data)["sun"] == sun
    expect(page.locator("#message")).to_have_text("Ta-da!", timeout=120_000)
    page.mouse.click(*canvas_point(page, 0.71, 0.16))  # a tap on the sun takes it away
    assert page.evaluate("miaobi.state.sun") is None
    with page.expect_request(lambda r: r.url.endswith("/predict")) as asked:
        page.locator("#paint").click()
    assert "sun" not in json.loads(asked.value.post_data)
    page.mouse.click(*canvas_point(page, 0.2, 0.1))
    page.locator("#clear").click()  # starting again: no sun either
    assert page.evaluate("miaobi.state.sun") is None


def test_a_day_goes_by_in_place_of_the_picture_and_is_saved_as_it_plays(page, servers, tmp_path):
    page.goto(servers["app"] + "/")
    page.locator("#live").uncheck()
    page.wait_for_selector("body.ready")
    page.wait_for_function(IDLE, timeout=120_000)
    with page.expect_request(lambda r: r.url.endswith("/predict")) as asked:
        page.locator("#day").click()
    sent = json.loads(asked.value.post_data)
    assert sent["animate"] == "day" and sent["size"] <= 512 and "style" not in sent
    page.wait_for_function(PAINTED, timeout=120_000)
    assert page.locator("#result").get_attribute("src").startswith("data:image/webp;base64,")
    assert page.evaluate("document.getElementById('result').naturalWidth") == sent["size"]
    with page.expect_download() as saved:
        page.locator("#download").click()
    assert saved.value.suggested_filename.endswith("-day.webp")
    path = tmp_path / "day.webp"
    saved.value.save_as(path)
    with Image.open(path) as animation:
        assert animation.format == "WEBP" and animation.n_frames == 12
    paint_and_wait(page)  # Paint paints one picture again
    assert page.locator("#result").get_attribute("src").startswith("data:image/jpeg;base64,")


def test_a_grown_up_picks_a_photo_and_the_drawing_is_painted_in_its_light(page, servers):
    from train.photos import LANDSCAPES

    photo = sorted((LANDSCAPES / "test" / "glacier").glob("*.jpg"))[0]
    page.goto(servers["app"] + "/")
    page.locator("#live").uncheck()
    page.wait_for_selector("body.ready")
    page.wait_for_function(IDLE, timeout=120_000)
    look = page.locator(".style.photo-look")
    expect(look).to_be_visible()
    with page.expect_request(lambda r: r.url.endswith("/predict")) as asked:
        page.locator("#style-photo-file").set_input_files(str(photo))
    sent = json.loads(asked.value.post_data)
    assert sent["style_photo"].startswith("data:image/jpeg;base64,") and "style" not in sent
    page.wait_for_function(PAINTED, timeout=120_000)
    expect(look).to_have_attribute("aria-checked", "true")
    assert look.locator("img").get_attribute("src") == sent["style_photo"]  # the photo is the look's button
    page.locator(".style", has_text="Dusk").click()  # another look: the photo is no longer sent
    with page.expect_request(lambda r: r.url.endswith("/predict")) as asked:
        paint_and_wait(page)
    sent = json.loads(asked.value.post_data)
    assert sent["style"] == "dusk" and "style_photo" not in sent


def test_a_photo_becomes_a_drawing_to_change_with_undo(page, servers):
    from train.photos import LANDSCAPES

    photo = sorted((LANDSCAPES / "test" / "sea").glob("*.jpg"))[0]
    page.goto(servers["app"] + "/")
    page.locator("#live").uncheck()
    page.wait_for_selector("body.ready")
    before = page.evaluate("Array.from(miaobi.state.labels)")
    with page.expect_response(lambda r: r.url.endswith("/drawing")) as answered:
        page.locator("#drawing-photo-file").set_input_files(str(photo))
    assert answered.value.ok
    expect(page.locator("#message")).to_contain_text("Here is your photo as a drawing")
    after = page.evaluate("Array.from(miaobi.state.labels)")
    assert after != before and len(set(after)) >= 2
    assert labels_of(page) == after  # the canvas shows it, in the palette's colours
    page.locator("#undo").click()
    assert page.evaluate("Array.from(miaobi.state.labels)") == before


def test_a_wide_drawing_paints_a_wide_picture_and_saves_and_opens_wide(page, servers, tmp_path):
    page.goto(servers["app"] + "/")
    page.locator("#live").uncheck()
    page.wait_for_selector("body.ready")
    page.wait_for_function(IDLE, timeout=120_000)
    square = labels_of(page)
    page.locator("#wide").click()
    wide = labels_of(page)
    assert len(wide) == 384 * 256 and page.evaluate("canvas.width") == 384
    expect(page.locator("#wide")).to_have_attribute("aria-pressed", "true")
    for y in (10, 128, 250):  # the drawing is kept, stretched: each row's classes in the same order
        row, was = wide[y * 384:(y + 1) * 384], square[y * 256:(y + 1) * 256]
        assert [k for i, k in enumerate(row) if i == 0 or row[i - 1] != k] == \
            [k for i, k in enumerate(was) if i == 0 or was[i - 1] != k]
    page.locator(".swatch", has_text="Sea").click()
    page.mouse.click(*canvas_point(page, 0.95, 0.9))  # a dab at the far right, only a wide canvas has
    drawn = labels_of(page)
    with page.expect_request(lambda r: r.url.endswith("/predict")) as asked:
        paint_and_wait(page)
    sent = json.loads(asked.value.post_data)
    assert "size" not in sent and abs(sent["width"] * 2 - sent["height"] * 3) < 3 and "columns" not in sent
    assert page.evaluate("[result.naturalWidth, result.naturalHeight]") == [sent["width"], sent["height"]]
    with page.expect_download() as saved:
        page.locator("#download").click()
    path = tmp_path / saved.value.suggested_filename
    saved.value.save_as(path)
    with Image.open(path) as sheet:
        assert sheet.size == (2 * 1024 + 16, 683)
    page.locator("#undo").click()  # the dab
    page.locator("#undo").click()  # going wide is one undo step: square again, exactly
    assert labels_of(page) == square and page.evaluate("canvas.width") == 256
    page.locator("#open-file").set_input_files(str(path))
    expect(page.locator("#message")).to_have_text("Here is your drawing again!")
    assert labels_of(page) == drawn and page.evaluate("canvas.width") == 384


def test_the_classroom_bench_counts_every_press_until_its_picture(servers):
    # A process of its own: the bench drives Playwright's async API, and this module's sync one owns the loop here.
    for server in (["--url", servers["app"]], ["--server-args=--workers 1 --no-upscale"]):  # running, or its own
        out = subprocess.run([sys.executable, "-m", "bench.classroom", *server, "--tablets", "2", "--seconds", "4",
                              "--every", "1"], cwd=REPO, capture_output=True, text=True, timeout=300, check=True).stdout
        row = out.strip().splitlines()[-1].strip("|").split("|")
        answered, unanswered, requests = (int(cell) for cell in row[:3])
        assert answered >= 4 and unanswered == 0 and requests >= 2
