#!/usr/bin/env python3
"""Interactive latency of samtrackd (issue 25, item 4), measured over HTTP on loopback:

  - prompt -> masks on a frame whose features are cached (a second click), p50 / p95;
  - the first click on a new frame (the image encoder runs);
  - propagation frames/s of the default model;
  - the same with a batch job tracking in the background (job workers run at nice 10, sessions
    at normal priority).

Starts its own samtrackd (release build) with the models given, on bedroom.mp4 from
../shared/fixtures, and prints a table (and --json). Only the standard library is used.

  Tools/bench/session_latency.py --click-model /tmp/tiny.pt [--clicks 40] [--frames 60]

A random-weight SAM 2.1 tiny checkpoint (1024 px; weights do not change the timings) is made with
  Tools/reference/venv.sh python -c "import sys; sys.path.insert(0, 'Tools/reference');
      import make_full_parity as m; m.tiny_model('/tmp')"
"""
import argparse
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
MEDIA = os.path.abspath(os.path.join(ROOT, "..", "shared", "fixtures"))


def request(base, method, path, body=None, stream=False):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(base + path, data=data, method=method,
                                 headers={"Content-Type": "application/json"} if data else {})
    response = urllib.request.urlopen(req, timeout=600)
    if stream:
        return response
    raw = response.read()
    return json.loads(raw) if raw else None


def percentile(values, p):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def clicks(base, session, frame, count, width, height):
    """`count` clicks on `frame` (features cached after the first); returns their seconds."""
    times = []
    for i in range(count):
        x = width * (0.3 + 0.4 * ((i * 37) % 100) / 100)
        y = height * (0.3 + 0.4 * ((i * 53) % 100) / 100)
        body = {"frame": frame, "object": 1 + i % 3, "points": [[x, y, 1]]}
        start = time.perf_counter()
        request(base, "POST", f"/v1/sessions/{session}/prompts", body)
        times.append(time.perf_counter() - start)
    return times


def first_clicks(base, session, frames, width, height):
    times = []
    for frame in frames:
        start = time.perf_counter()
        request(base, "POST", f"/v1/sessions/{session}/prompts",
                {"frame": frame, "object": 9, "points": [[width / 2, height / 2, 1]]})
        times.append(time.perf_counter() - start)
    return times


def propagation_fps(base, session, start, frames, width, height):
    request(base, "POST", f"/v1/sessions/{session}/reset")
    request(base, "POST", f"/v1/sessions/{session}/prompts",
            {"frame": start, "object": 1, "box": [width * 0.3, height * 0.25, width * 0.55, height * 0.9]})
    response = request(base, "POST", f"/v1/sessions/{session}/propagate",
                       {"from": start, "to": start + frames - 1, "direction": "forward"}, stream=True)
    arrivals = []
    for line in response:
        if line.startswith(b"event: frame"):
            arrivals.append(time.perf_counter())
    # Frames per second after the first (which includes committing the prompt).
    return (len(arrivals) - 1) / (arrivals[-1] - arrivals[0]) if len(arrivals) > 1 else 0.0


def measure(base, args, click_session, default_session, width, height, label, offset):
    """One row; `offset` moves every frame used, so that no row finds another's features cached."""
    cached = clicks(base, click_session, 40 + offset, args.clicks, width, height)[1:]
    first = first_clicks(base, click_session, [50 + offset, 60 + offset, 70 + offset], width, height)
    fps = propagation_fps(base, default_session, offset, args.frames, width, height)
    return {"label": label, "cached_p50_ms": 1000 * percentile(cached, 50), "cached_p95_ms": 1000 * percentile(cached, 95),
            "first_click_ms": 1000 * statistics.median(first), "propagation_fps": fps}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--click-model", required=True, help="checkpoint for the click latency (e.g. a random tiny, 1024 px)")
    ap.add_argument("--default-model", default=os.path.join(ROOT, "Fixtures", "models", "synth.pt"))
    ap.add_argument("--daemon", default=os.path.join(ROOT, ".build", "release", "samtrackd"))
    ap.add_argument("--clicks", type=int, default=40)
    ap.add_argument("--frames", type=int, default=60)
    ap.add_argument("--json", help="also write the figures here")
    args = ap.parse_args()

    work = tempfile.mkdtemp(prefix="samtrackd-latency-")
    config = {"models": {"click": args.click_model, "default": args.default_model},
              "sources": {"roots": [MEDIA]}, "limits": {"max_running_jobs": 1},
              "threads_per_job": os.cpu_count(), "sessions": {"threads": os.cpu_count()}}
    with open(os.path.join(work, "config.json"), "w") as f:
        json.dump(config, f)
    daemon = subprocess.Popen([args.daemon, "--listen", "127.0.0.1:0", "--data", os.path.join(work, "data"),
                               "--config", os.path.join(work, "config.json"), "--log-level", "warning"],
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        port = int(re.search(r":(\d+)$", daemon.stdout.readline().strip()).group(1))
        base = f"http://127.0.0.1:{port}"
        media = request(base, "POST", "/v1/media", {"source": os.path.join(MEDIA, "bedroom.mp4")})
        width, height = media["width"], media["height"]
        click_session = request(base, "POST", "/v1/sessions", {"media": media["id"], "model": "click"})["id"]
        default_session = request(base, "POST", "/v1/sessions", {"media": media["id"], "model": "default"})["id"]
        rows = [measure(base, args, click_session, default_session, width, height, "idle", 0)]
        job = request(base, "POST", "/v1/jobs", {"source": os.path.join(MEDIA, "cups.mp4"), "model": "click",
                                                  "prompts": [{"object": 1, "box": [100, 100, 400, 400]}]})
        time.sleep(3)
        before = request(base, "GET", f"/v1/jobs/{job['id']}")
        rows.append(measure(base, args, click_session, default_session, width, height, "batch job running", 100))
        status = request(base, "GET", f"/v1/jobs/{job['id']}")
        status["frames_done"] = (status.get("frames_done") or 0) - (before.get("frames_done") or 0)
        request(base, "DELETE", f"/v1/jobs/{job['id']}")
    finally:
        daemon.terminate()
        daemon.wait(timeout=120)
    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), platform.machine())
    print(f"CPU {cpu}, {os.cpu_count()} cores; click model {args.click_model}; default model {args.default_model}; "
          f"bedroom.mp4 {width}x{height}; {args.clicks} clicks; the batch job (tiny 1024 px, nice 10) tracked {status['frames_done']} frames during the second row")
    print("| | cached click p50 | cached click p95 | first click on a new frame | propagation (default model) |")
    print("| --- | --- | --- | --- | --- |")
    for r in rows:
        print(f"| {r['label']} | {r['cached_p50_ms']:.0f} ms | {r['cached_p95_ms']:.0f} ms | {r['first_click_ms']:.0f} ms | "
              f"{r['propagation_fps']:.1f} frames/s |")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"cpu": cpu, "rows": rows}, f, indent=2)


if __name__ == "__main__":
    main()
