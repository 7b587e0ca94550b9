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
* ``train.*``: in a tiny end-to-end run, a D update moves only D's
  parameters and a G update only G's, and two runs with one seed agree.

Checks that do not apply (e.g. loss checks for a regularizer plugin) are
reported as skipped.
"""

from __future__ import annotations

import random
import tempfile
from dataclasses import dataclass
from typing import Any, Callable, Mapping, Sequence

import torch

from ganlab.errors import GanlabError, PluginError

__all__ = ["CheckResult", "check_plugin", "assert_plugin_conforms"]

# Score batches the loss checks use: several seeds, so a check that holds by
# accident on one batch is unlikely to hold on all of them.
SCORE_SEEDS = (0, 1, 2, 3, 4)
SCORE_BATCH = 8
SIGN_REPEATS = 5


@dataclass(frozen=True)
class CheckResult:
    """The outcome of one check: ``passed``, or a ``message`` that says what to fix."""

    check: str
    passed: bool
    message: str = ""
    skipped: bool = False

    @property
    def failed(self) -> bool:
        return not self.passed and not self.skipped

    def __str__(self) -> str:
        status = "skipped" if self.skipped else "ok" if self.passed else "FAILED"
        return f"{self.check}: {status}" + (f" ({self.message})" if self.message else "")


class _CheckFailed(Exception):
    """Raised inside a check with the message to report."""


def _require(condition: bool, message: str) -> None:
    if not condition:
        raise _CheckFailed(message)


class _Results:
    def __init__(self) -> None:
        self.items: list[CheckResult] = []

    def run(self, check: str, fn: Callable[[], str | None]) -> bool:
        try:
            note = fn()
        except _CheckFailed as exc:
            self.items.append(CheckResult(check, False, str(exc)))
            return False
        except Exception as exc:  # a plugin may fail in any way; report, don't crash
            self.items.append(CheckResult(check, False, f"raised {type(exc).__name__}: {exc}"))
            return False
        self.items.append(CheckResult(check, True, note or ""))
        return True

    def skip(self, check: str, why: str) -> None:
        self.items.append(CheckResult(check, False, why, skipped=True))

    def fail(self, check: str, message: str) -> None:
        self.items.append(CheckResult(check, False, message))


# --- entry points ----------------------------------------------------------


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
    needs (e.g. ``["cgan"]``), and ``data`` and ``train`` (trainer settings)
    adjust that run. ``options`` (``{plugin: {field: value}}``) set plugin
    options for every check, so a non-default variant can be checked too.
    """
    results = _Results()
    registered = _register(plugin, name, results)
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

    hooks = set(info.hooks)
    if "ganlab_d_loss" in hooks:
        _check_d_loss(selection, options_obj, results)
    else:
        results.skip("d_loss", "the plugin does not implement ganlab_d_loss")
    if "ganlab_g_loss" in hooks:
        _check_g_loss(selection, options_obj, results)
    else:
        results.skip("g_loss", "the plugin does not implement ganlab_g_loss")

    context = _TrainContext(pm, name, list(with_plugins), data, options or {}, train or {}, hooks)
    if "ganlab_regularizer" in hooks:
        _check_regularizers(context, results)
    else:
        results.skip("regularizer", "the plugin does not implement ganlab_regularizer")
    _check_training(context, results)
    return results.items


def assert_plugin_conforms(plugin: Any, name: str | None = None, **context: Any) -> list[CheckResult]:
    """Like :func:`check_plugin`, but raise ``AssertionError`` listing every failed check."""
    results = check_plugin(plugin, name, **context)
    failed = [r for r in results if r.failed]
    if failed:
        who = name or (plugin if isinstance(plugin, str) else _default_name(plugin))
        lines = "\n".join(f"  - {r.check}: {r.message}" for r in failed)
        raise AssertionError(f"plugin {who!r} fails {len(failed)} conformance check(s):\n{lines}")
    return results


# --- registration ------------------------------------------------------------


def _default_name(plugin: Any) -> str:
    module_name = getattr(plugin, "__name__", None)
    if isinstance(module_name, str) and module_name:
        return module_name.rsplit(".", 1)[-1]
    return "plugin-under-test"


