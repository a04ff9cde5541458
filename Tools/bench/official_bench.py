"""Times the official PyTorch SAM2VideoPredictor per stage on the same frames, model and thread
count as `samtrack bench tracker`, for Tools/bench/compare.sh.

usage: official_bench.py CHECKPOINT_OR_CONFIG INPUT FRAMES OBJECTS THREADS
CHECKPOINT_OR_CONFIG is an official .pt file, or "tiny" for the official tiny config with random
weights (Tools/reference/micro_models.randomize, seed 1)."""
import os
import resource
import subprocess
import sys
import time

import numpy as np
import torch

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "reference"))
import micro_models  # noqa: E402

import sam2.sam2_video_predictor as video_module
from sam2.build_sam import build_sam2_video_predictor


def main():
    source, video, frames, objects, threads = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
    torch.set_num_threads(threads)
    config = "configs/sam2.1/sam2.1_hiera_t.yaml"
    model = build_sam2_video_predictor(config, ckpt_path=None if source == "tiny" else source, device="cpu")
    if source == "tiny":
        micro_models.randomize(model, 1)
    model.fill_hole_area = 0
    size = model.image_size
    probe = subprocess.run(["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries", "stream=width,height",
                            "-of", "csv=p=0", video], check=True, capture_output=True, text=True).stdout.strip().split(",")
    width, height = int(probe[0]), int(probe[1])
    raw = subprocess.run(["ffmpeg", "-v", "error", "-stream_loop", "-1", "-i", video, "-frames:v", str(frames), "-vf",
                          f"scale={size}:{size}:flags=bicubic", "-pix_fmt", "rgb24", "-f", "rawvideo", "-"],
                         check=True, capture_output=True).stdout
    x = torch.from_numpy(np.frombuffer(raw, np.uint8).reshape(frames, size, size, 3).astype(np.float32) / 255).permute(0, 3, 1, 2)
    x = (x - torch.tensor([0.485, 0.456, 0.406])[None, :, None, None]) / torch.tensor([0.229, 0.224, 0.225])[None, :, None, None]
    video_module.load_video_frames = lambda **kw: (x, height, width)

    totals = {"encoder": 0.0, "memory attention": 0.0, "decoder": 0.0, "memory encoder": 0.0}

    def timed(name, fn):
        def wrapper(*args, **kwargs):
            start = time.perf_counter()
            out = fn(*args, **kwargs)
            totals[name] += time.perf_counter() - start
            return out
        return wrapper
    model.forward_image = timed("encoder", model.forward_image)
    model.memory_attention.forward = timed("memory attention", model.memory_attention.forward)
    model._forward_sam_heads = timed("decoder", model._forward_sam_heads)
    model._encode_new_memory = timed("memory encoder", model._encode_new_memory)

    with torch.inference_mode():
        state = model.init_state(video_path="(preloaded)")
        for i in range(objects):
            x0 = width * i / objects
            model.add_new_points_or_box(state, 0, i + 1, box=[x0 + 1, height * 0.25, x0 + width / objects - 1, height * 0.75])
        seen = 0
        start = None
        for frame, _, _ in model.propagate_in_video(state):
            seen += 1
            if seen == 1:  # steady state from frame 2 on, as samtrack bench reports
                start = time.perf_counter()
                for k in totals:
                    totals[k] = 0.0
    tracked = max(seen - 1, 1)
    elapsed = time.perf_counter() - start
    print(f"official per tracked frame (frames 2..{seen}, mean), torch {torch.__version__}, threads {threads}:")
    for name, value in totals.items():
        print(f"  {name:<16} {value * 1000 / tracked:9.1f} ms")
    print(f"  total            {elapsed * 1000 / tracked:9.1f} ms")
    print(f"peak resident memory: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.1f} MiB")


if __name__ == "__main__":
    main()
