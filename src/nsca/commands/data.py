"""`nsca data download|import|cache|list`: fetch SSv2 / Kinetics-400 / Greatest Hits / Physion into the data root."""

from __future__ import annotations

import argparse

from nsca.errors import UsageError

NAME = "data"
HELP = "download or import external datasets (kinetics400, ssv2, greatest-hits, physion), cache decoded clips, list them"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="data_command", metavar="ACTION", parser_class=type(parser))
    sub.required = True
    dl = sub.add_parser("download", help="download datasets into the data root (resumable)",
                        description="Download datasets into the data root. Each dataset gets one line; "
                                    "exit 0 when all are complete, else 16 + failed bits "
                                    "(kinetics400 1, ssv2 2, greatest-hits 4, physion 8). Rerun to resume.")
    dl.add_argument("--datasets", nargs="+", default=None, metavar="NAME",
                    help="kinetics400, ssv2, greatest-hits, physion (default: kinetics400 ssv2, the phase-2 pair)")
    dl.add_argument("--subset", type=float, default=1.0, help="fraction of each Hugging Face split to fetch (default: 1.0)")
    dl.add_argument("--max-clips", type=int, default=None, help="fetch at most this many clips per split (overrides --subset)")
    dl.add_argument("--root", default=None, help="data root (default: $NSCA_DATA_ROOT, else ./data)")
    dl.add_argument("--timeout-s", type=float, default=10.0, help="per-connection network timeout in seconds (default: 10)")
    dl.add_argument("--mirror", default=None,
                    help="fetch plain files from <mirror>/<dataset>/<file> instead of their origin (Hugging Face: set HF_ENDPOINT)")
    dl.add_argument("--hub-id", nargs="+", default=[], metavar="NAME=OWNER/REPO",
                    help="read a dataset from another Hugging Face repo or a local clone of one, "
                         "e.g. kinetics400=me/k400 or ssv2=/mnt/datasets/ssv2-hf")
    dl.set_defaults(_data_run=_run_download)
    ca = sub.add_parser("cache", help="decode a video source once into the decode cache (later epochs skip decoding)")
    ca.add_argument("--source", required=True, choices=["ssv2", "kinetics400", "physion"], help="video source to cache")
    ca.add_argument("--split", default="train", help="split to cache (default: train)")
    ca.add_argument("--frames", type=int, default=16, help="T frames per clip (default: 16)")
    ca.add_argument("--workers", type=int, default=0, help="decoding processes (default: 0 = this process)")
    ca.add_argument("--on-error", default="raise", choices=["raise", "skip"],
                    help="a clip that cannot be decoded stops the build (raise) or is skipped and counted (skip)")
    ca.add_argument("--root", default=None, help="data root (default: $NSCA_DATA_ROOT, else ./data)")
    ca.set_defaults(_data_run=_run_cache)
    im = sub.add_parser("import", help="index a local official copy (SSv2 webm + JSON, Kinetics mp4 + CSV) for the loaders")
    im.add_argument("--dataset", required=True, choices=["ssv2", "kinetics400"])
    im.add_argument("--videos", required=True,
                    help="SSv2: the folder of <id>.webm; Kinetics: the folder holding train/ and val/ of <youtube_id>_<start>_<end>.mp4")
    im.add_argument("--annotations", required=True,
                    help="SSv2: folder of something-something-v2-{labels,train,validation}.json; Kinetics: folder of train.csv, val.csv")
    im.add_argument("--subset", type=float, default=1.0, help="fraction of each split's annotation list to index (default: 1.0)")
    im.add_argument("--on-missing", default="raise", choices=["raise", "skip"],
                    help="an annotated video missing on disk stops the import (raise) or is left out and counted (skip)")
    im.add_argument("--root", default=None, help="data root (default: $NSCA_DATA_ROOT, else ./data)")
    im.set_defaults(_data_run=_run_import)
    ls = sub.add_parser("list", help="show each dataset's origin, licence and local state")
    ls.add_argument("--root", default=None, help="data root (default: $NSCA_DATA_ROOT, else ./data)")
    ls.set_defaults(_data_run=_run_list)


def run(args: argparse.Namespace) -> int:
    return int(args._data_run(args))


def _run_download(args: argparse.Namespace) -> int:
    from nsca.data import download as dl

    hub_ids = {}
    for item in args.hub_id:
        name, sep, repo = item.partition("=")
        if not sep or not repo or name not in dl.DATASETS:
            raise UsageError(f"--hub-id {item!r}: expected NAME=OWNER/REPO with NAME in {', '.join(dl.DATASETS)}")
        hub_ids[name] = repo
    if args.max_clips is not None and args.max_clips < 1:
        raise UsageError(f"--max-clips must be >= 1, got {args.max_clips}")
    names = dl.resolve_names(args.datasets)
    opts = dl.Options(root=dl.data_root(args.root), subset=args.subset, max_clips=args.max_clips,
                      timeout_s=args.timeout_s, mirror=args.mirror, hub_ids=hub_ids)
    results = dl.download(names, opts)
    code = dl.exit_code(results)
    failed = [r.name for r in results if not r.ok]
    print(f"done: {len(results) - len(failed)} of {len(results)} complete"
          + (f"; failed: {', '.join(failed)} (exit {code})" if failed else ""))
    return code


def _run_cache(args: argparse.Namespace) -> int:
    import time

    from nsca.data.sources import get_source

    if args.frames < 1 or args.workers < 0:
        raise UsageError("--frames must be >= 1 and --workers >= 0")
    t0 = time.perf_counter()
    ds = get_source(args.source, root=args.root, split=args.split, cache=True, cache_workers=args.workers,
                    cache_log=print, num_frames=args.frames, on_error=args.on_error)
    print(f"{args.source} [{args.split}]: {len(ds)} clips cached, {len(ds.skipped)} skipped, "
          f"{time.perf_counter() - t0:.1f} s, in {ds.dir}")
    return 0


def _run_import(args: argparse.Namespace) -> int:
    from pathlib import Path

    from nsca.data import download as dl

    if not 0 < args.subset <= 1:
        raise UsageError(f"--subset must be in (0, 1], got {args.subset}")
    for flag, path in (("--videos", args.videos), ("--annotations", args.annotations)):
        if not Path(path).is_dir():
            raise UsageError(f"{flag} {path}: no such folder")
    fn = dl.import_ssv2 if args.dataset == "ssv2" else dl.import_kinetics
    root = dl.data_root(args.root)
    counts = fn(Path(args.videos), Path(args.annotations), root, subset=args.subset, on_missing=args.on_missing)
    for split, n in counts.items():
        print(f"{args.dataset} [{split}]: {n} videos indexed in {root / args.dataset / split}")
    return 0


def _run_list(args: argparse.Namespace) -> int:
    from nsca.data import download as dl

    root = dl.data_root(args.root)
    for name, state in dl.status(root):
        spec = dl.DATASETS[name]
        print(f"{name}: {state}\n  origin: {spec.origin}\n  licence: {spec.licence}\n  access: {spec.access}")
    for name, why in dl.REFUSED.items():
        print(f"{name}: not offered - {why}")
    return 0
