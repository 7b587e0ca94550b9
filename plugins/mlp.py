"""The seeds' MLP generator and discriminator (the default architecture).

The defaults are seed 000's LSGAN set-up: G 128-256-512-1024 with batch norm
and GELU, D 512-256-128-64-32 with GELU. Seed 004's GAN is
``-o mlp.activation=leaky_relu -o mlp.g_batchnorm=false -o mlp.g_hidden=256,512,1024
-o mlp.d_hidden=1024,512,256 -o mlp.d_dropout=0.3``; seed 002's cGAN is
``-o mlp.activation=leaky_relu -o mlp.d_hidden=512,512,512 -o mlp.d_dropout=0.4``.
"""

from dataclasses import dataclass, field
from math import prod
from typing import Literal

import torch
from torch import nn

from ganlab import hookimpl

ACTIVATIONS = {
    "gelu": nn.GELU,
    "leaky_relu": lambda: nn.LeakyReLU(0.2),
    "relu": nn.ReLU,
}


@dataclass
class MLPOptions:
    g_hidden: tuple[int, ...] = field(default=(128, 256, 512, 1024), metadata={"help": "generator widths"})
    d_hidden: tuple[int, ...] = field(default=(512, 256, 128, 64, 32), metadata={"help": "discriminator widths"})
    activation: Literal["gelu", "leaky_relu", "relu"] = field(
        default="gelu", metadata={"help": "hidden activation (leaky_relu has slope 0.2)"}
    )
    g_batchnorm: bool = field(default=True, metadata={"help": "batch norm after each generator layer"})
    d_dropout: float = field(default=0.0, metadata={"help": "dropout after each discriminator layer"})

    def __post_init__(self):
        if not self.g_hidden or not self.d_hidden or min(self.g_hidden + self.d_hidden) < 1:
            raise ValueError("g_hidden and d_hidden need at least one positive width")
        if not 0 <= self.d_dropout < 1:
            raise ValueError(f"d_dropout must be in [0, 1), got {self.d_dropout}")


@hookimpl
def ganlab_options():
    return MLPOptions


class MLPGenerator(nn.Module):
    def __init__(self, latent_dim, out_shape, opts: MLPOptions, conditioner=None, tanh=True):
        super().__init__()
        self.out_shape = tuple(out_shape)
        self.embed = conditioner.generator_embedding() if conditioner else None
        width = latent_dim + (conditioner.g_embed_dim if conditioner else 0)
        layers = []
        for hidden in opts.g_hidden:
            layers.append(nn.Linear(width, hidden))
            if opts.g_batchnorm:
                layers.append(nn.BatchNorm1d(hidden))
            layers.append(ACTIVATIONS[opts.activation]())
            width = hidden
        layers.append(nn.Linear(width, prod(self.out_shape)))
        if tanh:
            layers.append(nn.Tanh())
        self.net = nn.Sequential(*layers)

    def forward(self, z, labels=None):
        if self.embed is not None:
            z = torch.cat([z, self.embed(labels)], dim=1)
        return self.net(z).view(z.shape[0], *self.out_shape)


class MLPDiscriminator(nn.Module):
    def __init__(self, in_shape, opts: MLPOptions, conditioner=None):
        super().__init__()
        self.embed = conditioner.discriminator_embedding() if conditioner else None
        width = prod(in_shape) + (conditioner.discriminator_input_dim() if conditioner else 0)
        layers = []
        for hidden in opts.d_hidden:
            layers += [nn.Linear(width, hidden), ACTIVATIONS[opts.activation]()]
            if opts.d_dropout:
                layers.append(nn.Dropout(opts.d_dropout))
            width = hidden
        self.features = nn.Sequential(*layers)
        self.projection = conditioner.projection_head(width) if conditioner else None
        self.head = None if self.projection is not None else nn.Linear(width, 1)

    def forward(self, x, labels=None):
        h = x.flatten(1)
        if self.embed is not None:
            h = torch.cat([h, self.embed(labels)], dim=1)
        h = self.features(h)
        if self.projection is not None:
            return self.projection(h, labels)
        return self.head(h)


@hookimpl
def ganlab_generator(data, latent_dim, conditioner, options):
    return MLPGenerator(latent_dim, data.shape, options[MLPOptions], conditioner, tanh=data.is_image)


@hookimpl
def ganlab_discriminator(data, conditioner, options):
    return MLPDiscriminator(data.shape, options[MLPOptions], conditioner)
