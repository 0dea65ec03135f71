"""`nsca babble`: generate babbling data in the MuJoCo playground (phases 1/3 of the plan), or
with Meta-World's Sawyer arm in the ML10 train scenes (`--scene metaworld [--tasks ...]`)."""

from __future__ import annotations

import argparse

NAME = "babble"
HELP = ("babble with affordance primitives in the MuJoCo playground (or --scene metaworld) and store the dataset "
        "(--steps = interactions)")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from nsca.babbling.run import BabbleConfig
    from nsca.config import add_dataclass_arguments

    parser.add_argument("--config", default=None, help="YAML file of config keys")
    add_dataclass_arguments(parser, BabbleConfig)


def run(args: argparse.Namespace) -> int:
    from nsca.babbling.run import BabbleConfig, run_babble
    from nsca.config import resolve

    cfg = resolve(BabbleConfig, args, args.config)
    s = run_babble(cfg)
    speed = s["speed"]
    print(f"affordance coverage {s['affordance_coverage']:.1%} of {s['cells']} (object, primitive) cells "
          f"(gate > 80%: {'PASS' if s['affordance_coverage'] > 0.8 else 'FAIL'}); "
          f"goal reached in {s['goal_coverage']:.1%} of cells")
    print("outcomes: " + ", ".join(f"{k} {v}" for k, v in s["outcome_histogram"].items()))
    if s.get("scene") == "metaworld":
        print(cell_table(s["cell_table"]))
    if s["grounding_probe"]:
        g = s["grounding_probe"]
        print(f"grounding probe on {g['n_heldout_objects']} held-out objects (chance {g['chance']:.2f}): "
              f"hardness from audio {g['hardness_from_audio']['accuracy']:.2f}, "
              f"mass from lift/shake {g['mass_from_lift_shake']['accuracy']:.2f}")
    if speed["ctrl_steps_per_s"]:
        print(f"speed: {speed['ctrl_steps_per_s']:,.0f} control steps/s on {speed['workers']} workers "
              f"(raw mj_step {speed['raw_mj_step_per_s_one_core']:,.0f} substeps/s on one core = "
              f"{speed['raw_ctrl_steps_per_s_one_core']:,.0f} control steps/s); wall {s['wall_s']:.0f} s")
    return 0


def cell_table(t: dict) -> str:
    """Interactions and the share where the object moved, per (task, primitive) cell, as text."""
    width = max(len(o) for o in t["objects"])
    lines = [f"interactions (object moved >= {t['moved_threshold_m'] * 100:g} cm) per task x primitive; "
             f"moved overall {t['moved_fraction_all'] or 0:.0%}",
             " " * width + "".join(f"{p:>12}" for p in t["primitives"])]
    for name, counts, moved in zip(t["objects"], t["interactions"], t["moved_fraction"]):
        cells = "".join(f"{n:>5} ({m:4.0%})" if m is not None else f"{n:>5} (   -)" for n, m in zip(counts, moved))
        lines.append(f"{name:<{width}}" + cells)
    return "\n".join(lines)
