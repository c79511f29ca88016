"""The autoencoder network: layers and forward pass only (no pandas, no Dask)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn
from torch.nn.utils import skip_init

#: Negative slope of the LeakyReLU activations.
LEAKY_SLOPE = 0.01
#: Width of the default bottleneck (see :func:`default_architecture`).
BOTTLENECK_WIDTH = 32


def default_architecture(n_features: int) -> tuple[tuple[int, ...], int]:
    """Return ``(hidden_layers, bottleneck)`` derived from the number of input features.

    The first hidden layer is twice as wide as the input (64 to 256 units), the second half of
    that, and the bottleneck 32 units. For fewer than 32 features the code is wider than the
    input: with dropout in training (see :class:`Autoencoder`) the network still cannot copy its
    input, and it learns a smooth reconstruction of the normal rows that does not extend to rare,
    extreme or inconsistent ones. On the ADBench development datasets this was clearly more
    accurate than a narrow bottleneck (see ``benchmarks/RESULTS.md``).

    Examples
    --------
    >>> default_architecture(32)
    ((64, 32), 32)
    >>> default_architecture(3)
    ((64, 32), 32)
    >>> default_architecture(100)
    ((200, 100), 32)
    """
    first = min(256, max(64, 2 * n_features))
    return (first, first // 2), BOTTLENECK_WIDTH


class Autoencoder(nn.Module):
    """Fully connected autoencoder: encoder widths, a bottleneck, and the mirrored decoder.

    Hidden layers use LeakyReLU, followed in training by dropout; the bottleneck and the output
    are linear. Weights are initialised with Xavier (Glorot) uniform, biases with zeros.

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
    dropout : float, default=0.0
        Share of hidden units zeroed at random in each training step (after each hidden
        activation). Masks are drawn from the generator given to
        :meth:`set_dropout_generator`, never from torch's global generator; in evaluation mode
        dropout does nothing.

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
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout!r}.")
        self.dropout = float(dropout)
        self.layer_widths = [
            n_features,
            *hidden_layers,
            bottleneck,
            *reversed(hidden_layers),
            n_features,
        ]
        encoder_widths = self.layer_widths[: len(hidden_layers) + 2]
        decoder_widths = self.layer_widths[len(hidden_layers) + 1 :]
        self.encoder = _stack(encoder_widths, self.dropout)
        self.decoder = _stack(decoder_widths, self.dropout)
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

    def set_dropout_generator(self, generator: torch.Generator | None) -> None:
        """Draw dropout masks from ``generator`` (None: no generator; training then refuses)."""
        for module in self.modules():
            if isinstance(module, Activation):
                module.generator = generator


class Activation(nn.Module):
    """LeakyReLU followed, in training mode, by dropout with masks from a given generator.

    One module (not two) so that the layer indices, and so the saved weights' names, are the
    same with and without dropout. The generator is not part of the module's state: it is set
    for training by :meth:`Autoencoder.set_dropout_generator` and removed afterwards.

    Examples
    --------
    >>> act = Activation(0.5)
    >>> act.eval()(torch.tensor([-1.0, 2.0]))
    tensor([-0.0100,  2.0000])
    """

    def __init__(self, dropout: float = 0.0) -> None:
        super().__init__()
        self.dropout = float(dropout)
        self.generator: torch.Generator | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = nn.functional.leaky_relu(x, LEAKY_SLOPE)
        if not self.training or self.dropout == 0.0:
            return x
        if self.generator is None:
            raise RuntimeError(
                "Dropout in training needs a generator; call "
                "Autoencoder.set_dropout_generator first."
            )
        keep = 1.0 - self.dropout
        # one draw and one in-place scaling: the mask holds 0 or 1/keep
        mask = torch.empty_like(x).bernoulli_(keep, generator=self.generator).div_(keep)
        return x * mask

    def __getstate__(self) -> dict[str, object]:
        state = self.__dict__.copy()
        state["generator"] = None  # generators are training-time only and not picklable
        return state

    def extra_repr(self) -> str:
        return f"negative_slope={LEAKY_SLOPE}, dropout={self.dropout}"


def _stack(widths: Sequence[int], dropout: float = 0.0) -> nn.Sequential:
    """Linear layers between consecutive widths, activations between them, none after the last."""
    layers: list[nn.Module] = []
    for i, (fan_in, fan_out) in enumerate(zip(widths[:-1], widths[1:], strict=False)):
        # skip_init: no default (global-RNG) initialisation; Autoencoder applies Xavier itself
        layers.append(skip_init(nn.Linear, fan_in, fan_out))
        if i < len(widths) - 2:
            layers.append(Activation(dropout))
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
            layers.append(nn.LeakyReLU(LEAKY_SLOPE))  # inference: no dropout, nothing shared
            continue
        wide = nn.Linear(aligned_width(layer.in_features), aligned_width(layer.out_features))
        with torch.no_grad():
            wide.weight.zero_()
            wide.bias.zero_()
            wide.weight[: layer.out_features, : layer.in_features] = layer.weight
            wide.bias[: layer.out_features] = layer.bias
        layers.append(wide)
    return nn.Sequential(*layers).eval()
