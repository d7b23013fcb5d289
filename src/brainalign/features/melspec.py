"""Kaldi-style log-mel filterbank in plain torch (as ``torchaudio.compliance.kaldi.fbank``).

ImageBind's audio preprocessing calls torchaudio's Kaldi ``fbank`` with
``htk_compat=True, use_energy=False, window_type="hanning", dither=0``. torchaudio
has no build for the pinned torch, so these few steps are written out here with
torchaudio's defaults: 25 ms frames every 10 ms (``snip_edges``), per-frame DC
removal, pre-emphasis 0.97, symmetric Hann window, zero padding to a power of
two, power spectrum, triangular mel filters on the Kaldi mel scale from 20 Hz to
Nyquist, natural log floored at float32 epsilon.
"""

from __future__ import annotations

import math

import torch

EPSILON = torch.finfo(torch.float32).eps


def _mel(freq: torch.Tensor) -> torch.Tensor:
    return 1127.0 * torch.log(1.0 + freq / 700.0)


def mel_banks(num_bins: int, padded_window: int, sample_rate: float, low_freq: float = 20.0,
              high_freq: float = 0.0) -> torch.Tensor:
    """Triangular filters (num_bins x padded_window // 2 + 1), Kaldi layout."""
    n_fft_bins = padded_window // 2
    nyquist = 0.5 * sample_rate
    if high_freq <= 0.0:
        high_freq += nyquist
    mel_low, mel_high = _mel(torch.tensor(low_freq)), _mel(torch.tensor(high_freq))
    delta = (mel_high - mel_low) / (num_bins + 1)
    b = torch.arange(num_bins, dtype=torch.float64).unsqueeze(1)
    left, center, right = mel_low + b * delta, mel_low + (b + 1) * delta, mel_low + (b + 2) * delta
    mel = _mel(sample_rate / padded_window * torch.arange(n_fft_bins, dtype=torch.float64)).unsqueeze(0)
    up = (mel - left) / (center - left)
    down = (right - mel) / (right - center)
    banks = torch.clamp(torch.minimum(up, down), min=0.0)
    return torch.nn.functional.pad(banks, (0, 1)).float()  # Nyquist bin gets weight 0


def fbank(waveform: torch.Tensor, sample_rate: int, num_mel_bins: int = 128,
          frame_length_ms: float = 25.0, frame_shift_ms: float = 10.0,
          preemphasis: float = 0.97) -> torch.Tensor:
    """Log-mel energies (frames x num_mel_bins) of a mono waveform (samples,) or (1, samples)."""
    x = waveform.reshape(-1).float()
    size = int(sample_rate * frame_length_ms / 1000)
    shift = int(sample_rate * frame_shift_ms / 1000)
    if x.numel() < size:
        return torch.empty(0, num_mel_bins)
    n_frames = 1 + (x.numel() - size) // shift
    frames = x.as_strided((n_frames, size), (shift, 1)).clone()
    frames = frames - frames.mean(dim=1, keepdim=True)
    prev = torch.cat([frames[:, :1], frames[:, :-1]], dim=1)
    frames = frames - preemphasis * prev
    frames = frames * torch.hann_window(size, periodic=False)
    padded = 1 << math.ceil(math.log2(size))
    frames = torch.nn.functional.pad(frames, (0, padded - size))
    power = torch.fft.rfft(frames).abs().pow(2.0)
    energies = power @ mel_banks(num_mel_bins, padded, float(sample_rate)).T
    return torch.log(torch.clamp(energies, min=EPSILON))
