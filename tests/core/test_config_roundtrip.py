"""A recorded run reads back to the run it records.

``--resume``, ``ganlab eval``, ``--config RUN/config.toml`` and ``ganlab
compare`` resuming a cell all resolve a run folder's recorded options again.
For every built-in plugin, any valid option values (hypothesis draws them
from each field's type), every preset and every sweep variant in
``benchmarks/*.toml``, the options written as config.toml writes them must
resolve to the same values. Before the fix, lsgan's recorded preset beside
its resolved a, b, c read back as "give either preset or a, b, c, not both".
"""

from __future__ import annotations

import dataclasses
import typing
import warnings
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ganlab.augment import POLICIES
from ganlab.sweeps.sweep import expand, load_sweep
from ganlab.config import options_read_back
from ganlab.errors import ConfigError
from ganlab.manager import make_plugin_manager

PM = make_plugin_manager(autoload=False)
WITH_OPTIONS = [n for n in PM.available() if PM.infos[n].options_cls is not None]
BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"
FLOATS = st.floats(-4, 4, allow_nan=False).map(lambda x: round(x, 3))


def _strategy(field: dataclasses.Field, hints: dict) -> st.SearchStrategy:
    kind = hints[field.name]
    if typing.get_origin(kind) is typing.Literal:
        return st.sampled_from(typing.get_args(kind))
    if kind is bool:
        return st.booleans()
    if kind is int:
        return st.integers(0, 12)
    if kind is float:
        return FLOATS
    if kind == float | None:
        return st.none() | FLOATS
    if kind == tuple[int, ...]:  # layer widths, written as "64,32"
        return st.lists(st.integers(1, 64), min_size=1, max_size=4).map(tuple)
    if kind is str and field.name == "policy":  # the built-ins' one free-text option: augmentations
        return st.lists(st.sampled_from(sorted(POLICIES)), min_size=1, max_size=3, unique=True).map(",".join)
    raise AssertionError(f"no strategy for option {field.name}: {kind}; add one, so that its values are drawn too")


@st.composite
def option_values(draw, name):
    cls = PM.infos[name].options_cls
    hints = typing.get_type_hints(cls)
    values = {}
    for f in dataclasses.fields(cls):
        if draw(st.booleans()):
            values[f.name] = draw(_strategy(f, hints))
    return values


def _resolve_or_skip(selection, values):
    """(first, read back), or None when the plugin refuses the values at the start (never recorded)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        try:
            selection.build_options(values)
        except ConfigError:
            return None
        return options_read_back(selection, values)  # an error here is the bug


@pytest.mark.parametrize("name", WITH_OPTIONS)
@settings(max_examples=30, deadline=None)
@given(data=st.data())
def test_any_valid_options_read_back_to_themselves(name, data):
    values = data.draw(option_values(name))
    out = _resolve_or_skip(PM.select([name]), {name: values})
    if out is None:  # refused at the start: such values are never recorded
        return
    first, again = out
    assert again == first


@pytest.mark.parametrize("name", WITH_OPTIONS)
def test_every_preset_reads_back(name):
    cls = PM.infos[name].options_cls
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        if typing.get_origin(hints[f.name]) is typing.Literal:
            for value in typing.get_args(hints[f.name]):
                out = _resolve_or_skip(PM.select([name]), {name: {f.name: value}})
                if out is not None:
                    assert out[1] == out[0], (f.name, value)


@pytest.mark.parametrize("path", sorted(BENCHMARKS.glob("*.toml")), ids=lambda p: p.name)
def test_every_sweep_variant_reads_back(path):
    cells = expand(load_sweep(path), PM)
    assert cells
    for cell in {c.variant: c for c in cells}.values():
        first, again = options_read_back(PM.select(cell.plugins), cell.options)
        assert again == first, cell.variant


def test_the_readme_example_resumes(tmp_path, monkeypatch):
    from ganlab.cli import main

    monkeypatch.chdir(tmp_path)
    common = ["--steps", "2", "--batch-size", "8", "--quiet", "-o", "mlp.g_hidden=8", "-o", "mlp.d_hidden=8"]
    assert main(["run", "--plugin", "lsgan", "-o", "lsgan.preset=pearson", "--out", "r", *common]) == 0
    assert main(["run", "--resume", "r", "--steps", "3", "--quiet"]) == 0
    assert main(["run", "--config", "r/config.toml", "--out", "again", "--quiet"]) == 0
