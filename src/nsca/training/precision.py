"""Which mixed precision a training device runs under `--amp`, decided once per run.

bf16 where the hardware computes it natively: CUDA GPUs from Ampere on, and CPUs whose
oneDNN has bf16 kernels (AVX512-BF16 or AMX; docs/training.md has the speed and the loss
curves). fp16 with a grad scaler on older GPUs (fp16's range needs it; bf16's does not).
Elsewhere (a CPU without native bf16, where emulated bf16 is slower than fp32, or MPS) the run
stays fp32 and says so. Without `--amp` every device runs fp32: the default path's numbers
do not depend on the hardware's precision options.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class Precision:
    device_type: str
    dtype: torch.dtype | None  # the autocast dtype; None = fp32 throughout

    @property
    def enabled(self) -> bool:
        return self.dtype is not None

    @property
    def needs_scaler(self) -> bool:
        return self.dtype == torch.float16

    @property
    def name(self) -> str:
        return {None: "fp32", torch.bfloat16: "bf16", torch.float16: "fp16"}[self.dtype]

    def autocast(self) -> torch.autocast:
        return torch.autocast(self.device_type, dtype=self.dtype or torch.float32, enabled=self.enabled)

    def grad_scaler(self) -> torch.amp.GradScaler:
        """A scaler that is a no-op (but keeps a state dict for checkpoints) unless fp16 needs it."""
        return torch.amp.GradScaler(self.device_type if self.device_type == "cuda" else "cpu", enabled=self.needs_scaler)


def cpu_has_native_bf16() -> bool:
    return bool(torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported())


def choose_precision(device: torch.device, amp: bool, cuda_bf16: bool | None = None,
                     cpu_bf16: bool | None = None) -> tuple[Precision, str | None]:
    """The run's precision and, where `--amp` cannot be honoured, the note that says why.

    `cuda_bf16` / `cpu_bf16` override the hardware query (tests)."""
    kind = device.type
    if not amp:
        return Precision(kind, None), None
    if kind == "cuda":
        bf16 = torch.cuda.is_bf16_supported() if cuda_bf16 is None else cuda_bf16
        return Precision(kind, torch.bfloat16 if bf16 else torch.float16), None
    if kind == "cpu":
        if cpu_has_native_bf16() if cpu_bf16 is None else cpu_bf16:
            return Precision(kind, torch.bfloat16), None
        return Precision(kind, None), "note: --amp: this CPU has no native bf16 (AVX512-BF16/AMX), where bf16 is slower than fp32; running fp32\n"
    return Precision(kind, None), f"note: --amp is not supported on {kind}; running fp32\n"
