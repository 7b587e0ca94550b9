"""Class-conditional GANs: the label enters G and D (Mirza & Osindero 2014).

G models p(x | y) from ``cat([z, embed_g(y)])``, and D judges whether ``x``
is a real sample *of class y*, so G must produce the asked-for class:

    min_G max_D  E[log D(x, y)] + E[log(1 - D(G(z, y), y))]

D takes the label in one of two ways:

* ``concat`` (seed 000, seed 002): ``embed_d(y)`` (dim 32 in seed 000) is
  concatenated to D's input: to the flattened image for ``mlp``, as constant
  extra channels for ``dcgan``.
* ``projection`` (Miyato & Koyama 2018, "cGANs with Projection
  Discriminator"): D(x, y) = w^T h(x) + embed(y)^T h(x) on D's last features
  h(x). The inner product follows from writing D's logit as the log density
  ratio of real to fake for a log-linear model of p(y | x).

Architectures build the modules from the :class:`ganlab.conditioning.Conditioner`
this plugin returns; ``mlp`` and ``dcgan`` support it. Generated labels are
uniform over the classes, and sample grids show one class per row.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from ganlab import Conditioner, PluginError, hookimpl


@dataclass
class CGANOptions:
    g_embed_dim: int = field(default=32, metadata={"help": "size of G's label embedding (seed 000: 32)"})
    d_embed_dim: int = field(
        default=32, metadata={"help": "size of D's label embedding in concat mode (projection uses D's feature width)"}
    )
    discriminator: Literal["concat", "projection"] = field(
        default="concat",
        metadata={"help": "how D uses the label: concat to its input, or projection (Miyato & Koyama 2018)"},
    )

    def __post_init__(self):
        if self.g_embed_dim < 1 or self.d_embed_dim < 1:
            raise ValueError(
                f"g_embed_dim and d_embed_dim must be at least 1, got {self.g_embed_dim} and {self.d_embed_dim}"
            )


@hookimpl
def ganlab_options():
    return CGANOptions


@hookimpl
def ganlab_conditioner(data, options):
    if data.num_classes is None:
        raise PluginError(
            f"cgan needs class labels, but dataset {data.name!r} has none; use a labelled dataset "
            "(e.g. --data mnist, or an image folder with one sub-folder per class) or drop --plugin cgan"
        )
    opts = options[CGANOptions]
    return Conditioner(data.num_classes, opts.g_embed_dim, opts.d_embed_dim, opts.discriminator)
