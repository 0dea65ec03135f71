"""Fetch the external vision/audio datasets into the data root, resumably, with bounded timeouts.

Each dataset is attempted on its own and reported in one line; a failure (hub unreachable,
gated, missing file) never stops the others. What downloaded is kept: Hugging Face datasets are
written shard by shard (`<root>/<name>/<split>/shard-NNNNN/`, each complete or absent), files
are fetched to `.part` and resumed with HTTP Range requests. A rerun skips finished work.

Exit status (see `exit_code`): 0 when every requested dataset is complete, otherwise
16 + the sum of the failed datasets' bits (kinetics400 1, ssv2 2, greatest-hits 4, physion 8),
so 2 stays the CLI's "bad flags" code.
"""

from __future__ import annotations

import math
import os
import shutil
import socket
import tarfile
import urllib.error
import urllib.parse
import urllib.request
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from nsca.errors import UsageError
from nsca.utils.io import atomic_write_json, ensure_writable_dir, read_json
from nsca.utils.provenance import provenance

DEFAULT_TIMEOUT_S = 10.0
HF_SHARD_CLIPS = 64


def data_root(root: str | Path | None = None) -> Path:
    """The data root: the argument, else $NSCA_DATA_ROOT, else ./data."""
    return Path(root if root is not None else os.environ.get("NSCA_DATA_ROOT", "data")).expanduser()


@dataclass(frozen=True)
class DatasetSpec:
    name: str
    bit: int
    title: str
    origin: str
    licence: str
    access: str  # one line: open, or what registration / agreement is needed and where
    hub_id: str | None = None  # default Hugging Face dataset repo
    hub_kind: bool = False  # fetched from the Hugging Face hub (even without a default repo)
    hub_splits: tuple[str, ...] = ("train", "validation")
    files: tuple[tuple[str, str], ...] = ()  # (url, file name under <root>/<name>/) for kind "http"
    gated: bool = False


DATASETS: dict[str, DatasetSpec] = {
    spec.name: spec
    for spec in (
        DatasetSpec(
            name="kinetics400", bit=1, title="Kinetics-400 (DeepMind)",
            origin="https://www.deepmind.com/open-source/kinetics; video tarballs mirrored by the CVDF at "
                   "https://github.com/cvdfoundation/kinetics-dataset",
            licence="annotations CC BY 4.0; the videos stay under their YouTube owners' terms",
            access="open; there is no official Hugging Face copy, so name the one you trust with "
                   "--hub-id kinetics400=<owner/name> (video + label columns)",
            hub_id=None, hub_kind=True,
        ),
        DatasetSpec(
            name="ssv2", bit=2, title="Something-Something v2 (Qualcomm, formerly TwentyBN)",
            origin="https://developer.qualcomm.com/software/ai-datasets/something-something",
            licence="Qualcomm's Something-Something v2 licence (research use; read it before downloading)",
            access="needs registration and the licence agreement at developer.qualcomm.com; on Hugging Face, "
                   "accept the dataset's terms and run `huggingface-cli login`",
            hub_id="HuggingFaceM4/something_something_v2", hub_kind=True, gated=True,
        ),
        DatasetSpec(
            name="greatest-hits", bit=4, title="The Greatest Hits (Owens et al., CVPR 2016, 'Visually Indicated Sounds')",
            origin="http://vis.csail.mit.edu/",
            licence="research use as stated on the project page; cite the paper",
            access="open download from the project page (one archive, vis-data)",
            files=(("http://vis.csail.mit.edu/vis-data.zip", "vis-data.zip"),),
        ),
        DatasetSpec(
            name="physion", bit=8, title="Physion (Bear et al., NeurIPS 2021 Datasets and Benchmarks)",
            origin="https://github.com/cogtoolslab/physics-benchmarking-neurips2021",
            licence="see the repository's LICENSE and README for the data terms; cite the paper",
            access="open download (PhysionTest-Core, 270 MB, plus the readout label CSV); the 380 GB HDF5 "
                   "set and the per-scenario readout HDF5 tarballs are listed in docs/data.md",
            files=(
                ("https://physics-benchmarking-neurips2021-dataset.s3.amazonaws.com/Physion.zip", "Physion.zip"),
                ("https://raw.githubusercontent.com/cogtoolslab/physics-benchmarking-neurips2021/master/data/readout_labels.csv",
                 "readout_labels.csv"),
            ),
        ),
    )
}

