"""The autoencoder network: layers and forward pass only (no pandas, no Dask)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn
from torch.nn.utils import skip_init

#: Negative slope of the LeakyReLU activations.
LEAKY_SLOPE = 0.01


def default_architecture(n_features: int) -> tuple[tuple[int, ...], int]:
    """Return ``(hidden_layers, bottleneck)`` derived from the number of input features.

    The first hidden layer is twice as wide as the input (16 to 256 units), the second half of
    that, and the bottleneck about a quarter of the input (2 to 32 units, below the input width).

    Examples
    --------
    >>> default_architecture(32)
    ((64, 32), 8)
    >>> default_architecture(3)
    ((16, 8), 2)
    """
    first = min(256, max(16, 2 * n_features))
    bottleneck = min(32, max(2, -(-n_features // 4)))
    bottleneck = max(1, min(bottleneck, n_features - 1)) if n_features > 1 else 1
    return (first, max(first // 2, bottleneck)), bottleneck


class Autoencoder(nn.Module):
    """Fully connected autoencoder: encoder widths, a bottleneck, and the mirrored decoder.

    Hidden layers use LeakyReLU; the bottleneck and the output are linear. Weights are
    initialised with Xavier (Glorot) uniform, biases with zeros.

    Parameters
    ----------
    n_features : int
        Input and output width.
    hidden_layers : sequence of int
        Encoder widths; the decoder uses them in reverse.
    bottleneck : int
        Width of the code layer.
    generator : torch.Generator or None, default=None
        Source of randomness for the initial weights.

    Examples
    --------
    >>> net = Autoencoder(4, (8,), 2, generator=torch.Generator().manual_seed(0))
    >>> net.layer_widths
    [4, 8, 2, 8, 4]
    >>> net(torch.zeros(3, 4)).shape
    torch.Size([3, 4])
    """

    def __init__(
        self,
        n_features: int,
        hidden_layers: Sequence[int],
        bottleneck: int,
        *,
        generator: torch.Generator | None = None,
    ) -> None:
        super().__init__()
        self.layer_widths = [
            n_features,
            *hidden_layers,
            bottleneck,
            *reversed(hidden_layers),
            n_features,
        ]
        encoder_widths = self.layer_widths[: len(hidden_layers) + 2]
        decoder_widths = self.layer_widths[len(hidden_layers) + 1 :]
        self.encoder = _stack(encoder_widths)
        self.decoder = _stack(decoder_widths)
        for module in self.modules():
            if isinstance(module, nn.Linear):
                nn.init.xavier_uniform_(module.weight, generator=generator)
                nn.init.zeros_(module.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Return the reconstruction of ``x``."""
        return self.decoder(self.encoder(x))

    def n_parameters(self) -> int:
        """Return the number of trainable parameters."""
        return sum(p.numel() for p in self.parameters())


def _stack(widths: Sequence[int]) -> nn.Sequential:
    """Linear layers between consecutive widths, LeakyReLU between them, none after the last."""
    layers: list[nn.Module] = []
    for i, (fan_in, fan_out) in enumerate(zip(widths[:-1], widths[1:], strict=False)):
        # skip_init: no default (global-RNG) initialisation; Autoencoder applies Xavier itself
        layers.append(skip_init(nn.Linear, fan_in, fan_out))
        if i < len(widths) - 2:
            layers.append(nn.LeakyReLU(LEAKY_SLOPE))
    return nn.Sequential(*layers)


#: Inference widths are padded to multiples of this many float32 values (64 bytes).
ALIGN = 16


def aligned_width(n: int) -> int:
    """Round ``n`` up to a multiple of :data:`ALIGN`."""
    return -(-n // ALIGN) * ALIGN


def aligned_copy(module: Autoencoder) -> nn.Sequential:
    """Return an inference copy of ``module`` whose layer widths are multiples of 16.

    Extra units have zero weights and biases, so the real outputs are unchanged and the padded
    outputs are exactly zero. With every row of every activation 64-byte aligned, CPU matrix
    kernels compute a row the same way wherever it sits in a batch; without the padding, results
    differed in the last bits with a row's position, and so with partition boundaries.

    Examples
    --------
    >>> net = Autoencoder(3, (4,), 2, generator=torch.Generator().manual_seed(0))
    >>> [m.in_features for m in aligned_copy(net) if isinstance(m, nn.Linear)]
    [16, 16, 16, 16]
    """
    layers: list[nn.Module] = []
    for layer in [*module.encoder, *module.decoder]:
        if not isinstance(layer, nn.Linear):
            layers.append(layer)
            continue
        wide = nn.Linear(aligned_width(layer.in_features), aligned_width(layer.out_features))
        with torch.no_grad():
            wide.weight.zero_()
            wide.bias.zero_()
            wide.weight[: layer.out_features, : layer.in_features] = layer.weight
            wide.bias[: layer.out_features] = layer.bias
        layers.append(wide)
    return nn.Sequential(*layers).eval()
