"""Check each theory claim (optimal D, criterion at D*, saturation, disjoint supports,
WGAN-GP, spectral norm, Dirac-GAN) against every built-in and installed plugin, or
only the ones named. Exits 1 if any claim fails."""

from __future__ import annotations

import sys

EXIT_FAILED = 1


def add_arguments(p) -> None:
    """Every verify option but --plugin and -o, which the ganlab CLI adds."""
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument("--plot", metavar="DIR", help="write figures (D* curves, saturation, Dirac-GAN) into DIR")


def run(args) -> int:
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
