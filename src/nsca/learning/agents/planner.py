"""MPPI around BC through a world model, scored by an analytic goal cost: the prior in planning.

Each control step, `planner.samples` candidate futures follow the BC policy through the model
for `planner.horizon` steps with Gaussian action noise (candidate 0 is BC itself) and are scored
by `-sum_h discount^h cost(s_h)` (`GoalCost`: hand to object, object to goal, optionally an
open gripper at the object). With the learned world model that model is the only learned piece in the score, so
conditions that differ only in the model's prior weight differ only where their models do.
The model's context z (the NSCA model's fused encoding, which conditions its physics head) is
that of the state the plan starts from, encoded once per control step and held over the
horizon: re-encoding every candidate at every step costs 60% of a plan, and the model's error is
validated exactly as it is used (z of each babbling window's start).

Trust (`gate`): before acting, the model's own score error is measured on self-observed
transitions (motor babbling, no demos, no reward, never trained on): windows of `horizon`
babbling steps are predicted open loop and scored with the goal cost (each window paired with a
demo goal) against the same cost of what really happened; RMS over windows. A plan is executed
only when its expected score gain over BC exceeds that error, so a model that is wrong off the
demos leaves the agent at BC, and one that is right may move it. The softmax temperature is
`planner.temperature` x the candidates' score spread; `validated_temperature` makes it the
validated error instead (screened on pick-place: it left BC on 0-5% of steps and gained nothing).

The 2x2's oracle cells (`is_oracle`) swap in the simulator as the model (`model=sim`: no model
error, so the gate asks only for a positive gain) or Meta-World's reward as the score
(`score=true`: no gate, as no error of the model under that score is measured); they hold one
environment's simulator, so they act one episode at a time.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import torch

from nsca.envs.metaworld import Episode, goal
from nsca.learning.agents.base import COMMON_FIELDS, Agent, demo_arrays, features, fit_bc
from nsca.learning.agents.config import AgentConfig
from nsca.learning.agents.world_model import fit_world_model, new_world_model, predict, world_model_fields
from nsca.learning.model_agent import observation
from nsca.learning.planner import mppi_actions
from nsca.priors.innate import PhysicsConstants

MIN_TEMPERATURE = 1e-4  # score units: the softmax of a model with no error is (almost) an argmax


class PlannerAgent(Agent):
    kind = "planner"

    @classmethod
    def reads(cls, cfg: AgentConfig) -> tuple[str, ...]:
        fields = COMMON_FIELDS + ("model", "score", "planner")
        if cfg.model == "learned":
            fields += world_model_fields(cfg)
        if cfg.score == "cost":
            fields += ("cost", "gate") + (("validated_temperature",) if cfg.gate else ())
        return fields

    def __init__(self, cfg: AgentConfig, seed: int, constants: PhysicsConstants = PhysicsConstants(), oracle=None) -> None:
        super().__init__(cfg, seed, constants, oracle)
        self.model = None
        self.planner_cfg = cfg.planner
        self._noise: dict[int, torch.Generator] = {}

    def fit(self, demos: list[Episode], babble: dict[str, np.ndarray] | None = None) -> dict:
        """`babble`: self-observed (state, action, next_state) transitions on which the learned
        model's score error is measured (needed by the gate)."""
        c = self.cfg
        d = demo_arrays(demos)
        self.bc, bc_loss = fit_bc(features(d["state"], d["goal"]), d["action"], c, self.seed)
        info: dict = {"bc_loss": bc_loss, "demo_transitions": int(d["state"].shape[0]), "prior_weight": 0.0}
        if c.model == "learned":
            self.model = new_world_model(c, self.constants, self.seed)
            info.update(fit_world_model(self.model, d, c, self.seed))
        return {**info, **self.calibrate(babble, d["goal"])}

    def calibrate(self, babble: dict[str, np.ndarray] | None, goals: torch.Tensor) -> dict:
        """Set the gate and the temperature from the model's validated score error (`goals`: the
        demos' goals, paired with the babbling windows); a no-op without the gate."""
        c = self.cfg
        if c.score != "cost" or not c.gate:
            return {"planner_temperature": c.planner.temperature}
        error = 0.0
        if c.model == "learned":
            if babble is None:
                raise ValueError("the gate measures the model's error on self-observed transitions (babble=)")
            error = self.model_score_error(babble, goals)
        temperature = {"temperature": max(error, MIN_TEMPERATURE), "relative_temperature": False}
        self.planner_cfg = dataclasses.replace(c.planner, min_advantage=error,
                                               **(temperature if c.validated_temperature else {}))
        return {"model_score_rmse": error, "planner_temperature": self.planner_cfg.temperature}

    @torch.no_grad()
    def model_score_error(self, babble: dict[str, np.ndarray], goals: torch.Tensor) -> float:
        """RMS over babbling windows of the discounted goal-cost sum of the model's open-loop
        `horizon`-step prediction minus that of what really happened (see the module docstring)."""
        p = self.planner_cfg
        s, a, nxt = (torch.as_tensor(babble[k], dtype=torch.float32) for k in ("state", "action", "next_state"))
        continues = np.all(np.isclose(babble["state"][1:], babble["next_state"][:-1]), axis=1)
        starts = [i for i in range(len(s) - p.horizon + 1) if continues[i:i + p.horizon - 1].all()]
        if not starts:
            raise ValueError(f"no {p.horizon}-step window in the self-observed transitions")
        idx = torch.as_tensor(starts)
        goal_pos = goals[idx % goals.shape[0]]
        pred, err = s[idx], torch.zeros(len(idx))
        z = self.model.encode(observation(pred, goal_pos))  # the window start's, held as in planning
        for h in range(p.horizon):
            pred = predict(self.model, pred, a[idx + h], goal_pos, z)
            err += p.discount**h * (self.cfg.cost(pred, goal_pos) - self.cfg.cost(nxt[idx + h], goal_pos))
        return float(err.pow(2).mean().sqrt())

    # --- what MPPI calls: the behaviour policy, the model, the score --------------------------
    def policy(self, state: torch.Tensor, goal_pos: torch.Tensor) -> tuple[torch.Tensor, None]:
        """(BC's action before clipping, no latent: the model holds the plan's start z)."""
        return self.bc(features(state, goal_pos)), None

    def _model_step(self, states: torch.Tensor, goals: torch.Tensor):
        """`step(s, a, h, _)` for MPPI's B x samples candidates (episode-major)."""
        if self.model is not None:
            wm = self.model.world_model
            n = self.planner_cfg.samples
            # Encoded per candidate (B x n rows, like MPPI's other networks): a lone episode's one
            # row would take another BLAS path than a batch's rows and round differently (tested).
            z = self.model.encode(observation(states.repeat_interleave(n, 0), goals.repeat_interleave(n, 0)))
            return lambda s, a, h, _: (wm.next_state(s, a, z), None)
        sim = self.oracle.model

        def sim_step(s, a, h, z):
            if h == 0:
                sim.begin(len(a))
            nxt, rewards = sim.step(a.numpy())
            return torch.as_tensor(nxt, dtype=torch.float32), torch.as_tensor(rewards / 10.0)
        return sim_step

    def _score(self):
        if self.cfg.score == "cost":
            cost = self.cfg.cost
            return lambda s, a, g, sim_reward: -cost(s, g)
        reward = self.oracle.reward

        def true(s, a, g, sim_reward):  # Meta-World's dense reward is in [0, 10]
            if sim_reward is not None:
                return sim_reward
            return torch.as_tensor(reward(s.numpy(), a.numpy()) / 10.0)
        return true

    # --- acting ---------------------------------------------------------------------------------
    def start_evaluation(self) -> None:
        super().start_evaluation()
        self._noise = {}

    def episode_noise(self, episode: int) -> torch.Generator:
        """Planner noise depends only on (agent seed, episode index): identical across conditions."""
        if episode not in self._noise:
            self._noise[episode] = torch.Generator().manual_seed(self.seed * 1_000_003 + episode)
        return self._noise[episode]

    @torch.no_grad()
    def act_batch(self, episodes: list[int], obs: np.ndarray, states: np.ndarray) -> np.ndarray:
        if self.oracle is not None:
            if len(episodes) != 1:
                raise ValueError("an oracle planner holds one environment's simulator: one episode at a time")
            if self.cfg.score == "true" and self.model is not None:
                self.oracle.reward.begin()
        s = torch.as_tensor(np.asarray(states), dtype=torch.float32)
        g = torch.as_tensor(goal(np.asarray(obs)), dtype=torch.float32)
        a = mppi_actions(self._model_step(s, g), self.policy, self._score(), s, g, self.planner_cfg,
                         [self.episode_noise(i) for i in episodes], self.plan_stats)
        return a.clamp(-1, 1).numpy()

    def bc_action(self, state: torch.Tensor, goal_pos: torch.Tensor) -> torch.Tensor:
        """BC's own action (clipped): what candidate 0 executes."""
        with torch.no_grad():
            return self.bc(features(state, goal_pos)).clamp(-1, 1)

    def predict(self, state: torch.Tensor, action: torch.Tensor, goal_pos: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            return predict(self.model, state, action, goal_pos)

    @property
    def prior_weight(self) -> float:
        return float(self.model.prior_weight) if self.model is not None else 0.0


class Oracle:
    """The simulator-side pieces of the 2x2 for one real env: its model and its reward."""

    def __init__(self, env) -> None:
        from nsca.envs.oracle import SimulatorModel, TrueReward

        self.model = SimulatorModel(env)
        self.reward = TrueReward(env)