# The plan's guidance, given back verbatim-ish to anyone who asks for these.
REFUSED = {
    "audioset": "AudioSet is speech, music and traffic: irrelevant for learning object hardness from impact "
                "sounds, so NSCA does not use it (Greatest Hits and the synthesised impact audio cover that)",
    "epic-kitchens": "Epic-Kitchens is left out by the project's plan (egocentric kitchen video adds little for "
                     "tabletop contact physics and is very large)",
    "imagenet": "ImageNet is not part of NSCA's data by default (static photos teach no dynamics); the vision "
                "encoder trains on video and babbling renders",
}
DEFAULT_DATASETS = ("kinetics400", "ssv2")  # the plan's phase-2 pair


def resolve_names(names: list[str] | None) -> list[str]:
    """Validate dataset names: unknown -> list the known ones; refused ones -> say why."""
    if not names:
        return list(DEFAULT_DATASETS)
    out = []
    for raw in names:
        for name in (n.strip().lower() for n in raw.split(",") if n.strip()):
            alias = {"epic_kitchens": "epic-kitchens", "epickitchens": "epic-kitchens", "greatest_hits": "greatest-hits",
                     "kinetics": "kinetics400", "kinetics-400": "kinetics400", "something-something-v2": "ssv2"}
            name = alias.get(name, name)
            if name in REFUSED:
                raise UsageError(f"{name} is not downloaded: {REFUSED[name]}")
            if name not in DATASETS:
                raise UsageError(f"unknown dataset {name!r}; choose from {', '.join(DATASETS)}")
            if name not in out:
                out.append(name)
    return out


@dataclass
class Result:
    name: str
    ok: bool
    message: str
    kept: str = ""


@dataclass
class Options:
    root: Path
    subset: float = 1.0
    max_clips: int | None = None
    timeout_s: float = DEFAULT_TIMEOUT_S
    mirror: str | None = None
    hub_ids: dict[str, str] = field(default_factory=dict)
    shard_clips: int = HF_SHARD_CLIPS
    log: Callable[[str], None] = print


def exit_code(results: list[Result]) -> int:
    failed = sum(DATASETS[r.name].bit for r in results if not r.ok)
    return 0 if failed == 0 else 16 + failed


def download(names: list[str], opts: Options) -> list[Result]:
    """Download each dataset in turn; one Result (and one printed line) per dataset."""
    if not 0 < opts.subset <= 1:
        raise UsageError(f"--subset must be in (0, 1], got {opts.subset}")
    if opts.timeout_s <= 0:
        raise UsageError(f"--timeout-s must be > 0, got {opts.timeout_s}")
    ensure_writable_dir(opts.root)
    results = []
    for name in names:
        spec = DATASETS[name]
        try:
            result = _download_hf(spec, opts) if spec.hub_kind else _download_files(spec, opts)
        except _Failed as exc:
            # Datasets behind an agreement say so where it matters: in the failure line.
            access = f" [access: {spec.access}]" if spec.gated else ""
            result = Result(name, False, f"{exc}{access}", _kept_summary(opts.root / name))
        except OSError as exc:  # disk full, permissions: this dataset fails, the others still run
            result = Result(name, False, f"cannot write under {opts.root}: {exc}".splitlines()[0], "")
        opts.log(_line(result))
        results.append(result)
    return results


def _line(r: Result) -> str:
    if r.ok:
        return f"{r.name}: ok - {r.message}"
    kept = f"kept {r.kept}, rerun to resume" if r.kept else "nothing downloaded"
    return f"{r.name}: FAILED - {kept} - {r.message}"


class _Failed(Exception):
    pass


