"""One encoder per modality; each maps its input to a single `latent_dim` token.

- vision: a stack of `frame_stack` 64x64 RGB frames, stacked on channels (DQN-style: cheap,
  and motion is visible to the first conv), a strided conv tower, then a linear projection.
- audio: 16 kHz waveform -> log-mel spectrogram (computed here in torch, no torchaudio)
  -> a strided 2-D conv tower -> global average pool -> projection. Impact sounds are short,
  so a pooled spectrogram keeps what hardness needs (modal frequencies and decay).
- proprio / state: small MLPs over the hand's proprioception and the object-centric state
  (nsca.priors.state, STATE_DIM floats).
"""

from __future__ import annotations

import torch
from torch import nn

from nsca.utils.activations import Mish

SAMPLE_RATE_HZ = 16_000


def _conv_tower(in_ch: int, widths: tuple[int, ...]) -> nn.Sequential:
    conv = nn.Conv2d
    layers: list[nn.Module] = []
    for w in widths:
        layers += [conv(in_ch, w, kernel_size=4, stride=2, padding=1), nn.GroupNorm(min(8, w), w), Mish()]
        in_ch = w
    return nn.Sequential(*layers)


class VisionEncoder(nn.Module):
    def __init__(self, latent_dim: int, channels: tuple[int, ...], frame_stack: int, image_size: int = 64) -> None:
        super().__init__()
        self.frame_stack = frame_stack
        self.convs = _conv_tower(3 * frame_stack, channels)
        side = image_size // 2 ** len(channels)
        self.proj = nn.Sequential(nn.Flatten(), nn.Linear(channels[-1] * side * side, latent_dim), nn.LayerNorm(latent_dim))

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        """frames (B, T, 3, 64, 64) in [0, 1]; the last `frame_stack` frames are used, the
        first repeated when fewer are given."""
        t = frames.shape[1]
        if t < self.frame_stack:
            frames = torch.cat([frames[:, :1].expand(-1, self.frame_stack - t, -1, -1, -1), frames], 1)
        frames = frames[:, -self.frame_stack:]
        x = frames.flatten(1, 2) * 2.0 - 1.0
        return self.proj(self.convs(x))


def mel_filterbank(n_fft: int, n_mels: int, sample_rate: int = SAMPLE_RATE_HZ) -> torch.Tensor:
    """(n_fft // 2 + 1, n_mels) triangular HTK-mel filters."""
    def hz_to_mel(f: torch.Tensor) -> torch.Tensor:
        return 2595.0 * torch.log10(1.0 + f / 700.0)

    def mel_to_hz(m: torch.Tensor) -> torch.Tensor:
        return 700.0 * (10 ** (m / 2595.0) - 1.0)

    freqs = torch.linspace(0, sample_rate / 2, n_fft // 2 + 1)
    mels = torch.linspace(hz_to_mel(torch.tensor(20.0)), hz_to_mel(torch.tensor(sample_rate / 2)), n_mels + 2)
    edges = mel_to_hz(mels)
    lower, centre, upper = edges[:-2], edges[1:-1], edges[2:]
    up = (freqs[:, None] - lower) / (centre - lower)
    down = (upper - freqs[:, None]) / (upper - centre)
    return torch.clamp(torch.minimum(up, down), min=0.0)


class LogMel(nn.Module):
    def __init__(self, n_mels: int, n_fft: int = 512, hop: int = 160) -> None:
        super().__init__()
        self.n_fft, self.hop = n_fft, hop
        self.register_buffer("window", torch.hann_window(n_fft), persistent=False)
        self.register_buffer("filters", mel_filterbank(n_fft, n_mels), persistent=False)

    def forward(self, wave: torch.Tensor) -> torch.Tensor:
        """wave (B, N) at 16 kHz -> (B, 1, n_mels, frames) log-mel, frames = N // hop + 1."""
        spec = torch.stft(wave.float(), self.n_fft, self.hop, window=self.window, center=True, return_complex=True)
        power = spec.abs().pow(2).transpose(1, 2) @ self.filters  # (B, frames, n_mels)
        return torch.log(power + 1e-6).transpose(1, 2).unsqueeze(1)


class AudioEncoder(nn.Module):
    def __init__(self, latent_dim: int, channels: tuple[int, ...], n_mels: int) -> None:
        super().__init__()
        self.logmel = LogMel(n_mels)
        self.convs = _conv_tower(1, channels)
        self.proj = nn.Sequential(nn.Linear(channels[-1], latent_dim), nn.LayerNorm(latent_dim))

    def forward(self, wave: torch.Tensor) -> torch.Tensor:
        x = self.logmel(wave)
        x = (x - x.mean(dim=(2, 3), keepdim=True)) / (x.std(dim=(2, 3), keepdim=True) + 1e-5)
        return self.proj(self.convs(x).mean(dim=(2, 3)))


class VectorEncoder(nn.Module):
    """MLP encoder for low-dimensional inputs (proprioception, object-centric state)."""

    def __init__(self, in_dim: int, latent_dim: int, hidden: int) -> None:
        super().__init__()
        self.register_buffer("mean", torch.zeros(in_dim))
        self.register_buffer("std", torch.ones(in_dim))
        self.net = nn.Sequential(
            nn.Linear(in_dim, hidden), nn.LayerNorm(hidden), Mish(),
            nn.Linear(hidden, latent_dim), nn.LayerNorm(latent_dim),
        )

    def set_normalization(self, x: torch.Tensor) -> None:
        self.mean.copy_(x.mean(0))
        self.std.copy_(x.std(0).clamp_min(1e-3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net((x - self.mean) / self.std)
