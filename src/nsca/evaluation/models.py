"""Models the evaluations read out: a `nsca train` checkpoint's frozen parts, or the same
architecture at random init.

`load_trained(path, parts, needs, reads)` builds the NSCAModel a run folder's config.json
describes and loads only the weights whose names start with `parts` (e.g. the vision path for
Physion and Procgen, every encoder and the fusion for the grounding probe); the rest stay at
init, so a checkpoint stays readable when parts an evaluation does not read change. A missing
run folder, a config without a needed modality, or weights that do not match the config are
one-line UsageErrors.

`random_init(cfg, seed, constants, buffers_from)` is the baseline: the same architecture,
`torch.manual_seed(seed)` before it is built; `buffers_from` (a trained model) copies its input
normalisation (data statistics, not learned weights) into the vector encoders.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from nsca.errors import UsageError

ENCODERS_AND_FUSION = ("encoders.", "fusion.")


def load_trained(path: str | Path, parts: tuple[str, ...], needs: tuple[str, ...], reads: str,
                 part_name: str) -> Any:
    """An NSCAModel from a `nsca train` run folder (model.pt or checkpoints/last.pt) or
    checkpoint file, with the weights whose names start with one of `parts` loaded.

    `needs`: modalities the model must have (else "has no X encoder; this evaluation reads
    `reads`"); `part_name` names the parts in the mismatch message."""
    from nsca.model.nsca import NSCAModel
    from nsca.training.run_folder import load_weights, locate, read_run

    run, weights = locate(path)
    if not (run / "config.json").is_file() or not weights.is_file():
        raise UsageError(f"checkpoint {path}: expected a `nsca train` run folder (config.json and model.pt or checkpoints/last.pt)")
    saved = read_run(run)
    for modality in needs:
        if modality not in saved.model.modalities:
            raise UsageError(f"checkpoint {path} has no {modality} encoder; this evaluation reads {reads}")
    model = NSCAModel(saved.model, saved.physics_constants)
    state = load_weights(weights)
    if not isinstance(state, dict):
        raise UsageError(f"checkpoint {path} holds no model weights")
    own = model.state_dict()
    wanted = [k for k in own if k.startswith(parts)]
    missing = [k for k in wanted if k not in state or not isinstance(state[k], torch.Tensor) or state[k].shape != own[k].shape]
    if missing:
        raise UsageError(f"checkpoint {path} does not match its config ({part_name} weight {missing[0]!r})")
    model.load_state_dict({k: state[k] for k in wanted}, strict=False)
    return model


def random_init(cfg: Any, seed: int, constants: Any = None, buffers_from: Any = None) -> Any:
    """The architecture `cfg` (a ModelConfig) at random init from `seed`; with `buffers_from`
    (an NSCAModel of the same config) its input-normalisation buffers are copied over."""
    from nsca.model.nsca import NSCAModel

    torch.manual_seed(seed)
    model = NSCAModel(cfg) if constants is None else NSCAModel(cfg, constants)
    if buffers_from is not None:
        theirs = dict(buffers_from.named_buffers())
        with torch.no_grad():
            for name, buf in model.named_buffers():
                if name in theirs and theirs[name].shape == buf.shape:
                    buf.copy_(theirs[name])
    return model
