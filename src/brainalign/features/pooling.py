"""Pool a layer's token states (batch x tokens x units) into one vector per stimulus."""

from __future__ import annotations

import torch

from brainalign.features.registry import POOLINGS


def pool(hidden: torch.Tensor, mask: torch.Tensor | None, how: str) -> torch.Tensor:
    """Pool ``hidden`` (B, T, D) over the tokens where ``mask`` (B, T) is true.

    ``mean`` and ``mean_frames`` average the selected tokens (for video and audio
    models the tokens are frames or patches of frames, so this is the mean over
    frames); ``cls`` takes position 0; ``first``/``last`` take the first/last
    selected token.
    """
    if how not in POOLINGS:
        raise ValueError(f"unknown pooling {how!r}; allowed: {list(POOLINGS)}")
    if hidden.dim() == 2:
        return hidden.float()
    b, t, _ = hidden.shape
    if mask is None:
        mask = torch.ones(b, t, dtype=torch.bool, device=hidden.device)
    mask = mask.to(hidden.device).bool()
    if not bool(mask.any(dim=1).all()):
        raise ValueError("pooling mask selects no token for at least one stimulus")
    h = hidden.float()
    if how in ("mean", "mean_frames"):
        m = mask.unsqueeze(-1).float()
        return (h * m).sum(dim=1) / m.sum(dim=1)
    if how == "cls":
        return h[:, 0]
    pos = torch.arange(t, device=hidden.device).expand(b, t)
    if how == "first":
        idx = torch.where(mask, pos, torch.full_like(pos, t)).min(dim=1).values
    else:
        idx = torch.where(mask, pos, torch.full_like(pos, -1)).max(dim=1).values
    return h[torch.arange(b, device=hidden.device), idx]
