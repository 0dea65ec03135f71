"""Pins what a lethality cell is: its config dict and its folder name.

The runner reuses a finished cell only when the config stored in its metrics.json equals the one
built now, so any change to `cell_config` (a renamed key, a new field, another order of
nesting) silently recomputes every running grid. These literals are the config the grids are
started with; change them only on purpose.
"""

import json

from nsca.experiments.lethality import LethalityConfig, cell_config, grid_cells

PLANNER = {"horizon": 15, "samples": 32, "noise_std": 0.3, "temperature": 0.2, "relative_temperature": True,
           "discount": 0.9, "iterations": 1, "baseline": True, "min_advantage": None, "average_then_clip": True}
COST = {"reach": 1.0, "grasp": 0.0, "grasp_radius_m": 0.02}
BC = {"prior": None, "kind": "bc", "hidden": 256, "batch_size": 256, "lr": 0.001, "bc_steps": 2000, "bc_input_noise": 0.05}
AGENT = {"prior": 0.9, "kind": "planner", "model": "learned", "score": "cost", "hidden": 256, "architecture": "agent",
         "batch_size": 256, "lr": 0.001, "bc_steps": 2000, "bc_input_noise": 0.05, "world_model_steps": 2000,
         "gate": True, "validated_temperature": False, "laws": ["efference", "inertia", "gravity", "support", "attachment"], "cost": COST,
         "planner": PLANNER}
CORRECTIVE = {"prior": 0.9, "kind": "corrective", "hidden": 256, "architecture": "agent", "batch_size": 256, "lr": 0.001,
              "bc_steps": 2000, "bc_input_noise": 0.05, "world_model_steps": 2000, "corrections": 4,
              "correction_noise_m": 0.003, "laws": ["efference", "inertia", "gravity", "support", "attachment"]}


def test_default_condition_cell_config_is_pinned():
    got = cell_config(LethalityConfig(), "prior_0.9", 0)
    want = {"task": "pick-place-v2", "seed": 0, "demos": 5, "layout_base": 10_000_000, "eval_episodes": 50,
            "episode_steps": 150, "calibration_steps": 800, "agent": AGENT}
    assert got == want
    # Byte for byte, key order included (metrics.json is written from this dict).
    assert json.dumps(got) == json.dumps(want)
    learned = cell_config(LethalityConfig(), "learned_w_0.9", 0)["agent"]
    assert learned == {**AGENT, "learn_prior": True, "prior_lr": 0.01}


def test_oracle_and_curve_cell_configs_are_pinned():
    sim = cell_config(LethalityConfig(), "sim+true", 2)
    assert sim == {"task": "pick-place-v2", "seed": 2, "demos": 5, "layout_base": 10_000_000, "eval_episodes": 10,
                   "episode_steps": 150, "calibration_steps": 800,
                   "agent": {**BC, "kind": "planner", "model": "sim", "score": "true", "planner": PLANNER}}
    corr = cell_config(LethalityConfig(), "corrective_0.9", 1, "push-v3", 10)
    assert corr == {"task": "push-v3", "seed": 1, "demos": 10, "layout_base": 10_000_000, "eval_episodes": 50,
                    "episode_steps": 150, "calibration_steps": 800, "agent": CORRECTIVE}
    assert cell_config(LethalityConfig(), "bc", 0)["agent"] == BC
    assert cell_config(LethalityConfig(), "bc_augmented", 0)["agent"] == {
        **BC, "augment": True, "corrections": 4, "correction_noise_m": 0.003}


def test_cell_names_and_seeds_are_pinned():
    cells = grid_cells(LethalityConfig(n_seeds=2, priors=["0.9", "none"]))
    assert [(c.condition, c.seed) for c in cells] == [  # seed-major: a seed's conditions share one BC fit
        ("prior_0.9", 0), ("none", 0), ("bc", 0), ("prior_0.9", 1), ("none", 1), ("bc", 1)]
    curves = grid_cells(LethalityConfig(grid="curves", n_seeds=1, tasks=["push"], demos_list=[5, 10], curve_agents=["bc"]))
    assert [(c.condition, c.seed) for c in curves] == [("push-v3/d5/bc", 0), ("push-v3/d10/bc", 0)]
    # The confirmation's seeds and layouts are its own (presets.yaml lethality.confirm).
    confirm = grid_cells(LethalityConfig(n_seeds=15, first_seed=100, layout_base=11_000_000, priors=["0.9"], bc_floor=False))
    assert [c.seed for c in confirm] == list(range(100, 115)) and confirm[0].config["layout_base"] == 11_000_000
