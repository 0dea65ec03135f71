"""Old names kept for `nsca.evaluation.metaworld_ml10` (its BC baseline) until it imports
`nsca.learning.agents` itself; the phase-0 agents live in `nsca.learning.agents`."""

from __future__ import annotations

from nsca.learning.agents import AgentConfig
from nsca.learning.agents import make_agent as Phase0Agent
from nsca.learning.agents.base import demo_arrays as _demo_arrays


def demo_arrays(demos, dt_s=None):
    return _demo_arrays(demos)


__all__ = ["AgentConfig", "Phase0Agent", "demo_arrays"]