def _kept_summary(folder: Path) -> str:
    if not folder.is_dir():
        return ""
    shards = list(folder.glob("*/shard-*/state.json"))
    files = [p for p in folder.iterdir() if p.is_file() and not p.name.startswith(".") and p.name != "download.json"]
    parts = []
    if shards:
        parts.append(f"{len(shards)} shard(s)")
    if files:
        parts.append(f"{len(files)} file(s)")
    return " and ".join(parts)


def _describe(exc: BaseException, timeout_s: float) -> str:
    if isinstance(exc, urllib.error.HTTPError):
        return f"HTTP {exc.code} {exc.reason}"
    reason = getattr(exc, "reason", exc)
    if isinstance(reason, (socket.timeout, TimeoutError)) or isinstance(exc, (socket.timeout, TimeoutError)):
        return f"timed out after {timeout_s:g} s"
    return f"{type(reason).__name__}: {reason}".splitlines()[0]


# ---------------------------------------------------------------- Hugging Face datasets


def _hf_endpoint() -> str:
    return os.environ.get("HF_ENDPOINT", "https://huggingface.co").rstrip("/")


def _probe_hub(hub_id: str, name: str, timeout_s: float) -> None:
    """One bounded request to the hub before `datasets` gets involved: fail fast and clearly."""
    url = f"{_hf_endpoint()}/api/datasets/{hub_id}"
    headers = {}
    token = os.environ.get("HF_TOKEN")
    if token:
        headers["Authorization"] = f"Bearer {token}"
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=timeout_s) as resp:
            resp.read(1024)
    except urllib.error.HTTPError as exc:
        if exc.code in (401, 403):
            raise _Failed(f"{hub_id} is gated: accept its terms at {_hf_endpoint()}/datasets/{hub_id} and log in "
                          f"(huggingface-cli login or HF_TOKEN)") from None
        if exc.code == 404:
            raise _Failed(f"{hub_id} not found on {_hf_endpoint()}; set another with --hub-id {name}=<owner/name>") from None
        raise _Failed(f"hub answered {_describe(exc, timeout_s)} for {url}") from None
    except (urllib.error.URLError, OSError) as exc:
        host = urllib.parse.urlparse(url).netloc
        raise _Failed(f"cannot reach {host} ({_describe(exc, timeout_s)})") from None


def _download_hf(spec: DatasetSpec, opts: Options) -> Result:
    hub_id = opts.hub_ids.get(spec.name, spec.hub_id)
    if not hub_id:
        raise _Failed(f"no Hugging Face repo configured: {spec.access}")
    if not Path(hub_id).is_dir():  # a local clone of a hub repo (or an institutional copy) needs no network
        _probe_hub(hub_id, spec.name, opts.timeout_s)
    # Bounded network waits inside huggingface_hub too (read when it is first imported).
    os.environ.setdefault("HF_HUB_ETAG_TIMEOUT", str(int(math.ceil(opts.timeout_s))))
    os.environ.setdefault("HF_HUB_DOWNLOAD_TIMEOUT", str(int(math.ceil(opts.timeout_s))))
    import datasets

    folder = opts.root / spec.name
    total_kept = 0
    for split in spec.hub_splits:
        try:
            total_kept += _download_hf_split(datasets, hub_id, spec.name, split, folder, opts)
        except _Failed:
            raise
        except Exception as exc:  # noqa: BLE001 - any hub/library failure becomes this dataset's one line
            raise _Failed(f"{hub_id} [{split}]: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}") from None
    atomic_write_json(folder / "download.json", {"hub_id": hub_id, "subset": opts.subset, "max_clips": opts.max_clips,
                                                 "complete": True, "clips": total_kept, "provenance": provenance()})
    return Result(spec.name, True, f"{total_kept} clips in {folder}")


