"""The packing family: a packed D's optimum is the loss's t* at the product densities, through the plugin's own wrapping."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from ganlab.analysis import claims as C
from ganlab.analysis import packing
from ganlab.analysis.probe import LossProbe
from ganlab.analysis.suite import verify
from ganlab.manager import make_plugin_manager
from ganlab.plugins.pac import PackedDiscriminator, input_layer, widen
from ganlab.regularizers import Regularizer
from wrong_plugins import plugin  # tests/analysis, on sys.path (conftest.py)

PM = make_plugin_manager(autoload=False)  # hypothesis tests cannot take function-scoped fixtures


def _pac_transform(probe):
    claim, reg = packing._transform(probe)
    assert not isinstance(reg, str)
    return reg


@st.composite
def weights(draw):
    """Two positive integer weight vectors over the three atoms with one total (at most 6)."""
    total = draw(st.integers(3, 6))
    cut = lambda: sorted(draw(st.lists(st.integers(1, total - 1), min_size=2, max_size=2, unique=True)))  # noqa: E731
    a, b = cut(), cut()
    return (a[0], a[1] - a[0], total - a[1]), (b[0], b[1] - b[0], total - b[1])


@settings(max_examples=12, deadline=None)
@given(m=st.integers(1, 3), pq=weights())
def test_the_packed_optimum_is_the_product_density_formula_for_any_mixture(m, pq):
    # For the standard loss σ(T*) = p_d^m / (p_d^m + p_g^m), measured through pac's own transform and gan's d_loss.
    p_d, p_g = pq
    probe = LossProbe(PM, ["pac"], {"pac": {"m": str(m)}})
    reg = _pac_transform(probe)
    row, packs = packing._structure(probe, reg, m, sum(p_d))
    assert row.status == C.PASS, row.note
    result = packing._optimal(probe, reg, m, packs, p_d, p_g)
    assert result.status == C.PASS, result.note
    pd, pg, t = result.data["pd"], result.data["pg"], result.data["t_numeric"]
    sigma = 1 / (1 + torch.exp(-torch.as_tensor(t)))
    assert torch.allclose(sigma, torch.as_tensor(pd / (pd + pg)), rtol=1e-12, atol=1e-14)  # pd, pg: the products


@pytest.mark.parametrize("loss", ["lsgan", "hinge", "fgan"])
def test_other_losses_keep_their_own_optimum_on_packs(fresh_pm, loss):
    rows = packing.check(LossProbe(fresh_pm, ["pac", loss], {"pac": {"m": "2"}}))
    assert [r.status for r in rows] == [C.PASS, C.PASS], [r.note for r in rows]


def test_a_critic_loss_has_no_optimum_to_check(fresh_pm):
    rows = packing.check(LossProbe(fresh_pm, ["pac", "wgan"]))
    assert [r.status for r in rows] == [C.PASS, C.NA]


def test_verify_passes_pac(fresh_pm):
    report = verify(fresh_pm, ["pac"])
    assert report.ok and {r.claim for r in report.results} == {"packing-structure", "packing-optimal-d"}


# -- deliberately wrong packings: each declares Packing(2) and must FAIL --------------------------------


class _Wrapped(nn.Module):
    def __init__(self, inner, forward):
        super().__init__()
        self.inner, self._forward = inner, forward

    def forward(self, x, labels=None):
        return self._forward(self.inner, x)


def _wrong(name: str, forward, widened: bool = True):
    class Wrong(Regularizer):
        player = "D"

        def __init__(self):
            self.name = name

        def transform(self, module):
            if widened:
                layer_name, layer = input_layer(module, (1,))
                module.set_submodule(layer_name, widen(layer, 2))
            return _Wrapped(module, forward)

    return plugin(name, ganlab_regularizer=lambda: Wrong(), ganlab_claims=lambda: [C.Packing(2)])


def _copies(inner, x):  # each sample packed with itself: no product distribution
    return inner(torch.cat([x, x], dim=1)).reshape(-1)


def _tiled(inner, x):  # packs of consecutive samples, but scores handed out in the wrong order
    return inner(x.reshape(-1, 2)).reshape(-1).repeat(2)


def _sorted(inner, x):  # packs of neighbours in value: similar samples share a pack
    order = torch.sort(x[:, 0], stable=True).indices
    scores = inner(x[order].reshape(-1, 2)).reshape(-1).repeat_interleave(2)
    return torch.empty_like(scores).index_copy(0, order, scores)


def _alone(inner, x):  # no packing at all: each sample scored on its own
    return inner(x).reshape(-1)


@pytest.mark.parametrize("name, forward, widened, claim", [
    ("copies", _copies, True, "packing-structure"),
    ("tiled", _tiled, True, "packing-structure"),
    ("sorted", _sorted, True, "packing-optimal-d"),
    ("alone", _alone, False, "packing-structure"),
])
def test_a_wrong_packing_fails(fresh_pm, name, forward, widened, claim):
    fresh_pm.add_plugin(_wrong(name, forward, widened), name, source="test")
    report = verify(fresh_pm, [name])
    status = {r.claim: r.status for r in report.results}
    assert not report.ok and status[claim] == C.FAIL, [(r.claim, r.status, r.note) for r in report.results]


def test_the_correct_wrapper_passes_through_the_same_harness(fresh_pm):
    # The harness above is not what fails: pac's own wrapper in it passes.
    fresh_pm.add_plugin(_wrong("right", lambda inner, x: PackedDiscriminator(inner, 2)(x)), "right", source="test")
    assert verify(fresh_pm, ["right"]).ok