def _register(plugin: Any, name: str | None, results: _Results):
    from ganlab.manager import make_plugin_manager

    pm = make_plugin_manager(autoload=False)
    if isinstance(plugin, str):
        name = plugin
        if name not in pm.infos:
            pm.load_entrypoints()  # an installed third-party plugin
        if name not in pm.infos:
            names = ", ".join(sorted(pm.available()))
            results.fail("register", f"no built-in or installed plugin is named {name!r}; available: {names}")
            return None
    elif pm.is_registered(plugin):  # a built-in module passed as an object
        name = pm.get_name(plugin)
    else:
        name = name or _default_name(plugin)
        if name in pm.infos:
            results.fail(
                "register",
                f"the name {name!r} is taken by built-in plugin {name!r}, so ganlab would list yours as "
                "broken; choose another entry-point name (and pass it as name=...)",
            )
            return None
        pm.add_plugin(plugin, name, source="ganlab.testing")
    info = pm.infos[name]
    if not info.ok:
        results.fail("register", f"plugin {name!r} is broken: {info.error}")
        return None
    return pm, name


# --- score-level loss checks -----------------------------------------------


def _scores(seed: int, n: int, scale: float = 1.0) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    return torch.randn(n, generator=gen) * scale


def _reseed(seed: int) -> None:
    torch.manual_seed(seed)
    random.seed(seed)
    try:
        import numpy as np

        np.random.seed(seed)
    except ImportError:  # pragma: no cover - numpy is a ganlab dependency
        pass


def _num(value: Any) -> float:
    return float(value.detach()) if isinstance(value, torch.Tensor) else float(value)


def _describe(value: Any) -> str:
    if isinstance(value, torch.Tensor):
        return f"a tensor of shape {tuple(value.shape)} and dtype {value.dtype}"
    return f"a {type(value).__name__}"


def _require_scalar(value: Any, what: str) -> torch.Tensor:
    _require(
        isinstance(value, torch.Tensor),
        f"{what} returned {_describe(value)}, not a tensor; return a scalar torch tensor",
    )
    _require(
        value.shape == (),
        f"{what} returned a tensor of shape {tuple(value.shape)}; reduce it to a scalar "
        "(shape ()), e.g. with .mean() over the batch",
    )
    _require(value.is_floating_point(), f"{what} returned dtype {value.dtype}; return a floating-point tensor")
    _require(bool(torch.isfinite(value.detach())), f"{what} returned {_num(value)} on ordinary scores; make it finite")
    return value


def _graph_leaves(t: torch.Tensor) -> list[torch.Tensor]:
    """The leaf tensors ``t`` was computed from (those requiring grad)."""
    leaves, seen, stack = [], set(), [t.grad_fn]
    while stack:
        fn = stack.pop()
        if fn is None or fn in seen:
            continue
        seen.add(fn)
        variable = getattr(fn, "variable", None)
        if variable is not None:
            leaves.append(variable)
        stack.extend(next_fn for next_fn, _ in fn.next_functions)
    return leaves


class _Loss:
    """Calls one loss hook the way the trainer does."""

    def __init__(self, selection, options, which: str):
        self.which = which
        self.hook = getattr(selection.hook, f"ganlab_{which}")
        self.options = options
        # Like the trainer: real scores reach g_loss only when it declares them.
        self.g_wants_real = which == "g_loss" and selection.wants_argument("ganlab_g_loss", "real_scores")

    def __call__(self, real: torch.Tensor, fake: torch.Tensor) -> Any:
        if self.which == "d_loss":
            return self.hook(real_scores=real, fake_scores=fake, options=self.options)
        return self.hook(fake_scores=fake, real_scores=real if self.g_wants_real else None, options=self.options)


