"""Catastrophic-forgetting sanity check: does EWC keep pick-place after learning push?

Protocol (the plan's, as in Continual World): train the NSCA BC policy (nsca.learning.bc) on
task A's scripted demos and evaluate A; then train the same network on task B's demos and
evaluate B and A again. Conditions `no-ewc` and `ewc` share everything up to the end of task A
(same seed -> the same A policy, cached in the run folder) and differ only in the EWC penalty
during task B. Success is Meta-World's flag on held-out evaluation layouts shared by all
conditions. Forgetting = A-before - A-after.

The policy sees the object-centric state, the goal and a task one-hot (task-incremental
continual learning, as in Continual World). The one-hot channels are not normalised, so a task
never seen in training does not blow up the A-fitted normaliser.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from nsca.config import field
from nsca.errors import UsageError
from nsca.experiments.protocol import RunConfig, SanityCheck, Verdict, out_field, seed_bars, seeds_field
from nsca.priors.state import OBJ_VEL

CONDITIONS = ("no-ewc", "ewc")


@dataclass(frozen=True)
class ForgettingConfig(RunConfig):
    n_seeds: int = seeds_field(3)
    out: str = out_field("runs/sanity/forgetting")
    task_a: str = field("pick-place-v3", "first task (v2 names are mapped to v3)")
    task_b: str = field("push-v3", "second task")
    demos: int = field(20, "scripted demos per task")
    eval_episodes: int = field(20, "held-out evaluation layouts per task and evaluation")
    hidden: int = field(256, "BC policy width (as the phase-0 agent)")
    lr: float = field(1e-3, "learning rate of both phases")
    steps_a: int = field(2000, "training steps on task A")
    steps_b: int = field(6000, "training steps on task B")
    input_noise: float = field(0.05, "BC input noise in normalised units (as the phase-0 agent)")
    optimizer_b: Literal["adam", "sgd"] = field("adam", "optimiser of phase B (sgd: momentum 0.9)")
    ewc_lambda: float = field(3000.0, "EWC strength; 1 = diagonal estimate of task A's MSE increase")
    fisher_samples: int = field(4000, "task-A states the Fisher is measured on (demo states, with input noise)")
    min_gain: float = field(0.25, "PASS: EWC's mean A-after must exceed no-EWC's by at least this")
    min_b: float = field(0.5, "PASS: EWC's mean B-after must be at least this")

    def validate(self) -> None:
        super().validate()
        for name in ("demos", "eval_episodes", "hidden", "steps_a", "fisher_samples"):
            if getattr(self, name) < 1:
                raise UsageError(f"{name}={getattr(self, name)} must be at least 1")
        if self.steps_b < 0 or self.ewc_lambda < 0 or self.lr <= 0:
            raise UsageError("steps_b and ewc_lambda must be >= 0 and lr > 0")


# The BC input's part of the object-centric state: hand position and velocity, gripper, object
# position and velocity (the first 13 floats of nsca.priors.state); this policy needs no more,
# and keeping it fixed keeps the check's numbers comparable across state extensions.
BC_STATE = slice(0, OBJ_VEL.stop)


def policy_inputs(obs: np.ndarray, task_index: int) -> np.ndarray:
    """BC input: the BC_STATE fields (13), goal (3), task one-hot (2)."""
    from nsca.envs.metaworld import goal, object_state

    s = object_state(obs)[..., BC_STATE]
    onehot = np.zeros(s.shape[:-1] + (2,), np.float32)
    onehot[..., task_index] = 1.0
    return np.concatenate([s, goal(obs), onehot], -1)


def demo_tensors(demos: list, task_index: int):
    import torch

    x = np.concatenate([policy_inputs(ep.obs[:-1], task_index) for ep in demos])
    a = np.concatenate([ep.actions for ep in demos])
    return torch.as_tensor(x), torch.as_tensor(a)


def success_rate(policy, env, task_index: int, episodes: int) -> float:
    from nsca.envs.metaworld import eval_layout_seeds, rollout

    act = lambda obs: policy.act(policy_inputs(obs, task_index))  # noqa: E731
    return float(np.mean([rollout(env, s, act).success for s in eval_layout_seeds(episodes)]))


def train(policy, x, a, steps: int, cfg: ForgettingConfig, gen, optimizer: str = "adam", penalty=None) -> list[float]:
    """Minibatch BC regression (train_regressor's recipe), with a choice of optimiser for phase B."""
    from nsca.learning.bc import train_regressor

    if optimizer == "adam":
        return train_regressor(policy, x, a, steps, cfg.lr, input_noise=cfg.input_noise, generator=gen, penalty=penalty)
    return train_regressor(policy, x, a, steps, cfg.lr, input_noise=cfg.input_noise, generator=gen, penalty=penalty,
                           optimizer="sgd", weight_decay=0.0)


def _phase_a_key(cfg: ForgettingConfig, seed: int) -> str:
    keys = ("task_a", "demos", "eval_episodes", "hidden", "lr", "steps_a", "input_noise")
    blob = json.dumps({k: getattr(cfg, k) for k in keys} | {"seed": seed}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:12]


def phase_a(cfg: ForgettingConfig, seed: int, cache: Path, env_a, xa, aa):
    """The task-A policy and its A success; cached so both conditions share it exactly."""
    import io

    import torch

    from nsca.learning.bc import BCPolicy
    from nsca.utils.io import atomic_write_bytes, atomic_write_json, read_json

    path = cache / f"seed{seed}_{_phase_a_key(cfg, seed)}"
    torch.manual_seed(seed)
    policy = BCPolicy(xa.shape[1], hidden=cfg.hidden)
    meta = read_json(path.with_suffix(".json"))
    if meta is not None and path.with_suffix(".pt").exists():
        policy.load_state_dict(torch.load(path.with_suffix(".pt")))
        policy.eval()
        return policy, meta
    policy.norm.fit(xa)
    policy.norm.mean[-2:] = 0.0  # task one-hot: leave unnormalised
    policy.norm.std[-2:] = 1.0
    gen = torch.Generator().manual_seed(seed)
    losses = train(policy, xa, aa, cfg.steps_a, cfg, gen)
    policy.eval()
    meta = {"a_before": success_rate(policy, env_a, 0, cfg.eval_episodes), "bc_loss_a": float(np.mean(losses[-50:]))}
    buf = io.BytesIO()
    torch.save(policy.state_dict(), buf)
    atomic_write_bytes(path.with_suffix(".pt"), buf.getvalue())
    atomic_write_json(path.with_suffix(".json"), meta)
    return policy, meta


def run_cell(config: dict, cell_dir: Path) -> dict:
    import torch

    from nsca.envs.metaworld import MetaWorldTask, load_or_collect_demos
    from nsca.learning.ewc import EWC
    from nsca.utils.seeding import seed_everything

    cfg, seed, condition = SanityCheck.cell_parts(ForgettingConfig, config)
    seed_everything(seed)
    env_a, env_b = MetaWorldTask(cfg.task_a), MetaWorldTask(cfg.task_b)
    xa, aa = demo_tensors(load_or_collect_demos(cfg.task_a, seed, cfg.demos, env=env_a), 0)
    xb, ab = demo_tensors(load_or_collect_demos(cfg.task_b, seed, cfg.demos, env=env_b), 1)
    policy, meta = phase_a(cfg, seed, cell_dir.parent.parent / "phase_a", env_a, xa, aa)

    gen = torch.Generator().manual_seed(seed + 1)
    penalty = None
    if condition == "ewc":
        idx = torch.randint(0, xa.shape[0], (cfg.fisher_samples,), generator=gen)
        # Fisher on demo states jittered like the training inputs: a closed loop drifts off the
        # exact demo states, and the weights that matter there should be protected too.
        states = xa[idx] + torch.randn(xa[idx].shape, generator=gen) * cfg.input_noise * policy.norm.std
        penalty = EWC(cfg.ewc_lambda)
        penalty.consolidate(policy, states)
    with torch.no_grad():
        loss_a_before = float((policy(xa) - aa).pow(2).mean())
    policy.train()
    losses = train(policy, xb, ab, cfg.steps_b, cfg, gen, cfg.optimizer_b, penalty)
    policy.eval()
    with torch.no_grad():
        loss_a_after = float((policy(xa) - aa).pow(2).mean())
        loss_b_after = float((policy(xb) - ab).pow(2).mean())
    if not np.isfinite(loss_b_after):
        raise UsageError(f"phase B diverged (loss {loss_b_after}); lower --lr or --ewc-lambda for optimizer_b={cfg.optimizer_b}")
    b_after = success_rate(policy, env_b, 1, cfg.eval_episodes)
    a_after = success_rate(policy, env_a, 0, cfg.eval_episodes)
    return {
        "a_before": meta["a_before"],
        "b_after": b_after,
        "a_after": a_after,
        "forgetting": meta["a_before"] - a_after,
        "bc_loss_a_before": loss_a_before,
        "bc_loss_a_after": loss_a_after,
        "bc_loss_b_after": loss_b_after,
        "final_train_loss_b": float(np.mean(losses[-50:])) if losses else float("nan"),
    }


class Forgetting(SanityCheck):
    name = "forgetting"
    help = "BC on pick-place then push, with and without EWC: is pick-place kept?"
    config = ForgettingConfig
    conditions = CONDITIONS

    def check(self, cfg: ForgettingConfig) -> None:
        from nsca.envs.metaworld import resolve_task

        resolve_task(cfg.task_a), resolve_task(cfg.task_b)

    def judge(self, cfg: ForgettingConfig, by: dict[str, list[dict]], records: list[dict]) -> Verdict:
        from nsca.stats import cohens_d, summarize, welch_t

        keys = ("a_before", "b_after", "a_after", "forgetting", "bc_loss_a_after", "bc_loss_b_after")
        figures: dict = {cond: {k: summarize([m[k] for m in by[cond]]) for k in keys} for cond in CONDITIONS}
        a_ewc = [m["a_after"] for m in by["ewc"]]
        a_none = [m["a_after"] for m in by["no-ewc"]]
        gain = float(np.mean(a_ewc) - np.mean(a_none))
        figures["a_after_gain"] = {"mean": gain, "welch_p": welch_t(a_ewc, a_none), "cohens_d": cohens_d(a_ewc, a_none)}
        b_ewc = float(np.mean([m["b_after"] for m in by["ewc"]]))
        rule = (f"mean A-after with EWC exceeds no-EWC's by >= {cfg.min_gain} and mean B-after with EWC >= {cfg.min_b} "
                f"({cfg.eval_episodes} held-out layouts per evaluation)")
        per_seed = [{"condition": r["condition"], "seed": r["seed"], **r["metrics"]} for r in records]
        return Verdict(gain >= cfg.min_gain and b_ewc >= cfg.min_b, rule, figures, per_seed)

    def plot(self, cfg: ForgettingConfig, records: list[dict], results: dict):
        import matplotlib.pyplot as plt

        by = self.by_condition(records)
        fig, ax = plt.subplots(figsize=(7, 3.6))
        stages = ("a_before", "b_after", "a_after")
        labels = (f"A before\n({cfg.task_a})", f"B after\n({cfg.task_b})", f"A after\n({cfg.task_a})")
        width = 0.38
        for j, (cond, color) in enumerate(zip(CONDITIONS, ("tab:red", "tab:blue"))):
            vals = np.array([[m[s] for s in stages] for m in by[cond]])
            seed_bars(ax, np.arange(len(stages)) + (j - 0.5) * width, vals, width, color,
                      label=f"{cond} (mean of {len(vals)} seeds)")
        ax.set_xticks(np.arange(len(stages)), labels)
        ax.set_ylabel("success rate")
        ax.set_ylim(0, 1.05)
        ax.set_title(f"Forgetting: BC on A then B (EWC lambda={cfg.ewc_lambda:g})")
        ax.legend(fontsize=8)
        return fig

    def report_lines(self, results: dict) -> list[str]:
        f = results["figures"]
        c = results["config"]
        lines = [f"Forgetting: {c['task_a']} (A) then {c['task_b']} (B), {c['demos']} demos each, "
                 f"EWC lambda={c['ewc_lambda']:g}, phase-B optimiser {c['optimizer_b']}"]
        for cond in CONDITIONS:
            g = f[cond]

            def fmt(k: str, g: dict = g) -> str:
                return f"{g[k]['mean']:.2f} [{g[k]['ci95_low']:.2f}, {g[k]['ci95_high']:.2f}]"

            lines.append(f"  {cond:6s}: A-before {fmt('a_before')}  B-after {fmt('b_after')}  A-after {fmt('a_after')}  "
                         f"forgetting {fmt('forgetting')}  (BC loss on A demos after B {g['bc_loss_a_after']['mean']:.4f})")
        gain = f["a_after_gain"]
        lines.append(f"  A-after gain from EWC {gain['mean']:+.2f} (Welch p={gain['welch_p']:.3g}, d={gain['cohens_d']:.2f})")
        lines.append(f"  rule: {results['rule']}")
        return lines


EXPERIMENT = Forgetting()
