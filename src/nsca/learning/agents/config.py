"""What a phase-0 agent is and how it learns: one config shared by every kind of agent.

In the lethality grids each condition sets `kind`, `prior`, `learn_prior`, `model`, `score` and
`augment`; every other field is shared by all cells, so the same seed gives the same BC policy
in every condition. Each agent class says which fields it reads (`Agent.reads`), and a cell's
config holds only those. Errors name fields (`planner.horizon`), never flags.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Literal

from nsca.config import field
from nsca.errors import ConfigError
from nsca.learning.agents.cost import GoalCost
from nsca.learning.planner import PlannerConfig
from nsca.priors.adaptive import RHO_LR
from nsca.priors.innate import LAWS

KINDS = ("bc", "planner", "corrective")
MODELS = ("learned", "sim")
SCORES = ("cost", "true")


@dataclass(frozen=True)
class AgentConfig:
    """One phase-0 agent: plain BC, MPPI around BC through a world model, or BC on corrections."""

    prior: float | None = field(0.9, "prior weight w of the world model's physics head; None = no prior term")
    learn_prior: bool = field(False, "train w with the world model (the learned_w_<p> conditions); off: w stays at prior")
    kind: Literal["bc", "planner", "corrective"] = field("planner", "bc, MPPI planner around BC, or corrective BC")
    model: Literal["learned", "sim"] = field("learned", "planner's model: the learned world model or the simulator (an oracle)")
    score: Literal["cost", "true"] = field(
        "cost", "what scores the planner's futures: the analytic goal cost, or Meta-World's reward (an oracle)")
    augment: bool = field(False, "BC: also train on the corrective agent's displaced demo states, labelled with the "
                                 "demo's own action (the corrective agent's floor: the same data, no model)")
    hidden: int = field(256, "hidden width of the BC policy")
    architecture: str = field("agent", "size block (presets.yaml model) of the NSCA world model")
    batch_size: int = field(256, "demo transitions per gradient step (BC, world model)")
    lr: float = field(1e-3, "learning rate of the networks")
    bc_steps: int = field(2000, "gradient steps for the BC policy")
    bc_input_noise: float = field(0.05, "input noise (in normalised units) while fitting BC")
    world_model_steps: int = field(2000, "gradient steps for the world model")
    prior_lr: float = field(RHO_LR, "w's own learning rate when learn_prior (the one recipe: nsca.priors.adaptive.RHO_LR)")
    corrections: int = field(4, "corrective agent and augmented BC: displaced copies per demo state")
    correction_noise_m: float = field(0.003, "corrective agent and augmented BC: std of the hand + set-point displacement (m)")
    gate: bool = field(
        True, "planner with the goal cost: execute a plan only when its expected score gain over BC exceeds the "
              "model's validated score error (0 for the simulator)")
    validated_temperature: bool = field(
        False, "with the gate: the softmax temperature is that validated error too (screened: fewer plans, no gain); "
               "off: planner.temperature")
    laws: list[str] = field(list(LAWS), "innate laws in the world model's prior (the ablation switches one off)")
    cost: GoalCost = dataclasses.field(default_factory=GoalCost, metadata={"help": "the planner's analytic goal cost"})
    planner: PlannerConfig = dataclasses.field(default_factory=PlannerConfig, metadata={"help": "MPPI settings"})

    @property
    def is_oracle(self) -> bool:
        """A planner that reads the simulator (as its model, or for Meta-World's reward)."""
        return self.kind == "planner" and (self.model == "sim" or self.score == "true")

    @property
    def uses_world_model(self) -> bool:
        return self.kind == "corrective" or (self.kind == "planner" and self.model == "learned")

    def validate(self) -> None:
        for name, allowed in (("kind", KINDS), ("model", MODELS), ("score", SCORES)):
            if getattr(self, name) not in allowed:
                raise ConfigError(name, f"must be one of {', '.join(allowed)}, got {getattr(self, name)!r}")
        for name in ("bc_steps", "world_model_steps", "corrections"):
            if getattr(self, name) < 0:
                raise ConfigError(name, f"must be >= 0, got {getattr(self, name)}")
        from nsca.model.config import preset_names

        if self.architecture not in preset_names():
            raise ConfigError("architecture", f"must be one of {', '.join(preset_names())}, got {self.architecture!r}")
        for name in ("hidden", "batch_size"):
            if getattr(self, name) < 1:
                raise ConfigError(name, f"must be at least 1, got {getattr(self, name)}")
        for name in ("lr", "prior_lr"):
            if not getattr(self, name) > 0:
                raise ConfigError(name, f"must be > 0, got {getattr(self, name)}")
        for name in ("bc_input_noise", "correction_noise_m"):
            if getattr(self, name) < 0:
                raise ConfigError(name, f"must be >= 0, got {getattr(self, name)}")
        unknown = [law for law in self.laws if law not in LAWS]
        if unknown or len(set(self.laws)) != len(self.laws):
            raise ConfigError("laws", f"takes distinct laws from {', '.join(LAWS)}, got {' '.join(self.laws)}")
        if self.prior is not None and not self.prior > 0:
            raise ConfigError("prior", f"must be a positive weight or None, got {self.prior}")
        for name in ("cost", "planner"):
            try:
                getattr(self, name).validate()
            except ConfigError as exc:
                raise exc.within(name) from None
