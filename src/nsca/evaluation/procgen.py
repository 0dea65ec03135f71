"""`nsca eval procgen`: does NSCA's vision encoder help PPO generalise to unseen Procgen levels?

Protocol (Cobbe et al. 2020, train-procgen): easy mode, train on 200 levels (0..199), test on
the full level distribution (num_levels=0: unseen with probability ~1), PPO, scores normalised
per game with train-procgen's easy-mode constants, (R - R_min) / (R_max - R_min).

Encoders (the rest of the agent is identical: encoder -> 256 ReLU -> policy and value heads):
- impala:       IMPALA-CNN (Espeholt et al. 2018; channels 16, 32, 32), random init: train-procgen's network;
- nsca_random:  NSCA's VisionEncoder architecture at random init (the control for pretraining);
- nsca:         NSCA's VisionEncoder from a `nsca train` checkpoint, fine-tuned;
- nsca_frozen:  the same, frozen (only the 256 layer and heads learn).
NSCA's encoder reads `frame_stack` stacked frames (as in training); the two NSCA encoders get the
same stack, IMPALA one frame (as train-procgen).

PPO is a compact CleanRL-style implementation (clipped objective, GAE, value clipping, return
normalisation as train-procgen's VecNormalize(ob=False)), not Stable-Baselines3: SB3 would need a
gym3 -> VecEnv adapter and a way to swap in a pretrained frame-stack encoder, and adds a
dependency; CleanRL's ppo_procgen.py is the reference this follows (same default hyper-parameters
where the budget allows; the rollout size is smaller at CPU budgets, see ProcgenEvalConfig).

procgen-mirror's wheel declares numpy<2 but runs on numpy 2 (gym3 is pure Python); install it
with --no-deps (docs/procgen.md) so it does not downgrade numpy.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from nsca.config import field, preset_block
from nsca.errors import UsageError
from nsca.experiments.protocol import Experiment, RunConfig, experiment_fields, out_field, seeds_field
from nsca.model.config import preset_names
from nsca.runner import Cell

# train-procgen easy-mode normalisation constants (R_min, R_max), Procgen paper appendix.
NORMALIZATION_EASY = {
    "coinrun": (5.0, 10.0), "starpilot": (2.5, 64.0), "caveflyer": (3.5, 12.0), "dodgeball": (1.5, 19.0),
    "fruitbot": (-1.5, 32.4), "chaser": (0.5, 13.0), "miner": (1.5, 13.0), "jumper": (3.0, 10.0),
    "leaper": (3.0, 10.0), "maze": (5.0, 10.0), "bigfish": (1.0, 40.0), "heist": (3.5, 10.0),
    "climber": (2.0, 12.6), "plunder": (4.5, 30.0), "ninja": (3.5, 10.0), "bossfight": (0.5, 13.0),
}
GAMES = tuple(sorted(NORMALIZATION_EASY))
PPO_REFERENCE = {"mean_normalized_test_easy_200_levels_25M_steps": 0.356,
                 "source": "train-procgen CSVs (PPO, easy, 200 levels, 25M steps), as quoted in the phase-7 brief"}
ENCODERS = ("impala", "nsca_random", "nsca", "nsca_frozen")
N_ACTIONS = 15


@dataclass(frozen=True)
class PPOConfig:
    num_envs: int = field(16, "parallel environments (train-procgen: 64)")
    num_steps: int = field(128, "steps per environment per rollout (train-procgen: 256)")
    lr: float = field(5e-4, "Adam learning rate")
    gamma: float = field(0.999, "discount")
    gae_lambda: float = field(0.95, "GAE lambda")
    epochs: int = field(3, "optimisation epochs per rollout")
    minibatches: int = field(8, "minibatches per epoch")
    clip: float = field(0.2, "PPO clip range (policy and value)")
    ent_coef: float = field(0.01, "entropy bonus")
    vf_coef: float = field(0.5, "value loss weight")
    max_grad_norm: float = field(0.5, "gradient clipping")


@dataclass(frozen=True)
class ProcgenEvalConfig(RunConfig):
    """The suite's fields plus the run fields every experiment has (`--seeds N`: seeds 0..N-1 per
    (game, encoder); `--out`, `--workers`, `--backend`, `--address`)."""

    n_seeds: int = seeds_field(1)
    out: str = out_field("runs/eval/procgen")
    games: tuple[str, ...] = field(("coinrun", "starpilot", "caveflyer"), "Procgen games")
    encoders: tuple[str, ...] = field(("impala", "nsca_random", "nsca", "nsca_frozen"), "encoders: impala, nsca_random, nsca, nsca_frozen")
    steps: int = field(100_000, "training env steps per (game, encoder, seed); train-procgen: 25M")
    num_levels: int = field(200, "training levels (0 .. num_levels-1)")
    eval_episodes: int = field(64, "episodes on training levels and on unseen levels after training")
    eval_max_steps: int = field(20_000, "cap on env steps of each evaluation (per env)")
    checkpoint: str | None = field(None, "NSCA run folder or checkpoint whose vision encoder nsca / nsca_frozen use")
    preset: str = field("default", "architecture of nsca_random when no checkpoint gives one: a block of presets.yaml's "
                                   f"model section ({', '.join(preset_names())})")
    ppo: PPOConfig = field(PPOConfig(), "PPO hyper-parameters")
    device: str = field("cpu", "torch device (cpu, cuda)")
    threads: int = field(1, "torch threads per cell")

    def validate(self) -> None:
        super().validate()
        preset_block("model", self.preset)  # an unknown name is a one-line error listing the blocks
        bad = [g for g in self.games if g not in NORMALIZATION_EASY]
        if bad:
            raise UsageError(f"unknown Procgen game {bad[0]!r}; choose from {', '.join(GAMES)}")
        bad = [e for e in self.encoders if e not in ENCODERS]
        if bad:
            raise UsageError(f"unknown encoder {bad[0]!r}; choose from {', '.join(ENCODERS)}")
        if self.steps < self.ppo.num_envs * self.ppo.num_steps:
            raise UsageError(f"steps={self.steps} is less than one rollout (num_envs x num_steps = "
                             f"{self.ppo.num_envs * self.ppo.num_steps})")
        if self.num_levels < 0 or self.eval_episodes < 1:
            raise UsageError("num_levels must be >= 0 and eval_episodes >= 1")
        if (self.ppo.num_envs * self.ppo.num_steps) % self.ppo.minibatches:
            raise UsageError("num_envs x num_steps must be divisible by minibatches")


def normalized_score(game: str, ret: float) -> float:
    lo, hi = NORMALIZATION_EASY[game]
    return (ret - lo) / (hi - lo)


# ---- environment -----------------------------------------------------------------------------
class ProcgenVec:
    """gym3's ProcgenGym3Env as reset/step arrays: obs (N, 64, 64, 3) uint8, reward, done."""

    def __init__(self, game: str, num_envs: int, num_levels: int, start_level: int, seed: int) -> None:
        try:
            from procgen import ProcgenGym3Env
        except ImportError:
            raise UsageError("Procgen is not installed: pip install --no-deps procgen-mirror gym3 (see docs/procgen.md)") from None
        if game not in NORMALIZATION_EASY:
            raise UsageError(f"unknown Procgen game {game!r}; choose from {', '.join(GAMES)}")
        self.env = ProcgenGym3Env(num=num_envs, env_name=game, distribution_mode="easy", num_levels=num_levels,
                                  start_level=start_level, rand_seed=int(seed))
        self.num_envs = num_envs

    def reset(self) -> np.ndarray:
        return self.env.observe()[1]["rgb"].copy()

    def step(self, actions: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """`done[i]` means the step ended an episode and obs[i] starts the next one."""
        self.env.act(actions.astype(np.int32))
        rew, ob, first = self.env.observe()
        return ob["rgb"].copy(), rew.astype(np.float32), first.astype(bool)


class FrameStack:
    """The last k frames per env, (N, k, 64, 64, 3); a new episode starts from k copies."""

    def __init__(self, k: int, first_obs: np.ndarray) -> None:
        self.k = k
        self.frames = np.repeat(first_obs[:, None], k, axis=1)

    def push(self, obs: np.ndarray, done: np.ndarray) -> np.ndarray:
        self.frames = np.roll(self.frames, -1, axis=1)
        self.frames[:, -1] = obs
        if done.any():
            self.frames[done] = obs[done][:, None]
        return self.frames.copy()


# ---- networks --------------------------------------------------------------------------------
class _Residual(nn.Module):
    def __init__(self, ch: int) -> None:
        super().__init__()
        self.c0 = nn.Conv2d(ch, ch, 3, padding=1)
        self.c1 = nn.Conv2d(ch, ch, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.c1(torch.relu(self.c0(torch.relu(x))))


class ImpalaCNN(nn.Module):
    """IMPALA-CNN (Espeholt et al. 2018) as in train-procgen: 3 stacks of conv, max-pool, 2 res blocks."""

    frame_stack = 1

    def __init__(self, channels: tuple[int, ...] = (16, 32, 32), out_dim: int = 256) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        in_ch = 3
        for ch in channels:
            layers += [nn.Conv2d(in_ch, ch, 3, padding=1), nn.MaxPool2d(3, 2, padding=1), _Residual(ch), _Residual(ch)]
            in_ch = ch
        self.convs = nn.Sequential(*layers)
        self.fc = nn.Linear(in_ch * 8 * 8, out_dim)

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        """frames (B, 1, 3, 64, 64) in [0, 1]."""
        x = torch.relu(self.convs(frames[:, -1]))
        return torch.relu(self.fc(x.flatten(1)))


class NSCAVisionTrunk(nn.Module):
    """NSCA's VisionEncoder (frame-stacked, latent_dim) -> Linear -> ReLU (256)."""

    def __init__(self, vision: nn.Module, latent_dim: int, frozen: bool, out_dim: int = 256) -> None:
        super().__init__()
        self.vision = vision
        self.frame_stack = vision.frame_stack
        self.frozen = frozen
        if frozen:
            for p in self.vision.parameters():
                p.requires_grad_(False)
        self.fc = nn.Linear(latent_dim, out_dim)

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        if self.frozen:
            with torch.no_grad():
                z = self.vision(frames)
        else:
            z = self.vision(frames)
        return torch.relu(self.fc(z))


class ActorCritic(nn.Module):
    def __init__(self, trunk: nn.Module, hidden: int = 256) -> None:
        super().__init__()
        self.trunk = trunk
        self.frame_stack = trunk.frame_stack
        self.pi = nn.Linear(hidden, N_ACTIONS)
        self.v = nn.Linear(hidden, 1)
        nn.init.orthogonal_(self.pi.weight, 0.01)
        nn.init.zeros_(self.pi.bias)
        nn.init.orthogonal_(self.v.weight, 1.0)
        nn.init.zeros_(self.v.bias)

    def forward(self, obs_uint8: torch.Tensor) -> tuple[torch.distributions.Categorical, torch.Tensor]:
        """obs (B, k, 64, 64, 3) uint8."""
        x = obs_uint8.permute(0, 1, 4, 2, 3).float().div_(255.0)
        h = self.trunk(x)
        return torch.distributions.Categorical(logits=self.pi(h)), self.v(h).squeeze(-1)


def build_agent(encoder: str, checkpoint: str | None, preset_name: str) -> ActorCritic:
    if encoder == "impala":
        return ActorCritic(ImpalaCNN())
    from nsca.evaluation.physion_ocp import load_nsca
    from nsca.model.config import preset
    from nsca.model.encoders import VisionEncoder

    if encoder in ("nsca", "nsca_frozen"):
        if not checkpoint:
            raise UsageError(f"encoder {encoder!r} needs --checkpoint (a `nsca train` run)")
        model = load_nsca(checkpoint)
        vision, d = model.encoders["vision"], model.cfg.latent_dim
    else:
        cfg = load_nsca(checkpoint).cfg if checkpoint else preset(preset_name)
        vision, d = VisionEncoder(cfg.latent_dim, tuple(cfg.vision_channels), cfg.frame_stack), cfg.latent_dim
    return ActorCritic(NSCAVisionTrunk(vision, d, frozen=encoder == "nsca_frozen"))


# ---- PPO -------------------------------------------------------------------------------------
class RunningReturnStd:
    """Scale rewards by the std of the discounted return (train-procgen's VecNormalize, ret only)."""

    def __init__(self, n: int, gamma: float) -> None:
        self.ret = np.zeros(n)
        self.gamma = gamma
        self.mean, self.var, self.count = 0.0, 1.0, 1e-4

    def __call__(self, reward: np.ndarray, done: np.ndarray) -> np.ndarray:
        self.ret = self.ret * self.gamma + reward
        b_mean, b_var, b_n = self.ret.mean(), self.ret.var(), self.ret.size
        delta, tot = b_mean - self.mean, self.count + b_n
        self.mean += delta * b_n / tot
        self.var = (self.var * self.count + b_var * b_n + delta ** 2 * self.count * b_n / tot) / tot
        self.count = tot
        self.ret[done] = 0.0
        return (reward / math.sqrt(self.var + 1e-8)).astype(np.float32)


def train_ppo(agent: ActorCritic, env: ProcgenVec, steps: int, cfg: PPOConfig, device: torch.device,
              seed: int, log: Callable[[dict], None] | None = None) -> dict:
    """PPO for `steps` env steps; returns the training curve (mean raw episode return per update)."""
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    params = [p for p in agent.parameters() if p.requires_grad]
    opt = torch.optim.Adam(params, lr=cfg.lr, eps=1e-5)
    n, t_len = cfg.num_envs, cfg.num_steps
    k = agent.frame_stack
    stack = FrameStack(k, env.reset())
    obs = stack.frames.copy()
    norm = RunningReturnStd(n, cfg.gamma)
    buf_obs = np.zeros((t_len, n, k, 64, 64, 3), np.uint8)
    buf_act = np.zeros((t_len, n), np.int64)
    buf_logp = np.zeros((t_len, n), np.float32)
    buf_val = np.zeros((t_len + 1, n), np.float32)
    buf_rew = np.zeros((t_len, n), np.float32)
    buf_done = np.zeros((t_len, n), np.float32)
    ep_ret = np.zeros(n)
    curve: list[dict] = []
    updates = steps // (n * t_len)
    t0 = time.perf_counter()
    for update in range(updates):
        finished: list[float] = []
        agent.eval()
        with torch.no_grad():
            for t in range(t_len):
                dist, value = agent(torch.from_numpy(obs).to(device))
                action = dist.sample()
                buf_obs[t], buf_act[t] = obs, action.cpu().numpy()
                buf_logp[t], buf_val[t] = dist.log_prob(action).cpu().numpy(), value.cpu().numpy()
                nxt, rew, done = env.step(buf_act[t])
                ep_ret += rew
                finished += ep_ret[done].tolist()
                ep_ret[done] = 0.0
                buf_rew[t], buf_done[t] = norm(rew, done), done
                obs = stack.push(nxt, done)
            buf_val[t_len] = agent(torch.from_numpy(obs).to(device))[1].cpu().numpy()
        # GAE: done[t] means the step t ended the episode, so no bootstrap across it.
        adv = np.zeros((t_len, n), np.float32)
        last = np.zeros(n, np.float32)
        for t in reversed(range(t_len)):
            nonterminal = 1.0 - buf_done[t]
            delta = buf_rew[t] + cfg.gamma * buf_val[t + 1] * nonterminal - buf_val[t]
            last = delta + cfg.gamma * cfg.gae_lambda * nonterminal * last
            adv[t] = last
        ret = adv + buf_val[:t_len]
        b_obs = torch.from_numpy(buf_obs.reshape(t_len * n, k, 64, 64, 3))
        b_act, b_logp = torch.from_numpy(buf_act.reshape(-1)), torch.from_numpy(buf_logp.reshape(-1))
        b_adv, b_ret = torch.from_numpy(adv.reshape(-1)), torch.from_numpy(ret.reshape(-1))
        b_val = torch.from_numpy(buf_val[:t_len].reshape(-1))
        agent.train()
        mb = t_len * n // cfg.minibatches
        stats = []
        for _ in range(cfg.epochs):
            order = torch.from_numpy(rng.permutation(t_len * n))
            for i in range(cfg.minibatches):
                idx = order[i * mb:(i + 1) * mb]
                dist, value = agent(b_obs[idx].to(device))
                logp = dist.log_prob(b_act[idx].to(device))
                ratio = (logp - b_logp[idx].to(device)).exp()
                a = b_adv[idx].to(device)
                a = (a - a.mean()) / (a.std() + 1e-8)
                pg = torch.max(-a * ratio, -a * ratio.clamp(1 - cfg.clip, 1 + cfg.clip)).mean()
                v_old, r = b_val[idx].to(device), b_ret[idx].to(device)
                v_clip = v_old + (value - v_old).clamp(-cfg.clip, cfg.clip)
                vf = 0.5 * torch.max((value - r).pow(2), (v_clip - r).pow(2)).mean()
                ent = dist.entropy().mean()
                loss = pg + cfg.vf_coef * vf - cfg.ent_coef * ent
                opt.zero_grad(set_to_none=True)
                loss.backward()
                nn.utils.clip_grad_norm_(params, cfg.max_grad_norm)
                opt.step()
                stats.append((pg.item(), vf.item(), ent.item()))
        pg_m, vf_m, ent_m = (float(np.mean(c)) for c in zip(*stats))
        row = {"update": update + 1, "env_steps": (update + 1) * n * t_len,
               "episodes": len(finished), "mean_return": float(np.mean(finished)) if finished else None,
               "policy_loss": pg_m, "value_loss": vf_m, "entropy": ent_m,
               "steps_per_s": (update + 1) * n * t_len / (time.perf_counter() - t0)}
        curve.append(row)
        if log:
            log(row)
    return {"curve": curve, "train_wall_s": time.perf_counter() - t0, "env_steps": updates * n * t_len}


def evaluate(agent: ActorCritic, env: ProcgenVec, episodes: int, max_steps: int, device: torch.device, seed: int) -> dict:
    """Mean raw return over the first ceil(episodes / N) episodes of each env (sampled actions,
    as train-procgen reports), so short episodes are not over-counted."""
    torch.manual_seed(seed)
    per_env = math.ceil(episodes / env.num_envs)
    stack = FrameStack(agent.frame_stack, env.reset())
    obs = stack.frames.copy()
    returns: list[list[float]] = [[] for _ in range(env.num_envs)]
    ep_ret = np.zeros(env.num_envs)
    agent.eval()
    with torch.no_grad():
        for _ in range(max_steps):
            dist, _ = agent(torch.from_numpy(obs).to(device))
            nxt, rew, done = env.step(dist.sample().cpu().numpy())
            ep_ret += rew
            for i in np.flatnonzero(done):
                if len(returns[i]) < per_env:
                    returns[i].append(float(ep_ret[i]))
            ep_ret[done] = 0.0
            obs = stack.push(nxt, done)
            if all(len(r) >= per_env for r in returns):
                break
    flat = [r for rs in returns for r in rs]
    return {"mean_return": float(np.mean(flat)) if flat else None, "episodes": len(flat)}


# ---- one grid cell and the suite ------------------------------------------------------------
def cell_parts(config: dict) -> tuple[ProcgenEvalConfig, str, str, int]:
    """A cell's config as `Procgen.cells` builds it, back as (suite config, game, encoder, seed);
    the run fields, which no cell reads, are at their defaults."""
    from nsca.config import from_dict

    fields = dict(config)
    game, encoder, seed = fields.pop("game"), fields.pop("encoder"), fields.pop("seed")
    return from_dict(ProcgenEvalConfig, fields), game, encoder, seed


def run_cell(config: dict, cell_dir: Path) -> dict:
    """One (game, encoder, seed): train PPO, evaluate on training and unseen levels."""
    from nsca.utils.seeding import seed_everything

    cfg, game, encoder, seed = cell_parts(config)
    torch.set_num_threads(cfg.threads)
    seed_everything(seed)
    device = torch.device(cfg.device)
    agent = build_agent(encoder, cfg.checkpoint, cfg.preset).to(device)
    rows: list[dict] = []
    train_env = ProcgenVec(game, cfg.ppo.num_envs, cfg.num_levels, 0, seed)
    trained = train_ppo(agent, train_env, cfg.steps, cfg.ppo, device, seed, log=rows.append)
    n_eval = min(cfg.ppo.num_envs, cfg.eval_episodes)
    on_train = evaluate(agent, ProcgenVec(game, n_eval, cfg.num_levels, 0, seed + 10_000), cfg.eval_episodes,
                        cfg.eval_max_steps, device, seed)
    on_test = evaluate(agent, ProcgenVec(game, n_eval, 0, 0, seed + 20_000), cfg.eval_episodes,
                       cfg.eval_max_steps, device, seed)
    (cell_dir / "curve.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))

    def norm(x: float | None) -> float | None:
        return None if x is None else normalized_score(game, x)

    return {
        "game": game, "encoder": encoder, "seed": seed, "env_steps": trained["env_steps"],
        "train_return": on_train["mean_return"], "test_return": on_test["mean_return"],
        "train_normalized": norm(on_train["mean_return"]), "test_normalized": norm(on_test["mean_return"]),
        "eval_episodes": {"train": on_train["episodes"], "test": on_test["episodes"]},
        "steps_per_s": trained["env_steps"] / trained["train_wall_s"],
        "trainable_params": sum(p.numel() for p in agent.parameters() if p.requires_grad),
        "curve": trained["curve"],
    }


def not_run(cfg: ProcgenEvalConfig) -> dict[str, str]:
    """Encoders asked for that cannot run with this config, and why."""
    return {e: "no --checkpoint given (a `nsca train` run with a vision encoder)"
            for e in cfg.encoders if e in ("nsca", "nsca_frozen") and not cfg.checkpoint}


class Procgen(Experiment):
    name = "procgen"
    help = "Procgen generalisation: PPO + IMPALA-CNN, random-init vs NSCA vision encoder, easy mode, 200 train levels"
    config = ProcgenEvalConfig
    grid_fields = ("games", "encoders")
    plot_name = "curves.png"

    def check(self, cfg: ProcgenEvalConfig) -> None:
        cfg.validate()
        if cfg.checkpoint:
            from nsca.evaluation.physion_ocp import load_nsca

            load_nsca(cfg.checkpoint)  # a bad run folder or checkpoint fails now (one line), not in every cell
        ProcgenVec(cfg.games[0], 1, cfg.num_levels, 0, 0)  # fails early (one line) when procgen is missing

    def cells(self, cfg: ProcgenEvalConfig) -> list[Cell]:
        """game x encoder x seed (0..n_seeds-1); the encoders that cannot run are left out."""
        fields = json.loads(json.dumps(experiment_fields(cfg)))  # as metrics.json stores it, so a rerun matches
        skip = not_run(cfg)
        return [Cell(f"{g}/{e}", s, {**fields, "game": g, "encoder": e, "seed": s})
                for g in cfg.games for e in cfg.encoders if e not in skip for s in range(cfg.n_seeds)]

    def threads_per_worker(self, cfg: ProcgenEvalConfig) -> int:
        return cfg.threads

    def summarize(self, cfg: ProcgenEvalConfig, records: list[dict]) -> dict:
        from nsca.stats import summarize

        skip = not_run(cfg)
        encoders = [e for e in cfg.encoders if e not in skip]
        results: dict = {}
        for g in cfg.games:
            for e in encoders:
                ms = [r["metrics"] for r in records if r["metrics"]["game"] == g and r["metrics"]["encoder"] == e]
                block = {}
                for key in ("train_return", "test_return", "train_normalized", "test_normalized"):
                    vals = [m[key] for m in ms if m[key] is not None]
                    block[key] = summarize(vals, seed=0) if vals else None
                block["steps_per_s"] = float(np.mean([m["steps_per_s"] for m in ms]))
                block["trainable_params"] = ms[0]["trainable_params"]
                results.setdefault(g, {})[e] = block
        mean_test = {}
        for e in encoders:
            vals = [results[g][e]["test_normalized"]["mean"] for g in cfg.games if results[g][e]["test_normalized"]]
            mean_test[e] = float(np.mean(vals)) if vals else None
        return {"results": results, "mean_test_normalized": mean_test, "not_run": skip, "reference": PPO_REFERENCE,
                "normalization": {g: NORMALIZATION_EASY[g] for g in cfg.games}}

    def report_lines(self, results: dict) -> list[str]:
        return format_report(results).splitlines()

    def plot(self, cfg: ProcgenEvalConfig, records: list[dict], results: dict):
        return curves_figure(records)


EXPERIMENT = Procgen()


def run_procgen_eval(cfg: ProcgenEvalConfig) -> dict:
    """The suite through the one experiment driver (start-run, the cells, finish-run)."""
    from nsca.experiments.protocol import run_experiment

    return run_experiment(EXPERIMENT, cfg)


def _fmt_block(b: dict | None) -> str:
    if not b or b.get("mean") is None:
        return "-"
    return f"{b['mean']:.2f}" + (f" [{b['ci95_low']:.2f}, {b['ci95_high']:.2f}]" if b["n"] > 1 else "")


def format_report(report: dict) -> str:
    cfg = report["config"]
    lines = [f"Procgen easy, {cfg['num_levels']} training levels, {cfg['steps']:,} env steps per run, "
             f"seeds 0..{cfg['n_seeds'] - 1}", "",
             "| game | encoder | train return | test return | train norm. | test norm. | env steps/s |",
             "|---|---|---|---|---|---|---|"]
    for g, per in report["results"].items():
        for e, b in per.items():
            lines.append(f"| {g} | {e} | {_fmt_block(b['train_return'])} | {_fmt_block(b['test_return'])} | "
                         f"{_fmt_block(b['train_normalized'])} | {_fmt_block(b['test_normalized'])} | {b['steps_per_s']:.0f} |")
    means = ", ".join(f"{e} {v:.3f}" for e, v in report["mean_test_normalized"].items() if v is not None)
    lines.append(f"\nmean normalised test score: {means}; PPO reference (25M steps): "
                 f"{report['reference']['mean_normalized_test_easy_200_levels_25M_steps']}")
    for e, why in report["not_run"].items():
        lines.append(f"{e}: not run ({why})")
    return "\n".join(lines)


def curves_figure(records: list[dict]):
    """Training return over env steps, one line per (encoder, seed), one panel per game."""
    import matplotlib.pyplot as plt

    games = sorted({r["metrics"]["game"] for r in records})
    fig, axes = plt.subplots(1, max(1, len(games)), figsize=(4 * max(1, len(games)), 3), squeeze=False)
    for ax, g in zip(axes[0], games):
        for r in records:
            m = r["metrics"]
            if m["game"] != g:
                continue
            pts = [(c["env_steps"], c["mean_return"]) for c in m["curve"] if c["mean_return"] is not None]
            if pts:
                ax.plot(*zip(*pts), label=f"{m['encoder']} s{m['seed']}")
        ax.set_title(g)
        ax.set_xlabel("env steps")
        ax.set_ylabel("train episode return")
        if ax.get_legend_handles_labels()[0]:  # a cell too short to finish an episode has no curve
            ax.legend(fontsize=7)
    return fig
