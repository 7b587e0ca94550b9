"""ganlab from Python: train, evaluate, compare and verify in a notebook or a script.

These are the code paths of the command line (``ganlab run`` calls
:func:`train_request`, ``ganlab eval`` :func:`ganlab.run_evaluation.record`,
``ganlab compare`` :func:`ganlab.sweeps.session.run_sweep`, ``ganlab
verify`` :func:`ganlab.analysis.suite.verify`), so a run made here is the run
the command line would make. Mistakes raise :class:`ganlab.errors.GanlabError`
with the command line's messages, never ``SystemExit``.

A plugin may be a name (built-in or installed), or a module or object with
``@hookimpl`` functions, registered for that call only: a loss defined in a
notebook cell needs no package and no entry point.
"""

from __future__ import annotations

import json
import types
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

from ganlab.errors import ConfigError, PluginError
from ganlab.runfolder import CONFIG, RunFolder

IN_MEMORY = "in-memory"


def plugin_name(plugin: Any) -> str:
    """The name an in-memory plugin is selected by: ``ganlab_name`` if it has one, else its module's or class's."""
    name = getattr(plugin, "ganlab_name", None)
    if name is None:
        name = plugin.__name__.rsplit(".", 1)[-1] if isinstance(plugin, types.ModuleType) else type(plugin).__name__
    if not isinstance(name, str) or not name:
        raise PluginError(f"cannot name plugin {plugin!r}; give it a ganlab_name attribute")
    return name.replace("_", "-").lower()


def plugin_manager(plugins: Iterable[Any] = ()) -> tuple[Any, list[str]]:
    """A fresh manager (built-ins, installed plugins and these in-memory ones) and the names to select."""
    from ganlab.manager import make_plugin_manager

    pm = make_plugin_manager()
    if isinstance(plugins, (str, types.ModuleType)) or not isinstance(plugins, Iterable):
        plugins = [plugins]  # one plugin, not a list of them
    names = []
    for plugin in plugins:
        if isinstance(plugin, str):
            names.append(plugin)
            continue
        name = plugin_name(plugin)
        if name in pm.infos:
            raise PluginError(f"an in-memory plugin is named {name!r}, like the {pm.infos[name].source} plugin; "
                              f"give yours another ganlab_name")
        pm.add_plugin(plugin, name, source=IN_MEMORY)
        pm.info(name)  # a plugin that failed to register is refused here, with the reason
        names.append(name)
    return pm, names


@dataclass
class Run:
    """A run folder, and what training it ended with (``status``: finished, interrupted; None if opened)."""

    folder: Path
    status: str | None = None
    step: int | None = None
    plugins: list[Any] = field(default_factory=list, repr=False)  # in-memory plugins, for evaluate()

    @classmethod
    def open(cls, folder: str | Path, plugins: Iterable[Any] = ()) -> Run:
        """An existing run folder; ``plugins``: the in-memory plugins it was trained with."""
        if not RunFolder(folder).config.is_file():
            raise ConfigError(f"{folder} is not a ganlab run folder (no {RunFolder(folder).config.name})")
        return cls(Path(folder), plugins=[p for p in plugins if not isinstance(p, str)])

    def metrics(self) -> list[dict[str, Any]]:
        """The rows of ``metrics.jsonl``: losses, penalties, mean scores, gradient norms per logged step."""
        return _rows(RunFolder(self.folder).metrics)

    def evaluations(self) -> list[dict[str, Any]]:
        """The rows of ``eval.jsonl`` (metrics at sample steps, ``--eval-every`` steps and from evaluate())."""
        return _rows(RunFolder(self.folder).eval)

    def samples(self) -> list[Path]:
        """The fixed-noise pictures, oldest first (``samples/step_XXXXXX.png``)."""
        return sorted(RunFolder(self.folder).samples.glob("step_*.png"))

    def config(self) -> dict[str, Any]:
        """The run's ``config.toml``: plugins, trainer settings, every option and the record."""
        import tomllib

        return tomllib.loads(RunFolder(self.folder).config.read_text())


def _rows(path: Path) -> list[dict[str, Any]]:
    rows = []
    for line in path.read_text().splitlines() if path.is_file() else []:
        try:
            rows.append(json.loads(line))
        except ValueError:  # a line torn by a crash
            continue
    return rows


def train_request(pm, request, out: str | Path | None = None, resume: str | Path | None = None,
                  quiet: bool = True, log: Callable[..., None] = print,
                  before_fit: Callable[[Any], None] | None = None) -> tuple[Any, str]:
    """Prepare (or resume) a run and train it; ``(trainer, status)``. ``ganlab run`` comes through here."""
    from ganlab.run import prepare_run

    trainer = prepare_run(pm, request, out=out, resume=resume, quiet=quiet, log=log)
    if before_fit is not None:
        before_fit(trainer)
    return trainer, trainer.fit()


