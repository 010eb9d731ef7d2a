"""Fitting a sequence model on windows: class-balanced BCE, Adam, a fixed seed, a progress bar; and the window
metrics used to compare models."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from convert.train.windows import Windows


def set_normaliser(model: nn.Module, x: np.ndarray) -> None:
    flat = x.reshape(-1, x.shape[-1])
    model.norm.mean.copy_(torch.from_numpy(flat.mean(0)))
    model.norm.std.copy_(torch.from_numpy(np.maximum(flat.std(0), 1e-3)))


def fit(model: nn.Module, data: Windows, epochs: int = 40, lr: float = 2e-3, batch: int = 128, seed: int = 0,
        desc: str = "training", progress: bool = True) -> list[float]:
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    set_normaliser(model, data.x)
    x, y = torch.from_numpy(data.x), torch.from_numpy(data.y)
    pos = float(data.y.sum())
    neg = float(len(data.y) - pos)
    weight_pos = neg / max(pos, 1.0)  # balance the classes: falls are a small part of any footage
    opt = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=1e-4)
    losses = []
    bar = tqdm(range(epochs), desc=desc, unit="epoch", disable=not progress)
    for _ in bar:
        model.train()
        order = rng.permutation(len(y))
        total = 0.0
        for start in range(0, len(order), batch):
            idx = torch.from_numpy(order[start:start + batch])
            p = model(x[idx]).squeeze(1).clamp(1e-6, 1 - 1e-6)
            t = y[idx]
            w = torch.where(t > 0.5, torch.full_like(t, weight_pos), torch.ones_like(t))
            loss = (nn.functional.binary_cross_entropy(p, t, reduction="none") * w).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += float(loss.detach()) * len(idx)
        losses.append(total / len(y))
        bar.set_postfix(loss=f"{losses[-1]:.4f}")
    model.eval()
    return losses


def predict(model: nn.Module, x: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        return model(torch.from_numpy(x)).squeeze(1).numpy()


def auc(y: np.ndarray, p: np.ndarray) -> float:
    """Area under the ROC curve (rank statistic)."""
    pos, neg = p[y > 0.5], p[y <= 0.5]
    if not len(pos) or not len(neg):
        return float("nan")
    ranks = np.argsort(np.argsort(np.concatenate([pos, neg]))) + 1
    return float((ranks[:len(pos)].sum() - len(pos) * (len(pos) + 1) / 2) / (len(pos) * len(neg)))


def window_metrics(y: np.ndarray, p: np.ndarray, threshold: float = 0.5) -> dict:
    pred = p >= threshold
    tp = int((pred & (y > 0.5)).sum())
    fp = int((pred & (y <= 0.5)).sum())
    fn = int((~pred & (y > 0.5)).sum())
    return {"windows": int(len(y)), "positives": int((y > 0.5).sum()), "auc": round(auc(y, p), 4),
            "precision": round(tp / max(tp + fp, 1), 4), "recall": round(tp / max(tp + fn, 1), 4),
            "false_positive_windows": fp}
