"""The world model of the planner and the corrective agent: the NSCA model itself.

Built by `nsca.learning.model_agent.build_model` (the ML10 few-shot agent's builder), here
without a checkpoint: state, proprio and goal tokens fused into z, and the world model's
physics head, the AdaptivePhysicsPrior conditioned on z, for the next object state. It trains
on the demo transitions with `NSCAModel.losses`' object-state term. The prior weight w is held
at its initial value unless `learn_prior` (then at its own rate, the one recipe of
`nsca.priors.adaptive.parameter_groups`), so a condition's name is the weight it plans with.
"""

from __future__ import annotations

import torch

from nsca.learning.agents.config import AgentConfig
from nsca.learning.model_agent import FewShotConfig, build_model, fit_input_scales, observation
from nsca.priors.adaptive import parameter_groups
from nsca.priors.innate import PhysicsConstants

# The AgentConfig fields the world model's numbers depend on.
WORLD_MODEL_FIELDS = ("architecture", "world_model_steps", "laws")


def world_model_fields(cfg: AgentConfig) -> tuple[str, ...]:
    return WORLD_MODEL_FIELDS + (("learn_prior", "prior_lr") if cfg.learn_prior and cfg.prior is not None else ())


def new_world_model(cfg: AgentConfig, constants: PhysicsConstants, seed: int):
    """A fresh NSCAModel whose physics head is AdaptivePhysicsPrior(cfg.prior) over `cfg.laws`;
    its initial weights come from `seed` alone."""
    from nsca.model.config import preset

    arch = preset(cfg.architecture, prior=cfg.prior, laws=tuple(cfg.laws))
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed * 7_919 + 11)
        return build_model(None, cfg.prior, FewShotConfig(), arch, constants=constants)[0]


def fit_world_model(model, d: dict[str, torch.Tensor], cfg: AgentConfig, seed: int) -> dict:
    """The object-state loss on the demo transitions through the whole object-state path
    (encoders, fusion, the physics head and its projection of z)."""
    fit_input_scales(model, d)
    wm = model.world_model
    trained = torch.nn.ModuleDict({"encoders": model.encoders, "fusion": model.fusion, "physics": wm.physics,
                                   "context": wm.context})
    rho = wm.physics.rho
    learn_w = rho is not None and cfg.learn_prior
    if rho is not None:
        rho.requires_grad_(learn_w)
    groups = [{**g, "params": [p for p in g["params"] if p.requires_grad]}
              for g in parameter_groups(trained, cfg.lr, 1e-4, cfg.prior_lr)]
    opt = torch.optim.AdamW([g for g in groups if g["params"]], fused=True)  # one pass over the weights, the same update
    gen = torch.Generator().manual_seed(seed * 7_919 + 202)
    n = d["state"].shape[0]
    losses = []
    model.train()
    for _ in range(cfg.world_model_steps):
        idx = torch.randint(0, n, (min(cfg.batch_size, n),), generator=gen)
        z = model.encode(observation(d["state"][idx], d["goal"][idx]))
        loss = wm.physics.loss(d["state"][idx], d["action"][idx], d["next_state"][idx], wm.context(z))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)  # from here on it only predicts
    tail = losses[-50:]
    return {"world_model_loss": sum(tail) / len(tail) if tail else None,
            "prior_weight": float(model.prior_weight), "prior_learned": learn_w}


def predict(model, state: torch.Tensor, action: torch.Tensor, goal_pos: torch.Tensor,
            latent: torch.Tensor | None = None) -> torch.Tensor:
    """Next object state from the physics head, conditioned on z (encoded here unless given)."""
    if latent is None:
        latent = model.encode(observation(state, goal_pos))
    return model.world_model.next_state(state, action, latent)
