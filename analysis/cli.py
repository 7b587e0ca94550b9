"""``ganlab verify``: check the theory claims numerically against the plugins' own code."""

from __future__ import annotations

import sys

from ganlab.cli import add_plugin_arguments

EXIT_FAILED = 1


def add_verify_parser(sub) -> None:
    p = sub.add_parser(
        "verify", help="check GAN theory claims numerically against the plugins' own loss code",
        description="Check each theory claim (optimal D, criterion at D*, saturation, disjoint supports, "
                    "WGAN-GP, spectral norm, Dirac-GAN) against every built-in and installed plugin, "
                    "or only the ones named. Exits 1 if any claim fails.",
    )
    add_plugin_arguments(p, "verify only this plugin (repeat for several); default: every plugin",
                         "check this option setting instead of the built-in variants (e.g. -o lsgan.a=-1)")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument("--plot", metavar="DIR", help="write figures (D* curves, saturation, Dirac-GAN) into DIR")
    p.set_defaults(handler=cmd_verify)


def cmd_verify(args) -> int:
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
