"""Relativistic average GAN loss (Jolicoeur-Martineau 2018), as a third-party plugin.

D learns whether real data is more realistic than the average fake, and G the
reverse. Installing this package (``pip install ./examples/ganlab-ragan``)
makes ``ganlab run --plugin ragan`` work: the entry point in group ``ganlab``
is all ganlab needs. The loss is not separable in the real and fake scores,
which ``ganlab verify`` reports as "not applicable" for pointwise checks;
the relativistic claim it declares is checked instead.
"""

from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

from ganlab import hookimpl

__version__ = "0.1.0"


@dataclass
class RaGANOptions:
    scale: float = field(default=1.0, metadata={"help": "multiplies both losses"})

    def __post_init__(self):
        if not self.scale > 0:
            raise ValueError(f"scale must be positive, got {self.scale}")


@hookimpl
def ganlab_options():
    return RaGANOptions


def _relativistic(a, b, target):
    return F.binary_cross_entropy_with_logits(a - b.mean(), torch.full_like(a, target))


@hookimpl
def ganlab_d_loss(real_scores, fake_scores, options):
    scale = options[RaGANOptions].scale
    return scale * (_relativistic(real_scores, fake_scores, 1.0) + _relativistic(fake_scores, real_scores, 0.0))


@hookimpl
def ganlab_g_loss(fake_scores, real_scores, options):
    scale = options[RaGANOptions].scale
    return scale * (_relativistic(fake_scores, real_scores, 1.0) + _relativistic(real_scores, fake_scores, 0.0))


@hookimpl
def ganlab_claims():
    # G's loss is D's with real and fake swapped: `ganlab verify` checks it with several
    # samples a side, where dropping a term or detaching the fake mean shows.
    from ganlab import claims as C

    return C.Relativistic(source="Jolicoeur-Martineau 2018, section 4")