def _check_common(loss: _Loss, results: _Results) -> None:
    which = loss.which

    def scalar():
        for seed in SCORE_SEEDS:
            _require_scalar(loss(_scores(seed, SCORE_BATCH), _scores(seed + 100, SCORE_BATCH)), which)

    def batch_size_one():
        _require_scalar(loss(_scores(0, 1), _scores(1, 1)), f"{which} with batch size 1")

    def unequal_batches():
        # Hookspec: "the batches may differ in size", e.g. a last short real batch.
        _require_scalar(loss(_scores(0, 3), _scores(1, 5)), f"{which} with 3 real and 5 fake scores")

    def gradients():
        # D learns from both scores; G only through its fakes (a relativistic
        # g_loss also reads real scores, but D is frozen in G's update).
        wanted = ["real", "fake"] if which == "d_loss" else ["fake"]
        for seed in SCORE_SEEDS:
            # Scores near 0, where no loss in ganlab's catalogue is saturated or flat.
            real = _scores(seed, SCORE_BATCH, 0.5).requires_grad_(True)
            fake = _scores(seed + 100, SCORE_BATCH, 0.5).requires_grad_(True)
            value = _require_scalar(loss(real, fake), which)
            _require(
                value.requires_grad,
                f"{which} carries no gradient to the scores; compute it from the score tensors "
                "without .detach(), .item() or torch.no_grad()",
            )
            inputs = {"real": real, "fake": fake}
            strays = [t for t in _graph_leaves(value) if not any(t is x for x in inputs.values())]
            _require(
                not strays,
                f"{which} depends on tensor(s) other than its score arguments "
                f"({', '.join(str(tuple(t.shape)) for t in strays)}); a loss must be a pure function of "
                "the scores, so gradients reach only the players through them (move learnable "
                "parameters into the discriminator or generator)",
            )
            grads = torch.autograd.grad(value, [inputs[a] for a in wanted], allow_unused=True)
            for arg, grad in zip(wanted, grads):
                _require(
                    grad is not None and bool(grad.abs().sum() > 0),
                    f"{which} gives no gradient to the {arg} scores (seed {seed}); "
                    f"the {'discriminator' if which == 'd_loss' else 'generator'} cannot learn from them. "
                    "Is a score tensor detached or unused?",
                )
                _require(bool(torch.isfinite(grad).all()), f"{which} has a non-finite gradient for the {arg} scores")

    def deterministic():
        real, fake = _scores(0, SCORE_BATCH), _scores(1, SCORE_BATCH)
        _reseed(0)
        first = loss(real, fake)
        _reseed(0)
        second = loss(real, fake)
        _require(
            torch.equal(first, second),
            f"{which} gave {_num(first)!r} and then {_num(second)!r} for the same scores under the "
            "same seed; remove the randomness (or non-deterministic operation) from the loss",
        )

    def pure():
        real, fake = _scores(0, SCORE_BATCH), _scores(1, SCORE_BATCH)
        before = (real.clone(), fake.clone())
        _reseed(0)
        first = loss(real, fake)
        _require(
            torch.equal(real, before[0]) and torch.equal(fake, before[1]),
            f"{which} modified its score arguments in place; compute on copies (no in-place ops on inputs)",
        )
        _reseed(12345)
        loss(_scores(2, SCORE_BATCH), _scores(3, SCORE_BATCH))  # any hidden state would change now
        again = loss(real, fake)
        _require(
            torch.equal(first, again),
            f"{which} gave {_num(first)!r}, then {_num(again)!r} for the same scores after another "
            "call under another random state; the hookspec requires a pure function of the scores "
            "(no global random draws, no state kept between calls)",
        )

    results.run(f"{which}.scalar", scalar)
    results.run(f"{which}.batch_size_1", batch_size_one)
    if which == "d_loss" or loss.g_wants_real:
        results.run(f"{which}.unequal_batches", unequal_batches)
    results.run(f"{which}.gradients", gradients)
    results.run(f"{which}.deterministic", deterministic)
    results.run(f"{which}.pure", pure)


def _check_d_loss(selection, options, results: _Results) -> None:
    loss = _Loss(selection, options, "d_loss")
    _check_common(loss, results)

    def sign():
        # D is right when reals score above fakes. Any d_loss that falls as real
        # scores rise and fake scores fall is lower there than with the scores
        # swapped, and so is one with targets b > a (LSGAN), which is not monotone.
        for seed in range(SIGN_REPEATS):
            base = _scores(seed, SCORE_BATCH)
            gap = 0.5 + 1.5 * torch.rand((), generator=torch.Generator().manual_seed(seed + 50))
            right = _num(loss(base + gap, base - gap))
            wrong = _num(loss(base - gap, base + gap))
            _require(
                right < wrong,
                f"d_loss is {right:.4g} when real scores exceed fake scores by {2 * float(gap):.3g} "
                f"but {wrong:.4g} when they are swapped (seed {seed}); d_loss must fall as real scores rise "
                "and fake scores fall (scores are raw, higher means more real: is the sign or the "
                "real/fake order flipped?)",
            )

    results.run("d_loss.sign", sign)


def _check_g_loss(selection, options, results: _Results) -> None:
    loss = _Loss(selection, options, "g_loss")
    _check_common(loss, results)

    def sign():
        # While D scores fakes far below reals, G gains by raising its scores.
        # Unlike "g_loss falls whenever fake scores rise", this also holds for
        # losses with a target, such as LSGAN's c = 0 or 1.
        for seed in range(SIGN_REPEATS):
            real = _scores(seed, SCORE_BATCH, 0.5)
            low = _num(loss(real, real - 4.0))
            higher = _num(loss(real, real - 2.0))
            _require(
                higher < low,
                f"g_loss is {low:.4g} for fakes scored 4 below the reals but {higher:.4g} for fakes "
                f"scored 2 below (seed {seed}); g_loss must fall as D's scores of the fakes rise toward "
                "the reals' (is its sign flipped?)",
            )

    results.run("g_loss.sign", sign)


