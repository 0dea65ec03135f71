"""`nsca train`'s speed options: which precision a device runs under --amp, the bf16 CPU path,
the fused optimiser, the target encoding's token reuse, and --compile / CUDA where they can run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from nsca.config import from_dict
from nsca.model import NSCAModel, preset
from nsca.training import loop
from nsca.training.config import TrainConfig
from nsca.training.data import collate
from nsca.training.precision import Precision, choose_precision, cpu_has_native_bf16
from nsca.training.synthetic import SyntheticInteractions

CPU, CUDA, MPS = torch.device("cpu"), torch.device("cuda"), torch.device("mps")


pytestmark = pytest.mark.usefixtures("one_thread")


def tiny_cfg(tmp_path: Path, **kw) -> TrainConfig:
    base = {"preset": "debug", "synthetic_size": 64, "batch_size": 16, "epochs": 1, "progress": False,
            "checkpoint_every": 2, "run_dir": str(tmp_path), **kw}
    return from_dict(TrainConfig, base)


@pytest.fixture(scope="module")
def batch() -> dict[str, torch.Tensor]:
    ds = SyntheticInteractions(8, seed=1)
    return collate([ds[i] for i in range(8)])


def test_without_amp_every_device_is_fp32() -> None:
    for device in (CPU, CUDA, MPS):
        precision, note = choose_precision(device, amp=False, cuda_bf16=True, cpu_bf16=True)
        assert precision == Precision(device.type, None) and note is None
        assert not precision.enabled and not precision.needs_scaler and precision.name == "fp32"


def test_amp_picks_bf16_where_native_fp16_with_a_scaler_on_older_gpus_else_fp32_with_a_note() -> None:
    bf16_gpu, _ = choose_precision(CUDA, amp=True, cuda_bf16=True)
    assert (bf16_gpu.device_type, bf16_gpu.dtype, bf16_gpu.needs_scaler) == ("cuda", torch.bfloat16, False)
    old_gpu, _ = choose_precision(CUDA, amp=True, cuda_bf16=False)
    assert (old_gpu.dtype, old_gpu.needs_scaler, old_gpu.name) == (torch.float16, True, "fp16")
    cpu, note = choose_precision(CPU, amp=True, cpu_bf16=True)
    assert (cpu.device_type, cpu.dtype, note) == ("cpu", torch.bfloat16, None)
    slow_cpu, note = choose_precision(CPU, amp=True, cpu_bf16=False)
    assert not slow_cpu.enabled and "no native bf16" in note and note.count("\n") == 1
    mps, note = choose_precision(MPS, amp=True)
    assert not mps.enabled and "not supported on mps" in note


def test_the_autocast_context_follows_the_precision() -> None:
    with Precision("cpu", torch.bfloat16).autocast():
        assert torch.is_autocast_enabled("cpu") and torch.get_autocast_dtype("cpu") == torch.bfloat16
        assert (torch.ones(2, 2) @ torch.ones(2, 2)).dtype == torch.bfloat16
    with Precision("cpu", None).autocast():
        assert not torch.is_autocast_enabled("cpu")
    assert not Precision("cpu", torch.bfloat16).grad_scaler().is_enabled()  # bf16 needs no loss scaling


def test_target_reuses_the_current_audio_token_with_the_same_numbers(batch: dict) -> None:
    """No next audio in the data: the target takes the current audio token instead of encoding
    the same waveform again; the losses and gradients equal the recomputation bit for bit."""
    results = []
    for extra in ({}, {"next_audio": batch["audio"].clone()}):
        torch.manual_seed(0)
        model = NSCAModel(preset("debug"))
        calls: list[int] = []
        model.encoders["audio"].register_forward_hook(lambda *_, calls=calls: calls.append(1))
        terms = model.losses({**batch, **extra})
        terms["total"].backward()
        results.append((terms, [p.grad.clone() for p in model.parameters() if p.grad is not None], len(calls)))
    (reused, g_reused, n_reused), (again, g_again, n_again) = results
    assert (n_reused, n_again) == (1, 2)
    assert all(torch.equal(reused[k], again[k]) for k in reused)
    assert len(g_reused) == len(g_again) and all(torch.equal(a, b) for a, b in zip(g_reused, g_again))


def test_under_autocast_the_physics_head_stays_fp32(batch: dict) -> None:
    torch.manual_seed(0)
    model = NSCAModel(preset("debug"))
    residual = []
    model.world_model.physics.residual.register_forward_hook(lambda m, i, o: residual.append(o.dtype))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = model(batch)
    assert out["outcome_logits"].dtype == torch.bfloat16  # the rest of the model does run in bf16
    assert residual == [torch.float32] and out["next_state"].dtype == torch.float32
    with torch.no_grad():
        fp32 = model(batch)["next_state"]
    # Only the context from the bf16 latent differs; the prior term and the state are exact.
    assert torch.allclose(out["next_state"], fp32, atol=1e-3)


def test_amp_on_cpu_trains_deterministically_and_close_to_fp32(tmp_path: Path) -> None:
    summaries = {}
    for name, kw in (("fp32", {}), ("amp", {"amp": True, "fused_optimizer": True}),
                     ("amp-again", {"amp": True, "fused_optimizer": True})):
        summaries[name] = loop.train(tiny_cfg(tmp_path, run_name=name, **kw))
    prov = json.loads((tmp_path / "amp" / "provenance.json").read_text())
    assert prov["precision"] == ("bf16" if cpu_has_native_bf16() else "fp32")
    assert json.loads((tmp_path / "fp32" / "provenance.json").read_text())["precision"] == "fp32"
    a, b = (torch.load(tmp_path / n / "model.pt", weights_only=True) for n in ("amp", "amp-again"))
    assert all(torch.equal(a[k], b[k]) for k in a)  # same config + seed => same numbers
    assert summaries["amp"]["val/total"] == pytest.approx(summaries["fp32"]["val/total"], rel=0.05)
    if cpu_has_native_bf16():
        assert summaries["amp"]["val/total"] != summaries["fp32"]["val/total"]  # bf16 really ran


def test_fused_optimizer_is_opt_in() -> None:
    model = NSCAModel(preset("debug"))
    assert not loop.make_optimizer(model, from_dict(TrainConfig, {})).defaults.get("fused")
    assert loop.make_optimizer(model, from_dict(TrainConfig, {"fused_optimizer": True})).defaults["fused"]


def test_amp_resume_is_bit_identical(tmp_path: Path) -> None:
    kw = {"amp": True, "fused_optimizer": True}
    loop.train(tiny_cfg(tmp_path / "a", **kw))
    loop.train(tiny_cfg(tmp_path / "b", max_steps=3, **kw))
    loop.train(tiny_cfg(tmp_path / "b", **kw), resume=True)
    a, b = (torch.load(tmp_path / x / "debug" / "model.pt", weights_only=True) for x in ("a", "b"))
    assert all(torch.equal(a[k], b[k]) for k in a)


@pytest.mark.slow
def test_compile_runs_on_cpu(tmp_path: Path) -> None:
    summary = loop.train(tiny_cfg(tmp_path, compile=True, max_steps=2, modalities=["proprio", "state"]))
    assert summary["steps"] == 2 and summary["val/total"] > 0
    assert json.loads((tmp_path / "debug" / "provenance.json").read_text())["compiled"] is True


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_amp_run(tmp_path: Path) -> None:
    summary = loop.train(tiny_cfg(tmp_path, device="cuda", amp=True, fused_optimizer=True))
    assert summary["device"].startswith("cuda") and summary["val/total"] > 0
    prov = json.loads((tmp_path / "debug" / "provenance.json").read_text())
    assert prov["precision"] in ("bf16", "fp16")