def train(plugins: Iterable[Any] = (), options: dict[str, dict[str, Any]] | None = None, *,
          out: str | Path | None = None, resume: str | Path | None = None, config: str | Path | None = None,
          quiet: bool = True, log: Callable[..., None] = print, **settings: Any) -> Run:
    """Train a GAN: ``train(["lsgan"], {"lsgan": {"a": -1}}, steps=500, data="ring")``.

    ``settings`` are the trainer settings of ``ganlab run`` (``steps``,
    ``batch_size``, ``data``, ...; see ``ganlab run --help``); ``config`` a
    TOML file they override; ``resume`` continues a run folder.
    """
    from ganlab.config import RunRequest, check_train_keys, load_config_file

    check_train_keys(settings, "ganlab.train()")
    pm, names = plugin_manager(plugins)
    # Resuming, the plugins only need registering: the run folder records which are selected.
    request = RunRequest([] if resume is not None else names, dict(settings),
                         {p: dict(v) for p, v in (options or {}).items()},
                         {key: "ganlab.train()" for key in settings})
    if config is not None:
        request = load_config_file(config).merged_with(request)
    trainer, status = train_request(pm, request, out, resume, quiet, log)
    return Run(trainer.folder.path, status, trainer.step, [p for p in _listed(plugins) if not isinstance(p, str)])


def _listed(plugins: Any) -> list[Any]:
    return [plugins] if isinstance(plugins, (str, types.ModuleType)) or not isinstance(plugins, Iterable) \
        else list(plugins)


def evaluate(run: Run | str | Path, n: int = 10_000, seed: int = 0, step: int | None = None, device: str = "cpu",
             raw: bool = False, plugins: Iterable[Any] = ()) -> dict[str, Any]:
    """Every active metric on a run's checkpoint (the latest, or ``step``); the row, appended to eval.jsonl and
    told to the run's observers (``ganlab_on_eval``), as ``ganlab eval`` does."""
    from ganlab.run_evaluation import record

    run = run if isinstance(run, Run) else Run.open(run, plugins)
    pm, _ = plugin_manager([*run.plugins, *[p for p in _listed(plugins) if p not in run.plugins]])
    return record(run.folder, n, seed, step, device, raw=raw, manager=pm)


@dataclass
class Results:
    """A sweep's results: one row per variant and metric (mean, std, 95 % bootstrap interval over seeds)."""

    folder: Path
    rows: list[dict[str, Any]]
    failed: int = 0
    interrupted: bool = False

    def table(self):
        """The rows as a pandas DataFrame when pandas is installed, else as they are."""
        try:
            import pandas
        except ImportError:
            return self.rows
        return pandas.DataFrame(self.rows)

    def runs(self) -> list[Run]:
        """Every cell's run folder."""
        return [Run(p.parent) for p in sorted(self.folder.rglob(CONFIG))]


def compare(variants: Iterable[Any], seeds: int | Iterable[int] = 1, *, options: dict | None = None,
            grid: dict[str, list[Any]] | None = None, out: str | Path | None = None, name: str = "compare",
            workers: int = 1, threads: int | None = None, quiet: bool = True, **settings: Any) -> Results:
    """Train each variant over ``seeds`` and tabulate: ``compare(["gan", "lsgan"], seeds=3, data="ring")``.

    A variant is ``ganlab compare --variant``'s short form (``"gan+r1"``,
    ``"lsgan -o lsgan.a=-1"``) or an in-memory plugin (then its cells run in
    this process: one worker).
    """
    from ganlab.sweeps.session import run_sweep
    from ganlab.sweeps.sweep import Sweep, Variant, _seeds, parse_variant
    from ganlab.config import check_train_keys

    check_train_keys(settings, "ganlab.sweeps()")
    listed = _listed(variants)
    in_memory = [v for v in listed if not isinstance(v, str)]
    pm, names = plugin_manager(in_memory) if in_memory else (None, [])
    by_object = dict(zip(map(id, in_memory), names))
    parsed = [parse_variant(v) if isinstance(v, str) else Variant(by_object[id(v)], [by_object[id(v)]])
              for v in listed]
    sweep = Sweep(name, _seeds(seeds if isinstance(seeds, int) else list(seeds), "seeds"), parsed,
                  train=dict(settings), options={p: dict(v) for p, v in (options or {}).items()},
                  grid={k: list(v) for k, v in (grid or {}).items()})
    result = run_sweep(sweep, out, workers, threads, pm=pm, say=_quiet if quiet else print)
    rows = [dict(vars(r)) for r in result.rows]
    return Results(result.folder, rows, result.failed, result.interrupted)


def _quiet(*args, **kwargs) -> None:
    pass


def verify(plugins: Any = None, options: dict[str, dict[str, Any]] | None = None):
    """Check the theory claims against these plugins (names, modules or objects; None: every plugin).

    Returns the :class:`ganlab.analysis.claims.Report`: ``report.ok``, and one
    ``Result`` per claim and plugin in ``report.results``.
    """
    from ganlab.analysis.suite import verify as run_suite

    if plugins is None:
        pm, names = plugin_manager(())
        return run_suite(pm, None, options)
    pm, names = plugin_manager(plugins)
    return run_suite(pm, names, options)
