"""A classroom of tablets in a real browser: ``python -m bench.classroom --tablets 10 --seconds 60``.

Starts ``python -m webapp`` (or uses ``--url``) and opens ``--tablets`` pages of the painting page in Debian's
Chromium, each in its own browser context with a tablet's screen (820 x 1180 CSS px at pixel ratio 2, so the
page asks for the pictures a tablet gets). For ``--seconds`` every child draws a stroke and presses Paint
about every ``--every`` seconds (jittered, so the presses do not march in step); every other tablet also has
"Paint as I draw" on. Prints one table: pictures, requests, refused (429) and failed answers, and what a
child waits from pressing Paint to the picture of that press (p50, p90, worst). A press made while a picture
is painting is kept by the page and counts until the picture that answers it, not the one already coming.
"""
from __future__ import annotations

import argparse
import asyncio
import os
import random
import sys
import time
from collections import Counter
from contextlib import nullcontext

import numpy as np

from .servers import CHROMIUM, CHROMIUM_FLAGS, web_app

# In the page before its own script: each press of Paint starts a wait, and the next picture that is not
# already stale (the page fades a picture whose drawing changed meanwhile) ends every wait begun before it.
WAITS = """
window.classroom = { presses: [], waits: [] };
document.addEventListener("click", (event) => {
  if (event.target.closest("#paint")) window.classroom.presses.push(performance.now());
}, true);
document.addEventListener("DOMContentLoaded", () => {
  document.getElementById("result").addEventListener("load", () => {
    if (document.getElementById("frame").classList.contains("stale")) return;
    const now = performance.now();
    for (const t of window.classroom.presses.splice(0)) window.classroom.waits.push(now - t);
  });
});
"""


async def tablet(browser, url: str, live: bool, seconds: float, every: float, seed: int, statuses: Counter,
                 sizes: Counter) -> dict:
    context = await browser.new_context(viewport={"width": 820, "height": 1180}, device_scale_factor=2,
                                        has_touch=True)
    page = await context.new_page()
    await page.add_init_script(WAITS)

    def answered(response):
        if response.url.endswith("/predict"):
            statuses[response.status] += 1

    def asked(request):
        if request.url.endswith("/predict"):
            sizes[request.post_data_json.get("size") or request.post_data_json.get("width")] += 1

    page.on("response", answered)
    page.on("request", asked)
    await page.goto(url + "/")
    await page.wait_for_selector("body.ready")
    if not live:
        await page.locator("#live").uncheck()
    box = await page.locator("#canvas").bounding_box()
    rng = random.Random(seed)
    stop_at = time.monotonic() + seconds
    await asyncio.sleep(rng.uniform(0, every))
    while time.monotonic() < stop_at:
        x, y = box["x"] + box["width"] * rng.uniform(0.1, 0.9), box["y"] + box["height"] * rng.uniform(0.4, 0.9)
        await page.locator(".swatch").nth(rng.randrange(1, 6)).click()
        await page.mouse.move(x, y)
        await page.mouse.down()
        await page.mouse.move(x + rng.uniform(-80, 80), y + rng.uniform(-40, 40), steps=5)
        await page.mouse.up()
        await page.locator("#paint").click()
        await asyncio.sleep(every * rng.uniform(0.75, 1.25))
    # The last presses get the time a child would give them before counting them as never answered.
    await asyncio.sleep(5)
    result = await page.evaluate("({ waits: window.classroom.waits, unanswered: window.classroom.presses.length })")
    await context.close()
    return result


async def classroom(url: str, tablets: int, seconds: float, every: float) -> dict:
    from playwright.async_api import async_playwright

    statuses, sizes = Counter(), Counter()
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_FLAGS)
        results = await asyncio.gather(*(tablet(browser, url, i % 2 == 1, seconds, every, i, statuses, sizes)
                                         for i in range(tablets)))
        await browser.close()
    waits = np.array([w for r in results for w in r["waits"]]) / 1000
    return {"waits": waits, "unanswered": sum(r["unanswered"] for r in results), "statuses": statuses,
            "sizes": sizes}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.classroom", description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--url", help="an already running web app (default: start one)")
    parser.add_argument("--tablets", type=int, default=10, help="children, each with a tablet")
    parser.add_argument("--seconds", type=float, default=60.0, help="how long they paint")
    parser.add_argument("--every", type=float, default=2.0, help="seconds between a child's presses of Paint")
    parser.add_argument("--server-args", default="", help="more options for the started web app, e.g. "
                        "'--upscalers DIR'")
    args = parser.parse_args(argv)

    with (nullcontext((args.url, None)) if args.url else web_app(args.server_args.split())) as (url, _):
        result = asyncio.run(classroom(url, args.tablets, args.seconds, args.every))
    waits, statuses = result["waits"], result["statuses"]
    requests = sum(statuses.values())
    refused = statuses.get(429, 0)
    print(f"server: python -m webapp {args.server_args or '(defaults)'}; {args.tablets} tablets (820 x 1180 at "
          f"pixel ratio 2, every other one painting as it draws), a press every ~{args.every:g} s for "
          f"{args.seconds:g} s; picture sizes asked for: {dict(sorted(result['sizes'].items(), key=str))}")
    print("| presses answered | unanswered | requests | refused (429) | answers by status | wait p50 s | "
          "wait p90 s | worst s |")
    print("|---:|---:|---:|---:|---|---:|---:|---:|")
    answers = ", ".join(f"{k}: {v}" for k, v in sorted(statuses.items()))
    p50, p90, worst = (np.percentile(waits, 50), np.percentile(waits, 90), waits.max()) if len(waits) else (0, 0, 0)
    print(f"| {len(waits)} | {result['unanswered']} | {requests} | {refused} ({refused / max(requests, 1):.0%}) | "
          f"{answers} | {p50:.2f} | {p90:.2f} | {worst:.2f} |")
    return 0


if __name__ == "__main__":
    os.environ.setdefault("MKL_DEBUG_CPU_TYPE", "5")
    sys.exit(main())
