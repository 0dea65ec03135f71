"""The phase-0 agent: the NSCA model as world model, a behaviour policy, a value, and MPPI.

One model stack: the world model of the planner and corrective agents is an `NSCAModel`
(`nsca.model`, built by `nsca.learning.model_agent.build_model` exactly as the ML10 few-shot
agent's, here without a checkpoint): state, proprio and goal tokens fused into z, and the world
model's physics head (the AdaptivePhysicsPrior, conditioned on z) for the next object state.
The behaviour policy (`policy`) is plain MLP BC by default -- at 5 demos it is stronger than the
NSCA policy head trained from scratch (measured: docs/lethality.md), and the baseline must not
sit below plain BC -- or the model's own policy head (`policy=nsca`). The value the planner scores
futures with is a small reward MLP: the one piece the NSCA model has no head for (babbling has no
reward). The `bc` condition is the floor: plain MLP BC (`nsca.learning.bc`) acting alone.

All pieces are learned from the same few demos: the policy, then the world model (behind the
NSCA policy head, on its frozen z). Conditions differ only in the physics head's prior (`0.9`,
`0.5`, `0.1`, or `None` = random-init baseline with no prior term), and with the same seed they
share the policy, value and planner noise bit for bit, so any difference in success is caused
by the world model. Kinds:

- `bc`: plain MLP BC (the floor);
- `planner`: MPPI around the policy through a model (`model`: the learned world model, or `sim`:
  the simulator itself) scored by a value (`reward`: the learned reward model, or `true`:
  Meta-World's reward of the predicted state) -- the 2x2 decomposition;
- `corrective`: the prior in the *policy*: the world model labels corrective transitions
  around the demos (perturbed states -> the action its dynamics say returns to the demo), and the
  policy re-trains on demos + corrections (a model-based DART); acts like BC, no planning.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch

from nsca.config import field
from nsca.envs.metaworld import Episode, goal
from nsca.errors import UsageError
from nsca.learning.bc import BCPolicy, Normalizer, train_regressor
from nsca.learning.model_agent import (
    FewShotConfig,
    NSCAFewShotAgent,
    build_model,
    fit_input_scales,
    observation,
    policy_step,
)
from nsca.learning.planner import PlannerConfig, mppi_action, mppi_actions
from nsca.priors.adaptive import RHO_LR, mlp, parameter_groups
from nsca.priors.innate import LAWS, PhysicsConstants
from nsca.priors.state import HAND_POS, OBJ_POS, STATE_DIM, TARGET

KINDS = ("bc", "planner", "corrective")
MODELS = ("learned", "sim")
REWARDS = ("learned", "true")
OBJECTIVES = ("reward", "progress")
POLICIES = ("bc", "nsca")


@dataclass(frozen=True)
class AgentConfig:
    """What one phase-0 agent is and how it learns. In the lethality grids `prior`, `kind`,
    `model` and `reward` are set by each condition; every other field is shared by all cells."""

    prior: float | None = field(0.9, "prior weight (softplus) of the world model; None = no prior term")
    kind: Literal["bc", "planner", "corrective"] = field("planner", "bc, MPPI planner around BC, or corrective BC")
    model: Literal["learned", "sim"] = field("learned", "planner's model: the learned world model or the simulator")
    reward: Literal["learned", "true"] = field("learned", "planner's value: learned reward model or Meta-World's reward")
    hidden: int = field(256, "hidden width of the plain BC floor and of the reward model")
    architecture: str = field("agent", "size block (presets.yaml model) of the NSCA model the planner and "
                                       "corrective agents are built from")
    policy: Literal["bc", "nsca"] = field(
        "bc", "the behaviour policy planned around / corrected: plain MLP BC (the strongest at few demos, measured) "
              "or the NSCA model's policy head")
    batch_size: int = field(256, "demo transitions per gradient step (policy, world model, reward model)")
    lr: float = field(1e-3, "learning rate of the networks")
    bc_steps: int = field(2000, "gradient steps for the BC policy")
    bc_input_noise: float = field(0.05, "input noise (in normalised units) while fitting BC and the reward model")
    world_model_steps: int = field(2000, "gradient steps for the world model")
    reward_steps: int = field(1000, "gradient steps for the learned reward model")
    prior_lr: float = field(RHO_LR, "rho's own learning rate (the project's one recipe: nsca.priors.adaptive.RHO_LR)")
    corrections: int = field(4, "corrective agent: perturbed copies per demo state")
    correction_noise_m: float = field(0.003, "corrective agent: std of the hand + set-point displacement (m)")
    objective: Literal["reward", "progress"] = field("reward", "what the reward model fits: demo reward or t/T")
    reward_ensemble: int = field(1, "reward models in the planner's ensemble (>1: score = mean - pessimism x std)")
    pessimism: float = field(1.0, "std penalty of the reward ensemble")
    validated_temperature: bool = field(
        True, "learned value: the planner's temperature is its score's validated error (value on held-out demos, "
              "model on self-observed babbling)")
    heldout_ensemble: bool = field(
        True, "validated planner: score futures by the full and leave-one-demo-out value models, mean - pessimism x std")
    safe_improvement: bool = field(
        True, "validated planner: act BC unless the plan's expected score gain exceeds the validated score error")
    laws: list[str] = field(list(LAWS), "innate laws in the world model's prior (the ablation switches one off)")
    planner: PlannerConfig = dataclasses.field(default_factory=PlannerConfig, metadata={"help": "MPPI settings"})

    def validate(self) -> None:
        for name, value, allowed in (("kind", self.kind, KINDS), ("model", self.model, MODELS), ("policy", self.policy, POLICIES),
                                     ("reward", self.reward, REWARDS), ("objective", self.objective, OBJECTIVES)):
            if value not in allowed:
                raise UsageError(f"agent {name} must be one of {', '.join(allowed)}, got {value!r}")
        for name in ("bc_steps", "world_model_steps", "reward_steps", "corrections"):
            if getattr(self, name) < 0:
                raise UsageError(f"--agent.{name.replace('_', '-')} must be >= 0, got {getattr(self, name)}")
        from nsca.model.config import preset_names

        if self.architecture not in preset_names():
            raise UsageError(f"--agent.architecture must be one of {', '.join(preset_names())}, got {self.architecture!r}")
        for name in ("hidden", "reward_ensemble", "batch_size"):
            if getattr(self, name) < 1:
                raise UsageError(f"--agent.{name.replace('_', '-')} must be at least 1, got {getattr(self, name)}")
        for name in ("lr", "prior_lr"):
            if not getattr(self, name) > 0:
                raise UsageError(f"--agent.{name.replace('_', '-')} must be > 0")
        for name in ("pessimism", "bc_input_noise", "correction_noise_m"):
            if getattr(self, name) < 0:
                raise UsageError(f"--agent.{name.replace('_', '-')} must be >= 0")
        unknown = [law for law in self.laws if law not in LAWS]
        if unknown or len(set(self.laws)) != len(self.laws):
            raise UsageError(f"--agent.laws takes distinct laws from {', '.join(LAWS)}, got {' '.join(self.laws)}")
        if self.prior is not None and not self.prior > 0:
            raise UsageError(f"agent prior must be a positive weight or None, got {self.prior}")
        self.planner.validate()


class RewardModel(torch.nn.Module):
    """Scores a state in [0, 1] for the planner: the demo's reward / 10 (Meta-World's dense
    reward is in [0, 10]) or how far along its demonstration the state is (t / T)."""

    def __init__(self, obs_dim: int, hidden: int) -> None:
        super().__init__()
        self.norm = Normalizer(obs_dim)
        self.net = mlp(obs_dim, 1, hidden, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.net(self.norm(x)))


class PessimisticScore(torch.nn.Module):
    """Mean minus `pessimism` x std over an ensemble: futures where the reward models disagree
    (away from the demos) score lower, so the planner cannot exploit one model's errors."""

    def __init__(self, members: list[torch.nn.Module], pessimism: float) -> None:
        super().__init__()
        self.members = torch.nn.ModuleList(members)
        self.pessimism = pessimism

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        scores = torch.stack([m(x) for m in self.members])
        return scores.mean(0) - self.pessimism * scores.std(0)


