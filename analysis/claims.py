"""What a claim is, what a check returns, and what plugins may declare.

Two kinds of objects live here:

* **Declarations** (:class:`OptimalDiscriminator`, :class:`Criterion`, ...)
  are returned by a plugin's ``ganlab_claims`` hook. They hold the closed
  form a paper states; ``ganlab verify`` evaluates the plugin's own loss
  code and compares.
* **Results** (:class:`Result`) are one row of the verify table;
  a :class:`Report` holds every row of one run.

This module only needs the standard library and numpy, so a plugin can
import it cheaply inside its ``ganlab_claims`` implementation.
"""

from __future__ import annotations

import functools
from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Literal

import numpy as np

PASS, FAIL, NA = "PASS", "FAIL", "N/A"
# A measurement shown for information: nothing independent to compare it with
# (no closed form declared, or a fact about the mathematics that touches no
# plugin). Never counted as passed.
INFO = "INFO"
STATUSES = (PASS, FAIL, INFO, NA)


# --- declarations (returned by ganlab_claims) ----------------------------


@dataclass(frozen=True)
class OptimalDiscriminator:
    """The pointwise optimal raw score t*(p_d, p_g) (numpy arrays in, array out)."""

    t_star: Callable[[np.ndarray, np.ndarray], np.ndarray]
    formula: str
    source: str


@dataclass(frozen=True)
class Criterion:
    """C(G), the objective at D*, from two densities, computed without the loss code.

    ``objective="d"``: C(G) = -min_D d_loss = V(D*, G) (Goodfellow).
    ``objective="g"``: C(G) = E_{p_d+p_g}[φ_g(D*(x))] where φ_g(t) = g_loss([t]),
    i.e. the generator objective at D* including the real-data term that
    does not depend on G (Mao et al.'s V_LSGAN(G)).
    ``minimum_at_equal``: C is minimised exactly when p_g = p_d.
    """

    value: Callable[[Any, Any], float]
    objective: Literal["d", "g"]
    formula: str
    source: str
    minimum_at_equal: bool = False


@dataclass(frozen=True)
class GeneratorGradient:
    """∂ g_loss / ∂ l at raw fake score l (numpy in, numpy out); ``saturating``: → 0 as l → -∞."""

    grad: Callable[[np.ndarray], np.ndarray]
    saturating: bool
    formula: str
    source: str


@dataclass(frozen=True)
class DiracEigenvalues:
    """Eigenvalues of the Dirac-GAN gradient-field Jacobian at (θ, ψ) = (0, 0), no regularizer.

    ``f_prime_0``: Mescheder's f'(0) when the loss has his form
    L(θ, ψ) = f(ψθ) + f(0) (then the eigenvalues are ±f'(0)·i and R1 with γ
    moves them to -γ/2 ± sqrt(γ²/4 - f'(0)²)); ``None`` otherwise.
    """

    eigenvalues: tuple[complex, ...]
    formula: str
    source: str
    f_prime_0: float | None = None


@dataclass(frozen=True)
class Relativistic:
    """A relativistic loss: ``g_loss(fake, real)`` is ``d_loss(real=fake, fake=real)``.

    Checked with several samples a side, in value and in the gradient with
    respect to the fake scores (Jolicoeur-Martineau 2019).
    """

    source: str = "Jolicoeur-Martineau 2019, eq. 1-2 and section 4"


@dataclass(frozen=True)
class GradientPenalty:
    """A D penalty λ·E[(‖∇D(x̂)‖ - 1)²] with a per-sample norm (``one_sided``: only norms > 1).

    ``around`` says where x̂ lies (interpolates or perturbed reals).

    ``weight`` is λ, so that the penalty's size is checked, not only its shape.
    """

    weight: float
    one_sided: bool = False
    source: str = "Gulrajani et al. 2017, eq. 3"
    # Where the gradient is taken: "interpolates" between reals and fakes (WGAN-GP)
    # or "real", at perturbed real samples (DRAGAN, Kodali et al. 2017).
    around: Literal["interpolates", "real"] = "interpolates"


@dataclass(frozen=True)
class SpectralNormalization:
    """A D transform dividing each weight by its largest singular value (power iteration)."""

    source: str = "Miyato et al. 2018, eq. 8"


@dataclass(frozen=True)
class R1Penalty:
    """A D penalty (γ/2)·E_{p_d}‖∇D(x)‖²."""

    gamma: float
    source: str = "Mescheder et al. 2018, eq. 9"


@dataclass(frozen=True)
class WeightAverage:
    """An exponential moving average of G's weights, what ``ganlab_generator_average`` returns.

    After each G update θ̄ ← β_t·θ̄ + (1 - β_t)·θ, the first update copying θ;
    β_t = min(β, (1 + t)/(10 + t)) after t earlier updates when ``rampup``
    (TensorFlow's ``ExponentialMovingAverage(num_updates=t)``), else β.
    """

    decay: float
    rampup: bool = True
    source: str = "Yazıcı et al. 2019 (EMA of G); TensorFlow ExponentialMovingAverage (num_updates)"


