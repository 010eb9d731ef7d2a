"""A small real PyTorch network for conversion tests (imported by recipes as ``tiny_models:tiny_net``)."""

import torch


class TinyNet(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 8, 3, stride=2, padding=1)
        self.head = torch.nn.Linear(8, 5)

    def forward(self, x):
        y = torch.relu(self.conv(x)).mean(dim=(2, 3))
        return self.head(y)


def tiny_net() -> torch.nn.Module:
    torch.manual_seed(0)
    return TinyNet()


def not_a_module():
    return 42


class DeepTinyNet(torch.nn.Module):
    """Four convolutions in a row, for the quantization search tests."""

    def __init__(self):
        super().__init__()
        self.convs = torch.nn.ModuleList([torch.nn.Conv2d(3 if i == 0 else 8, 8, 3, padding=1) for i in range(4)])
        self.head = torch.nn.Linear(8, 4)

    def forward(self, x):
        for conv in self.convs:
            x = torch.relu(conv(x))
        return self.head(x.mean(dim=(2, 3)))


def deep_tiny_net() -> torch.nn.Module:
    torch.manual_seed(0)
    return DeepTinyNet()
