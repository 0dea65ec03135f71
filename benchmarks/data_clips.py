"""Clips/s delivered to the trainer, decoding with PyAV vs. reading the decode cache.

Writes synthetic clips shaped like the real datasets (textured, moving, H.264) into a temporary
Hugging Face dataset, then times full passes of a DataLoader over `get_source(...)`:

  SSv2-like:     426x240, 12 fps, 4 s  (48 frames)
  Kinetics-like: 340x256, 25 fps, 10 s (250 frames)

    nice -n 10 python benchmarks/data_clips.py --clips 32 --workers 0 2

Numbers depend on the machine's free cores; docs/data.md records a run and its conditions.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

import numpy as np

PROFILES = {"ssv2-like": (426, 240, 12, 48), "kinetics-like": (340, 256, 25, 250)}


def synth_clip(width: int, height: int, fps: int, n_frames: int, seed: int) -> bytes:
    import io

    import av

    rng = np.random.default_rng(seed)
    texture = rng.integers(0, 256, (height * 2, width * 2, 3), dtype=np.uint8)
    buf = io.BytesIO()
    with av.open(buf, "w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.options = {"preset": "ultrafast", "crf": "23"}
        for i in range(n_frames):
            dy, dx = (3 * i) % height, (5 * i) % width  # the texture pans: real motion for the codec
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(texture[dy : dy + height, dx : dx + width]), format="rgb24")
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return buf.getvalue()


def make_dataset(root: Path, name: str, profile: str, n_clips: int) -> None:
    import datasets

    w, h, fps, n = PROFILES[profile]
    rows = [{"video": synth_clip(w, h, fps, n, seed=i), "label": i % 5} for i in range(n_clips)]
    features = datasets.Features({"video": datasets.Value("binary"), "label": datasets.ClassLabel(num_classes=5)})
    datasets.Dataset.from_list(rows, features=features).save_to_disk(str(root / name / "train" / "shard-00000"))


def clips_per_s(dataset, workers: int, batch_size: int) -> float:  # noqa: ANN001
    import torch.utils.data

    loader = torch.utils.data.DataLoader(dataset, batch_size=batch_size, num_workers=workers, shuffle=False)
    t0 = time.perf_counter()
    n = sum(len(batch["label"]) for batch in loader)
    return n / (time.perf_counter() - t0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=32, help="clips per profile")
    parser.add_argument("--frames", type=int, default=16, help="T frames sampled per clip")
    parser.add_argument("--workers", type=int, nargs="+", default=[0, 2], help="DataLoader worker counts to time")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--profiles", nargs="+", default=list(PROFILES), choices=list(PROFILES))
    parser.add_argument("--cache-workers", type=int, default=0, help="decoding processes for the cache build")
    parser.add_argument("--out", default=None, help="also write the results as JSON here")
    args = parser.parse_args()

    import torch

    from nsca.data.sources import get_source

    torch.set_num_threads(1)
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        for profile in args.profiles:
            name = "ssv2" if profile.startswith("ssv2") else "kinetics400"
            make_dataset(root, name, profile, args.clips)
            plain = get_source(name, root=root, num_frames=args.frames)
            t0 = time.perf_counter()
            cached = get_source(name, root=root, num_frames=args.frames, cache=True, cache_workers=args.cache_workers)
            build_s = time.perf_counter() - t0
            for workers in args.workers:
                row = {
                    "profile": profile, "clips": args.clips, "T": args.frames, "workers": workers,
                    "decode_clips_per_s": round(clips_per_s(plain, workers, args.batch_size), 1),
                    "cached_clips_per_s": round(clips_per_s(cached, workers, args.batch_size), 1),
                    "cache_build_s": round(build_s, 2), "cache_workers": args.cache_workers,
                }
                results.append(row)
                print(json.dumps(row), flush=True)
    if args.out:
        Path(args.out).write_text(json.dumps({"cpu_count": os.cpu_count(), "results": results}, indent=2) + "\n")


if __name__ == "__main__":
    main()