# --- regularizers and a tiny training run -------------------------------------


@dataclass
class _TrainContext:
    """The tiny run the end-to-end checks use."""

    pm: Any
    name: str
    with_plugins: list[str]
    data: str | None
    options: Mapping[str, Mapping[str, Any]]
    train: Mapping[str, Any]
    hooks: set[str]

    @property
    def plugins(self) -> list[str]:
        return [self.name, *[p for p in self.with_plugins if p != self.name]]

    def dataset(self) -> str:
        if self.data:
            return self.data
        model_hooks = {"ganlab_generator", "ganlab_discriminator", "ganlab_conditioner"}
        needs_images = bool(model_hooks & self.hooks) or bool(self.with_plugins)
        return "mnist-embedded" if needs_images else "ring"

    def setup(self):
        from ganlab.config import RunRequest
        from ganlab.setup import build_setup

        active = self.pm.select(self.plugins).active
        tiny = {"mlp": {"g_hidden": (16,), "d_hidden": (16,)}, "data": {"toy_samples": 256}}
        opts = {k: dict(v) for k, v in tiny.items() if k in active}
        for plugin, values in self.options.items():
            opts.setdefault(plugin, {}).update(values)
        train = {"batch_size": 8, "latent_dim": 8, "steps": 1, "seed": 0, "device": "cpu",
                 "data": self.dataset(), **self.train}
        return build_setup(self.pm, RunRequest(self.plugins, train, opts))

    def trainer(self):
        from ganlab.trainer import Trainer

        # The trainer writes nothing until fit(); the folder is never created.
        run_dir = tempfile.gettempdir() + "/ganlab-conformance-unused"
        return Trainer(self.setup(), run_dir, quiet=True, log=lambda *a: None)


def _own_regularizers(setup, name: str) -> list[Any]:
    """What the plugin under test's ganlab_regularizer returns for this run."""
    impls = [i for i in setup.selection.hook.ganlab_regularizer.get_hookimpls() if i.plugin_name == name]
    args = {"data": setup.data, "conditioner": setup.conditioner, "options": setup.options}
    out = impls[0].function(**{a: args[a] for a in impls[0].argnames})
    return [r for r in (out if isinstance(out, (list, tuple)) else [out]) if r is not None]


def _scores_of(module, x, labels) -> torch.Tensor:
    return (module(x) if labels is None else module(x, labels)).reshape(-1)


def _check_regularizers(context: _TrainContext, results: _Results) -> None:
    from ganlab.datasets import Batcher
    from ganlab.regularizers import PenaltyBatch, Regularizer

    setup = None
    own: list[Any] = []

    def declared():
        nonlocal setup, own
        try:
            setup = context.setup()
        except PluginError as exc:
            if "regularizer" not in str(exc):
                raise
            # build_setup rejects a nameless or player-less regularizer; say why it matters.
            raise _CheckFailed(f"{exc} (the name labels its penalty in metrics.jsonl; the player says "
                               "whose loss and module it acts on)") from None
        own = _own_regularizers(setup, context.name)
        for reg in own:
            _require(
                isinstance(reg, Regularizer),
                f"ganlab_regularizer returned {_describe(reg)}; return ganlab.regularizers.Regularizer "
                "instances (subclass it and override transform, penalty or after_step)",
            )
        names = [r.name for r in own]
        dupes = sorted({n for n in names if names.count(n) > 1})
        _require(not dupes, f"regularizer name(s) {', '.join(dupes)} repeat; penalties are logged by name, "
                            "so give each a distinct name")
        return f"{len(own)} regularizer(s): {', '.join(names)}" if own else "returned no regularizer"

    if not results.run("regularizer.declared", declared):
        results.skip("regularizer.penalty", "the regularizers could not be built")
        return

    def penalties():
        with_penalty = [r for r in own if r.has_penalty]
        if not with_penalty:
            return "no regularizer has a penalty"
        # Penalties of the built run (after transforms), found by name.
        live = {r.name: r for r in setup.regularizers if r.name in {o.name for o in with_penalty}}
        G, D, t = setup.generator, setup.discriminator, setup.train
        conditional = setup.conditioner is not None
        batcher = Batcher(setup.loaded, t.batch_size, setup.device, seed=t.seed, labels=conditional)
        real, real_labels = batcher.next()
        noise = torch.Generator().manual_seed(t.seed)
        z = torch.randn(t.batch_size, t.latent_dim, generator=noise)
        fake_labels = setup.conditioner.sample_labels(t.batch_size, noise, setup.device) if conditional else None
        checked = []
        for reg in live.values():
            module = D if reg.player == "D" else G
            # As in the trainer: fakes are detached in D's update and carry G's graph in G's.
            with torch.set_grad_enabled(reg.player == "G"):
                fake = G(z) if fake_labels is None else G(z, fake_labels)
            batch = PenaltyBatch(real, fake, real_labels, fake_labels, _scores_of(D, real, real_labels),
                                 _scores_of(D, fake, fake_labels), D, G, 0)
            value = reg.penalty(batch)
            if value is None:
                continue
            value = _require_scalar(value, f"penalty {reg.name!r}")
            _require(
                value.requires_grad,
                f"penalty {reg.name!r} carries no gradient, so it cannot change {reg.player}'s parameters; "
                "compute it without .detach(), .item() or torch.no_grad() (a gradient penalty needs "
                "create_graph=True)",
            )
            if _num(value) == 0.0:
                # Inactive here (e.g. a one-sided penalty below its threshold): no gradient to expect.
                checked.append(f"{reg.name} (0 in this run, gradient not checked)")
                continue
            params = [p for p in module.parameters() if p.requires_grad]
            grads = torch.autograd.grad(value, params, allow_unused=True)
            _require(
                any(g is not None and bool(g.abs().sum() > 0) for g in grads),
                f"penalty {reg.name!r} gives no gradient to {reg.player}'s parameters; a {reg.player} "
                f"penalty must depend on the {'discriminator' if reg.player == 'D' else 'generator'}",
            )
            checked.append(reg.name)
        return f"checked {', '.join(checked)}" if checked else "every penalty returned None in this run"

    results.run("regularizer.penalty", penalties)


