#!/usr/bin/env python3
"""Throughput of samtrackd nodes sharing one PostgreSQL database (issue 29), and claim latency.

Starts a private PostgreSQL server (Debian's packages, /usr/lib/postgresql/*/bin; default
durability settings: fsync and synchronous_commit on) in a temporary directory on loopback, then
for each node count N: a fresh database, N samtrackd processes on it (each one job at a time with
one thread: max_running_jobs 1, threads_per_job 1), JOBS jobs submitted round-robin through the
nodes, and the wall time from the first submission until every job has succeeded -> jobs per
minute. Last, claim latency: 3 nodes, 200 one-frame jobs queued at once; the nodes' own
`samtrackd_claim_seconds` histograms (the claim transaction, FOR UPDATE SKIP LOCKED plus the
lease) give the mean and the bucket holding the 95th percentile.

Usage:
  Tools/bench/many_nodes.py --daemon .build-release/release/samtrackd \
      [--model Fixtures/models/synth.pt] [--video ../shared/fixtures/bedroom.mp4] \
      [--jobs 24] [--frames 30] [--nodes 1,2,3] [--queued 200]
"""

import argparse
import glob
import json
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Postgres:
    """A private server; as root it runs as `postgres` (or `nobody`)."""

    def __init__(self):
        bins = sorted(glob.glob("/usr/lib/postgresql/*/bin/postgres"), key=lambda p: int(p.split("/")[4]))
        if not bins:
            sys.exit("PostgreSQL's server is not installed (apt-get install postgresql)")
        self.bin = os.path.dirname(bins[-1])
        self.root = tempfile.mkdtemp(prefix="samtrack-bench-pg-")
        self.prefix = []
        if os.geteuid() == 0:
            account = "postgres" if self._exists("postgres") else "nobody"
            entry = pwd.getpwnam(account)
            os.chown(self.root, entry.pw_uid, entry.pw_gid)
            self.prefix = ["/usr/sbin/runuser", "-u", account, "--"]
        self.port = free_port()
        subprocess.run(self.prefix + [f"{self.bin}/initdb", "-D", f"{self.root}/data", "-U", "samtrack", "--auth=trust",
                                      "-E", "UTF8", "--no-instructions"], check=True, stdout=subprocess.DEVNULL)
        self.log = open(f"{self.root}/server.log", "a")
        self.process = subprocess.Popen(self.prefix + [f"{self.bin}/postgres", "-D", f"{self.root}/data", "-p", str(self.port),
                                                       "-k", self.root, "-c", "listen_addresses=127.0.0.1",
                                                       "-c", "max_connections=200"],
                                        stdout=self.log, stderr=self.log, cwd=self.root)
        for _ in range(300):
            if subprocess.run([f"{self.bin}/pg_isready", "-h", "127.0.0.1", "-p", str(self.port)],
                              stdout=subprocess.DEVNULL).returncode == 0:
                return
            time.sleep(0.1)
        sys.exit("PostgreSQL did not start")

    @staticmethod
    def _exists(name):
        try:
            pwd.getpwnam(name)
            return True
        except KeyError:
            return False

    def create(self, name):
        subprocess.run([f"{self.bin}/createdb", "-h", "127.0.0.1", "-p", str(self.port), "-U", "samtrack", name], check=True)
        return f"postgresql://samtrack@127.0.0.1:{self.port}/{name}"

    def stop(self):
        # The postmaster itself (runuser does not pass signals on): fast shutdown.
        with open(f"{self.root}/data/postmaster.pid") as f:
            os.kill(int(f.readline()), signal.SIGINT)
        self.process.wait(timeout=60)
        shutil.rmtree(self.root, ignore_errors=True)


class Node:
    def __init__(self, daemon, scratch, name, store, model, video_root):
        data = f"{scratch}/{name}/data"
        os.makedirs(data, exist_ok=True)
        config = {
            "models": {"default": model}, "sources": {"roots": [video_root]},
            "output_root": f"{scratch}/outputs", "media_root": f"{scratch}/media",
            "limits": {"max_running_jobs": 1, "max_queued_jobs": 1000}, "threads_per_job": 1,
            "store": {"postgres": store}, "node": {"name": name}, "shared_roots": [scratch, video_root],
        }
        path = f"{scratch}/{name}/config.json"
        with open(path, "w") as f:
            json.dump(config, f)
        self.log = open(f"{scratch}/{name}/stderr.log", "a")
        self.process = subprocess.Popen([daemon, "--listen", "127.0.0.1:0", "--data", data, "--config", path],
                                        stdout=subprocess.PIPE, stderr=self.log, text=True)
        self.port = None
        deadline = time.time() + 120
        while time.time() < deadline:
            line = self.process.stdout.readline()
            if not line:
                break
            m = re.search(r"listening on \S+:(\d+)", line)
            if m:
                self.port = int(m.group(1))
                break
        if self.port is None:
            sys.exit(f"samtrackd {name} did not start (see {scratch}/{name}/stderr.log)")
        threading.Thread(target=self.process.stdout.read, daemon=True).start()

    def request(self, method, path, body=None):
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(f"http://127.0.0.1:{self.port}{path}", data=data, method=method,
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=60) as reply:
            return reply.read().decode()

    def stop(self):
        self.process.send_signal(signal.SIGTERM)
        self.process.wait(timeout=120)


