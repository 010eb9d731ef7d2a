"""The sequence models (PyTorch). Input (1, steps, features) of raw features; the per-feature normalisation learned
from the training data is part of the model, so the runtime passes features as edge_app.analysis.features makes
them. Output: (1, 1) probability.

``fall_tcn`` / ``fatigue_tcn`` build the shipped architectures; ``convert build`` imports them through the recipe
(``module:factory``) and loads the trained weights.
"""

from __future__ import annotations

import torch
from torch import nn

from edge_app.analysis import fall, fatigue
from edge_app.analysis.features import NUM_FEATURES

FALL_STEPS, FALL_RATE = 30, fall.RATE_HZ  # 2 s at 15 Hz
FATIGUE_STEPS, FATIGUE_RATE = 80, fatigue.RATE_HZ  # 20 s at 4 Hz


class Normalise(nn.Module):
    def __init__(self, features: int):
        super().__init__()
        self.register_buffer("mean", torch.zeros(features))
        self.register_buffer("std", torch.ones(features))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.std


class TCN(nn.Module):
    """Dilated causal-ish 1-D convolutions over time, then the last step and the mean over time -> probability."""

    def __init__(self, features: int = NUM_FEATURES, channels: int = 32, dilations: tuple[int, ...] = (1, 2, 4),
                 dropout: float = 0.1):
        super().__init__()
        self.norm = Normalise(features)
        layers: list[nn.Module] = []
        width = features
        for d in dilations:
            layers += [nn.Conv1d(width, channels, 3, padding=d, dilation=d), nn.ReLU(), nn.Dropout(dropout)]
            width = channels
        self.body = nn.Sequential(*layers)
        self.head = nn.Linear(2 * channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.body(self.norm(x).transpose(1, 2))  # (N, C, T)
        pooled = torch.cat([h[:, :, -1], h.mean(dim=2)], dim=1)
        return torch.sigmoid(self.head(pooled))


class GRU(nn.Module):
    """A one-layer GRU over the window; its last state -> probability (the alternative the TCN is compared with)."""

    def __init__(self, features: int = NUM_FEATURES, hidden: int = 32):
        super().__init__()
        self.norm = Normalise(features)
        self.gru = nn.GRU(features, hidden, batch_first=True)
        self.head = nn.Linear(hidden, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out, _ = self.gru(self.norm(x))
        return torch.sigmoid(self.head(out[:, -1]))


class LSTM(nn.Module):
    """A one-layer LSTM over the window; its last state -> probability."""

    def __init__(self, features: int = NUM_FEATURES, hidden: int = 32):
        super().__init__()
        self.norm = Normalise(features)
        self.lstm = nn.LSTM(features, hidden, batch_first=True)
        self.head = nn.Linear(hidden, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out, _ = self.lstm(self.norm(x))
        return torch.sigmoid(self.head(out[:, -1]))


def fall_lstm() -> nn.Module:
    return LSTM()


def fall_tcn() -> nn.Module:
    return TCN(dropout=0.3)


def fall_gru() -> nn.Module:
    return GRU()


def fatigue_tcn() -> nn.Module:
    return TCN(dilations=(1, 2, 4, 8), dropout=0.3)