@dataclass(frozen=True)
class EquilibriumControl:
    """BEGAN's controlled D loss: L(x) - k_t·L(G(z)), k_{t+1} = clip(k_t + λ_k(γ·L(x) - L(G(z))), 0, 1).

    Energies are negated raw scores, L = -E[s]. The declaring plugin's
    ``d_loss`` gives L(x) and its one D regularizer the term -k_t·L(G(z)),
    stepping k after each D update.
    """

    gamma: float
    lambda_k: float
    formula: str
    source: str = "Berthelot et al. 2017, Eq. 4"


@dataclass(frozen=True)
class Packing:
    """A D transform that scores packs of ``m`` samples jointly, each sample getting its pack's score.

    D then sees the m-fold product distributions, so the optimal packed D of
    a loss whose pointwise optimum is t*(p_d, p_g) is t*(p_d^m, p_g^m) on
    packs: for the standard loss σ(D*) = p_d^m / (p_d^m + p_g^m). The
    declaring plugin's one D transform is checked on a table-valued D.
    """

    m: int
    source: str = "Lin et al. 2018 (PacGAN), section 3 and Table 1's packed discriminators"


# --- results -----------------------------------------------------------------


@dataclass
class Result:
    """One row of the verify table."""

    claim: str
    plugin: str
    status: str
    measured: str
    expected: str
    tolerance: str
    source: str = ""
    formula: str = ""
    conditions: str = ""
    note: str = ""
    data: dict[str, Any] = field(default_factory=dict, repr=False)  # raw numbers for JSON and plots

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["data"] = _jsonable(self.data)
        return out



@dataclass
class Report:
    """Every row of one verify run, and what it could not check."""

    results: list[Result] = field(default_factory=list)
    elapsed: float = 0.0
    # Plugins with a loss hook and no declared claims: only the generic checks speak for them.
    undeclared: list[str] = field(default_factory=list)

    def count(self, status: str) -> int:
        return sum(r.status == status for r in self.results)

    @property
    def ok(self) -> bool:
        return self.count(FAIL) == 0

def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return _jsonable(value.tolist())
    if isinstance(value, (complex, np.complexfloating)):
        return [_jsonable(float(value.real)), _jsonable(float(value.imag))]
    if isinstance(value, (np.floating, float)):
        v = float(value)
        return v if np.isfinite(v) else str(v)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.bool_):
        return bool(value)
    return value


@dataclass(frozen=True)
class ClaimInfo:
    """A named claim of the suite, with its source, formula and conditions."""

    name: str
    title: str
    source: str
    formula: str
    conditions: str


# The registry: every check fills its rows from one of these.
CLAIMS: dict[str, ClaimInfo] = {}


def register(name: str, title: str, source: str, formula: str, conditions: str) -> ClaimInfo:
    info = ClaimInfo(name, title, source, formula, conditions)
    CLAIMS[name] = info
    return info


def checks(info: ClaimInfo) -> Callable:
    """Mark a check function as measuring ``info``: an exception it raises carries that claim.

    So a family whose second check raises reports the second claim, not its first.
    """
    def mark(fn: Callable) -> Callable:
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            try:
                return fn(*args, **kwargs)
            except Exception as exc:
                if getattr(exc, "ganlab_claim", None) is None:
                    try:
                        exc.ganlab_claim = info
                    except AttributeError:  # an exception type with __slots__
                        pass
                raise
        return wrapper
    return mark


def result(info: ClaimInfo, plugin: str, status: str, measured: str, expected: str, tolerance: str,
           *, formula: str | None = None, source: str | None = None, note: str = "",
           data: dict[str, Any] | None = None) -> Result:
    return Result(info.name, plugin, status, measured, expected, tolerance,
                  source or info.source, formula or info.formula, info.conditions, note, data or {})


def contradicted(info: ClaimInfo, plugin: str, declared: Any, expected: str, reason: str) -> Result:
    """A declared claim whose premise the code contradicts: FAIL, never "not applicable".

    A plugin that declares, say, a per-score generator gradient while its
    g_loss is not a function of each score has said something its code does not do.
    """
    return result(info, plugin, FAIL, "premise does not hold", expected, "-",
                  note=f"declared {type(declared).__name__}, but {reason}")


def unmet_premise(info: ClaimInfo, probe: Any, reason: str | None, expected: str,
                  claim_type: type | None = None) -> Result | None:
    """The result where a check's premise fails (``reason``): FAIL if the plugin declared the claim, else N/A.

    None when the premise holds and the check goes on.
    """
    if not reason:
        return None
    declared = probe.declarations(claim_type) if claim_type is not None else []
    if declared:
        return contradicted(info, probe.label, declared[0], expected, reason)
    return result(info, probe.label, NA, "-", expected, "-", note=reason)


def fmt(x: float) -> str:
    """Short number formatting for the table."""
    if x is None:
        return "-"
    if isinstance(x, complex):
        return f"{fmt(x.real)}{'+' if x.imag >= 0 else '-'}{fmt(abs(x.imag))}i"
    if not np.isfinite(x):
        return str(x)
    if x == 0:
        return "0"
    if 1e-3 <= abs(x) < 1e4:
        return f"{x:.4g}"
    return f"{x:.2e}"
