"""A trained model as its readers see it: a `nsca train` run folder's config.json, its weights,
and the NSCAModel built from them (or the same architecture at random init).

config.json has the one run-folder layout (`nsca.utils.provenance.write_run_config`, written by
`nsca.training.run_folder.write_config`):

    {"config": the resolved TrainConfig, nested (its `model` block included): the base of --resume
               and what --ewc-from reopens the earlier run's data with,
     "provenance": git commit, package versions, time,
     "model": the ModelConfig built: `config.model` with the run's modalities and prior and the
              data's label counts (what `nsca eval` rebuilds; the config alone does not give it),
     "physics_constants": the PhysicsConstants of the data (the time step a transition spans)}

Every reader goes through here: `nsca eval`, the phase-0 and few-shot agents' `--checkpoint`,
`nsca train --resume` and `--ewc-from`. It sits in the model layer so that the agents (learning)
and the evaluations read checkpoints the same way without importing training or evaluation.

`load_trained(path, parts, needs, reads)` loads only the weights whose names start with `parts`
(e.g. the vision path for Physion and Procgen, every encoder and the fusion for the grounding
probe); the rest stay at init, so a checkpoint stays readable when parts a reader does not read
change. A missing run folder, a config.json of any other layout or without the physics constants
of this version, a config without a needed modality, or weights that do not match the config are
one-line UsageErrors. `random_init(cfg, seed, constants, buffers_from)` is the
baseline: the same architecture, `torch.manual_seed(seed)` before it is built.
"""

from __future__ import annotations

import dataclasses
import pickle
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from nsca.errors import UsageError
from nsca.model.config import ModelConfig
from nsca.priors.innate import PhysicsConstants
from nsca.utils.provenance import read_run_config

ENCODERS_AND_FUSION = ("encoders.", "fusion.")
WEIGHTS = ("model.pt", "checkpoints/last.pt")  # the final weights; the last checkpoint


@dataclass(frozen=True)
class TrainRun:
    folder: Path
    config: dict                    # the TrainConfig keys as saved (from_dict(TrainConfig, config) rebuilds it)
    model: ModelConfig              # the model as built
    physics_constants: PhysicsConstants  # the data's: the model is rebuilt under them


def read_run(folder: str | Path) -> TrainRun:
    """The config.json of a training run folder; a missing, corrupt or foreign file is a one-line UsageError."""
    from nsca.config import from_dict

    folder = Path(folder)
    path = folder / "config.json"
    saved = read_run_config(folder)
    if saved is None:
        if not path.is_file():
            raise UsageError(f"{folder} is not a `nsca train` run folder (no config.json)")
        raise UsageError(f"{path} is unreadable or not a `nsca train` config (expected keys config, provenance, model)")
    if not isinstance(saved.get("model"), dict):
        raise UsageError(f"{path} has no model block (the model a `nsca train` run built)")
    model = from_dict(ModelConfig, saved["model"], prefix="model.")
    return TrainRun(folder, saved["config"], model, _constants(saved.get("physics_constants"), path))


def _constants(saved: Any, path: Path) -> PhysicsConstants:
    """The data's PhysicsConstants, which `nsca train` always records. A missing block, or one
    with other fields than this version's, is a one-line UsageError: the model would otherwise be
    rebuilt under other laws than it was trained with."""
    if not isinstance(saved, dict):
        raise UsageError(f"{path} has no physics_constants block (the data's constants a `nsca train` run records)")
    names = {f.name for f in dataclasses.fields(PhysicsConstants)}
    if set(saved) != names:
        diff = ", ".join(sorted(set(saved) ^ names))
        raise UsageError(f"{path}: its physics_constants are not this version's (differs in: {diff}); "
                         "retrain the run with this code")
    return PhysicsConstants.from_dict(saved)


def locate(path: str | Path, prefer: str = "model.pt") -> tuple[Path, Path]:
    """(run folder, weights file) of a run folder or of a weights file inside one.

    For a folder, `prefer` (one of WEIGHTS) if it exists, else the other. A checkpoint file's
    run is the folder above `checkpoints/`."""
    p = Path(path)
    if p.is_dir():
        first, second = (p / w for w in sorted(WEIGHTS, key=lambda w: w != prefer))
        return p, first if first.is_file() else second
    return (p.parent.parent if p.parent.name == "checkpoints" else p.parent), p


def load_checkpoint(path: str | Path, weights_only: bool = False) -> Any:
    """A checkpoint (or, with weights_only, a bare state dict such as a run's model.pt); a missing
    or unreadable file is a one-line UsageError."""
    path = Path(path)
    if not path.is_file():
        raise UsageError(f"checkpoint not found: {path}")
    try:
        # Our own checkpoints hold RNG states and the curiosity tracker, which weights_only rejects.
        return torch.load(path, map_location="cpu", weights_only=weights_only)
    except (RuntimeError, EOFError, pickle.UnpicklingError) as exc:
        raise UsageError(f"checkpoint {path} is unreadable ({str(exc).splitlines()[0]})") from None


def load_weights(path: Path) -> dict[str, Any]:
    """The model state dict of model.pt (a bare state dict) or of a checkpoint (its "model");
    a missing or unreadable file is a one-line UsageError."""
    if path.name == "model.pt":
        return load_checkpoint(path, weights_only=True)
    ck = load_checkpoint(path)
    if not isinstance(ck, dict) or "model" not in ck:
        raise UsageError(f"checkpoint {path} holds no model weights")
    return ck["model"]


def load_trained(path: str | Path, parts: tuple[str, ...], needs: tuple[str, ...], reads: str,
                 part_name: str) -> Any:
    """An NSCAModel from a `nsca train` run folder (model.pt or checkpoints/last.pt) or
    checkpoint file, with the weights whose names start with one of `parts` loaded.

    `needs`: modalities the model must have (else "has no X encoder; this evaluation reads
    `reads`"); `part_name` names the parts in the mismatch message."""
    from nsca.model.nsca import NSCAModel

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
    (an NSCAModel of the same config) its input-normalisation buffers (data statistics, not
    learned weights) are copied into the vector encoders."""
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
