"""Noisy-TV sanity check: does curiosity leave a source of pure noise for the learnable ones?

Three agents on the same seeds (same world, same forward models, same exploration noise)
differ only in their intrinsic reward: naive prediction error (a control that must be captured
by the TV), RobustCuriosityReward, and a wall-starer (a control that must fail too: it leaves
the TV at once but learns nothing, so "off the TV" alone cannot be the rule). Each step an
agent attends to the source with the highest reward (epsilon-greedy; sources not yet measured
are tried first, fewest visits first).

Figures per seed: the TV's share of steps, the step at which its first visits end (the visit
that completes the two windows its learnability needs), `off_step` (the first step after which
every `share_window`-step stretch has a TV share below `max_share`) and the share of steps
after the first visits spent on the learnable objects.
Rule for one seed: off the TV within `leave_within` steps of its first visits and staying off
(TV share after them < max_share), *and* at least `min_learnable_share` of the steps after them
on the learnable objects. PASS: every robust seed meets it, and no naive or wall seed does.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from nsca.config import field
from nsca.errors import UsageError
from nsca.experiments.protocol import RunConfig, SanityCheck, Verdict, out_field, seed_curves, seeds_field

CONDITIONS = ("naive", "robust", "wall")
CONTROLS = ("naive", "wall")  # each must fail the rule on every seed


@dataclass(frozen=True)
class NoisyTVConfig(RunConfig):
    n_seeds: int = seeds_field(5)
    out: str = out_field("runs/sanity/noisy-tv")
    steps: int = field(400, "attention steps per episode")
    n_objects: int = field(4, "learnable objects beside the TV and the wall")
    obs_dim: int = field(4, "dimension of every source's observation")
    window: int = field(5, "learning-progress window (visits); a source is measured after 2 windows")
    z: float = field(2.0, "confidence multiplier: an error decrease counts only beyond z standard errors")
    epsilon: float = field(0.05, "share of uniformly random attention choices")
    drift: float = field(0.002, "per-step random drift of the objects' dynamics")
    share_window: int = field(50, "steps per stretch when measuring the TV share")
    max_share: float = field(0.10, "TV share that counts as 'off the TV'")
    leave_within: int = field(10, "steps after its first visits within which the robust agent must leave")
    min_learnable_share: float = field(0.8, "share of the steps after the first visits that must go to the learnable objects")

    def validate(self) -> None:
        super().validate()
        if self.steps < 2 * self.window * (self.n_objects + 2) + self.share_window:
            raise UsageError(f"steps={self.steps} is too few: need >= 2*window*(n_objects+2) + share_window")
        if not 0 <= self.epsilon < 1:
            raise UsageError(f"epsilon={self.epsilon} must be in [0, 1)")
        if self.window < 2:
            raise UsageError(f"window={self.window} must be at least 2")
        if not 0 < self.min_learnable_share <= 1:
            raise UsageError(f"min_learnable_share={self.min_learnable_share} must be in (0, 1]")


def _wall_starer(n_sources: int, window: int):
    """The attention control: it measures every source as the others do, then looks only at the
    wall (reward 1 there, 0 elsewhere), the cheapest way to avoid the TV."""
    from nsca.envs.noisy_tv import WALL
    from nsca.learning.curiosity import NaiveCuriosityReward

    class WallStarer(NaiveCuriosityReward):
        def reward(self, source: int) -> float:
            if not self.measured(source):
                return math.inf
            return 1.0 if source == WALL else 0.0

    return WallStarer(n_sources, window=window)


def make_agent(condition: str, n_sources: int, cfg: NoisyTVConfig):
    from nsca.learning.curiosity import CURIOSITY

    if condition == "wall":
        return _wall_starer(n_sources, cfg.window)
    if condition == "robust":
        return CURIOSITY["robust"](n_sources, window=cfg.window, z=cfg.z)
    return CURIOSITY[condition](n_sources, window=cfg.window)


def run_episode(c: NoisyTVConfig, seed: int, condition: str) -> dict:
    """One agent, one seed: the attended source at every step and the final per-source state."""
    from nsca.envs.noisy_tv import TV, WALL, NoisyTVWorld, RLSForwardModel

    rng = np.random.default_rng(seed)
    world = NoisyTVWorld(rng, n_objects=c.n_objects, obs_dim=c.obs_dim, drift=c.drift)
    k_sources = world.n_sources
    models = [RLSForwardModel(world.obs_dim, world.action_dim) for _ in range(k_sources)]
    curiosity = make_agent(condition, k_sources, c)
    choices, errors = [], []
    for _ in range(c.steps):
        rewards = np.array([curiosity.reward(k) for k in range(k_sources)])
        explore = rng.random() < c.epsilon
        if explore:
            source = int(rng.integers(k_sources))
        else:
            best = np.flatnonzero(rewards == rewards.max())
            visits = curiosity.visits[best]
            source = int(rng.choice(best[visits == visits.min()]))
        obs, action, nxt = world.step(source)
        err = models[source].update(obs, action, nxt)
        curiosity.record(source, err)
        choices.append(source)
        errors.append(err)
    choices_arr = np.asarray(choices)
    on_tv = choices_arr == TV
    tv_visits = np.flatnonzero(on_tv)
    first_visits_end = int(tv_visits[2 * c.window - 1]) if tv_visits.size >= 2 * c.window else c.steps
    off = off_step(on_tv, c.share_window, c.max_share)
    after = on_tv[first_visits_end + 1 :]
    share_after = float(after.mean()) if after.size else float("nan")
    left_in_time = off is not None and off <= first_visits_end + c.leave_within
    learnable = choices_arr[first_visits_end + 1 :] > WALL  # sources 2.. are the objects
    learnable_share = float(learnable.mean()) if learnable.size else float("nan")
    leaves_tv = bool(left_in_time and share_after < c.max_share)
    attends_learnable = bool(learnable_share >= c.min_learnable_share)
    return {
        "choices": choices_arr.tolist(),
        "errors": [float(e) for e in errors],
        "source_names": world.source_names(),
        "tv_share": float(on_tv.mean()),
        "tv_visits": int(on_tv.sum()),
        "first_tv_visit": int(tv_visits[0]) if tv_visits.size else None,
        "first_visits_end": first_visits_end,
        "off_step": off,
        "leave_delay_steps": None if off is None else max(0, off - first_visits_end),
        "tv_share_after_first_visits": share_after,
        "tv_visits_after_first_visits": int(after.sum()),
        "learnable_share_after_first_visits": learnable_share,
        "leaves_tv": leaves_tv,
        "attends_learnable": attends_learnable,
        "passes_rule": leaves_tv and attends_learnable,
        "final_reward": [float(curiosity.reward(k)) for k in range(k_sources)],
        "final_recent_error": [float(curiosity.recent_error(k)) for k in range(k_sources)],
    }


def off_step(on_tv: np.ndarray, window: int, max_share: float) -> int | None:
    """First step t such that every full `window`-step stretch starting at or after t has a TV
    share below `max_share`; None if the agent never gets off the TV for good."""
    n = on_tv.size
    if n < window:
        return None
    csum = np.concatenate([[0], np.cumsum(on_tv)])
    shares = (csum[window:] - csum[:-window]) / window  # stretch starting at t, t = 0..n-window
    bad = np.flatnonzero(shares >= max_share)
    if bad.size == 0:
        return 0
    t = int(bad[-1]) + 1
    return t if t <= n - window else None


def run_cell(config: dict, cell_dir: Path) -> dict:
    return run_episode(*SanityCheck.cell_parts(NoisyTVConfig, config))


def rolling_share(on_tv: np.ndarray, window: int) -> np.ndarray:
    """Trailing share of TV steps at each step (over the last `window` steps, fewer at the start)."""
    csum = np.cumsum(on_tv)
    prev = np.concatenate([np.zeros(window), csum[:-window]])[: on_tv.size]
    span = np.minimum(np.arange(1, on_tv.size + 1), window)
    return (csum - prev) / span


class NoisyTV(SanityCheck):
    name = "noisy-tv"
    help = "naive vs robust curiosity beside a TV of random static"
    config = NoisyTVConfig
    conditions = CONDITIONS

    def judge(self, cfg: NoisyTVConfig, by: dict[str, list[dict]], records: list[dict]) -> Verdict:
        from nsca.stats import summarize

        figures = {}
        for cond in CONDITIONS:
            ms = by[cond]
            figures[cond] = {
                "seeds_passing_rule": int(sum(m["passes_rule"] for m in ms)),
                "tv_share": summarize([m["tv_share"] for m in ms]),
                "tv_share_after_first_visits": summarize([m["tv_share_after_first_visits"] for m in ms]),
                "first_visits_end": [m["first_visits_end"] for m in ms],
                "off_step": [m["off_step"] for m in ms],
                "leave_delay_steps": [m["leave_delay_steps"] for m in ms],
                "tv_visits_after_first_visits": [m["tv_visits_after_first_visits"] for m in ms],
                "learnable_share_after_first_visits": summarize([m["learnable_share_after_first_visits"] for m in ms]),
                "seeds_leaving_tv": int(sum(m["leaves_tv"] for m in ms)),
                "seeds_attending_learnable": int(sum(m["attends_learnable"] for m in ms)),
            }
        robust_ok = all(m["passes_rule"] for m in by["robust"])
        controls_fail = not any(m["passes_rule"] for cond in CONTROLS for m in by[cond])
        rule = (f"robust: on every seed, off the TV (every {cfg.share_window}-step stretch < {cfg.max_share:.0%} TV) within "
                f"{cfg.leave_within} steps of its first {2 * cfg.window} TV visits, < {cfg.max_share:.0%} TV share after "
                f"them, and >= {cfg.min_learnable_share:.0%} of the steps after them on the learnable objects; "
                f"the controls (naive: captured by the TV; wall: stares at the wall) must fail that rule on every seed")
        per_seed = [{"condition": r["condition"], "seed": r["seed"],
                     **{k: v for k, v in r["metrics"].items() if k not in ("choices", "errors")}} for r in records]
        return Verdict(robust_ok and controls_fail, rule, figures, per_seed)

    def plot(self, cfg: NoisyTVConfig, records: list[dict], results: dict):
        import matplotlib.pyplot as plt

        from nsca.envs.noisy_tv import TV, WALL

        by = self.by_condition(records)
        fig, axes = plt.subplots(1, 2, figsize=(11, 3.8), sharex=True)
        colors = {"naive": "tab:red", "robust": "tab:blue", "wall": "tab:gray"}
        labels = {"naive": "naive curiosity", "robust": "robust curiosity", "wall": "wall-starer"}
        window = 20
        ends = [m["first_visits_end"] for ms in by.values() for m in ms]
        panels = (("TV (random static)", lambda ch: ch == TV, cfg.max_share),
                  ("learnable objects", lambda ch: ch > WALL, cfg.min_learnable_share))
        for ax, (what, pick, line) in zip(axes, panels):
            for cond in CONDITIONS:
                curves = np.array([rolling_share(pick(np.asarray(m["choices"])), window) for m in by[cond]])
                seed_curves(ax, np.arange(curves.shape[1]), curves, colors[cond], labels[cond])
            ax.axvspan(0, float(np.median(ends)), color="0.9", label=f"first {2 * cfg.window} visits to each source")
            ax.axhline(line, color="k", ls="--", lw=0.8, label=f"rule: {line:.0%}")
            ax.set_xlabel("step")
            ax.set_ylabel(f"share of the last {window} steps")
            ax.set_ylim(0, 1.02)
            ax.set_title(f"attention on the {what}")
        axes[0].legend(loc="center right", fontsize=7)
        fig.suptitle("Noisy TV: leave the static, attend to what can be learned")
        return fig

    def report_lines(self, results: dict) -> list[str]:
        lines = ["Noisy TV: attention on the TV (random static) and on the learnable objects; "
                 "naive curiosity, robust curiosity, a wall-starer"]
        for cond in CONDITIONS:
            f = results["figures"][cond]
            s, a, o = f["tv_share"], f["tv_share_after_first_visits"], f["learnable_share_after_first_visits"]
            n = len(f["off_step"])
            lines.append(
                f"  {cond:6s}: TV share {s['mean']:.2f} [{s['ci95_low']:.2f}, {s['ci95_high']:.2f}] overall, "
                f"{a['mean']:.3f} after its first visits (TV visits after them per seed {f['tv_visits_after_first_visits']}); "
                f"first visits end at steps {f['first_visits_end']}; TV share stays < {results['config']['max_share']:.0%} "
                f"from steps {f['off_step']} (delay after first visits {f['leave_delay_steps']}); "
                f"share on the learnable objects after them {o['mean']:.2f} [{o['ci95_low']:.2f}, {o['ci95_high']:.2f}]; "
                f"seeds leaving the TV {f['seeds_leaving_tv']}/{n}, attending to the objects "
                f"{f['seeds_attending_learnable']}/{n}, meeting the rule {f['seeds_passing_rule']}/{n}"
            )
        lines.append(f"  rule: {results['rule']}")
        return lines


EXPERIMENT = NoisyTV()
