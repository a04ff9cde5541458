#!/usr/bin/env python3
"""Drives samtrackd's web app in a real headless Chromium, as a user would, and checks what it shows.

Usage: webapp_test.py --url http://127.0.0.1:PORT/ --clip CLIP_DIR --long-source VIDEO --work DIR [--token T] [--screenshots DIR]

CLIP_DIR is a generated clip (Fixtures/clips/clip_700002: video.mp4, prompts.json, gt/ palette
PNGs); DIR receives the downloads, screenshots (media.png, editor.png, jobs.png, downscaled) and
notes. The daemon at URL must allow CLIP_DIR and VIDEO (a 960x540 video of many frames, e.g.
../shared/fixtures/bedroom.mp4) as sources: the jobs steps start jobs on them.

With --token (the daemon was started with that bearer token), the scenario begins with step 0.

Scenario (each step fails the run with a message when its check fails):
 0. the recent-media list, asked for without the token, shows the API's 401 with the hint to the
    token form; the token saved there (jobs screen), the media screen loads without an error;
 1. load the app; upload a text file: the API's error (422 not_media) is shown in data-testid=error;
 2. upload the clip (file input): the editor opens on a session, the canvas is the clip's size;
 3. click inside object 2 on frame 0: "encoding frame 0…" is shown while the daemon encodes, then
    the canvas (pixel read-back, clicks hidden) differs from the bare frame exactly on the mask of
    the API's RLE (GET .../masks?format=jsonl, decoded by pycocotools);
 4. shift-click a negative point (where the mask leaks out of the object, else on the background
    next to it): the mask drawn is the API's new one, and a second click on the frame shows "decoding…" (no new encoding);
 4b. Add object, drag a box around the clip's object 1: objects 1 and 2 listed, the new one
    selected, both masks drawn as the API's;
 5. Track forward: progress reaches the end; arrow keys to frame 20: its overlay is the API's mask;
 5b. Play from frame 40: the canvas plays to the last tracked frame, stops, and shows its masks;
 6. select object 1 in the list, correct frame 30 (a positive click inside the ground truth of the
    clip's object 2), Track forward again:
    the frames from 30 on are tracked again and frame 40's overlay is the API's mask;
 7. export each format with the buttons: masks.jsonl equals the API's, pycocotools decodes it;
    the COCO file loads in pycocotools.coco.COCO and its masks equal masks.jsonl's; the PNG zip's
    and palette zip's images equal the masks;
 8. Track both and Cancel after the first frames: the stream ends cancelled, before the end;
 8b. remove object 2 (its ✕): the list, the session and its masks lose it, the canvas shows the rest;
 8c. "Run as a job": the jobs screen lists the session's job, whose Cancel cancels it;
 9. jobs screen: a job started from the form on the clip (8 frames) appears in data-testid=jobs-list,
    succeeds, and its masks.jsonl downloads with those frames;
10. a job on VIDEO: once it tracked a frame, Live shows its newest frame; a click on it is a live
    prompt for object 3 (answered with the frame it applies to, listed in the job's applied
    prompts at the clicked pixel); its masks arrive from the job's event stream (read with fetch, so
    with the token); Cancel in the list cancels the job and closes the live view;
11. the browser's console has no errors except the failed requests of steps 0 and 1.

Exit status 0 when every check passes, 1 when one fails, 2 when the test cannot run (no chromium,
no chromedriver, no venv). Prints the time of each step.
"""

import argparse
import base64
import glob
import io
import json
import os
import shutil
import sys
import time
import urllib.request
import zipfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "interop"))
import interop_venv  # noqa: E402

interop_venv.ensure(__file__, venv_name=".venv-browser", packages=["selenium", "pycocotools", "numpy", "pillow"],
                    probe="import selenium, numpy, PIL, pycocotools.mask")

import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402
from pycocotools import mask as mask_util  # noqa: E402
from pycocotools.coco import COCO  # noqa: E402
from selenium import webdriver  # noqa: E402
from selenium.common.exceptions import TimeoutException, WebDriverException  # noqa: E402
from selenium.webdriver.common.action_chains import ActionChains  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.common.keys import Keys  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

CHROMIUM = ["/usr/bin/chromium", "/usr/bin/chromium-browser"]
CHROMEDRIVER = ["/usr/bin/chromedriver", "/usr/lib/chromium/chromedriver"]
# Canvas pixels inside a mask whose colour may stay within 2 levels of the frame after blending
# (only where the frame already has the object's colour): at most this share of the mask.
UNCHANGED_IN_MASK = 0.005
# Frames the job of step 9 tracks (max_frames), to keep the run short.
JOB_FRAMES = 8


