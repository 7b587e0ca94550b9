"""DCGAN (Radford, Metz & Chintala 2016): the all-convolutional GAN of seed 001.

The architecture rules of the paper, which both networks follow:

* no pooling: D downsamples with strided convolutions, G upsamples with
  fractionally-strided convolutions (``ConvTranspose2d``, kernel 4, stride 2);
* no fully connected hidden layers: G's first layer is a transposed
  convolution from the 1x1 latent "image" ``z`` and D's last layer is a
  convolution whose kernel covers its whole final feature map;
* batch norm in every G layer but the output and every D layer but the input;
* ReLU in G with a tanh output; LeakyReLU(0.2) in D, whose output is a raw
  score (no sigmoid, see :mod:`ganlab.hookspecs`);
* optionally, weights drawn from N(0, 0.02) (batch-norm scales from
  N(1, 0.02), biases 0).

Layouts per image side (channels in units of ``ngf``/``ndf``)::

    64: G 1 -> 4 (8) -> 8 (4) -> 16 (2) -> 32 (1) -> 64   D mirrors it
    32: G 1 -> 4 (4) -> 8 (2) -> 16 (1) -> 32             D mirrors it
    28: G 1 -> 7 (2) -> 14 (1) -> 28                      D mirrors it

Seed 001 trains at 64x64 with ``latent_dim`` 100 and the BCE loss:
``ganlab run --plugin dcgan --plugin gan --image-size 64``.

Conditioning (with the ``cgan`` plugin): G receives ``cat([z, embed(y)])`` as
its 1x1 input; in concat mode D receives ``embed(y)`` as extra constant input
channels, and in projection mode its final convolution becomes a
:class:`ganlab.conditioning.ProjectionHead` on the flattened final features
(a linear map of the whole feature map is exactly that convolution, plus the
projection term).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn

from ganlab import Conditioner, DataSpec, PluginError, hookimpl, with_label_channels

# Image side -> side of the first (G) / last (D) feature map; every other
# layer doubles (G) or halves (D) the side.
START_SIDE = {28: 7, 32: 4, 64: 4}
SUPPORTED = ", ".join(f"{s}x{s}" for s in START_SIDE)


@dataclass
class DCGANOptions:
    ngf: int = field(default=64, metadata={"help": "generator width: channels of its last hidden layer"})
    ndf: int = field(default=64, metadata={"help": "discriminator width: channels of its first layer"})
    init: bool = field(
        default=True,
        metadata={"help": "DCGAN init: conv weights N(0, 0.02), batch-norm scales N(1, 0.02), biases 0 "
                          "(false: PyTorch's default init, as seed 001's code runs)"},
    )
    d_batchnorm: bool = field(
        default=True,
        metadata={"help": "batch norm in D (turn off for per-sample penalties such as WGAN-GP)"},
    )
    leak: float = field(default=0.2, metadata={"help": "negative slope of D's LeakyReLU"})

    def __post_init__(self):
        if self.ngf < 1 or self.ndf < 1:
            raise ValueError(f"ngf and ndf must be at least 1, got ngf={self.ngf}, ndf={self.ndf}")
        if not 0 <= self.leak < 1:
            raise ValueError(f"leak must be in [0, 1), got {self.leak}")


@hookimpl
def ganlab_options():
    return DCGANOptions


@hookimpl
def ganlab_train_defaults():
    return {"latent_dim": 100}  # the paper's and seed 001's nz


def unsupported_reason(data: DataSpec) -> str | None:
    """Why DCGAN cannot model ``data``, or ``None`` when it can."""
    if not data.is_image or len(data.shape) != 3:
        return (
            f"dcgan needs images, but dataset {data.name!r} holds samples of shape {data.shape} "
            f"({data.kind}); use an image dataset (e.g. --data mnist) or drop --plugin dcgan "
            "to use the mlp architecture"
        )
    _, h, w = data.shape
    if h != w or h not in START_SIDE:
        return (
            f"dcgan supports {SUPPORTED} images, but dataset {data.name!r} is {h}x{w}; "
            "resize it at load time with --image-size 64 (or 32, 28)"
        )
    return None


def _layout(side: int, width: int) -> tuple[int, list[int]]:
    """The start side and the channels of each hidden layer, widest first."""
    start = START_SIDE[side]
    stages = (side // start).bit_length() - 1  # number of doublings from start to side
    return start, [width * 2 ** (stages - 1 - i) for i in range(stages)]


def dcgan_init(module: nn.Module) -> None:
    """N(0, 0.02) weights, N(1, 0.02) batch-norm scales, zero biases (the paper's init)."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            nn.init.normal_(m.weight, 0.0, 0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.normal_(m.weight, 1.0, 0.02)
            nn.init.zeros_(m.bias)
    # Embeddings keep PyTorch's N(0, 1): G's label code then has z's scale.


class DCGANGenerator(nn.Module):
    def __init__(self, data: DataSpec, latent_dim: int, opts: DCGANOptions, conditioner: Conditioner | None = None):
        super().__init__()
        channels, side, _ = data.shape
        self.embed = conditioner.generator_embedding() if conditioner else None
        width = latent_dim + (conditioner.g_embed_dim if conditioner else 0)
        start, hidden = _layout(side, opts.ngf)
        layers: list[nn.Module] = []
        for i, out in enumerate(hidden):
            # The first layer grows the 1x1 input to start x start; later ones double the side.
            k, s, p = (start, 1, 0) if i == 0 else (4, 2, 1)
            layers += [nn.ConvTranspose2d(width, out, k, s, p, bias=False), nn.BatchNorm2d(out), nn.ReLU(True)]
            width = out
        layers += [nn.ConvTranspose2d(width, channels, 4, 2, 1), nn.Tanh()]
        self.net = nn.Sequential(*layers)
        if opts.init:
            dcgan_init(self)

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        if self.embed is not None:
            z = torch.cat([z, self.embed(labels)], dim=1)
        return self.net(z[:, :, None, None])


class DCGANDiscriminator(nn.Module):
    def __init__(self, data: DataSpec, opts: DCGANOptions, conditioner: Conditioner | None = None):
        super().__init__()
        channels, side, _ = data.shape
        self.embed = conditioner.discriminator_embedding() if conditioner else None
        width = channels + (conditioner.discriminator_input_dim() if conditioner else 0)
        start, hidden = _layout(side, opts.ndf)
        layers: list[nn.Module] = []
        for i, out in enumerate(reversed(hidden)):
            norm = opts.d_batchnorm and i > 0  # no batch norm on the input layer
            layers.append(nn.Conv2d(width, out, 4, 2, 1, bias=not norm))
            if norm:
                layers.append(nn.BatchNorm2d(out))
            layers.append(nn.LeakyReLU(opts.leak, True))
            width = out
        self.features = nn.Sequential(*layers)
        self.projection = conditioner.projection_head(width * start * start) if conditioner else None
        # The final conv's kernel covers the whole start x start map: one raw score.
        self.head = None if self.projection is not None else nn.Conv2d(width, 1, start, 1, 0)
        if opts.init:
            dcgan_init(self)

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        if self.embed is not None:
            x = with_label_channels(x, self.embed(labels))
        h = self.features(x)
        if self.projection is not None:
            return self.projection(h.flatten(1), labels)
        return self.head(h).flatten()


def _require_supported(data: DataSpec) -> None:
    reason = unsupported_reason(data)
    if reason:
        raise PluginError(reason)


@hookimpl
def ganlab_generator(data, latent_dim, conditioner, options):
    _require_supported(data)
    return DCGANGenerator(data, latent_dim, options[DCGANOptions], conditioner)


@hookimpl
def ganlab_discriminator(data, conditioner, options):
    _require_supported(data)
    return DCGANDiscriminator(data, options[DCGANOptions], conditioner)
