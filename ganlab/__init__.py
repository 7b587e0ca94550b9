"""ganlab: a plugin-based research toolkit for GAN loss functions.

Plugins implement the hooks in :mod:`ganlab.hookspecs` and mark them with
:data:`hookimpl`::

    from ganlab import hookimpl

    @hookimpl
    def ganlab_d_loss(real_scores, fake_scores):
        ...
"""

import pluggy

__version__ = "0.1.0"

PROJECT_NAME = "ganlab"

hookspec = pluggy.HookspecMarker(PROJECT_NAME)
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)

__all__ = ["__version__", "hookimpl", "hookspec", "PROJECT_NAME"]
