"""The checks behind `nsca verify` / verify_world_model.py."""

from __future__ import annotations

import importlib
import pkgutil
import subprocess
import sys
import time
from collections.abc import Callable

from nsca.priors.state import STATE_DIM

REQUIRED, OPTIONAL = "required", "optional"
_EGL_SNIPPET = """
import os
os.environ["MUJOCO_GL"] = "egl"
import mujoco
m = mujoco.MjModel.from_xml_string('<mujoco><worldbody><light pos="0 0 1"/><geom size=".1"/></worldbody></mujoco>')
d = mujoco.MjData(m)
mujoco.mj_forward(m, d)
r = mujoco.Renderer(m, 64, 64)
r.update_scene(d)
img = r.render()
assert img.shape == (64, 64, 3) and img.any()
"""


class Report:
    def __init__(self) -> None:
        self.failed_required: list[str] = []

    def check(self, name: str, level: str, fn: Callable[[], str]) -> None:
        t0 = time.perf_counter()
        try:
            detail = fn()
            status = "OK"
        except Exception as exc:  # a check's failure is reported, not raised
            detail = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
            status = "FAIL" if level == REQUIRED else "WARN"
            if level == REQUIRED:
                self.failed_required.append(name)
        print(f"[{status:4}] {name} ({time.perf_counter() - t0:.1f} s){': ' + detail if detail else ''}", flush=True)


def import_all() -> str:
    import nsca

    bad = []
    n = 0
    for info in pkgutil.walk_packages(nsca.__path__, "nsca."):
        n += 1
        try:
            importlib.import_module(info.name)
        except Exception as exc:
            bad.append(f"{info.name} ({type(exc).__name__}: {exc})")
    if bad:
        raise ImportError(f"{len(bad)} of {n} modules do not import: " + "; ".join(bad))
    return f"{n} modules"


def verify_install(preset_name: str = "default", batch_size: int = 2, envs: bool = True) -> bool:
    import torch

    from nsca.model import SENSOR_MODALITIES, NSCAModel, preset
    from nsca.training.data import collate
    from nsca.training.synthetic import SyntheticInteractions

    print(f"NSCA install check (python {sys.version.split()[0]}, torch {torch.__version__})")
    report = Report()
    report.check("import every nsca module", REQUIRED, import_all)
    model = NSCAModel(preset(preset_name))
    counts = model.param_counts()
    width = max(len(k) for k in counts)
    print(f"parameters of the '{preset_name}' model:")
    for k, v in counts.items():
        print(f"  {k:<{width}} {v:>12,}")

    def size() -> str:
        total = counts["total"]
        if preset_name == "default" and not 14_000_000 <= total <= 18_000_000:
            raise ValueError(f"{total:,} parameters, outside the 14-18M the design asks for")
        return f"{total / 1e6:.2f}M parameters"

    report.check("model size", REQUIRED, size)
    ds = SyntheticInteractions(batch_size, seed=0)
    batch = collate([ds[i] for i in range(batch_size)])

    def forward_backward() -> str:
        model.zero_grad()
        terms = model.losses(batch)
        terms["total"].backward()
        out = model(batch)
        b = batch_size
        expected = {"z": (b, model.cfg.latent_dim), "next_z": (b, model.cfg.latent_dim), "next_state": (b, STATE_DIM),
                    "outcome_logits": (b, model.cfg.n_outcomes), "material_logits": (b, model.cfg.n_materials),
                    "hardness": (b,), "primitive_logits": (b, model.cfg.n_primitives), "policy_action": (b, 4)}
        wrong = {k: tuple(out[k].shape) for k, s in expected.items() if tuple(out[k].shape) != s}
        if wrong:
            raise ValueError(f"unexpected output shapes {wrong}")
        no_grad = [n for n, p in model.named_parameters() if p.grad is None]
        if no_grad:
            raise ValueError(f"{len(no_grad)} parameters get no gradient, e.g. {no_grad[0]}")
        return f"{', '.join(SENSOR_MODALITIES)} -> losses {', '.join(k for k in terms if k != 'state_per_sample')}"

    report.check("forward/backward, every modality", REQUIRED, forward_backward)

    def prior_trainable() -> str:
        phys = model.world_model.physics
        before = float(phys.prior_weight.detach())
        opt = torch.optim.SGD([phys.rho], lr=1.0)
        opt.zero_grad()
        model.losses(batch)["state"].backward()
        if phys.rho.grad is None or float(phys.rho.grad) == 0.0:
            raise ValueError("prior weight gets no gradient from the state loss")
        opt.step()
        after = float(phys.prior_weight.detach())
        if after == before:
            raise ValueError("an optimiser step left the prior weight unchanged")
        return f"prior_weight {before:.3f} -> {after:.3f} after one SGD step"

    report.check("prior weight is trainable", REQUIRED, prior_trainable)
    if envs:
        def mujoco_check() -> str:
            import mujoco

            m = mujoco.MjModel.from_xml_string('<mujoco><worldbody><body><freejoint/><geom size=".1"/></body></worldbody></mujoco>')
            d = mujoco.MjData(m)
            mujoco.mj_step(m, d)
            if not d.qpos[2] < 0:
                raise ValueError("a free body did not fall under gravity")
            return f"mujoco {mujoco.__version__}"

        def metaworld_check() -> str:
            from nsca.envs.metaworld import MetaWorldTask, metaworld_version

            env = MetaWorldTask("pick-place-v2")
            obs = env.reset(0)
            env.step(obs[:4] * 0)
            env.close()
            return f"metaworld {metaworld_version()}, pick-place resets and steps"

        def egl_check() -> str:
            res = subprocess.run([sys.executable, "-c", _EGL_SNIPPET], capture_output=True, text=True, timeout=120)
            if res.returncode:
                lines = (res.stderr.strip() or "no output").splitlines()
                raise RuntimeError(lines[-1])
            return "64x64 offscreen render (MUJOCO_GL=egl)"

        report.check("MuJoCo", REQUIRED, mujoco_check)
        report.check("Meta-World", REQUIRED, metaworld_check)
        report.check("EGL rendering (needed for babbling --render / vision)", OPTIONAL, egl_check)
    report.check("wandb (optional: --wandb-project)", OPTIONAL, lambda: importlib.import_module("wandb").__version__)
    if report.failed_required:
        print(f"NOT OK: {len(report.failed_required)} required check(s) failed: {', '.join(report.failed_required)}")
        return False
    print("OK: NSCA is ready to train (WARN lines are optional extras)")
    return True
