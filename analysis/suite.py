"""Which claims run against which plugins, and the run itself.

:func:`verify` takes a plugin manager, so tests can inject plugins (wrong
losses, for instance) into a fresh one and check that the suite fails them.
"""

from __future__ import annotations

import contextlib
import random
import time
import warnings
from typing import Any, Iterable

import numpy as np
import torch

from ganlab.analysis import claims as C
from ganlab.analysis.claims import Report
from ganlab.analysis.families import Family, families
from ganlab.analysis.probe import LossProbe
from ganlab.errors import ConfigError, PluginError

LOSS_HOOKS = {"ganlab_d_loss", "ganlab_g_loss"}


@contextlib.contextmanager
def _quiet_torch():
    """One thread (tiny tensors: threads only add contention) and an untouched global RNG."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    # numpy's and Python's global generators too: real code draws ε with np.random.
    np_state, py_state = np.random.get_state(), random.getstate()
    try:
        with torch.random.fork_rng():
            torch.manual_seed(0)
            np.random.seed(0)
            random.seed(0)
            yield
    finally:
        torch.set_num_threads(threads)
        np.random.set_state(np_state)
        random.setstate(py_state)


def checkable(pm) -> list[str]:
    """Plugins with something to verify: a loss hook, declared claims, or regularizers (penalties)."""
    return [n for n in pm.available()
            if (LOSS_HOOKS | {"ganlab_claims", "ganlab_regularizer"}) & set(pm.infos[n].hooks)]


def probes_for(pm, name: str, options: dict[str, dict[str, Any]] | None = None) -> list[LossProbe]:
    """One probe per variant of ``name``: the given options, else the variants the plugin declares.

    Each probe gets only the options of plugins active in its own selection
    (``-o r1.gamma=2`` reaches the r1 probe, not the gan one).
    """
    options = options or {}
    given = options.get(name)
    active = pm.select([name]).active
    extra = {k: v for k, v in options.items() if k != name and k in active}
    if given is not None:
        return [LossProbe(pm, [name], {**extra, name: given})]
    # Declared variants are the plugin's choice, not the user's: their option
    # warnings (e.g. lsgan.sigmoid's unreachable targets) would only be noise.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return [LossProbe(pm, [name], {**extra, **({name: v} if v else {})}) for v in variants(pm, name)]


def variants(pm, name: str) -> list[dict[str, str]]:
    """The option settings ``name`` asks verify to check (hook ``ganlab_verify_variants``), else its defaults."""
    if "ganlab_verify_variants" not in pm.info(name).hooks:
        return [{}]
    others = set(pm.get_plugins()) - {pm.get_plugin(name)}
    answers = [a for a in pm.subset_hook_caller("ganlab_verify_variants", others)() if a is not None]
    found = [v for answer in answers for v in answer]
    bad = [v for v in found if not (isinstance(v, dict) and all(isinstance(k, str) for k in v))]
    if bad:
        raise PluginError(f"plugin {name!r}: ganlab_verify_variants must return a list of option mappings "
                          f"such as [{{}}, {{'key': 'value'}}]; got {bad[0]!r}")
    return [{k: str(x) for k, x in v.items()} for v in found] or [{}]


def check_plugin(pm, name: str, options: dict[str, dict[str, Any]] | None = None) -> list[C.Result]:
    """Every family that applies to one plugin (each of its variants), in registry order."""
    rows: list[C.Result] = []
    fams = families()
    for probe in probes_for(pm, name, options):
        probe.survey()
        for family in fams:
            rows.extend(_at_precision(family, probe))
    return rows


def _at_precision(family: Family, probe: LossProbe) -> list[C.Result]:
    """One family at the precision the plugin's code computed in, saying where float64 would differ.

    Tolerances scale with the coarsest dtype the plugin touched (float32
    labels, say), so a float32 artefact never decides a verdict. The family
    runs again at float64's tolerances; a row whose status would change says so.
    """
    rows = _guarded(family, probe)
    if not probe.precision.reduced:
        return rows
    cache, probe.cache = probe.cache, {}
    probe.precision.forced = torch.float64
    try:
        strict = _guarded(family, probe)
    finally:
        probe.precision.forced, probe.cache = None, cache
    name = str(probe.precision.dtype).replace("torch.", "")
    for row, other in zip(rows, strict):
        row.tolerance = f"{row.tolerance} [{name}]"
        row.data["computed_in"] = name
        # INFO against N/A is no verdict either way: only a PASS or FAIL that would change is reported.
        if other.claim == row.claim and other.status != row.status and {row.status, other.status} & {C.PASS, C.FAIL}:
            row.data["float64_status"] = other.status
            why = "; ".join(probe.precision.why[:2])
            row.note = (f"{row.note}; " if row.note else "") + (
                f"verdict depends on precision: the code computes in {name} ({why}); at float64's "
                f"tolerances this row would be {other.status}" + (f" ({other.note})" if other.note else ""))
    return rows


def _guarded(family: Family, probe: LossProbe) -> list[C.Result]:
    """One family on one probe; a plugin whose hooks raise (or return NaN) gets a FAIL row, not a crash.

    The row names the claim whose check raised (see :func:`ganlab.analysis.claims.checks`).
    """
    try:
        if not family.applies(probe):
            return []
        out = family.run(probe)
    except Exception as exc:  # third-party code may fail in any way
        info = getattr(exc, "ganlab_claim", None) or family.claims[0]
        return [C.result(info, probe.label, C.FAIL, "raised", "a result", "-",
                         note=f"{type(exc).__name__}: {exc}")]
    return out if isinstance(out, list) else [out]


def declares_nothing(pm, name: str) -> bool:
    return bool(LOSS_HOOKS & set(pm.info(name).hooks)) and "ganlab_claims" not in pm.info(name).hooks


def verify(pm=None, plugins: Iterable[str] | None = None,
           options: dict[str, dict[str, Any]] | None = None) -> Report:
    """Run the suite: every claim against every checkable plugin, or only ``plugins``."""
    from ganlab.manager import make_plugin_manager

    pm = pm or make_plugin_manager()
    start = time.perf_counter()
    report = Report()
    names = list(dict.fromkeys(plugins)) if plugins else checkable(pm)
    for name in names:
        pm.info(name)  # unknown or broken: a PluginError with suggestions
    stray = [p for p in (options or {}) if p not in names]
    if stray:
        pm.info(stray[0])  # an unknown name gets the unknown-plugin error
        why = f"add --plugin {stray[0]}" if plugins else f"{stray[0]} has nothing for ganlab verify to check"
        raise ConfigError(f"options given for {', '.join(stray)}, which is not verified; {why}")
    with _quiet_torch():
        if not plugins:  # facts about the mathematics itself, independent of any plugin
            for family in families():
                if family.standalone is not None:
                    report.results.extend(family.standalone())
        for name in names:
            rows = check_plugin(pm, name, options)
            if not rows and plugins:
                raise PluginError(f"plugin {name!r} has no loss hook and declares no claim: "
                                  "ganlab verify has nothing to check there")
            report.results.extend(rows)
            if declares_nothing(pm, name):
                report.undeclared.append(name)
    report.elapsed = time.perf_counter() - start
    return report