def job(video, path, frames):
    return {"source": video, "model": "default", "max_frames": frames, "output": {"path": path},
            "prompts": [{"object": 1, "box": [300, 150, 520, 500]}, {"object": 2, "points": [[700, 300, 1]]}]}


def wait_all(node, count, timeout):
    deadline = time.time() + timeout
    while time.time() < deadline:
        jobs = json.loads(node.request("GET", f"/v1/jobs?limit={count + 10}"))["jobs"]
        ended = [j for j in jobs if j["status"] not in ("queued", "running")]
        if len(ended) == count:
            bad = [j for j in ended if j["status"] != "succeeded"]
            if bad:
                sys.exit(f"{len(bad)} jobs did not succeed: {bad[0]}")
            return
        time.sleep(0.2)
    sys.exit(f"the jobs did not end within {timeout} s")


def histogram(text, name):
    buckets, total, count = {}, 0.0, 0
    for line in text.splitlines():
        m = re.match(rf'{name}_bucket{{le="([^"]+)"}} (\S+)', line)
        if m:
            buckets[float("inf") if m.group(1) == "+Inf" else float(m.group(1))] = float(m.group(2))
        elif line.startswith(f"{name}_sum"):
            total = float(line.split()[-1])
        elif line.startswith(f"{name}_count"):
            count = int(float(line.split()[-1]))
    return buckets, total, count


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--daemon", required=True)
    parser.add_argument("--model", default=f"{REPO}/Fixtures/models/synth.pt")
    parser.add_argument("--video", default=os.path.join(os.path.dirname(REPO), "shared/fixtures/bedroom.mp4"))
    parser.add_argument("--jobs", type=int, default=24)
    parser.add_argument("--frames", type=int, default=30)
    parser.add_argument("--nodes", default="1,2,3")
    parser.add_argument("--queued", type=int, default=200)
    args = parser.parse_args()
    video = os.path.realpath(args.video)
    postgres = Postgres()
    try:
        print(f"cpu: {open('/proc/cpuinfo').read().split('model name')[1].split(':')[1].splitlines()[0].strip()}, "
              f"{os.cpu_count()} cores; load average at start {os.getloadavg()}")
        for n in [int(x) for x in args.nodes.split(",")]:
            scratch = tempfile.mkdtemp(prefix=f"samtrack-bench-{n}nodes-")
            store = postgres.create(f"bench_{n}")
            nodes = [Node(args.daemon, scratch, f"n{i}", store, args.model, os.path.dirname(video)) for i in range(n)]
            started = time.time()
            for i in range(args.jobs):
                nodes[i % n].request("POST", "/v1/jobs", job(video, f"j{i}", args.frames))
            wait_all(nodes[0], args.jobs, 3600)
            seconds = time.time() - started
            print(f"{n} node(s): {args.jobs} jobs x {args.frames} frames in {seconds:.1f} s = "
                  f"{args.jobs * 60 / seconds:.1f} jobs/min ({args.jobs * args.frames / seconds:.1f} frames/s); "
                  f"load average {os.getloadavg()[0]:.1f}")
            for node in nodes:
                node.stop()
            shutil.rmtree(scratch, ignore_errors=True)

        scratch = tempfile.mkdtemp(prefix="samtrack-bench-claims-")
        store = postgres.create("bench_claims")
        nodes = [Node(args.daemon, scratch, f"n{i}", store, args.model, os.path.dirname(video)) for i in range(3)]
        # The nodes claim while the queue fills (submissions are faster than jobs end): the depth
        # reached is reported with the latency.
        for i in range(args.queued):
            nodes[0].request("POST", "/v1/jobs", job(video, f"c{i}", 1))
        depth = json.loads(nodes[0].request("GET", f"/v1/jobs?status=queued&limit={args.queued}"))["jobs"]
        wait_all(nodes[0], args.queued, 3600)
        buckets, total, count = {}, 0.0, 0
        for node in nodes:
            b, t, c = histogram(node.request("GET", "/metrics"), "samtrackd_claim_seconds")
            for k, v in b.items():
                buckets[k] = buckets.get(k, 0) + v
            total += t
            count += c
        p95 = next((k for k in sorted(buckets) if buckets[k] >= 0.95 * count), None)
        print(f"claims: {count} jobs claimed by 3 nodes from a queue of {args.queued} one-frame jobs: "
              f"mean {1000 * total / max(count, 1):.1f} ms, 95th percentile <= {p95 * 1000 if p95 else float('nan'):.1f} ms "
              f"(histogram bucket); {len(depth)} still queued when the last was submitted")
        for node in nodes:
            node.stop()
        shutil.rmtree(scratch, ignore_errors=True)
    finally:
        postgres.stop()


if __name__ == "__main__":
    main()