def features(state: torch.Tensor, goal_pos: torch.Tensor) -> torch.Tensor:
    """Policy / reward-model input: the state, the goal, and the object-centric relations between
    them (object relative to hand, goal relative to object), which transfer across layouts."""
    rel_obj = state[..., OBJ_POS] - state[..., HAND_POS]
    rel_goal = goal_pos - state[..., OBJ_POS]
    return torch.cat([state, goal_pos, rel_obj, rel_goal], -1)


FEATURE_DIM = STATE_DIM + 9


def demo_arrays(demos: list[Episode], dt_s: float) -> dict[str, torch.Tensor]:
    states, nexts, actions, goals, progress, rewards = [], [], [], [], [], []
    for ep in demos:
        s = ep.states
        states.append(s[:-1])
        nexts.append(s[1:])
        actions.append(ep.actions)
        goals.append(goal(ep.obs[:-1]))
        progress.append(np.arange(1, ep.length + 1, dtype=np.float32) / ep.length)
        rewards.append(np.clip(ep.rewards / 10.0, 0.0, 1.0))
    cat = lambda xs: torch.as_tensor(np.concatenate(xs), dtype=torch.float32)  # noqa: E731
    return {"state": cat(states), "next_state": cat(nexts), "action": cat(actions), "goal": cat(goals),
            "progress": cat(progress), "reward": cat(rewards)}