def _snapshot(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    # Parameters only: buffers (batch-norm statistics, spectral-norm vectors)
    # legitimately change on any forward pass.
    return {n: p.detach().clone() for n, p in module.named_parameters()}


def _changed(before: Mapping[str, torch.Tensor], module: torch.nn.Module) -> list[str]:
    now = dict(module.named_parameters())
    return [n for n, p in before.items() if n not in now or not torch.equal(p, now[n].detach())]


def _check_training(context: _TrainContext, results: _Results) -> None:
    trainer = None

    def build():
        nonlocal trainer
        try:
            trainer = context.trainer()
        except GanlabError as exc:
            raise _CheckFailed(
                f"a tiny run of {' + '.join(context.plugins)} on {context.dataset()} does not start: {exc} "
                "(pass with_plugins=, data=, options= or train= to check_plugin for the context it needs)"
            ) from None
        return f"{' + '.join(trainer.setup.plugins)} on {context.dataset()}"

    if not results.run("train.setup", build):
        results.skip("train.updates", "the tiny run did not start")
        results.skip("train.deterministic", "the tiny run did not start")
        return

    def updates():
        G, D = trainer.G, trainer.D
        g0, d0 = _snapshot(G), _snapshot(D)
        d_loss = trainer.d_update(want_stats=False)["d_loss"]
        _require(bool(torch.isfinite(d_loss.detach())), f"the D update's loss is {_num(d_loss)}")
        moved_g = _changed(g0, G)
        _require(not moved_g, f"a D update changed the generator's parameters {moved_g[:3]}; "
                              "a D-side hook (penalty or after_step) must not modify G")
        _require(_changed(d0, D), "a D update left every discriminator parameter unchanged: no gradient reaches "
                                  "D's parameters through the loss and penalties, or a hook undoes the step")
        g1, d1 = _snapshot(G), _snapshot(D)
        g_loss = trainer.g_update(want_stats=False)["g_loss"]
        _require(bool(torch.isfinite(g_loss.detach())), f"the G update's loss is {_num(g_loss)}")
        moved_d = _changed(d1, D)
        _require(not moved_d, f"a G update changed the discriminator's parameters {moved_d[:3]}; "
                              "a G-side hook (penalty or after_step) must not modify D")
        _require(_changed(g1, G), "a G update left every generator parameter unchanged: no gradient "
                                  "reaches G's parameters through g_loss and its penalties")

    def deterministic():
        runs = []
        for _ in range(2):
            t = context.trainer()
            d, g = t.d_update(want_stats=False), t.g_update(want_stats=False)
            values = {"d_loss": d["d_loss"], "g_loss": g["g_loss"], **d["penalties"], **g["penalties"]}
            runs.append({k: _num(v) for k, v in values.items()})
        _require(
            runs[0] == runs[1],
            f"two tiny runs with seed 0 disagree: {runs[0]} and {runs[1]}; draw randomness from torch's "
            "global generator (which ganlab seeds), never from unseeded sources",
        )

    results.run("train.updates", updates)
    results.run("train.deterministic", deterministic)
