"""A `nsca train` run folder as its readers see it: its config.json and its weights.

config.json has the one run-folder layout (`nsca.utils.provenance.write_run_config`):

    {"config": the resolved TrainConfig, nested (its `model` block included): the base of --resume
               and what --ewc-from reopens the earlier run's data with,
     "provenance": git commit, package versions, time,
     "model": the ModelConfig built: `config.model` with the run's modalities and prior and the
              data's label counts (what `nsca eval` rebuilds; the config alone does not give it),
     "physics_constants": the PhysicsConstants of the data (the time step a transition spans)}

`nsca eval` (physion, procgen), `--resume` and `--ewc-from` read it through `read_run`, which
also reads the layout `nsca train` wrote before (see `read_run`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from nsca.errors import UsageError
from nsca.model.config import ModelConfig
from nsca.priors.innate import PhysicsConstants
from nsca.training.config import TrainConfig
from nsca.utils.io import read_json
from nsca.utils.provenance import read_run_config, write_run_config


@dataclass(frozen=True)
class TrainRun:
    folder: Path
    config: dict                    # the TrainConfig keys as saved (from_dict(TrainConfig, config) rebuilds it)
    model: ModelConfig              # the model as built
    physics_constants: PhysicsConstants | None  # None where not recorded (see _constants)

    def train_config(self) -> TrainConfig:
        from nsca.config import from_dict

        return from_dict(TrainConfig, self.config)


def write_config(out: Path, cfg: TrainConfig, model_cfg: ModelConfig, constants: PhysicsConstants) -> None:
    write_run_config(out, asdict(cfg), model=asdict(model_cfg), physics_constants=asdict(constants))


def read_run(folder: str | Path) -> TrainRun:
    """The config.json of a training run folder; a missing, corrupt or foreign file is a one-line UsageError."""
    from nsca.config import from_dict

    folder = Path(folder)
    path = folder / "config.json"
    saved = read_run_config(folder)
    if saved is None:
        # Compatibility: run folders written before issue 13 hold {"train": <TrainConfig>, "model": <ModelConfig>}
        # (and, since the data's constants were recorded, "physics_constants"), without provenance.
        saved = read_json(path)
        if isinstance(saved, dict) and isinstance(saved.get("train"), dict):
            saved = {**saved, "config": saved["train"]}
        elif not path.is_file():
            raise UsageError(f"{folder} is not a `nsca train` run folder (no config.json)")
        else:
            raise UsageError(f"{path} is unreadable or not a `nsca train` config (expected keys config, provenance, model)")
    if not isinstance(saved.get("model"), dict):
        raise UsageError(f"{path} has no model block (the model a `nsca train` run built)")
    model = from_dict(ModelConfig, saved["model"], prefix="model.")
    return TrainRun(folder, saved["config"], model, _constants(saved.get("physics_constants")))


def _constants(saved: Any) -> PhysicsConstants | None:
    """The saved PhysicsConstants; None when absent or written by a version with other fields
    (the innate laws' constants have changed since; such a run's readers fall back to defaults)."""
    if not isinstance(saved, dict):
        return None
    try:
        return PhysicsConstants(**{k: tuple(v) if isinstance(v, list) else v for k, v in saved.items()})
    except TypeError:
        return None


WEIGHTS = ("model.pt", "checkpoints/last.pt")  # the final weights; the last checkpoint


def locate(path: str | Path, prefer: str = "model.pt") -> tuple[Path, Path]:
    """(run folder, weights file) of a run folder or of a weights file inside one.

    For a folder, `prefer` (one of WEIGHTS) if it exists, else the other. A checkpoint file's
    run is the folder above `checkpoints/`."""
    p = Path(path)
    if p.is_dir():
        first, second = (p / w for w in sorted(WEIGHTS, key=lambda w: w != prefer))
        return p, first if first.is_file() else second
    return (p.parent.parent if p.parent.name == "checkpoints" else p.parent), p


def load_weights(path: Path) -> dict[str, Any]:
    """The model state dict of model.pt (a bare state dict) or of a checkpoint (its "model");
    a missing or unreadable file is a one-line UsageError."""
    from nsca.training.checkpoint import load_checkpoint

    if path.name == "model.pt":
        return load_checkpoint(path, weights_only=True)
    ck = load_checkpoint(path)
    if not isinstance(ck, dict) or "model" not in ck:
        raise UsageError(f"checkpoint {path} holds no model weights")
    return ck["model"]
