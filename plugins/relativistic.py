"""Relativistic GANs (Jolicoeur-Martineau 2019, "The relativistic discriminator").

D estimates how much more realistic real data is than fake data, instead
of how real each sample is. With C the raw critic score:

* ``rsgan`` (eq. 1-2): pairs (x_r, x_f); D minimises -E log σ(C(x_r) - C(x_f)),
  G minimises -E log σ(C(x_f) - C(x_r)).
* the *average* variants compare each sample with the mean score of the
  **other** batch, C̃(x_r) = C(x_r) - E_f C(x_f) and C̃(x_f) = C(x_f) - E_r C(x_r),
  and G's loss is D's with the labels swapped, so it keeps the real-side
  term, which depends on G through E_f C(x_f) (section 4.2):

  - ``rasgan``:  D: -E_r log σ(C̃(x_r)) - E_f log(1 - σ(C̃(x_f)));
  - ``ralsgan``: D: E_r (C̃(x_r) - 1)² + E_f (C̃(x_f) + 1)² (no ½, as in the paper);
  - ``rahinge``: D: E_r max(0, 1 - C̃(x_r)) + E_f max(0, 1 + C̃(x_f)).

In G's loss the real scores are constants (detached: G has no path to them,
and D's parameters must not collect gradients from G's update), while the
fake mean inside C̃(x_r) keeps its gradient: detaching it, averaging over
the same batch, or dropping the real-side term are the classic bugs of
public implementations (PyTorch-GAN issue #52), and the tests catch each.

The losses are not sums of per-sample terms, so ``ganlab verify`` marks the
pointwise claims (optimal D, criterion, saturation) not applicable; it
checks the Dirac-GAN eigenvalues and the direction of G's gradient.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import torch
import torch.nn.functional as F

from ganlab import hookimpl


@dataclass
class RelativisticOptions:
    kind: Literal["rsgan", "rasgan", "ralsgan", "rahinge"] = field(
        default="rasgan", metadata={"help": "rsgan (paired), or the relativistic average rasgan, ralsgan, rahinge"}
    )


@hookimpl
def ganlab_options():
    return RelativisticOptions


def _paired(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    # RSGAN compares sample i of one batch with sample i of the other; a smaller last batch pairs up.
    n = min(len(a), len(b))
    return a[:n] - b[:n]


def _average_terms(kind: str, high: torch.Tensor, low: torch.Tensor) -> torch.Tensor:
    """The loss that pushes ``high`` above the mean of ``low`` and ``low`` below the mean of ``high``."""
    up = high - low.mean()     # each sample against the *other* batch's mean
    down = low - high.mean()
    if kind == "rasgan":
        return F.softplus(-up).mean() + F.softplus(down).mean()
    if kind == "ralsgan":
        return (up - 1).pow(2).mean() + (down + 1).pow(2).mean()
    if kind == "rahinge":
        return F.relu(1 - up).mean() + F.relu(1 + down).mean()
    raise ValueError(f"unknown relativistic kind {kind!r}")


def d_loss(real_scores: torch.Tensor, fake_scores: torch.Tensor, kind: str) -> torch.Tensor:
    if kind == "rsgan":
        return F.softplus(-_paired(real_scores, fake_scores)).mean()
    return _average_terms(kind, real_scores, fake_scores)


def g_loss(fake_scores: torch.Tensor, real_scores: torch.Tensor, kind: str) -> torch.Tensor:
    real_scores = real_scores.detach()
    if kind == "rsgan":
        return F.softplus(-_paired(fake_scores, real_scores)).mean()
    return _average_terms(kind, fake_scores, real_scores)


@hookimpl
def ganlab_d_loss(real_scores, fake_scores, options):
    return d_loss(real_scores, fake_scores, options[RelativisticOptions].kind)


@hookimpl
def ganlab_g_loss(fake_scores, real_scores, options):
    return g_loss(fake_scores, real_scores, options[RelativisticOptions].kind)


# Dirac-GAN (data δ_0, G δ_θ, C(x) = ψx, one sample a side): near (0, 0) D's loss is
# k·h(ψθ) and G's k·h(-ψθ) (k = 1 for rsgan, 2 for the average kinds, where both terms
# coincide), so the Jacobian is [[0, w], [-w, 0]], w = k·|h'(0)|: h = softplus gives ½,
# (1 + t)² gives 2, relu(1 + t) gives 1.
DIRAC_W = {"rsgan": 0.5, "rasgan": 1.0, "ralsgan": 4.0, "rahinge": 2.0}


@hookimpl
def ganlab_claims(options):
    from ganlab import claims as C

    kind = options[RelativisticOptions].kind
    w = DIRAC_W[kind]
    return [C.Relativistic(), C.DiracEigenvalues((1j * w, -1j * w), f"±{w:g}i ({kind}: k·|h'(0)| with one sample a side)",
                               "Mescheder et al. 2018, section 2 (linearisation); "
                               "Jolicoeur-Martineau 2019, eq. 1-2 and section 4",
                               f_prime_0=w)]


@hookimpl
def ganlab_verify_variants():
    # Every kind.
    return [{"kind": k} for k in ("rsgan", "rasgan", "ralsgan", "rahinge")]