def _download_hf_split(datasets, hub_id: str, name: str, split: str, folder: Path, opts: Options) -> int:  # noqa: ANN001
    available = datasets.get_dataset_split_names(hub_id)
    if split not in available:
        opts.log(f"{name}: note: {hub_id} has no split {split!r} (it has {', '.join(available)}); skipped")
        return 0
    out = folder / split
    out.mkdir(parents=True, exist_ok=True)
    done = sorted(p for p in out.glob("shard-*") if (p / "state.json").is_file())
    have = sum(len(datasets.load_from_disk(str(p))) for p in done)
    stream = datasets.load_dataset(hub_id, split=split, streaming=True)
    target = _target_clips(datasets, hub_id, split, stream, opts)
    if target is not None and have >= target:
        return have
    features = stream.features or {}
    for col, feat in features.items():
        if isinstance(feat, datasets.Video):
            stream = stream.cast_column(col, datasets.Video(decode=False))
    label_feature = next((f for c, f in features.items() if c in ("label", "labels") and isinstance(f, datasets.ClassLabel)), None)
    if label_feature is not None and not (folder / "labels.json").is_file():
        atomic_write_json(folder / "labels.json", list(label_feature.names))
    rows: list[dict] = []
    shard_index = len(done)
    for row in stream.skip(have):
        if target is not None and have + len(rows) >= target:
            break
        rows.append(row)
        if len(rows) == opts.shard_clips:
            _write_shard(datasets, rows, out, shard_index, stream.features)
            have, rows, shard_index = have + len(rows), [], shard_index + 1
    if rows:
        _write_shard(datasets, rows, out, shard_index, stream.features)
        have += len(rows)
    return have


def _target_clips(datasets, hub_id: str, split: str, stream, opts: Options) -> int | None:  # noqa: ANN001
    """How many clips of the split to keep: --max-clips, else subset x split size (None = all)."""
    if opts.max_clips is not None:
        return opts.max_clips
    if opts.subset >= 1:
        return None
    info = datasets.load_dataset_builder(hub_id).info.splits or {}
    size = info[split].num_examples if split in info else None
    if not size:
        # The repo does not state its size (plain parquet/webdataset): count one light column.
        names = list(stream.features or {})
        light = [c for c in names if c in ("label", "labels")] or names[:1]
        size = sum(1 for _ in (stream.select_columns(light) if light else stream))
    return max(1, math.ceil(opts.subset * size))


def _write_shard(datasets, rows: list[dict], out: Path, index: int, features) -> None:  # noqa: ANN001
    """save_to_disk into a temp folder, then rename: a shard folder is complete or absent."""
    final = out / f"shard-{index:05d}"
    tmp = out / f".shard-{index:05d}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    datasets.Dataset.from_list(rows, features=features).save_to_disk(str(tmp))
    os.replace(tmp, final)


# ---------------------------------------------------------------- plain files (HTTP)


def _url_for(spec: DatasetSpec, url: str, filename: str, mirror: str | None) -> str:
    return f"{mirror.rstrip('/')}/{spec.name}/{filename}" if mirror else url


def _download_files(spec: DatasetSpec, opts: Options) -> Result:
    folder = opts.root / spec.name
    folder.mkdir(parents=True, exist_ok=True)
    state = read_json(folder / "download.json") or {}
    done_files = set(state.get("files", []))
    for url, filename in spec.files:
        dest = folder / filename
        if filename in done_files and dest.is_file():
            continue
        _fetch(_url_for(spec, url, filename, opts.mirror), dest, opts.timeout_s)
        done_files.add(filename)
        atomic_write_json(folder / "download.json", {"files": sorted(done_files), "extracted": state.get("extracted", []),
                                                     "sources": [u for u, _ in spec.files], "provenance": provenance()})
    extracted = set(state.get("extracted", []))
    for _, filename in spec.files:
        if filename in extracted or not filename.endswith((".zip", ".tar.gz", ".tgz")):
            continue
        _extract(folder / filename, folder)
        extracted.add(filename)
        atomic_write_json(folder / "download.json", {"files": sorted(done_files), "extracted": sorted(extracted),
                                                     "sources": [u for u, _ in spec.files], "provenance": provenance()})
    note = "" if opts.subset >= 1 else " (--subset does not apply: the source ships whole archives)"
    return Result(spec.name, True, f"{len(spec.files)} file(s) in {folder}{note}")


