"""``ganlab verify``: check the theory claims numerically against the plugins' own code.

The host's command line (``ganlab/cli.py``) adds ``--plugin/-p`` and ``-o``
and calls :func:`add_arguments` and :func:`run`; this module does not import
it (that import was a cycle).
"""

from __future__ import annotations

import argparse
import sys

EXIT_FAILED = 1
DESCRIPTION = ("Check each theory claim (generic checks of every separable loss, optimal D, criterion at D*, "
               "saturation, disjoint supports, WGAN-GP, R1, per-sample penalties, relativistic losses, spectral norm, "
               "Dirac-GAN) against every built-in and installed plugin, or only the ones named. Hooks are called as the "
               "trainer calls them (docs/plugin-guide.md, 'How verify calls your loss'). Exits 1 if any claim fails.")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Every verify option except ``--plugin/-p`` and ``-o``, which the host adds."""
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.add_argument("--plot", metavar="DIR", help="write figures (D* curves, saturation, Dirac-GAN) into DIR")


def run(args) -> int:
    """Run the suite for ``args.plugin`` (none: everything) with ``args.overrides`` (PLUGIN.KEY=VALUE)."""
    from ganlab.analysis import report as R
    from ganlab.analysis.suite import verify
    from ganlab.config import parse_overrides
    from ganlab.manager import make_plugin_manager

    options = parse_overrides(args.overrides)  # verify() rejects options for plugins it does not check
    pm = make_plugin_manager()
    result = verify(pm, args.plugin or None, options or None)
    figures = []
    if args.plot:
        from ganlab.analysis.plots import write_all

        figures = write_all(result, args.plot)
    if args.json:
        print(R.as_json(result))
    else:
        print(R.table(result))
        for path in figures:
            print(f"figure: {path}")
    if not result.ok:
        print("ganlab verify: some claims FAILED", file=sys.stderr)
        return EXIT_FAILED
    return 0