class Phase0Agent:
    def __init__(self, cfg: AgentConfig, seed: int, constants: PhysicsConstants = PhysicsConstants(), oracle=None) -> None:
        cfg.validate()
        if cfg.kind == "planner" and (cfg.model == "sim" or cfg.reward == "true") and oracle is None:
            raise ValueError("model=sim or reward=true needs the simulator (oracle=...)")
        self.cfg = cfg
        self.seed = seed
        self.dt_s = constants.dt_s
        self.constants = constants
        self.oracle = oracle
        torch.manual_seed(seed)
        self.plain_bc: BCPolicy | None = None
        if cfg.kind == "bc" or cfg.policy == "bc":
            self.plain_bc = BCPolicy(FEATURE_DIM, hidden=cfg.hidden)
        self.reward_model = RewardModel(FEATURE_DIM, cfg.hidden)
        # The NSCAModel: the world model (encoders, fusion, physics head) and, with policy=nsca,
        # the policy (its policy head); not built where nothing uses it (the BC floor, a simulator
        # planner around plain BC), so those cells do not depend on its size.
        self.model = self._new_model() if self.uses_world_model or (cfg.kind != "bc" and cfg.policy == "nsca") else None
        self._policy_model = self.model if cfg.policy == "nsca" else None  # corrective: its re-trained copy
        # Created last so that the default (one reward model) draws the same initial weights.
        self.extra_reward_models = [RewardModel(FEATURE_DIM, cfg.hidden) for _ in range(cfg.reward_ensemble - 1)]
        self.value: torch.nn.Module = self.reward_model
        self.planner_cfg = cfg.planner
        self.plan_stats: dict = {}  # plans made while acting, and how many left BC (planner.min_advantage)
        self._noise = torch.Generator().manual_seed(seed)

    def _new_model(self):
        from nsca.model.config import preset

        c = self.cfg
        arch = preset(c.architecture, prior=c.prior, laws=tuple(c.laws))
        return build_model(None, c.prior, FewShotConfig(), arch, constants=self.constants)[0]

    @property
    def prior_weight(self) -> float:
        return float(self.model.prior_weight.detach()) if self.model is not None else 0.0

    @property
    def uses_world_model(self) -> bool:
        c = self.cfg
        return c.kind == "corrective" or (c.kind == "planner" and c.model == "learned")

    # --- the two things the agent's model does: act, and predict the next object state ----
    def policy(self, state: torch.Tensor, goal_pos: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """(action before clipping, latent): the behaviour policy's action and the NSCA model's z
        of the state (which conditions its physics head; None where no world model is used)."""
        if self._policy_model is not None:
            return policy_step(self._policy_model, state, goal_pos)
        plans_with_model = self.cfg.kind == "planner" and self.cfg.model == "learned"
        z = self.model.encode(observation(state, goal_pos)) if plans_with_model else None
        return self.plain_bc(features(state, goal_pos)), z

    def predict(self, state: torch.Tensor, action: torch.Tensor, goal_pos: torch.Tensor,
                latent: torch.Tensor | None = None) -> torch.Tensor:
        """Next object state from the physics head, conditioned on z (encoded here unless given)."""
        m = self.model
        if latent is None:
            latent = m.encode(observation(state, goal_pos))
        return m.world_model.next_state(state, action, latent)

    def fit(self, demos: list[Episode], babble: dict[str, np.ndarray] | None = None) -> dict:
        """Fit on the demos. `babble`: self-observed (state, action, next_state) transitions (no
        demos, no reward: `nsca.priors.calibrate.self_observe`) on which a learned-model planner
        with `validated_temperature` measures its model's error under arbitrary actions."""
        d = demo_arrays(demos, self.dt_s)
        x = features(d["state"], d["goal"])
        # One generator per component, so that what one condition skips does not shift another's draws.
        gen = torch.Generator().manual_seed(self.seed)
        gen_reward = torch.Generator().manual_seed(self.seed * 7_919 + 101)
        gen_wm = torch.Generator().manual_seed(self.seed * 7_919 + 202)
        self.reward_model.norm.fit(x)
        planner = self.cfg.kind == "planner"
        # The policy is bit-identical across every condition (an NSCA policy head trains before the
        # world model, which then reads its frozen z); the corrective agent re-fits it on its augmented data.
        if self.cfg.policy == "bc" or self.model is None:
            bc_loss = self._fit_plain_bc(x, d["action"], gen)
        else:
            bc_loss = self._fit_policy(self.model, d)
        pr = train_regressor(self.reward_model, x, d[self.cfg.objective][:, None],
                             self.cfg.reward_steps if planner and self.cfg.reward == "learned" else 0,
                             self.cfg.lr, batch_size=self.cfg.batch_size, input_noise=self.cfg.bc_input_noise,
                             generator=gen_reward)
        wm = self._fit_world_model(d, gen_wm) if self.uses_world_model else []
        info: dict = {}
        if self.cfg.kind == "corrective":
            info = self._fit_corrective(d, gen_wm)
        for k, member in enumerate(self.extra_reward_models):
            member.norm.fit(x)
            train_regressor(member, x, d[self.cfg.objective][:, None], self.cfg.reward_steps, self.cfg.lr,
                            batch_size=self.cfg.batch_size, input_noise=self.cfg.bc_input_noise,
                            generator=torch.Generator().manual_seed(self.seed * 7919 + k + 1))
        if self.extra_reward_models:
            self.value = PessimisticScore([self.reward_model, *self.extra_reward_models], self.cfg.pessimism)
        for m in (self.plain_bc, self.model, self.value):
            if m is not None:
                m.eval()
        if planner and self.cfg.reward == "learned" and self.cfg.validated_temperature:
            info.update(self._validate_score(demos, x, d, babble))
            self.planner_cfg = dataclasses.replace(self.cfg.planner, temperature=info["planner_temperature"],
                                                   relative_temperature=False,
                                                   min_advantage=info["planner_temperature"] if self.cfg.safe_improvement else 0.0)
        return {
            "bc_loss": bc_loss,
            "reward_loss": float(np.mean(pr[-50:])) if pr else None,
            "world_model_loss": float(np.mean(wm[-50:])) if wm else None,
            "prior_weight": self.prior_weight,
            "demo_transitions": int(x.shape[0]),
            **info,
        }

    def _fit_plain_bc(self, x: torch.Tensor, action: torch.Tensor, gen: torch.Generator) -> float | None:
        self.plain_bc.norm.fit(x)
        bc = train_regressor(self.plain_bc, x, action, self.cfg.bc_steps, self.cfg.lr, batch_size=self.cfg.batch_size,
                             input_noise=self.cfg.bc_input_noise, generator=gen)
        return float(np.mean(bc[-50:])) if bc else None

    def _fit_policy(self, model, d: dict) -> float | None:
        """BC through the model's policy path (the ML10 few-shot agent's fine-tuning with the world
        model's terms off): the world model must not shape the policy, or conditions would differ
        in more than their world models."""
        c = self.cfg
        fs = NSCAFewShotAgent(model, FewShotConfig(steps=c.bc_steps, lr=c.lr, batch_size=c.batch_size,
                                                   world_model_weight=0.0, input_noise=c.bc_input_noise), self.seed)
        return fs.fit(d)["bc_loss"]

    def _validate_score(self, demos: list[Episode], x: torch.Tensor, d: dict, babble: dict | None) -> dict:
        """How wrong can the planner's score of a candidate future be? Two validated parts, in
        score units (the discounted sum over the horizon):
        - the value's error on demos it did not see (leave-one-demo-out), x the horizon's weight;
        - the model's: on self-observed babbling (arbitrary actions, like the planner's candidate
          noise), the value of the model's open-loop H-step prediction against the value of what
          really happened (zero for the simulator).
        The planner's softmax temperature is their root sum of squares: candidate futures whose
        scores differ by less than that are treated alike (their average is BC's own action), so
        planning departs from BC only as far as the model and value have earned."""
        p = self.cfg.planner
        horizon_scale = sum(p.discount**h for h in range(p.horizon))
        value_rmse = self._heldout_value_error(demos, x, d[self.cfg.objective][:, None])
        out = {"value_heldout_rmse": value_rmse, "model_score_rmse": 0.0}
        if self.cfg.heldout_ensemble:  # the held-out models disagree where the demos say nothing
            members = list(self.value.members) if isinstance(self.value, PessimisticScore) else [self.value]
            self.value = PessimisticScore([*members, *self.fold_models], self.cfg.pessimism).eval()
        if self.cfg.model == "learned":
            if babble is None:
                raise ValueError("validated_temperature with the learned model needs self-observed transitions (babble=)")
            out["model_score_rmse"] = self._model_score_error(babble, d["state"], d["goal"])
        out["planner_temperature"] = max(float(np.hypot(value_rmse * horizon_scale, out["model_score_rmse"])), 1e-4)
        return out

    def _model_score_error(self, babble: dict, states: torch.Tensor, goals: torch.Tensor) -> float:
        """The score error the model's mistakes cause where the planner scores: its open-loop
        H-step state errors on self-observed babbling (arbitrary actions, as the candidates'
        noise), propagated to first order through the value's gradient at the demo states
        (`sum_h discount^h <dV/ds(demo state), error_h>`, each babbling window paired with a demo
        state); RMS over windows. Babbling states themselves are far from the task, where a
        learned value is flat, so scoring them directly would hide the model's errors."""
        p = self.cfg.planner
        s, a, nxt = (torch.as_tensor(babble[k], dtype=torch.float32) for k in ("state", "action", "next_state"))
        # Windows of `horizon` consecutive transitions inside one babbling episode.
        continues = torch.as_tensor(np.all(np.isclose(babble["state"][1:], babble["next_state"][:-1]), axis=1))
        starts = [i for i in range(len(s) - p.horizon + 1) if bool(continues[i:i + p.horizon - 1].all())]
        if not starts:
            raise ValueError(f"no {p.horizon}-step window in the self-observed transitions")
        idx = torch.as_tensor(starts)
        at = states.clone().requires_grad_(True)
        self.value(features(at, goals)).sum().backward()
        pair = idx % states.shape[0]
        grad, goal_pos = at.grad[pair], goals[pair]
        term, pred = torch.zeros(len(idx)), s[idx]
        with torch.no_grad():
            for h in range(p.horizon):
                pred = self.predict(pred, a[idx + h], goal_pos)
                term += p.discount**h * (grad * (pred - nxt[idx + h])).sum(-1)
        for param in self.value.parameters():
            param.grad = None
        return float(term.pow(2).mean().sqrt())

    def _heldout_value_error(self, demos: list[Episode], x: torch.Tensor, y: torch.Tensor, folds: int = 5) -> float:
        """RMSE of the reward model on demos it did not see (leave-one-demo-out, up to `folds`
        folds): how far apart two futures' predicted rewards must be before the difference means
        anything. The planner's softmax temperature is set to it (in score units), so a value fitted
        to few demos moves the plan away from BC only by differences larger than its own error."""
        if len(demos) < 2:
            raise UsageError("--agent.validated-temperature needs at least 2 demos (one is held out)")
        bounds = np.cumsum([0] + [ep.length for ep in demos])
        errors, self.fold_models = [], []
        for k in range(min(folds, len(demos))):
            held = torch.zeros(x.shape[0], dtype=torch.bool)
            held[bounds[k]:bounds[k + 1]] = True
            with torch.random.fork_rng():  # leaves the global stream (other networks' draws) untouched
                torch.manual_seed(self.seed * 7_919 + 303 + k)
                model = RewardModel(x.shape[1], self.cfg.hidden)
            model.norm.fit(x[~held])
            train_regressor(model, x[~held], y[~held], self.cfg.reward_steps, self.cfg.lr,
                            input_noise=self.cfg.bc_input_noise,
                            generator=torch.Generator().manual_seed(self.seed * 7_919 + 303 + k))
            model.eval()
            with torch.no_grad():
                errors.append((model(x[held]) - y[held]).pow(2).squeeze(-1))
            self.fold_models.append(model)
        return float(torch.cat(errors).mean().sqrt())

    def _fit_world_model(self, d: dict, gen: torch.Generator) -> list[float]:
        """The NSCA model's object-state loss (`NSCAModel.losses`' state term) on the demo
        transitions, the prior weight at its own rate (nsca.priors.adaptive.parameter_groups).
        Behind a plain-BC policy the whole path trains (encoders, fusion, the physics head and its
        context projection of z); behind the NSCA policy head only the physics head and context
        do, on the policy's frozen z, so the world model cannot change the policy."""
        m = self.model
        wm = m.world_model
        frozen_z = self.cfg.policy == "nsca"
        if frozen_z:
            with torch.no_grad():
                z_all = m.encode(observation(d["state"], d["goal"]))
            trained: torch.nn.Module = torch.nn.ModuleDict({"physics": wm.physics, "context": wm.context})
        else:
            fit_input_scales(m, d)
            trained = torch.nn.ModuleDict({"encoders": m.encoders, "fusion": m.fusion, "physics": wm.physics,
                                           "context": wm.context})
        opt = torch.optim.AdamW(parameter_groups(trained, self.cfg.lr, 1e-4, self.cfg.prior_lr))
        n = d["state"].shape[0]
        losses = []
        m.train()
        for _ in range(self.cfg.world_model_steps):
            idx = torch.randint(0, n, (min(self.cfg.batch_size, n),), generator=gen)
            z = z_all[idx] if frozen_z else m.encode(observation(d["state"][idx], d["goal"][idx]))
            loss = wm.physics.loss(d["state"][idx], d["action"][idx], d["next_state"][idx], wm.context(z))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            losses.append(loss.item())
        return losses

    def _fit_corrective(self, d: dict, gen: torch.Generator) -> dict:
        """DART with model labels: displace each demo state the way a drifting policy does (hand
        and commanded set-point together, so the efference copy is unchanged), ask the world model
        which action puts the next set-point back onto the demo's next set-point (gradient descent
        on the action through the model), and re-train the policy path on demos + these corrections
        (a fresh policy, same seed, so that only the data differs from BC's).

        The set-point, not the hand, is the target: the arm is a second-order lag, so no single
        action returns a displaced hand in one step (a hand target saturates every label), while
        the set-point answers the action at once and the body then follows it."""
        s, s_next, a_demo, g = d["state"], d["next_state"], d["action"], d["goal"]
        k = self.cfg.corrections
        s_rep, nxt_rep, a_rep, g_rep = (t.repeat(k, 1) for t in (s, s_next, a_demo, g))
        noise = torch.randn(s_rep[:, HAND_POS].shape, generator=gen) * self.cfg.correction_noise_m
        pert = s_rep.clone()
        pert[:, HAND_POS] = pert[:, HAND_POS] + noise      # TARGET = set-point - hand: unchanged
        want = nxt_rep[:, HAND_POS] + nxt_rep[:, TARGET]   # the demo's next set-point
        act = a_rep.clone().requires_grad_(True)
        opt = torch.optim.Adam([act], lr=0.05)
        for p in self.model.parameters():
            p.requires_grad_(False)
        with torch.no_grad():
            z = self.model.encode(observation(pert, g_rep))
        for _ in range(50):
            pred = self.predict(pert, torch.cat([act[:, :3].clamp(-1, 1), a_rep[:, 3:]], 1), g_rep, z)
            loss = (pred[:, HAND_POS] + pred[:, TARGET] - want).pow(2).sum(1).mean()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        for p in self.model.parameters():
            p.requires_grad_(True)
        labels = torch.cat([act.detach()[:, :3].clamp(-1, 1), a_rep[:, 3:]], 1)
        torch.manual_seed(self.seed)
        if self.cfg.policy == "bc":
            self.plain_bc = BCPolicy(FEATURE_DIM, hidden=self.cfg.hidden)
            self._fit_plain_bc(torch.cat([features(s, g), features(pert, g_rep)]), torch.cat([a_demo, labels]), gen)
            self.plain_bc.eval()
        else:
            augmented = {"state": torch.cat([s, pert]), "next_state": torch.cat([s_next, nxt_rep]),
                         "goal": torch.cat([g, g_rep]), "action": torch.cat([a_demo, labels])}
            self._policy_model = self._new_model()
            self._fit_policy(self._policy_model, augmented)
            self._policy_model.eval()
        return {"corrections": int(labels.shape[0]), "correction_residual_mm": float(loss.detach().sqrt() * 1000)}

    def reset(self, episode_seed: int) -> None:
        """Planner noise depends only on (agent seed, episode), identical across conditions."""
        self._noise = self.episode_noise(episode_seed)

    def episode_noise(self, episode_seed: int) -> torch.Generator:
        return torch.Generator().manual_seed(self.seed * 1_000_003 + episode_seed)

    @property
    def batchable(self) -> bool:
        """Whether `act_batch` plans for several episodes at once (the oracle's simulator model
        and reward belong to one environment, so those planners act one episode at a time)."""
        c = self.cfg
        return c.kind == "planner" and c.model == "learned" and c.reward == "learned"

    def act_batch(self, states: np.ndarray, goals: np.ndarray, noises: list[torch.Generator]) -> np.ndarray:
        """Actions for B parallel episodes (`noises`: each episode's generator), each identical
        to what `act` would return for that episode alone."""
        if not self.batchable:
            raise ValueError(f"act_batch plans with the learned model and value only, not {self.cfg.kind}/"
                             f"{self.cfg.model}/{self.cfg.reward}")
        s = torch.as_tensor(np.asarray(states), dtype=torch.float32)
        g = torch.as_tensor(np.asarray(goals), dtype=torch.float32)
        a = mppi_actions(self._model_fn(), self.policy, self._value_fn(), s, g, self.planner_cfg, noises,
                         self.plan_stats)
        return a.clamp(-1, 1).numpy()

    def pool_actor(self):
        """`act_batch(episodes, obs, states)` for `nsca.envs.metaworld.rollout_batch`: each episode
        gets the planner noise `reset(episode)` would give it."""
        noise: dict[int, torch.Generator] = {}

        def act_batch(episodes, obs, states):
            for i in episodes:
                if i not in noise:
                    noise[i] = self.episode_noise(i)
            return self.act_batch(states, goal(obs), [noise[i] for i in episodes])
        return act_batch

    def act(self, state: np.ndarray, goal_pos: np.ndarray) -> np.ndarray:
        s = torch.as_tensor(state, dtype=torch.float32)
        g = torch.as_tensor(goal_pos, dtype=torch.float32)
        with torch.no_grad():
            if self.cfg.kind != "planner":
                a = self.policy(s[None], g[None])[0][0]
            else:
                if self.cfg.reward == "true" and self.cfg.model == "learned":
                    self.oracle.reward.begin()
                a = mppi_action(self._model_fn(), self.policy, self._value_fn(), s[None], g[None],
                                self.planner_cfg, self._noise, self.plan_stats)
        return a.clamp(-1, 1).numpy()

    def act_obs(self, env, obs: np.ndarray) -> np.ndarray:
        return self.act(env.state(obs), goal(obs))

    # --- the 2x2: which model steps the candidates, which value scores them -------------
    def _model_fn(self):
        if self.cfg.model == "learned":
            wm = self.model.world_model

            def step(s, a, h, z):
                return wm.next_state(s, a, z), None
            return step
        sim = self.oracle.model

        def sim_step(s, a, h, z):
            if h == 0:
                sim.begin(len(a))
            nxt, rewards = sim.step(a.numpy())
            return torch.as_tensor(nxt, dtype=torch.float32), torch.as_tensor(rewards / 10.0)
        return sim_step

    def _value_fn(self):
        if self.cfg.reward == "learned":
            value = self.value

            def learned(s, a, g, sim_reward):
                return value(features(s, g)).squeeze(-1)
            return learned
        reward = self.oracle.reward

        def true(s, a, g, sim_reward):
            if sim_reward is not None:
                return sim_reward
            return torch.as_tensor(reward(s.numpy(), a.numpy()) / 10.0)
        return true


class Oracle:
    """The simulator-side pieces of the 2x2 for one real env: its model and its reward."""

    def __init__(self, env) -> None:
        from nsca.envs.oracle import SimulatorModel, TrueReward

        self.model = SimulatorModel(env)
        self.reward = TrueReward(env)