class Failure(Exception):
    pass


def check(condition, message):
    if not condition:
        raise Failure(message)


def tid(name):
    return f'[data-testid="{name}"]'


class Run:
    def __init__(self, args):
        self.args = args
        self.url = args.url.rstrip("/")
        self.work = os.path.abspath(args.work)
        self.downloads = os.path.join(self.work, "downloads")
        os.makedirs(self.downloads, exist_ok=True)
        self.started = time.monotonic()
        self.step_started = self.started
        with open(os.path.join(args.clip, "prompts.json")) as f:
            self.clip = json.load(f)
        self.height, self.width = self.clip["size"]
        self.frames = self.clip["num_frames"]
        self.driver = None
        self.session = None

    # MARK: plumbing

    def step(self, name):
        now = time.monotonic()
        print(f"[{now - self.started:6.1f} s] {name}", flush=True)
        self.step_started = now

    def start_browser(self):
        binary = next((p for p in CHROMIUM if os.path.exists(p)), shutil.which("chromium"))
        driver_path = next((p for p in CHROMEDRIVER if os.path.exists(p)), shutil.which("chromedriver"))
        if not binary or not driver_path:
            print("webapp_test.py: chromium or chromedriver is not installed (apt-get install chromium chromium-driver)",
                  file=sys.stderr)
            sys.exit(2)
        options = webdriver.ChromeOptions()
        options.binary_location = binary
        for flag in ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     "--window-size=1280,860", "--no-first-run", "--disable-extensions",
                     "--disable-background-networking", "--disable-component-update", "--disable-sync"]:
            options.add_argument(flag)
        options.add_experimental_option("prefs", {"download.default_directory": self.downloads,
                                                  "download.prompt_for_download": False})
        options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
        service = webdriver.ChromeService(executable_path=driver_path)
        self.driver = webdriver.Chrome(options=options, service=service)
        self.driver.set_script_timeout(120)

    def find(self, name):
        return self.driver.find_element(By.CSS_SELECTOR, tid(name))

    def wait(self, condition, message, timeout=60):
        try:
            return WebDriverWait(self.driver, timeout, poll_frequency=0.05).until(lambda d: condition())
        except TimeoutException:
            raise Failure(f"timed out after {timeout} s: {message}")

    def api(self, path):
        headers = {"Authorization": f"Bearer {self.args.token}"} if self.args.token else {}
        with urllib.request.urlopen(urllib.request.Request(self.url + path, headers=headers), timeout=60) as response:
            return response.read()

    def api_masks(self):
        """frame -> {object id -> (rle, decoded HxW uint8)} from the session's masks.jsonl."""
        result = {}
        for line in self.api(f"/v1/sessions/{self.session}/masks?format=jsonl").decode().splitlines():
            record = json.loads(line)
            result[record["frame"]] = {o["id"]: (o["rle"], decode(o["rle"])) for o in record["objects"]}
        return result

    def error_text(self):
        box = self.find("error")
        return self.find("error-text").text if box.is_displayed() else ""

    def canvas_changes(self):
        """Pixels of the frame canvas that differ (> 2 levels in a channel) from the bare frame."""
        script = """
        const done = arguments[arguments.length - 1];
        (async () => {
          const canvas = document.querySelector('[data-testid="frame-canvas"]');
          const frame = Number(canvas.dataset.frame);
          const id = location.hash.split('/')[2];
          const token = localStorage.getItem('samtrack.token');
          const init = token ? {headers: {Authorization: `Bearer ${token}`}} : {};
          const session = await (await fetch(`/v1/sessions/${id}`, init)).json();
          const blob = await (await fetch(`/v1/media/${session.media}/frames/${frame}?format=jpeg`, init)).blob();
          const image = await createImageBitmap(blob);
          const bare = new OffscreenCanvas(canvas.width, canvas.height).getContext('2d');
          bare.drawImage(image, 0, 0, canvas.width, canvas.height);
          const a = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
          const b = bare.getImageData(0, 0, canvas.width, canvas.height).data;
          let bits = '';
          for (let i = 0; i < a.length; i += 4) {
            const d = Math.max(Math.abs(a[i] - b[i]), Math.abs(a[i + 1] - b[i + 1]), Math.abs(a[i + 2] - b[i + 2]));
            bits += d > 2 ? '1' : '0';
          }
          done({frame, width: canvas.width, height: canvas.height, bits});
        })().catch((e) => done({error: String(e)}));
        """
        result = self.driver.execute_async_script(script)
        check("error" not in result, f"canvas read-back failed: {result.get('error')}")
        changed = np.frombuffer(result["bits"].encode(), dtype=np.uint8).reshape(result["height"], result["width"]) == ord("1")
        return result["frame"], changed

    def check_overlay(self, all_masks, expected_frame, what):
        """The canvas shows frame `expected_frame` with exactly the union of its API masks over it."""
        frame, changed = self.canvas_changes()
        check(frame == expected_frame, f"{what}: the canvas shows frame {frame}, not {expected_frame}")
        masks = all_masks[frame]
        union = np.zeros((self.height, self.width), dtype=bool)
        for _, decoded in masks.values():
            union |= decoded.astype(bool)
        check(union.sum() > 0, f"{what}: the API's masks on frame {frame} are empty")
        outside = int((changed & ~union).sum())
        missed = int((union & ~changed).sum())
        check(outside == 0, f"{what}: {outside} canvas pixels outside the API's mask differ from the frame")
        check(missed <= UNCHANGED_IN_MASK * union.sum(),
              f"{what}: {missed} of {int(union.sum())} mask pixels are not drawn on the canvas")
        print(f"  {what}: frame {frame}, mask {int(union.sum())} px drawn ({missed} px blend to the frame's colour), "
              f"0 px outside", flush=True)

    def click_canvas(self, x, y, shift=False, name="frame-canvas", size=None):
        """Clicks source pixel (x, y) of a canvas whose own size is the frame's (`size`: (w, h))."""
        width, height = size or (self.width, self.height)
        canvas = self.find(name)
        self.driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", canvas)
        rect = canvas.rect
        ox = (x + 0.5) * rect["width"] / width - rect["width"] / 2
        oy = (y + 0.5) * rect["height"] / height - rect["height"] / 2
        chain = ActionChains(self.driver)
        if shift:
            chain.key_down(Keys.SHIFT)
        chain.move_to_element_with_offset(canvas, int(round(ox)), int(round(oy))).click()
        if shift:
            chain.key_up(Keys.SHIFT)
        chain.perform()

    def drag_canvas(self, x0, y0, x1, y1):
        """Presses on source pixel (x0, y0) of the frame canvas and releases on (x1, y1)."""
        canvas = self.find("frame-canvas")
        self.driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", canvas)
        rect = canvas.rect
        sx, sy = rect["width"] / self.width, rect["height"] / self.height
        ox, oy = (x0 + 0.5) * sx - rect["width"] / 2, (y0 + 0.5) * sy - rect["height"] / 2
        ActionChains(self.driver).move_to_element_with_offset(canvas, int(round(ox)), int(round(oy))).click_and_hold() \
            .move_by_offset(int(round((x1 - x0) * sx / 2)), int(round((y1 - y0) * sy / 2))) \
            .move_by_offset(int(round((x1 - x0) * sx / 2)), int(round((y1 - y0) * sy / 2))).release().perform()

    def watch_busy(self):
        """Records every text the busy indicator shows from now on (window.__busyTexts)."""
        self.driver.execute_script("""
            window.__busyTexts = [];
            const busy = document.querySelector('[data-testid="busy"]');
            new MutationObserver(() => { if (!busy.hidden) window.__busyTexts.push(busy.textContent); })
              .observe(busy, {attributes: true, childList: true, characterData: true, subtree: true});
        """)

    def wait_prompt_done(self, before):
        self.wait(lambda: self.driver.execute_script(
            "return window.__busyTexts.length > arguments[0] && document.querySelector('[data-testid=\"busy\"]').hidden",
            before), "the prompt's answer")
        check(self.error_text() == "", f"the prompt failed: {self.error_text()}")

    def go_to_frame(self, n):
        """Moves with the arrow keys from the current frame to n."""
        current = int(self.find("frame-number").get_attribute("value"))
        key = Keys.ARROW_RIGHT if n > current else Keys.ARROW_LEFT
        actions = ActionChains(self.driver)
        for _ in range(abs(n - current)):
            actions.send_keys(key)
        actions.perform()
        self.wait(lambda: self.find("frame-canvas").get_attribute("data-frame") == str(n), f"frame {n} on the canvas")

    def track(self, direction, expect_frames):
        self.find(f"track-{direction}").click()
        self.wait(lambda: not self.find("track-cancel").is_enabled(), f"tracking {direction} to finish", timeout=300)
        text = self.find("progress-text").text
        check(self.error_text() == "", f"tracking failed: {self.error_text()}")
        check(text == f"tracked {expect_frames} frame(s)", f"tracking {direction}: progress says '{text}', "
              f"expected 'tracked {expect_frames} frame(s)'")
        progress = self.find("progress")
        check(progress.get_attribute("value") == progress.get_attribute("max"), "the progress bar is not full")

    def screenshot(self, name):
        path = os.path.join(self.work, name)
        png = self.driver.get_screenshot_as_png()
        image = Image.open(io.BytesIO(png)).convert("RGB")
        image = image.resize((image.width * 3 // 4, image.height * 3 // 4), Image.LANCZOS)
        image = image.quantize(colors=128, method=Image.Quantize.MEDIANCUT)
        image.save(path, optimize=True)
        if self.args.screenshots:
            os.makedirs(self.args.screenshots, exist_ok=True)
            shutil.copy(path, os.path.join(self.args.screenshots, f"webapp_{name}"))

    def wait_download(self, name):
        path = os.path.join(self.downloads, name)
        self.wait(lambda: os.path.exists(path) and not glob.glob(os.path.join(self.downloads, "*.crdownload")),
                  f"the download {name}", timeout=60)
        with open(path, "rb") as f:
            return f.read()

    # MARK: the scenario

    def run(self):
        self.step("start chromium")
        self.start_browser()
        d = self.driver
        d.get(self.url + "/")
        self.wait(lambda: "models:" in self.find("status").text, "the app to load and reach /healthz")
        check(self.find("frame-canvas") is not None, "no frame canvas")

        if self.args.token:
            self.step("a daemon with a bearer token: the 401 is shown, then the token is entered on the jobs screen")
            self.wait(lambda: "unauthorized" in self.error_text(), "the 401 of the recent-media list in data-testid=error")
            check("Bearer token" in self.error_text(), f"the 401 does not point to the token form: {self.error_text()!r}")
            print(f"  shown: {self.error_text()!r}")
            self.find("nav-jobs").click()
            d.execute_script("document.getElementById('token-form').closest('details').open = true")
            self.find("token").send_keys(self.args.token)
            d.find_element(By.ID, "token-save").click()
            self.wait(lambda: d.execute_script("return localStorage.getItem('samtrack.token')") == self.args.token,
                      "the token to be saved")
            self.find("nav-media").click()
            d.refresh()
            self.wait(lambda: "models:" in self.find("status").text, "the app to load again")
            time.sleep(1)
            check(self.error_text() == "", f"an error is shown with the token saved: {self.error_text()}")
            # Reading the log empties it: the requests made before the token was saved must be the only errors so far.
            early = [e["message"] for e in self.driver.get_log("browser") if e["level"] == "SEVERE"]
            check(early and all("401" in m for m in early), f"console errors before the token was saved: {early}")
            print(f"  {len(early)} request(s) refused before the token was saved")

        self.step("an API error is shown: upload a file that is not media")
        bad = os.path.join(self.work, "notes.txt")
        with open(bad, "w") as f:
            f.write("this is not a video\n")
        self.find("media-upload").send_keys(bad)
        self.wait(lambda: "not_media" in self.error_text(), "the not_media error in data-testid=error")
        print(f"  shown: {self.error_text()!r}")

        self.step("upload the clip")
        self.find("media-upload").send_keys(os.path.abspath(os.path.join(self.args.clip, "video.mp4")))
        self.wait(lambda: d.current_url.split("#")[-1].startswith("/editor/"), "the editor to open")
        self.session = d.current_url.split("#")[-1].split("/")[2]
        self.wait(lambda: self.find("frame-canvas").get_attribute("width") == str(self.width), "the canvas at the clip's width")
        check(self.find("frame-canvas").get_attribute("height") == str(self.height), "canvas height")
        check(self.error_text() == "", f"an error is still shown after a good upload: {self.error_text()}")
        check(self.find("frame-slider").get_attribute("max") == str(self.frames - 1), "slider range")

        self.step("click inside object 2 on frame 0")
        self.watch_busy()
        x, y = self.clip["objects"]["2"]["points"][0]
        self.click_canvas(x, y)
        self.wait_prompt_done(0)
        texts = d.execute_script("return window.__busyTexts")
        check(texts and texts[0] == "encoding frame 0…", f"the first click on frame 0 showed {texts}, not 'encoding frame 0…'")
        self.screenshot("editor.png")
        d.find_element(By.CSS_SELECTOR, tid("show-prompts")).click()  # hide the clicks for the read-back
        masks = self.api_masks()
        check(list(masks) == [0] and list(masks[0]) == [1], f"the session's masks after one click: {masks.keys()}")
        # The app adds object 1 on the first click when none is selected.
        first = masks[0][1][1]
        check(first[y, x] == 1, "the API's mask does not contain the clicked pixel")
        self.check_overlay(masks, 0, "positive click")
        items = d.find_elements(By.CSS_SELECTOR, tid("object-item"))
        check(len(items) == 1, f"{len(items)} objects listed, expected 1")

        self.step("add a negative point")
        # Where the mask leaks out of the object (frame 0's ground truth: the leaking pixel farthest
        # from the positive click), else on the background next to it (the background pixel outside
        # the mask nearest to the click), as a user would.
        gt0 = np.array(Image.open(os.path.join(self.args.clip, "gt", "00000.png")))
        leak = first.astype(bool) & (gt0 != 2)
        if leak.sum() >= 20:
            ys, xs = np.nonzero(leak)
            pick = int(np.argmax((xs - x) ** 2 + (ys - y) ** 2))
        else:
            ys, xs = np.nonzero((gt0 == 0) & ~first.astype(bool))
            pick = int(np.argmin((xs - x) ** 2 + (ys - y) ** 2))
        nx, ny = int(xs[pick]), int(ys[pick])
        print(f"  negative point at ({nx}, {ny}) ({'in the leak' if leak.sum() >= 20 else 'on the background'})")
        before = len(d.execute_script("return window.__busyTexts"))
        self.click_canvas(nx, ny, shift=True)
        self.wait_prompt_done(before)
        texts = d.execute_script("return window.__busyTexts")
        check(texts[-1] == "decoding…", f"a second click on frame 0 showed {texts[-1]!r} (the frame is already encoded)")
        masks = self.api_masks()
        self.check_overlay(masks, 0, "with a negative point")

        self.step("add an object and drag a box around the clip's object 1")
        self.find("object-add").click()
        items = d.find_elements(By.CSS_SELECTOR, tid("object-item"))
        check([i.get_attribute("data-object-id") for i in items] == ["1", "2"], "Add object lists objects 1 and 2")
        check("selected" in items[1].get_attribute("class"), "the new object is selected")
        x0, y0, x1, y1 = self.clip["objects"]["1"]["box"]
        before = len(d.execute_script("return window.__busyTexts"))
        self.drag_canvas(x0, y0, min(x1, self.width - 1), min(y1, self.height - 1))
        self.wait_prompt_done(before)
        masks = self.api_masks()
        check(sorted(masks[0]) == [1, 2], f"objects on frame 0 after the box: {sorted(masks[0])}")
        self.check_overlay(masks, 0, "two objects (click, box)")

        self.step("track forward")
        self.track("forward", self.frames)
        self.go_to_frame(20)
        masks = self.api_masks()
        check(sorted(masks) == list(range(self.frames)), f"tracked frames: {sorted(masks)}")
        self.check_overlay(masks, 20, "frame 20 after tracking")

        self.step("play the tracked range")
        self.go_to_frame(40)
        self.find("play").click()
        self.wait(lambda: self.find("frame-canvas").get_attribute("data-frame") == str(self.frames - 1), "playback to the last frame",
                  timeout=60)
        self.wait(lambda: self.find("play").text == "▶", "playback to stop at the end of the tracked range")
        masks = self.api_masks()
        self.check_overlay(masks, self.frames - 1, "the last frame after playback")

        self.step("correct frame 30 and track again")
        d.find_element(By.CSS_SELECTOR, f'{tid("object-item")}[data-object-id="1"]').click()
        check("selected" in d.find_element(By.CSS_SELECTOR, f'{tid("object-item")}[data-object-id="1"]').get_attribute("class"),
              "clicking object 1 in the list selects it")
        self.go_to_frame(30)
        gt = np.array(Image.open(os.path.join(self.args.clip, "gt", "00030.png")))
        ys, xs = np.nonzero(gt == 2)
        check(len(xs) > 0, "object 2 is not in frame 30's ground truth")
        cy, cx = int(np.median(ys)), int(np.median(xs))
        if gt[cy, cx] != 2:
            cy, cx = int(ys[len(ys) // 2]), int(xs[len(xs) // 2])
        before = len(d.execute_script("return window.__busyTexts"))
        self.click_canvas(cx, cy)
        self.wait_prompt_done(before)
        masks = self.api_masks()
        self.check_overlay(masks, 30, "frame 30 corrected")
        self.track("forward", self.frames - 30)
        self.go_to_frame(40)
        masks = self.api_masks()
        self.check_overlay(masks, 40, "frame 40 after tracking again")

        self.step("export each format")
        reference = self.api(f"/v1/sessions/{self.session}/masks?format=jsonl")
        files = {}
        for fmt, name in [("jsonl", "video_masks.jsonl"), ("coco", "video_masks_coco.json"),
                          ("png", "video_masks_png.zip"), ("palette", "video_masks_palette.zip")]:
            self.find(f"export-{fmt}").click()
            files[fmt] = self.wait_download(name)
        check(files["jsonl"] == reference, "the downloaded masks.jsonl differs from the API's")
        self.check_exports(files, masks)

        self.step("cancel a propagation")
        self.go_to_frame(0)
        result = d.execute_async_script("""
            const done = arguments[arguments.length - 1];
            const text = document.querySelector('[data-testid="progress-text"]');
            const cancel = document.querySelector('[data-testid="track-cancel"]');
            let clicked = false;
            const observer = new MutationObserver(() => {
              const m = /: (\\d+)\\//.exec(text.textContent);
              if (!clicked && m && Number(m[1]) >= 2) { clicked = true; cancel.click(); }
              if (/^(cancelled|tracked|stopped)/.test(text.textContent)) { observer.disconnect(); done(text.textContent); }
            });
            observer.observe(text, {childList: true, characterData: true, subtree: true});
            document.querySelector('[data-testid="track-both"]').click();
        """)
        check(result.startswith("cancelled after"), f"after Cancel the progress says {result!r}")
        n = int(result.split()[2])
        check(n < self.frames + 1, f"the cancelled propagation still tracked {n} frames")
        check(self.error_text() == "", f"cancelling showed an error: {self.error_text()}")
        print(f"  {result}")

        self.step("remove object 2")
        self.go_to_frame(0)
        before = len(d.execute_script("return window.__busyTexts"))
        d.find_element(By.CSS_SELECTOR, f'{tid("object-item")}[data-object-id="2"] {tid("object-remove")}').click()
        self.wait_prompt_done(before)
        check(len(d.find_elements(By.CSS_SELECTOR, tid("object-item"))) == 1, "object 2 is still listed")
        check(self.error_text() == "", f"removing object 2 showed an error: {self.error_text()}")
        session = json.loads(self.api(f"/v1/sessions/{self.session}"))
        check(session["objects"] == [1], f"the session's objects after the removal: {session['objects']}")
        masks = self.api_masks()
        check(all(list(m) == [1] for m in masks.values()), "object 2 is still in the session's masks")
        self.check_overlay(masks, 0, "frame 0 without object 2")

        self.step("run the session as a job, then cancel it in the jobs list")
        known = {j["id"] for j in json.loads(self.api("/v1/jobs"))["jobs"]}
        self.find("session-job").click()
        self.wait(lambda: d.current_url.split("#")[-1].startswith("/jobs") or self.error_text(), "the jobs screen")
        check(self.error_text() == "", f"Run as a job showed an error: {self.error_text()}")
        job = ({j["id"] for j in json.loads(self.api("/v1/jobs"))["jobs"]} - known).pop()
        self.wait(lambda: d.execute_script(f"return !!document.querySelector('tr[data-job-id=\"{job}\"] {tid('job-cancel')}')"),
                  "the session's job in the list with a Cancel button")
        d.execute_script(f"document.querySelector('tr[data-job-id=\"{job}\"] {tid('job-cancel')}').click()")
        self.wait(lambda: json.loads(self.api(f"/v1/jobs/{job}"))["status"] == "cancelled", "the session's job to be cancelled",
                  timeout=120)
        check(self.error_text() == "", f"cancelling the session's job showed an error: {self.error_text()}")

        self.step("media screen")
        self.find("nav-media").click()
        self.wait(lambda: "video.mp4" in self.find("media-list").text, "the clip in the recent media")
        self.screenshot("media.png")

        self.step("jobs screen: start a job, see it finish, download its masks")
        self.find("nav-jobs").click()
        box = self.clip["objects"]["2"]["box"]
        spec = {"source": os.path.abspath(os.path.join(self.args.clip, "video.mp4")), "model": "default",
                "prompts": [{"object": 2, "frame": 0, "box": box}], "output": {"path": "webapp-test"}, "max_frames": JOB_FRAMES}
        d.find_element(By.CSS_SELECTOR, "details summary").click()
        area = self.find("job-spec")
        area.clear()
        area.send_keys(json.dumps(spec))
        known = {j["id"] for j in json.loads(self.api("/v1/jobs"))["jobs"]}
        self.find("job-submit").click()
        self.wait(lambda: {j["id"] for j in json.loads(self.api("/v1/jobs"))["jobs"]} - known or self.error_text(),
                  "the job to be created")
        check(self.error_text() == "", f"starting the job showed an error: {self.error_text()}")
        job = ({j["id"] for j in json.loads(self.api("/v1/jobs"))["jobs"]} - known).pop()
        status = f'tr[data-job-id="{job}"] {tid("job-status")}'
        self.wait(lambda: d.execute_script(f"const s = document.querySelector('{status}'); return s && s.textContent")
                  == "succeeded" or self.error_text(), f"job {job} to succeed in the list", timeout=300)
        check(self.error_text() == "", f"the job showed an error: {self.error_text()}")
        self.screenshot("jobs.png")
        # The list is rebuilt every second: click through the DOM, not a kept element reference.
        d.execute_script(f"document.querySelector('tr[data-job-id=\"{job}\"] {tid('job-export-jsonl')}').click()")
        lines = [json.loads(line) for line in self.wait_download(f"{job[:8]}_masks.jsonl").decode().splitlines()]
        check([r["frame"] for r in lines] == list(range(JOB_FRAMES)), f"the job's masks.jsonl frames: {[r['frame'] for r in lines]}")
        check(all(r["objects"] and r["objects"][0]["id"] == 2 for r in lines), "the job's masks name object 2")

        self.step("jobs screen: a running job's newest frame, a click on it as a live prompt, Cancel")
        spec = {"source": os.path.abspath(self.args.long_source), "model": "default",
                "prompts": [{"object": 1, "frame": 0, "box": [300, 150, 520, 500]}], "output": {"path": "webapp-live"}}
        known = {j["id"] for j in json.loads(self.api("/v1/jobs"))["jobs"]}
        area = self.find("job-spec")
        area.clear()
        area.send_keys(json.dumps(spec))
        self.find("job-submit").click()
        self.wait(lambda: {j["id"] for j in json.loads(self.api("/v1/jobs"))["jobs"]} - known or self.error_text(),
                  "the long job to be created")
        check(self.error_text() == "", f"starting the long job showed an error: {self.error_text()}")
        job = ({j["id"] for j in json.loads(self.api("/v1/jobs"))["jobs"]} - known).pop()
        view = lambda: json.loads(self.api(f"/v1/jobs/{job}"))  # noqa: E731
        self.wait(lambda: view()["frames_done"] >= 1, "the long job's first frame", timeout=300)
        check(view()["status"] == "running", f"the long job is {view()['status']} after its first frame")
        self.wait(lambda: d.execute_script(f"return !!document.querySelector('tr[data-job-id=\"{job}\"] {tid('job-live')}')"),
                  "the Live button")
        d.execute_script(f"document.querySelector('tr[data-job-id=\"{job}\"] {tid('job-live')}').click()")
        self.wait(lambda: self.find("live-canvas").get_attribute("width") == "960", "the newest frame in the live view")
        self.wait(lambda: int(d.find_element(By.ID, "live").get_attribute("data-frames-received") or 0) >= 1,
                  "a frame event (with its masks) from the job's event stream")
        self.screenshot("jobs_live.png")
        live_object = self.find("live-object")
        live_object.clear()
        live_object.send_keys("3")
        self.click_canvas(480, 270, name="live-canvas", size=(960, 540))
        self.wait(lambda: "object 3 added at frame" in d.find_element(By.ID, "live-title").text or self.error_text(),
                  "the live prompt's answer")
        check(self.error_text() == "", f"the live prompt showed an error: {self.error_text()}")
        print(f"  {d.find_element(By.ID, 'live-title').text}")
        d.execute_script(f"document.querySelector('tr[data-job-id=\"{job}\"] {tid('job-cancel')}').click()")
        self.wait(lambda: view()["status"] == "cancelled", "the long job to be cancelled", timeout=120)
        self.wait(lambda: d.execute_script(f"const s = document.querySelector('tr[data-job-id=\"{job}\"] {tid('job-status')}'); "
                                           "return s && s.textContent") == "cancelled", "the list to show it cancelled")
        applied = view()["applied_prompts"]
        check(any(a["object"] == 3 and a.get("points") and abs(a["points"][0][0] - 480) <= 2 and abs(a["points"][0][1] - 270) <= 2
                  for a in applied), f"the live click is not among the job's applied prompts: {applied}")
        check(d.find_element(By.ID, "live").get_attribute("hidden") is not None, "the live view stays open after the job ended")

        self.step("browser console")
        self.check_console()
        self.step("done")
        print(f"all browser checks passed in {time.monotonic() - self.started:.1f} s")

    def check_exports(self, files, _):
        records = [json.loads(line) for line in files["jsonl"].decode().splitlines()]
        check([r["frame"] for r in records] == list(range(self.frames)), "masks.jsonl frames")
        expected = {}  # (frame, id) -> decoded mask
        for r in records:
            for o in r["objects"]:
                m = decode(o["rle"])
                check(m.shape == (self.height, self.width), "RLE size")
                check(int(mask_util.area(as_coco(o["rle"]))) == int(m.sum()), "pycocotools area vs decoded mask")
                expected[(r["frame"], o["id"])] = m
        coco_path = os.path.join(self.work, "masks_coco.json")
        with open(coco_path, "wb") as f:
            f.write(files["coco"])
        coco = COCO(coco_path)
        check(len(coco.getImgIds()) == self.frames, f"COCO images: {len(coco.getImgIds())}")
        for ann in coco.loadAnns(coco.getAnnIds()):
            frame = coco.imgs[ann["image_id"]]["frame_index"]
            check(np.array_equal(coco.annToMask(ann), expected[(frame, ann["track_id"])]),
                  f"COCO mask of object {ann['track_id']} on frame {frame} differs from masks.jsonl")
        check(len(coco.getAnnIds()) == len(expected), "COCO annotation count")
        with zipfile.ZipFile(io.BytesIO(files["png"])) as z:
            names = z.namelist()
            check(len(names) == len(expected), f"PNG zip entries: {len(names)} for {len(expected)} masks")
            for (frame, obj), m in expected.items():
                image = np.array(Image.open(io.BytesIO(z.read(f"{obj}/{frame:05d}.png"))))
                check(np.array_equal(image > 0, m.astype(bool)), f"PNG {obj}/{frame:05d}.png differs from the mask")
        with zipfile.ZipFile(io.BytesIO(files["palette"])) as z:
            for frame in range(self.frames):
                image = Image.open(io.BytesIO(z.read(f"{frame:05d}.png")))
                check(image.mode == "P", "palette PNG mode")
                ids = np.array(image)
                on_frame = {obj: m.astype(bool) for (f, obj), m in expected.items() if f == frame}
                cover = sum(m.astype(np.int32) for m in on_frame.values()) if on_frame else np.zeros(ids.shape, np.int32)
                check(np.all(ids[cover == 0] == 0), f"palette {frame:05d}.png: ids where no mask is")
                for obj, m in on_frame.items():
                    # Where masks overlap the palette holds one id (the highest score's); elsewhere exactly the mask.
                    alone = m & (cover == 1)
                    check(np.all(ids[alone] == obj), f"palette {frame:05d}.png: object {obj} differs")
                    check(np.all(np.isin(ids[m], list(on_frame))), f"palette {frame:05d}.png: a foreign id inside object {obj}")
        print(f"  {len(records)} frames, {len(expected)} masks: masks.jsonl = API, COCO, PNG zip and palette zip agree")

    def check_console(self):
        entries = self.driver.get_log("browser")
        errors = [e for e in entries if e["level"] == "SEVERE"]
        # Chromium logs every 4xx/5xx response; the one step 1 provoked (POST /v1/media, 422) is expected
        # (step 0 checked and emptied the log of its 401s).
        unexpected = [e for e in errors if not ("/v1/media?name=notes.txt" in e["message"] and "422" in e["message"])]
        for e in entries:
            if e["level"] in ("SEVERE", "WARNING"):
                print(f"  console {e['level']}: {e['message']}")
        check(not unexpected, f"console errors: {[e['message'] for e in unexpected]}")


def as_coco(rle):
    counts = rle["counts"]
    return {"size": rle["size"], "counts": counts.encode() if isinstance(counts, str) else counts}


def decode(rle):
    return mask_util.decode(as_coco(rle))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--url", required=True)
    parser.add_argument("--clip", required=True)
    parser.add_argument("--work", required=True)
    parser.add_argument("--long-source", required=True, help="a longer video the daemon allows (the live-view job)")
    parser.add_argument("--token", help="the daemon's bearer token (the scenario starts by entering it in the app)")
    parser.add_argument("--screenshots")
    args = parser.parse_args()
    os.makedirs(args.work, exist_ok=True)
    run = Run(args)
    try:
        run.run()
        return 0
    except Failure as failure:
        print(f"FAILED: {failure}", file=sys.stderr)
        if run.driver:
            try:
                run.driver.save_screenshot(os.path.join(run.work, "failure.png"))
                for e in run.driver.get_log("browser"):
                    print(f"  console {e['level']}: {e['message']}", file=sys.stderr)
            except WebDriverException:
                pass
        return 1
    except WebDriverException as error:
        print(f"webapp_test.py: the browser failed: {error}", file=sys.stderr)
        return 1
    finally:
        if run.driver:
            run.driver.quit()


if __name__ == "__main__":
    sys.exit(main())
