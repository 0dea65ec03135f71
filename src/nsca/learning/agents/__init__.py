"""The phase-0 agents: one small class per kind behind one interface (`base.Agent`: fit on demos,
act on a batch of running episodes). A new agent is one new module and one line in `AGENTS`.

- `bc` (`bc.BCAgent`): plain MLP BC, the floor; with `augment`, the corrective agent's floor;
- `planner` (`planner.PlannerAgent`): MPPI around BC through the NSCA world model (or the
  simulator) scored by the analytic goal cost (or Meta-World's reward);
- `corrective` (`corrective.CorrectiveAgent`): BC on demos + corrections labelled by the world model.
"""

from __future__ import annotations

import importlib

from nsca.learning.agents.config import AgentConfig

AGENTS = {
    "bc": "nsca.learning.agents.bc:BCAgent",
    "planner": "nsca.learning.agents.planner:PlannerAgent",
    "corrective": "nsca.learning.agents.corrective:CorrectiveAgent",
}


def agent_class(kind: str):
    module, _, name = AGENTS[kind].partition(":")
    return getattr(importlib.import_module(module), name)


def agent_fields(cfg: AgentConfig) -> dict:
    """The agent config as a dict of only the fields this kind of agent reads (a cell's config)."""
    import dataclasses

    full = dataclasses.asdict(cfg)
    return {k: full[k] for k in full if k in agent_class(cfg.kind).reads(cfg)}


def make_agent(cfg: AgentConfig, seed: int, constants=None, oracle=None):
    """The agent of `cfg.kind`; `oracle` (planner.Oracle on the evaluation env) for `cfg.is_oracle`."""
    from nsca.priors.innate import PhysicsConstants

    return agent_class(cfg.kind)(cfg, seed, constants or PhysicsConstants(), oracle)


__all__ = ["AGENTS", "AgentConfig", "agent_class", "agent_fields", "make_agent"]
