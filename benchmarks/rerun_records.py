"""Re-run recorded grid cells with today's code and compare them with the record, episode by episode.

    python benchmarks/rerun_records.py results/phase7/ml10 --cells '*/5/bc/*'
    python benchmarks/rerun_records.py results/phase0/lethality --cells '*/*'

Each cell folder `<condition>/<seed>/` holds `metrics.json` (with the cell's config) and
`episodes.jsonl`; the cell is run again from that config into a scratch folder (the record is
not touched), and the script prints, per cell, the recorded and the new success rate and whether
every episode (layout, success, steps, return) is identical. The experiment is read from the
record's `config.json`. Used to check that a change to the stepping path (the batched stepper)
reproduces what is on record.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
import warnings
from pathlib import Path


def _runner(record: Path):
    cfg = json.loads((record / "config.json").read_text())["config"]
    if "demos_list" in cfg and "fewshot" in cfg:
        from nsca.evaluation.metaworld_ml10 import run_cell
    else:
        from nsca.experiments.lethality import run_cell
    return run_cell


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("record", type=Path, help="a run folder in results/")
    p.add_argument("--cells", default="*/*", help="glob of <condition>/<seed> folders under the record")
    args = p.parse_args()
    warnings.filterwarnings("ignore")
    if not (args.record / "config.json").is_file():
        print(f"error: {args.record} is not a run folder (no config.json)", file=sys.stderr)
        raise SystemExit(2)
    run_cell = _runner(args.record)
    cells = sorted(d for d in args.record.glob(args.cells) if (d / "metrics.json").is_file())
    if not cells:
        print(f"error: no recorded cell matches {args.cells!r} under {args.record}", file=sys.stderr)
        raise SystemExit(2)
    same_all = True
    for cell in cells:
        rec = json.loads((cell / "metrics.json").read_text())
        out = Path(tempfile.mkdtemp(prefix="rerun_"))
        t = time.time()
        metrics = run_cell(rec["config"], out)
        old = (cell / "episodes.jsonl").read_text().splitlines()
        new = (out / "episodes.jsonl").read_text().splitlines()
        same = [json.loads(x) for x in old] == [json.loads(x) for x in new]
        same_all &= same
        print(json.dumps({"cell": str(cell.relative_to(args.record)), "recorded": rec["metrics"]["success_rate"],
                          "now": metrics["success_rate"], "episodes_identical": same, "s": round(time.time() - t, 1)}),
              flush=True)
    print(json.dumps({"cells": len(cells), "all_identical": same_all}))


if __name__ == "__main__":
    main()