def _fetch(url: str, dest: Path, timeout_s: float) -> None:
    """Stream url to dest via dest.part, resuming a previous .part with a Range request."""
    part = dest.with_name(dest.name + ".part")
    offset = part.stat().st_size if part.is_file() else 0
    headers = {"Range": f"bytes={offset}-"} if offset else {}
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=timeout_s) as resp:
            if offset and resp.status != 206:
                offset = 0  # server ignored the Range: start over
            with part.open("ab" if offset else "wb") as f:
                while True:
                    chunk = resp.read(1 << 20)
                    if not chunk:
                        break
                    f.write(chunk)
            expected = resp.headers.get("Content-Length")
    except urllib.error.HTTPError as exc:
        if exc.code == 416 and offset:  # the .part already holds the whole file
            os.replace(part, dest)
            return
        raise _Failed(f"{url}: {_describe(exc, timeout_s)}") from None
    except (urllib.error.URLError, OSError) as exc:
        raise _Failed(f"cannot fetch {url} ({_describe(exc, timeout_s)})") from None
    if expected is not None and part.stat().st_size < offset + int(expected):
        raise _Failed(f"{url}: connection closed early ({part.stat().st_size} of {offset + int(expected)} bytes)")
    os.replace(part, dest)


def _extract(archive: Path, into: Path) -> None:
    try:
        if archive.name.endswith(".zip"):
            with zipfile.ZipFile(archive) as z:
                z.extractall(into)
        else:
            with tarfile.open(archive, "r:*") as t:
                t.extractall(into, filter="data")
    except (zipfile.BadZipFile, tarfile.TarError, OSError, EOFError) as exc:
        archive.unlink(missing_ok=True)  # a corrupt archive is fetched again on the next run
        raise _Failed(f"{archive}: corrupt archive ({type(exc).__name__}: {exc}); removed, rerun to fetch it again") from None


def status(root: Path) -> list[tuple[str, str]]:
    """(dataset, one-line local state) for `nsca data list`."""
    rows = []
    for name, spec in DATASETS.items():
        folder = root / name
        state = read_json(folder / "download.json") or {}
        archives = {f for _, f in spec.files if f.endswith((".zip", ".tar.gz", ".tgz"))}
        files_done = bool(spec.files) and {f for _, f in spec.files} <= set(state.get("files", [])) \
            and archives <= set(state.get("extracted", []))
        if state.get("complete") or files_done:
            rows.append((name, f"downloaded ({folder})"))
        elif folder.is_dir() and _kept_summary(folder):
            rows.append((name, f"partial: {_kept_summary(folder)} ({folder}); rerun download to resume"))
        else:
            rows.append((name, "not downloaded"))
    return rows


# ---------------------------------------------------------------- importing official copies
# The canonical sources are not Hugging Face: SSv2 comes from Qualcomm as webm files plus JSON
# annotations, Kinetics-400 from the CVDF mirror as mp4 files plus CSV annotations. These turn a
# local copy into the same on-disk dataset the loaders read (paths, not copies of the videos).

SSV2_FILES = {"train": "something-something-v2-train.json", "validation": "something-something-v2-validation.json"}
KINETICS_FILES = {"train": (("train.csv",), "train"), "validation": (("val.csv", "validate.csv"), "val")}


