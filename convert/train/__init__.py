"""Training the sequence models (fall, fatigue) on Vigil's own pose sequences."""

from __future__ import annotations

from pathlib import Path


def run_training(name: str, weights: Path, compare: bool = True, **kwargs) -> dict:
    """Train model ``name`` and write its weights to ``weights`` (the architecture is the file's stem, e.g. gru.pt)
    with windows.npz and report.json beside it. ``compare``: for the fall model, also train LSTM, GRU and TCN on a
    validation split and report their AUC (about a minute more); the fatigue model has no such comparison."""
    if name == "fall":
        from convert.train.fall import train

        return train(arch=weights.stem, out=weights.parent, compare=compare, **kwargs)
    from convert.train.fatigue import train

    return train(arch=weights.stem, out=weights.parent, **kwargs)
