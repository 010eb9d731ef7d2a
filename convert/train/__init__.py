"""Training the sequence models (fall, fatigue) on Vigil's own pose sequences."""

from __future__ import annotations

from pathlib import Path


def run_training(name: str, weights: Path, **kwargs) -> dict:
    """Train model ``name`` and write its weights to ``weights`` (the architecture is the file's stem, e.g. gru.pt)
    with windows.npz and report.json beside it."""
    if name == "fall":
        from convert.train.fall import train
    else:
        from convert.train.fatigue import train
    return train(arch=weights.stem, out=weights.parent, **kwargs)
