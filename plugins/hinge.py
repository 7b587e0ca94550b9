"""The hinge loss (Lim & Ye 2017, "Geometric GAN"; used by SN-GAN, SAGAN, BigGAN).

The discriminator is a margin classifier on raw scores:

    d_loss = E[max(0, 1 - D(x))] + E[max(0, 1 + D(G(z)))]

so a real scored above +1 or a fake scored below -1 costs nothing and gives
no gradient: D stops pushing samples it already separates with margin 1.
The generator minimises g_loss = -E[D(G(z))], as in WGAN.

No trainer defaults: the hinge loss is usually paired with spectral
normalization (``--plugin sn``) and Adam.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ganlab import hookimpl


@hookimpl
def ganlab_d_loss(real_scores: torch.Tensor, fake_scores: torch.Tensor) -> torch.Tensor:
    """E[relu(1 - D(x))] + E[relu(1 + D(G(z)))]."""
    return F.relu(1.0 - real_scores).mean() + F.relu(1.0 + fake_scores).mean()


@hookimpl
def ganlab_g_loss(fake_scores: torch.Tensor) -> torch.Tensor:
    """-E[D(G(z))], WGAN's generator loss: past the margin D's hinge is flat, G's is not."""
    return -fake_scores.mean()


@hookimpl
def ganlab_claims():
    # Closed forms for `ganlab verify`, which checks them against the code above.
    import numpy as np

    from ganlab import claims as C
    from ganlab import densities

    return [
        C.OptimalDiscriminator(lambda pd, pg: np.sign(pd - pg), "t* = sign(p_d - p_g) (the margins ±1)",
                               "Lim & Ye 2017, Thm 1"),
        # min_t p_d·max(0, 1-t) + p_g·max(0, 1+t) = 2·min(p_d, p_g), and ∫min = 1 - TV.
        C.Criterion(lambda p, q: 2 * densities.total_variation(p, q) - 2, "d", "C(G) = 2·TV(p_d, p_g) - 2",
                    "Lim & Ye 2017, Thm 1", minimum_at_equal=True),
        # G's loss is -l, as in WGAN, and near 0 the hinge d_loss is WGAN's plus 2, so
        # the hinge shares WGAN's constant G gradient and Dirac-GAN eigenvalues (f'(0) = 1).
        C.GeneratorGradient(lambda l: -np.ones_like(l), False, "∂/∂l (-l) = -1 (constant: never saturates)",
                            "Arjovsky et al. 2017, Algorithm 1"),
        C.DiracEigenvalues((1j, -1j), "±i (f(t) = t, f'(0) = 1)", "Mescheder et al. 2018, section 2.2",
                           f_prime_0=1.0),
    ]
