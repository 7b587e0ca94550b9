"""The conformance kit: check that a plugin keeps ganlab's hook contract.

Plugin authors call it from their own test suite::

    import my_plugin
    from ganlab.testing import assert_plugin_conforms

    def test_conforms():
        assert_plugin_conforms(my_plugin, name="my-plugin")

:func:`check_plugin` registers the plugin into a fresh plugin manager,
selects it and runs every check that applies to the hooks it implements:

* ``register``: the plugin loads, its hooks and options are valid and it
  can be selected, with ganlab's defaults for what it does not provide;
* losses (``d_loss.*``, ``g_loss.*``): a finite scalar; a gradient for each
  score the loss is about and for nothing else; the sign convention; batch
  size 1 and real and fake batches of different sizes; deterministic and
  pure (no hidden randomness or state, inputs left untouched);
* regularizers (``regularizer.*``): a name, a player, and a finite scalar
  penalty that carries a gradient;
* architectures (``generator.*``, ``discriminator.*``, ``conditional.*``):
  shapes on images and 2-D points, images in [-1, 1] and points unsquashed,
  raw per-sample scores, batch size 1 in eval mode, and with a conditioner
  each sample's output follows its own label;
* conditioners (``conditioner.*``), optimizers (``optimizer.*``) and
  datasets (``datasets.*``): what each hook must return;
* averages of G (``average.*``): the interface, and weights that stay
  within the range of the states G went through, in a copy of their own;
* ``train.*``: in a tiny end-to-end run, a D update moves only D's
  parameters and a G update only G's, and two runs with one seed agree.

Checks that do not apply (e.g. loss checks for a regularizer plugin) are
reported as skipped.

The modules: :mod:`~ganlab.testing.conformance` (the two entry points),
:mod:`~ganlab.testing.results` (what a check reports),
:mod:`~ganlab.testing.registration`, :mod:`~ganlab.testing.losses`,
:mod:`~ganlab.testing.regularizers`, :mod:`~ganlab.testing.models`,
:mod:`~ganlab.testing.infrastructure` and :mod:`~ganlab.testing.training`
(the checks themselves).
"""

from ganlab.testing.conformance import assert_plugin_conforms, check_plugin
from ganlab.testing.results import CheckResult

__all__ = ["CheckResult", "check_plugin", "assert_plugin_conforms"]
