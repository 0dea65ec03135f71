"""Balloon sanity check: can data override the innate gravity prior?

The AdaptivePhysicsPrior world model starts at prior weight 0.9 and is trained for `steps`
minibatch steps on transitions from the balloon world (balls rise: the gravity law is wrong)
and, on the same seeds, from the control world (normal gravity: the laws are right).
PASS: on every seed the balloon weight ends below `balloon_max` and the control weight above
`control_min`.

Training recipe: the project's one recipe for the prior weight, as the phase-0 agents' learned-w
conditions (`nsca.learning.agents.world_model.fit_world_model`) and `nsca train` use it: the one-step loss only, AdamW over
`nsca.priors.adaptive.parameter_groups` (the residual at `lr` with weight decay on matrices, w's
parameter rho at `RHO_LR` without decay), minibatches of 256. Two switches exist for the
variants in docs/sanity.md and change nothing by default:
- `rho_lr`: w's own step size. Adam moves a parameter by about lr per step whatever its
  gradient, so at the residual's 1e-3 rho can hardly leave 0.9 in 1000 steps;
- `prior_fit` (off by default): w also minimises the prior-alone error
  ||w * prior_delta - true_delta||^2 (same normalised units, gradient to rho only), i.e. a term
  that fits w to its least-squares value directly. The check must pass without it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from nsca.config import field
from nsca.errors import UsageError
from nsca.experiments.protocol import RunConfig, SanityCheck, Verdict, out_field, seed_curves, seeds_field

CONDITIONS = ("balloon", "control")


@dataclass(frozen=True)
class BalloonConfig(RunConfig):
    n_seeds: int = seeds_field(3)
    out: str = out_field("runs/sanity/balloon")
    steps: int = field(1000, "world-model training steps (minibatches)")
    prior: float = field(0.9, "initial prior weight w")
    episodes: int = field(64, "episodes of random hand motion collected per seed and world")
    episode_steps: int = field(40, "control steps per episode (12.5 ms each)")
    n_balls: int = field(3, "balls in the scene (each gives one object-centric state per step)")
    hidden: int = field(256, "world-model residual width")
    batch_size: int = field(256, "minibatch size")
    lr: float = field(1e-3, "AdamW learning rate of the residual (as the phase-0 agent)")
    weight_decay: float = field(1e-4, "AdamW weight decay of the residual (as the phase-0 agent)")
    rho_lr: float | None = field(None, "variant: rho's own learning rate; none = the one recipe's (nsca.priors.adaptive.RHO_LR)")
    prior_fit: bool = field(False, "variant: also fit w directly to the prior-alone error (see module docstring)")
    balloon_max: float = field(0.5, "PASS needs every balloon weight below this")
    control_min: float = field(0.8, "PASS needs every control weight above this")
    log_every: int = field(10, "steps between logged prior weights")

    def validate(self) -> None:
        super().validate()
        for name in ("steps", "episodes", "episode_steps", "n_balls", "hidden", "batch_size", "log_every"):
            if getattr(self, name) < 1:
                raise UsageError(f"{name}={getattr(self, name)} must be at least 1")
        if self.prior <= 0:
            raise UsageError(f"prior={self.prior} must be positive")
        if self.lr <= 0 or (self.rho_lr is not None and self.rho_lr <= 0):
            raise UsageError("lr and rho_lr must be positive")


def train_world_model(cfg: BalloonConfig, data: dict[str, np.ndarray], seed: int, log=None) -> dict:
    """Train AdaptivePhysicsPrior(prior) on (state, action, next_state); the weight at every step."""
    import torch

    from nsca.envs.balloon import CONSTANTS
    from nsca.priors.adaptive import AdaptivePhysicsPrior, parameter_groups

    t = {k: torch.as_tensor(v, dtype=torch.float32) for k, v in data.items()}
    torch.manual_seed(seed)
    wm = AdaptivePhysicsPrior(cfg.prior, hidden=cfg.hidden, constants=CONSTANTS)
    wm.set_normalization(t["state"], t["next_state"])
    # The one recipe; only the rho_lr variant passes its own step size.
    rho_lr = () if cfg.rho_lr is None else (cfg.rho_lr,)
    opt = torch.optim.AdamW(parameter_groups(wm, cfg.lr, cfg.weight_decay, *rho_lr))
    gen = torch.Generator().manual_seed(seed)
    n = t["state"].shape[0]
    weights, losses = [wm.prior_weight.item()], []
    for step in range(1, cfg.steps + 1):
        idx = torch.randint(0, n, (min(cfg.batch_size, n),), generator=gen)
        s, a, s_next = t["state"][idx], t["action"][idx], t["next_state"][idx]
        loss = wm.loss(s, a, s_next)
        total = loss
        if cfg.prior_fit:
            prior_err = (wm.prior_weight * wm.prior_delta(s, a) - (s_next - s)) / wm.delta_std
            total = total + prior_err.pow(2).mean()
        opt.zero_grad(set_to_none=True)
        total.backward()
        opt.step()
        weights.append(wm.prior_weight.item())
        losses.append(loss.item())
        if log is not None and step % cfg.log_every == 0:
            log(step, prior_weight=weights[-1], loss=float(np.mean(losses[-cfg.log_every:])))
    with torch.no_grad():
        full_loss = float(wm.loss(t["state"], t["action"], t["next_state"]))
    return {"prior_weight": weights, "final_loss": full_loss}


def run_cell(config: dict, cell_dir: Path) -> dict:
    from nsca.envs.balloon import collect_transitions
    from nsca.priors.state import OBJ_VEL
    from nsca.utils.metrics import MetricsLogger
    from nsca.utils.seeding import seed_everything

    cfg, seed, condition = SanityCheck.cell_parts(BalloonConfig, config)
    seed_everything(seed)
    # Same seed -> same layouts and hand motions in both worlds; only gravcomp differs.
    data = collect_transitions(condition == "balloon", cfg.episodes, cfg.episode_steps, seed, cfg.n_balls)
    vz = OBJ_VEL.start + 2
    rise = data["next_state"][:, vz] - data["state"][:, vz]
    (cell_dir / "metrics.jsonl").unlink(missing_ok=True)  # an unfinished earlier attempt is redone
    with MetricsLogger(cell_dir, tensorboard=False) as logger:
        out = train_world_model(cfg, data, seed, logger.log)
    w = out["prior_weight"]
    return {
        "prior_weight_start": w[0],
        "prior_weight_final": w[-1],
        "prior_weight_curve": w[:: cfg.log_every] + ([w[-1]] if (len(w) - 1) % cfg.log_every else []),
        "final_loss": out["final_loss"],
        "transitions": int(data["state"].shape[0]),
        "mean_obj_dvz_mps": float(rise.mean()),
    }


class Balloon(SanityCheck):
    name = "balloon"
    help = "train the prior-0.9 world model in a world of rising objects: does its prior weight fall?"
    config = BalloonConfig
    conditions = CONDITIONS

    def judge(self, cfg: BalloonConfig, by: dict[str, list[dict]], records: list[dict]) -> Verdict:
        from nsca.stats import summarize

        figures: dict = {
            cond: {
                "prior_weight_final": summarize([m["prior_weight_final"] for m in by[cond]]),
                "per_seed_final": [round(m["prior_weight_final"], 4) for m in by[cond]],
                "final_loss": summarize([m["final_loss"] for m in by[cond]]),
                "mean_obj_dvz_mps": float(np.mean([m["mean_obj_dvz_mps"] for m in by[cond]])),
            }
            for cond in CONDITIONS
        }
        figures["max_weight_change"] = max(abs(m["prior_weight_final"] - m["prior_weight_start"]) for ms in by.values() for m in ms)
        passed = all(m["prior_weight_final"] < cfg.balloon_max for m in by["balloon"]) and all(
            m["prior_weight_final"] > cfg.control_min for m in by["control"]
        )
        rule = (f"after {cfg.steps} steps from prior {cfg.prior}: every balloon seed's weight < {cfg.balloon_max} "
                f"and every control seed's weight > {cfg.control_min}")
        per_seed = [{"condition": r["condition"], "seed": r["seed"],
                     **{k: v for k, v in r["metrics"].items() if k != "prior_weight_curve"}} for r in records]
        return Verdict(passed, rule, figures, per_seed)

    def plot(self, cfg: BalloonConfig, records: list[dict], results: dict):
        import matplotlib.pyplot as plt

        by = self.by_condition(records)
        fig, ax = plt.subplots(figsize=(7, 3.6))
        colors = {"balloon": "tab:red", "control": "tab:blue"}
        labels = {"balloon": "balloon world (balls rise)", "control": "control (normal gravity)"}
        for cond in CONDITIONS:
            curves = np.array([m["prior_weight_curve"] for m in by[cond]])
            steps = np.minimum(np.arange(curves.shape[1]) * cfg.log_every, cfg.steps)
            seed_curves(ax, steps, curves, colors[cond], labels[cond])
        ax.axhline(cfg.balloon_max, color="tab:red", ls="--", lw=0.8)
        ax.axhline(cfg.control_min, color="tab:blue", ls="--", lw=0.8)
        ax.set_xlabel("training step")
        ax.set_ylabel("prior_weight  w = softplus(rho)")
        ax.set_ylim(0, 1.05)
        ax.set_title("Balloon: does the innate-gravity prior weight fall?")
        ax.legend(loc="lower left", fontsize=8)
        return fig

    def report_lines(self, results: dict) -> list[str]:
        f = results["figures"]
        c = results["config"]
        rho_lr = "RHO_LR (the one recipe)" if c["rho_lr"] is None else f"{c['rho_lr']:g} (variant)"
        lines = [f"Balloon: prior_weight after {c['steps']} steps from {c['prior']} "
                 f"(rho lr {rho_lr}, residual lr {c['lr']:g}, prior_fit={c['prior_fit']})"]
        for cond in CONDITIONS:
            s = f[cond]["prior_weight_final"]
            lines.append(f"  {cond:7s}: w = {s['mean']:.3f} [{s['ci95_low']:.3f}, {s['ci95_high']:.3f}] per seed "
                         f"{f[cond]['per_seed_final']}; one-step loss {f[cond]['final_loss']['mean']:.3f}; "
                         f"mean ball dvz per step {f[cond]['mean_obj_dvz_mps']:+.4f} m/s")
        if f["max_weight_change"] < 0.01:
            lines.append("  the weight never moved: the softplus(rho) path is broken")
        lines.append(f"  rule: {results['rule']}")
        return lines


EXPERIMENT = Balloon()
