"""The autoencoder network: layers and forward pass only (no pandas, no Dask)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import TypeAlias

import numpy as np
import torch
from torch import nn
from torch.nn.utils import skip_init

#: Negative slope of the LeakyReLU activations.
LEAKY_SLOPE = 0.01
#: Where dropout masks come from: a NumPy generator (CPU) or a torch generator (its device).
DropoutGenerator: TypeAlias = "np.random.Generator | torch.Generator"
#: Dropout masks are drawn as integers in [0, _DROPOUT_LEVELS).
_DROPOUT_LEVELS = 1 << 16
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

    With ``n_members > 1`` the module is an ensemble of that many autoencoders of the same
    shape, computed side by side as one network: every member reads the whole input, its hidden
    units and code are a block of each layer (``layer_widths`` are the members' widths times
    ``n_members``), and the output holds the members' reconstructions one after the other
    (``n_members * n_features`` columns; :meth:`targets` repeats the input to match). Weights
    between members are zero and stay zero (the forward pass multiplies each member by its own
    block only), so the members train independently, each from its own initial weights and
    dropout masks. The inference copy (:func:`aligned_copy`) uses the block-diagonal matrices
    as they are.

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
    n_members : int, default=1
        Number of autoencoders in the ensemble (see above).

    Examples
    --------
    >>> net = Autoencoder(4, (8,), 2, generator=torch.Generator().manual_seed(0))
    >>> net.layer_widths
    [4, 8, 2, 8, 4]
    >>> net(torch.zeros(3, 4)).shape
    torch.Size([3, 4])
    >>> trio = Autoencoder(4, (8,), 2, generator=torch.Generator().manual_seed(0), n_members=3)
    >>> trio.layer_widths, trio.member_widths
    ([4, 24, 6, 24, 12], [4, 8, 2, 8, 4])
    >>> trio(torch.zeros(3, 4)).shape
    torch.Size([3, 12])
    """

    def __init__(
        self,
        n_features: int,
        hidden_layers: Sequence[int],
        bottleneck: int,
        *,
        generator: torch.Generator | None = None,
        dropout: float = 0.0,
        n_members: int = 1,
    ) -> None:
        super().__init__()
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout!r}.")
        if int(n_members) < 1:
            raise ValueError(f"n_members must be a positive integer, got {n_members!r}.")
        self.dropout = float(dropout)
        self.n_members = int(n_members)
        self.member_widths = [
            n_features,
            *hidden_layers,
            bottleneck,
            *reversed(hidden_layers),
            n_features,
        ]
        # the input is shared; every later width holds one block per member
        self.layer_widths = [n_features] + [w * self.n_members for w in self.member_widths[1:]]
        encoder_widths = self.layer_widths[: len(hidden_layers) + 2]
        decoder_widths = self.layer_widths[len(hidden_layers) + 1 :]
        self.encoder = _stack(encoder_widths, self.dropout)
        self.decoder = _stack(decoder_widths, self.dropout)
        linears = [m for m in self.modules() if isinstance(m, nn.Linear)]
        for i, layer in enumerate(linears):
            fan_in, fan_out = self.member_widths[i], self.member_widths[i + 1]
            nn.init.zeros_(layer.bias)
            nn.init.zeros_(layer.weight)
            # one Xavier block per member (with one member: the whole matrix)
            for k in range(self.n_members):
                rows = slice(k * fan_out, (k + 1) * fan_out)
                cols = slice(0, fan_in) if i == 0 else slice(k * fan_in, (k + 1) * fan_in)
                nn.init.xavier_uniform_(layer.weight[rows, cols], generator=generator)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Return the reconstruction of ``x`` (each member's, one after the other)."""
        if self.n_members > 1:
            return self._members_forward(x)
        # The layers' own forward functions, called directly: the same arithmetic as
        # ``self.decoder(self.encoder(x))`` without Module.__call__'s bookkeeping for each of
        # the dozen layers (3-4% of a training step of the default network on a small table;
        # module hooks are not used on these layers).
        for layer in (*self.encoder, *self.decoder):
            x = layer.forward(x)
        return x

    def _members_forward(self, x: torch.Tensor) -> torch.Tensor:
        """The ensemble's forward pass with one batched product per layer.

        Each layer after the first multiplies every member's activations by that member's own
        diagonal block only (``torch.baddbmm`` on a strided view of the weight): the same
        result as the block-diagonal matrix, at ``1/n_members`` of its arithmetic, and the
        gradients of the blocks between members are exactly zero, so they stay zero in training.
        """
        k = self.n_members
        layers = [*self.encoder, *self.decoder]
        first = layers[0]
        assert isinstance(first, nn.Linear)
        # the first layer reads the shared input: an ordinary dense layer, then split by member
        h = first(x).view(len(x), k, -1).transpose(0, 1)
        for layer in layers[1:]:
            if isinstance(layer, nn.Linear):
                n_out, n_in = layer.out_features // k, layer.in_features // k
                blocks = layer.weight.view(k, n_out, k, n_in).diagonal(dim1=0, dim2=2)
                h = torch.baddbmm(layer.bias.view(k, 1, n_out), h, blocks.permute(2, 1, 0))
            else:
                h = layer(h)
        return h.transpose(0, 1).reshape(len(x), -1)

    def targets(self, x: torch.Tensor) -> torch.Tensor:
        """Return what :meth:`forward` should reconstruct: ``x`` once per member."""
        return x if self.n_members == 1 else x.repeat(1, self.n_members)

    def n_parameters(self) -> int:
        """Return the number of trainable parameters (all members; not the zero blocks)."""
        widths = self.member_widths
        single = sum(a * b + b for a, b in zip(widths[:-1], widths[1:], strict=False))
        return self.n_members * single

    def set_dropout_generator(self, generator: DropoutGenerator | None) -> None:
        """Draw dropout masks from ``generator`` (None: no generator; training then refuses).

        A NumPy generator draws the masks on the CPU (faster there); a torch generator draws
        them on its device.
        """
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
        self.generator: DropoutGenerator | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = nn.functional.leaky_relu(x, LEAKY_SLOPE)
        if not self.training or self.dropout == 0.0:
            return x
        if self.generator is None:
            raise RuntimeError(
                "Dropout in training needs a generator; call "
                "Autoencoder.set_dropout_generator first."
            )
        # 16-bit random integers: the dropout rate is rounded to a multiple of 1/65536
        drop = round(self.dropout * _DROPOUT_LEVELS)
        scale = _DROPOUT_LEVELS / (_DROPOUT_LEVELS - drop)
        if isinstance(self.generator, np.random.Generator):
            # CPU training: NumPy draws these about twice as fast as torch's CPU generator
            draws = self.generator.integers(
                0, _DROPOUT_LEVELS, size=tuple(x.shape), dtype=np.uint16
            )
            # the scale folded into the mask: one multiply of the tensor (and of its gradient)
            keep = (draws >= drop).astype(np.float32)
            keep *= scale
            return x * torch.from_numpy(keep)
        draws_t = torch.randint(
            0,
            _DROPOUT_LEVELS,
            x.shape,
            generator=self.generator,
            dtype=torch.int32,
            device=x.device,
        )
        return x * (draws_t >= drop) * scale

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


@dataclass(frozen=True)
class InferenceNetwork:
    """The aligned inference copy of a trained network and the shape facts scoring needs.

    Attributes
    ----------
    module : torch.nn.Sequential
        :func:`aligned_copy` of the network.
    n_encoder_layers : int
        The first layers of ``module`` that form the encoder.
    code_width : int
        Code units of all members together (before the alignment padding).
    n_members : int
        Autoencoders in the network (:class:`Autoencoder`).

    Examples
    --------
    >>> trio = Autoencoder(3, (4,), 2, generator=torch.Generator().manual_seed(0), n_members=3)
    >>> network = InferenceNetwork.of(trio)
    >>> network.n_encoder_layers, network.code_width, network.n_members
    (3, 6, 3)
    """

    module: nn.Sequential
    n_encoder_layers: int
    code_width: int
    n_members: int

    @classmethod
    def of(cls, net: Autoencoder) -> InferenceNetwork:
        """The inference network of ``net`` (on the CPU)."""
        widths = net.layer_widths
        return cls(aligned_copy(net), len(net.encoder), widths[len(widths) // 2], net.n_members)

    @property
    def encoder(self) -> nn.Module:
        """The encoder layers of ``module``."""
        return self.module[: self.n_encoder_layers]

    @property
    def decoder(self) -> nn.Module:
        """The decoder layers of ``module``."""
        return self.module[self.n_encoder_layers :]

    def to(self, device: torch.device) -> InferenceNetwork:
        """The same network with its module on ``device``."""
        return replace(self, module=self.module.to(device))
