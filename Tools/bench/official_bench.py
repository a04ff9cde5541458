"""Times the official PyTorch SAM2VideoPredictor per stage on the same frames, model and thread
count as `samtrack bench tracker`, for Tools/bench/compare.sh.

usage: official_bench.py MODEL INPUT FRAMES OBJECTS THREADS [--image-size N] [--bf16] [--memory-at LIST]
MODEL is "tiny" (the official tiny config with random weights: Tools/reference/micro_models.randomize,
seed 1), or a checkpoint: an official sam2.1_hiera_t .pt, or a project model with its <name>.json
sidecar beside it (e.g. Fixtures/models/synth.pt, built from Tools/reference/micro_models.py).
--image-size builds the tiny config at another input size (RoPE grid image_size / 16).
--bf16 runs under torch.autocast(cpu, bfloat16), the official demo's reduced-precision mode.
Prints per-stage ms, per-frame latency median and p99, and resident memory at --memory-at frames."""
import argparse
import os
import resource
import subprocess
import sys
import time

import torch

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "reference"))
import micro_models  # noqa: E402
from make_video_fixtures import decode_frames, normalise  # noqa: E402

import sam2.sam2_video_predictor as video_module  # noqa: E402
from sam2.build_sam import build_sam2_video_predictor  # noqa: E402


def resident_mib():
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def build(source, image_size):
    config = "configs/sam2.1/sam2.1_hiera_t.yaml"
    if source == "tiny":
        overrides = []
        if image_size:
            grid = image_size // 16
            overrides = [f"++model.image_size={image_size}",
                         f"++model.memory_attention.layer.self_attention.feat_sizes=[{grid},{grid}]",
                         f"++model.memory_attention.layer.cross_attention.feat_sizes=[{grid},{grid}]"]
        model = build_sam2_video_predictor(config, ckpt_path=None, device="cpu", hydra_overrides_extra=overrides)
        micro_models.randomize(model, 1)
        return model
    if image_size:
        raise SystemExit("--image-size applies to the tiny config only")
    if os.path.exists(os.path.splitext(source)[0] + ".json"):
        return micro_models.load_trained(source)
    return build_sam2_video_predictor(config, ckpt_path=source, device="cpu")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("model")
    ap.add_argument("input")
    ap.add_argument("frames", type=int)
    ap.add_argument("objects", type=int)
    ap.add_argument("threads", type=int)
    ap.add_argument("--image-size", type=int)
    ap.add_argument("--bf16", action="store_true")
    ap.add_argument("--memory-at", default="10,60,100,1000")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    checkpoints = {int(x) for x in args.memory_at.split(",") if x}
    model = build(args.model, args.image_size)
    model.fill_hole_area = 0
    size = model.image_size
    probe = subprocess.run(["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries", "stream=width,height",
                            "-of", "csv=p=0", args.input], check=True, capture_output=True, text=True).stdout
    width, height = (int(v) for v in probe.strip().split(",")[:2])
    # The frames samtrack sees (ffmpeg's bicubic scale), preloaded as the predictor does.
    x = normalise(decode_frames(size, args.frames, source=args.input, loop=True)[1])
    video_module.load_video_frames = lambda **kw: (x, height, width)

    totals = {"encoder": 0.0, "memory attention": 0.0, "decoder": 0.0, "memory encoder": 0.0}

    def timed(name, fn):
        def wrapper(*a, **kw):
            start = time.perf_counter()
            out = fn(*a, **kw)
            totals[name] += time.perf_counter() - start
            return out
        return wrapper
    model.forward_image = timed("encoder", model.forward_image)
    model.memory_attention.forward = timed("memory attention", model.memory_attention.forward)
    model._forward_sam_heads = timed("decoder", model._forward_sam_heads)
    model._encode_new_memory = timed("memory encoder", model._encode_new_memory)

    latencies = []
    autocast = torch.autocast("cpu", dtype=torch.bfloat16) if args.bf16 else torch.autocast("cpu", enabled=False)
    with torch.inference_mode(), autocast:
        state = model.init_state(video_path="(preloaded)")
        for i in range(args.objects):
            x0 = width * i / args.objects
            model.add_new_points_or_box(state, 0, i + 1, box=[x0 + 1, height * 0.25, x0 + width / args.objects - 1,
                                                            height * 0.75])
        seen = 0
        start = last = None
        for _ in model.propagate_in_video(state):
            now = time.perf_counter()
            seen += 1
            if seen == 1:  # steady state from frame 2 on, as samtrack bench reports
                start = now
                for k in totals:
                    totals[k] = 0.0
            else:
                latencies.append(now - last)
            last = now
            if seen in checkpoints:
                print(f"frame {seen:5d}: RSS {resident_mib():.1f} MiB", flush=True)
    tracked = max(seen - 1, 1)
    elapsed = time.perf_counter() - start
    mode = "bf16 autocast" if args.bf16 else "fp32"
    print(f"official per tracked frame (frames 2..{seen}, mean), torch {torch.__version__}, threads {args.threads}, "
          f"{size} px, {args.objects} object(s), {mode}:")
    for name, value in totals.items():
        print(f"  {name:<16} {value * 1000 / tracked:9.1f} ms")
    print(f"  total            {elapsed * 1000 / tracked:9.1f} ms")
    if latencies:
        ordered = sorted(latencies)
        median, p99 = ordered[len(ordered) // 2], ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
        print(f"frame latency: median {median * 1000:.1f} ms, p99 {p99 * 1000:.1f} ms (p99/median {p99 / median:.2f})")
    print(f"resident memory: {resident_mib():.1f} MiB, peak {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.1f} MiB")


if __name__ == "__main__":
    main()
