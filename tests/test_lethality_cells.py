"""Pins what a lethality cell is: its config dict and its folder name.

The runner reuses a finished cell only when the config stored in its metrics.json equals the one
built now, so any change to `cell_config` (a renamed key, a new field, another order of
nesting) silently recomputes every running grid. These literals are the config the grids in
runs/ were started with; change them only on purpose.
"""

import json

from nsca.experiments.lethality import LethalityConfig, cell_config, grid_cells

PLANNER = {"horizon": 3, "samples": 32, "noise_std": 0.3, "temperature": 0.02, "relative_temperature": False,
           "discount": 0.9, "iterations": 1, "baseline": True, "average_then_clip": True}
# "architecture" (the NSCA model's size block) since the one model stack; the BC and simulator
# cells do not depend on it and keep their old configs.
AGENT = {"prior": 0.9, "kind": "planner", "model": "learned", "reward": "learned", "hidden": 256, "architecture": "agent",
         "lr": 0.001,
         "bc_steps": 2000, "bc_input_noise": 0.05, "world_model_steps": 2000, "reward_steps": 1000, "prior_lr": 0.01,
         "objective": "reward", "reward_ensemble": 1, "pessimism": 1.0, "validated_temperature": True,
         "heldout_ensemble": True, "safe_improvement": True, "planner": PLANNER}
CORRECTIVE = {"prior": 0.9, "kind": "corrective", "hidden": 256, "architecture": "agent", "lr": 0.001, "bc_steps": 2000, "bc_input_noise": 0.05,
              "world_model_steps": 2000, "prior_lr": 0.01, "corrections": 4, "correction_noise_m": 0.003}


def test_default_condition_cell_config_is_pinned():
    got = cell_config(LethalityConfig(), "prior_0.9", 0)
    want = {"task": "pick-place-v2", "seed": 0, "demos": 5, "eval_episodes": 50, "episode_steps": 300,
            "calibration_steps": 800, "agent": AGENT}
    assert got == want
    # Byte for byte, key order included (metrics.json is written from this dict).
    assert json.dumps(got) == json.dumps(want)


def test_oracle_and_curve_cell_configs_are_pinned():
    sim = cell_config(LethalityConfig(), "sim+true", 2)
    assert sim == {"task": "pick-place-v2", "seed": 2, "demos": 5, "eval_episodes": 10, "episode_steps": 300,
                   "calibration_steps": 800,
                   "agent": {k: v for k, v in {**AGENT, "prior": None, "model": "sim", "reward": "true"}.items()
                             if k not in ("validated_temperature", "heldout_ensemble", "safe_improvement", "architecture")}}
    corr = cell_config(LethalityConfig(), "corrective_0.9", 1, "push-v3", 10)
    assert corr == {"task": "push-v3", "seed": 1, "demos": 10, "eval_episodes": 50, "episode_steps": 300,
                    "calibration_steps": 800, "agent": CORRECTIVE}
    bc = cell_config(LethalityConfig(), "bc", 0)
    assert bc["agent"] == {"prior": None, "kind": "bc", "hidden": 256, "lr": 0.001, "bc_steps": 2000, "bc_input_noise": 0.05}


def test_cell_names_are_pinned():
    cells = grid_cells(LethalityConfig(n_seeds=2, priors=["0.9", "none"]))
    assert [(c.condition, c.seed) for c in cells] == [
        ("prior_0.9", 0), ("prior_0.9", 1), ("none", 0), ("none", 1), ("bc", 0), ("bc", 1)]
    curves = grid_cells(LethalityConfig(grid="curves", n_seeds=1, tasks=["push"], demos_list=[5, 10], curve_agents=["bc"]))
    assert [(c.condition, c.seed) for c in curves] == [("push-v3/d5/bc", 0), ("push-v3/d10/bc", 0)]
