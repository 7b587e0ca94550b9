"""The kit's entry points: :func:`check_plugin` and :func:`assert_plugin_conforms`."""

from __future__ import annotations

from typing import Any, Mapping, Sequence

from ganlab.testing.infrastructure import check_average, check_datasets, check_metrics, check_optimizer
from ganlab.testing.losses import check_d_loss, check_g_loss
from ganlab.testing.models import check_models
from ganlab.testing.observers import check_observers
from ganlab.testing.registration import default_name, register
from ganlab.testing.regularizers import check_regularizers
from ganlab.testing.results import CheckFailed, CheckResult, Results
from ganlab.testing.training import TrainContext, check_training


def check_plugin(
    plugin: Any,
    name: str | None = None,
    *,
    with_plugins: Sequence[str] = (),
    data: str | None = None,
    options: Mapping[str, Mapping[str, Any]] | None = None,
    train: Mapping[str, Any] | None = None,
) -> list[CheckResult]:
    """Run the conformance checks on ``plugin`` and return every result.

    ``plugin`` is a module or object with ``@hookimpl`` functions, or the name
    of a built-in or installed plugin; ``name`` is the name to register it
    under (default: the module's name). The end-to-end checks train a tiny run
    of the plugin with ganlab's defaults (``mlp``, ``gan``, ``adam``) on the
    ``ring`` data set, or on ``mnist-embedded`` when the plugin builds models
    or conditions on labels. ``with_plugins`` adds plugins the one under test
    needs (e.g. ``["cgan"]``), and ``data`` and ``train`` (trainer settings,
    e.g. ``{"device": "cuda"}``) adjust that run. ``options``
    (``{plugin: {field: value}}``) set plugin options for every check, so a
    non-default variant can be checked too.
    """
    results = Results()
    registered = register(plugin, name, results)
    if registered is None:
        return results.items
    pm, name = registered
    info = pm.infos[name]

    selection = options_obj = None

    def select() -> None:
        nonlocal selection, options_obj
        selection = pm.select([name])
        given = {k: dict(v) for k, v in (options or {}).items() if k in selection.active}
        options_obj = selection.build_options(given)

    if not results.run("register", select):
        return results.items

    if info.options_cls is not None:
        def read_back() -> None:
            from ganlab.config import options_read_back

            given = {k: dict(v) for k, v in (options or {}).items() if k in selection.active}
            first, again = options_read_back(selection, given)
            changed = {k: (first[name].get(k), v) for k, v in again.get(name, {}).items()
                       if first[name].get(k) != v}
            if changed:
                raise CheckFailed(
                    f"the options as config.toml records them read back differently ({changed}): "
                    "--resume and --config would run something else; derive values in __post_init__ "
                    "so that the recorded, resolved values read back unchanged")

        results.run("options.read_back", read_back)
    else:
        results.skip("options", "the plugin declares no options")

    hooks = set(info.hooks)
    # One group of checks per hook the plugin implements; the others are reported as skipped.
    per_hook = {
        "d_loss": lambda: check_d_loss(selection, options_obj, results),
        "g_loss": lambda: check_g_loss(selection, options_obj, results),
        "optimizer": lambda: check_optimizer(selection, options_obj, results),
        "generator_average": lambda: check_average(selection, options_obj, results),
        "datasets": lambda: check_datasets(selection, options_obj, name, results),
        "metrics": lambda: check_metrics(selection, options_obj, name, results),
    }
    for short, check in per_hook.items():
        if f"ganlab_{short}" in hooks:
            check()
        else:
            results.skip(short, f"the plugin does not implement ganlab_{short}")
    if hooks & {"ganlab_generator", "ganlab_discriminator", "ganlab_conditioner"}:
        # Models are built with the plugins it needs (an architecture for a conditioner, say).
        models = {}

        def select_models() -> None:
            sel = pm.select([name, *with_plugins])
            given = {k: dict(v) for k, v in (options or {}).items() if k in sel.active}
            models["selection"], models["options"] = sel, sel.build_options(given)

        if results.run("models.select", select_models):
            check_models(models["selection"], models["options"], hooks, results)
    else:
        results.skip("models", "the plugin implements no model hook")

    context = TrainContext(pm, name, list(with_plugins), data, options or {}, train or {}, hooks)
    if "ganlab_regularizer" in hooks:
        check_regularizers(context, results)
    else:
        results.skip("regularizer", "the plugin does not implement ganlab_regularizer")
    check_training(context, results)
    check_observers(context, results)
    return results.items


def assert_plugin_conforms(plugin: Any, name: str | None = None, **context: Any) -> list[CheckResult]:
    """Like :func:`check_plugin`, but raise ``AssertionError`` listing every failed check."""
    results = check_plugin(plugin, name, **context)
    failed = [r for r in results if r.failed]
    if failed:
        who = name or (plugin if isinstance(plugin, str) else default_name(plugin))
        lines = "\n".join(f"  - {r.check}: {r.message}" for r in failed)
        raise AssertionError(f"plugin {who!r} fails {len(failed)} conformance check(s):\n{lines}")
    return results