def import_ssv2(videos: Path, annotations: Path, root: Path, subset: float = 1.0, on_missing: str = "raise") -> dict[str, int]:
    """Index the official SSv2 release (`<id>.webm` + the three JSON files) into `<root>/ssv2/<split>/`."""
    import json

    ensure_writable_dir(root)
    labels_file = annotations / "something-something-v2-labels.json"
    try:
        template_ids = {k: int(v) for k, v in json.loads(labels_file.read_text()).items()}
    except (OSError, ValueError, AttributeError) as exc:
        raise UsageError(f"{labels_file}: cannot read the SSv2 label list ({type(exc).__name__})") from None
    names = [t for t, _ in sorted(template_ids.items(), key=lambda kv: kv[1])]
    out = {}
    for split, fname in SSV2_FILES.items():
        path = annotations / fname
        try:
            entries = json.loads(path.read_text())
        except (OSError, ValueError) as exc:
            raise UsageError(f"{path}: cannot read SSv2 annotations ({type(exc).__name__})") from None
        rows = []
        for e in entries[: max(1, math.ceil(subset * len(entries)))]:
            template = str(e.get("template", "")).replace("[", "").replace("]", "")
            if template not in template_ids:
                raise UsageError(f"{path}: video {e.get('id')} has template {template!r}, not in {labels_file.name}")
            rows.append((str(videos / f"{e['id']}.webm"), template_ids[template], str(e["id"])))
        out[split] = _save_index(root / "ssv2", split, rows, names, on_missing)
    atomic_write_json(root / "ssv2" / "labels.json", names)
    return out


def import_kinetics(videos: Path, annotations: Path, root: Path, subset: float = 1.0, on_missing: str = "raise") -> dict[str, int]:
    """Index a CVDF-style Kinetics-400 copy (`<split>/<youtube_id>_<start>_<end>.mp4` + annotation
    CSVs with label,youtube_id,time_start,time_end) into `<root>/kinetics400/<split>/`."""
    import csv

    ensure_writable_dir(root)
    tables = {}
    for split, (candidates, _) in KINETICS_FILES.items():
        path = next((annotations / c for c in candidates if (annotations / c).is_file()), None)
        if path is None:
            raise UsageError(f"no Kinetics annotation CSV in {annotations} (looked for {', '.join(candidates)})")
        with path.open(newline="") as f:
            reader = csv.DictReader(f)
            need = {"label", "youtube_id", "time_start", "time_end"}
            if not need <= set(reader.fieldnames or []):
                raise UsageError(f"{path}: expected columns {', '.join(sorted(need))}, got {reader.fieldnames}")
            tables[split] = (path, list(reader))
    names = sorted({r["label"] for r in tables["train"][1]})
    index = {n: i for i, n in enumerate(names)}
    out = {}
    for split, (path, table) in tables.items():
        folder = videos / KINETICS_FILES[split][1]
        rows = []
        for r in table[: max(1, math.ceil(subset * len(table)))]:
            if r["label"] not in index:
                raise UsageError(f"{path}: class {r['label']!r} of {r['youtube_id']} is not among the train classes")
            stem = f"{r['youtube_id']}_{int(float(r['time_start'])):06d}_{int(float(r['time_end'])):06d}"
            rows.append((str(folder / f"{stem}.mp4"), index[r["label"]], stem))
        out[split] = _save_index(root / "kinetics400", split, rows, names, on_missing)
    atomic_write_json(root / "kinetics400" / "labels.json", names)
    return out


def _save_index(folder: Path, split: str, rows: list[tuple[str, int, str]], names: list[str], on_missing: str) -> int:
    import datasets

    missing = [p for p, _, _ in rows if not Path(p).is_file()]
    if missing and (on_missing == "raise" or len(missing) == len(rows)):
        raise UsageError(f"{len(missing)} of {len(rows)} {split} videos are missing, first: {missing[0]}"
                         + ("; pass --on-missing skip to index the rest" if len(missing) < len(rows) else ""))
    gone = set(missing)
    kept = [r for r in rows if r[0] not in gone]
    features = datasets.Features({"video": datasets.Value("string"), "label": datasets.ClassLabel(names=names),
                                  "id": datasets.Value("string")})
    table = {"video": [r[0] for r in kept], "label": [r[1] for r in kept], "id": [r[2] for r in kept]}
    final, tmp = folder / split, folder / f".{split}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    datasets.Dataset.from_dict(table, features=features).save_to_disk(str(tmp))
    shutil.rmtree(final, ignore_errors=True)
    os.replace(tmp, final)
    atomic_write_json(folder / f"import-{split}.json", {"videos": len(kept), "missing": len(missing), "provenance": provenance(),
                                                         "first_missing": missing[:5]})
    return len(kept)
