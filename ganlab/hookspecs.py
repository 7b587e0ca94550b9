"""The hook contract between ganlab and its plugins.

This module is the single source of truth for what a plugin may implement.
Built-in plugins (``ganlab.plugins``) and third-party plugins (entry-point
group ``ganlab``) implement the same hooks.

Conventions that hold for every hook:

* **Scores are raw.** A discriminator (critic) returns unbounded real scores,
  higher meaning "more real". It never applies a sigmoid; a loss that needs
  probabilities squashes the scores itself (BCE goes through
  ``binary_cross_entropy_with_logits``).
* **Score shape.** Losses receive scores of shape ``(batch,)``: ganlab
  flattens a discriminator's ``(batch, 1)`` output before calling them.
* **Images** are ``(batch, channels, height, width)`` floats scaled to
  ``[-1, 1]``; 2-D toy points are ``(batch, 2)``.
* **Labels** are ``(batch,)`` int64 class indices, or ``None`` in an
  unconditional run.
* **Options.** ``options`` is a :class:`ganlab.Options` mapping. A
  plugin reads its own resolved options with ``options[MyOptions]`` where
  ``MyOptions`` is the dataclass it returned from :func:`ganlab_options`.
* **Subsets.** An implementation may accept any subset of a spec's arguments
  (pluggy passes only the names it declares), so
  ``def ganlab_g_loss(fake_scores)`` is a valid implementation.
* **Single answer.** Hooks marked *firstresult* have one answer per run. If
  two selected plugins implement one, the run stops before training and names
  both; if none does, a default plugin answers (see ``ganlab plugins``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Mapping

from ganlab import hookspec

if TYPE_CHECKING:  # pragma: no cover - imports for annotations only
    from pathlib import Path

    import torch
    from torch import nn

    from ganlab.conditioning import Conditioner
    from ganlab.datasets import DataSpec, DatasetFactory
    from ganlab.hooktypes import Metric, ValidationView
    from ganlab.options import Options
    from ganlab.regularizers import Regularizer


# --- configuration ---------------------------------------------------------


@hookspec
def ganlab_options() -> type | None:
    """Declare this plugin's options.

    Returns a dataclass *type* (not an instance) whose fields have type
    annotations, defaults and, optionally, ``metadata={"help": "..."}``.
    Users set fields with ``-o PLUGIN.FIELD=VALUE`` or in the
    ``[options.PLUGIN]`` table of a TOML config; values are parsed and
    validated by the field's type, and a dataclass ``__post_init__`` may raise
    ``ValueError`` to reject a bad combination. Return ``None`` (or do not
    implement the hook) for a plugin without options.

    Called once per plugin, so it is not a single-answer hook.
    """


@hookspec
def ganlab_train_defaults(options: Options) -> Mapping[str, Any] | None:
    """Suggest trainer settings this plugin needs by default.

    Returns a mapping from trainer field names (``lr``, ``betas``,
    ``n_critic``, ``latent_dim``, ...) to values, e.g. WGAN's
    ``{"n_critic": 5, "lr": 5e-5}``. Flags given by the user always win.
    Two active plugins suggesting different values for one field is a
    conflict that stops the run before training. Settings that belong to a
    set-up rather than to a loss (an architecture preset's optimiser) go in a
    :class:`ganlab.Fallback`, which yields to the other plugins'
    suggestions instead of conflicting with them.
    """


@hookspec
def ganlab_datasets(options: Options) -> Mapping[str, DatasetFactory] | None:
    """Offer datasets for ``--data NAME``.

    Returns a mapping from dataset name to a
    :class:`ganlab.DatasetFactory`: a callable taking a
    :class:`ganlab.DataRequest` and returning
    :class:`ganlab.LoadedData` (images in ``[-1, 1]`` as one tensor,
    optional int64 labels, and a description of the source). A factory raises
    :class:`ganlab.DataError` with a fix when the data is missing.
    Two plugins offering one name is a conflict.
    """


@hookspec
def ganlab_validate(setup: ValidationView) -> str | list[str] | None:
    """Reject a combination that cannot work, before anything is written.

    ``setup`` is a read-only :class:`ganlab.ValidationView`: the
    active plugin names (``plugins``), the data description (``data``), the
    resolved trainer settings (``train``), the ``options``, the
    ``conditioner``, the built ``generator`` and ``discriminator`` (each
    ``None`` when its build hook raised a ``PluginError``, which is reported
    already) and ``implementers(hook_name)``. Return ``None`` when the
    combination is fine, or one message (or a list of them) that says what is
    wrong and how to fix it. Every message of every plugin, with those the
    build hooks raised, is shown at once and the run does not start.
    """


# --- models ------------------------------------------------------------------


@hookspec(firstresult=True)
def ganlab_conditioner(data: DataSpec, options: Options) -> Conditioner | None:
    """Say how a condition (a class label) enters G and D.

    ``data.num_classes`` is the number of classes, or ``None`` for a dataset
    without labels. Returns a :class:`ganlab.Conditioner`
    (label embeddings for G and D and how D uses them: concatenation or
    projection), or ``None`` for an unconditional run. Single answer.

    Raise :class:`ganlab.PluginError` with a fix when the data cannot
    be conditioned (no labels): it is shown with every other problem of the
    combination, before anything is written.
    """


@hookspec(firstresult=True)
def ganlab_generator(
    data: DataSpec, latent_dim: int, conditioner: Conditioner | None, options: Options
) -> nn.Module:
    """Build the generator.

    Returns an ``nn.Module`` whose ``forward(z, labels=None)`` maps latent
    noise ``z`` of shape ``(batch, latent_dim)`` (and ``(batch,)`` int64
    labels when ``conditioner`` is not ``None``) to samples of shape
    ``(batch, *data.shape)`` in ``[-1, 1]``; image generators end in tanh.
    Single answer. Raise :class:`ganlab.PluginError` with a fix when
    this architecture cannot model ``data``; never return a placeholder.
    """


@hookspec(firstresult=True)
def ganlab_discriminator(
    data: DataSpec, conditioner: Conditioner | None, options: Options
) -> nn.Module:
    """Build the discriminator (critic).

    Returns an ``nn.Module`` whose ``forward(x, labels=None)`` maps samples
    of shape ``(batch, *data.shape)`` (plus labels in a conditional run) to
    raw scores of shape ``(batch,)`` or ``(batch, 1)``: higher means more
    real, and there is no sigmoid at the end. Single answer. Raise
    :class:`ganlab.PluginError` with a fix when this architecture
    cannot model ``data``.
    """


@hookspec(firstresult=True)
def ganlab_generator_average(generator: nn.Module, options: Options) -> torch.optim.swa_utils.AveragedModel | None:
    """Average the generator's weights over training (an EMA, as ProGAN and BigGAN sample from).

    Returns a ``torch.optim.swa_utils.AveragedModel`` of ``generator`` (built
    before training, on G's device), or an object with its interface:
    ``.module`` (the averaged network, called like G), ``update_parameters(G)``
    and ``state_dict()``/``load_state_dict()``. The trainer calls
    ``update_parameters`` with G after every G update; sample grids,
    ``--eval-every`` metrics and ``ganlab eval`` use ``.module`` (``ganlab eval
    --raw`` uses G itself); checkpoints carry its state, so a resumed run
    continues the same average. ``None`` (no plugin answers): they all use G.
    Single answer.
    """


# --- losses ------------------------------------------------------------------


@hookspec(firstresult=True)
def ganlab_d_loss(
    real_scores: torch.Tensor, fake_scores: torch.Tensor, options: Options
) -> torch.Tensor:
    """The discriminator's loss, to be minimised.

    ``real_scores`` and ``fake_scores`` are raw discriminator scores of shape
    ``(batch,)`` for real and generated samples, batches of equal length
    (the trainer and ``ganlab verify`` always pass them so). Returns a scalar tensor (shape ``()``) that falls when real scores
    rise and fake scores fall. It must be a pure function of its arguments so
    that ``ganlab verify`` can study it. Single answer.
    """


@hookspec(firstresult=True)
def ganlab_g_loss(
    fake_scores: torch.Tensor, real_scores: torch.Tensor, options: Options
) -> torch.Tensor:
    """The generator's loss, to be minimised.

    ``fake_scores`` are raw scores ``(batch,)`` of generated samples and carry
    the gradient to the generator; ``real_scores`` ``(batch,)`` are the scores
    of a real batch (only computed when an implementation declares the
    argument, as relativistic losses do). Returns a scalar tensor. Single
    answer.
    """


@hookspec
def ganlab_regularizer(
    data: DataSpec, conditioner: Conditioner | None, options: Options
) -> Regularizer | list[Regularizer] | None:
    """Add regularizers: penalties, constraints and module transforms.

    Returns one :class:`ganlab.Regularizer` or a list of them
    (or ``None``). Each has a ``name`` and a ``player`` (``"D"`` or ``"G"``)
    and may implement any of:

    * ``transform(module)``: applied once to that player's module after it is
      built (spectral normalisation);
    * ``penalty(batch)``: a scalar tensor added to that player's loss each
      update, logged under its name (gradient penalty, R1, reconstruction);
    * ``after_step(module)``: applied after each optimizer step of that player
      (WGAN weight clipping).

    The results of all active plugins add up: this is not a single-answer hook.
    """


@hookspec
def ganlab_claims(options: Options) -> Any | list[Any] | None:
    """Declare closed-form theory claims about this plugin, for ``ganlab verify``.

    Returns one claim object or a list of them (or ``None``), built from the
    classes in :mod:`ganlab.claims`; each carries its formula and
    source, and ``ganlab verify`` checks it numerically against this
    plugin's own hooks (never against a second copy of the formula):

    * ``OptimalDiscriminator(t_star)``: ``t_star(p_d, p_g)`` maps two numpy
      arrays of density values (same shape) to the raw score minimising
      ``p_d·φ_r(t) + p_g·φ_f(t)``, where ``ganlab_d_loss`` is
      ``E φ_r(real) + E φ_f(fake)``;
    * ``Criterion(value, objective)``: ``value(p_d, p_g)`` gives C(G), the
      objective at the optimal D, from two 1-D densities
      (:class:`ganlab.densities.Mixture`), computed independently of
      the loss code (e.g. with scipy); ``objective="d"`` means minus
      ``ganlab_d_loss`` at D*, ``"g"`` the generator loss at D* over
      p_d + p_g (Mao et al.'s V_LSGAN(G));
    * ``GeneratorGradient(grad, saturating)``: ``grad(l)`` is
      ∂ g_loss / ∂ fake score at raw score ``l`` (numpy array, ganlab's
      sign: negative means G gains by raising the score);
    * ``DiracEigenvalues(eigenvalues, f_prime_0)``: the eigenvalues of the
      Dirac-GAN's gradient field Jacobian at the equilibrium;
    * ``Relativistic``: G's loss is D's with real and fake swapped;
    * regularizer and transform claims: ``GradientPenalty``,
      ``SpectralNormalization``, ``R1Penalty``, ``WeightAverage`` (an
      average of G's weights), ``EquilibriumControl`` (BEGAN's k_t) and
      ``Packing`` (a D that scores packs of m samples, checked on the
      m-fold product densities).

    Read the plugin's own options to return the claims of the configured
    variant. Results of all active plugins add up: not a single-answer hook.
    """


@hookspec
def ganlab_verify_variants() -> list[Mapping[str, str]] | None:
    """Name the option settings of this plugin that ``ganlab verify`` checks by default.

    Returns a list of option mappings, each ``{key: value}`` as ``-o
    PLUGIN.KEY=VALUE`` would give them (values are strings), or ``None``;
    ``{}`` is the defaults. Without this hook, or with ``-o`` for the plugin,
    verify checks the given options only. List every setting that changes a
    loss or a penalty (a second generator loss, another label coding), so a
    plain ``ganlab verify`` covers them. Only the plugin's own answer is used.
    """


# --- evaluation --------------------------------------------------------------


@hookspec
def ganlab_metrics(data: DataSpec, options: Options) -> Mapping[str, Metric] | None:
    """Offer sample-quality metrics for this kind of data.

    Returns a mapping from metric name to a :class:`ganlab.Metric`, or
    ``None`` when this plugin has no metric for ``data`` (check
    ``data.name``, ``data.shape``, ``data.kind``). A metric is a callable
    taking a :class:`ganlab.MetricBatch` (``real`` and ``fake``
    samples of shape ``(n, *data.shape)`` on the CPU, the real samples'
    ``real_labels``, and in a conditional run ``fake_labels``, the labels G
    was asked for) and returning named numbers, e.g. ``{"fd": 3.2}``; the
    names become columns of ``eval.jsonl`` and must not clash with another
    metric's. Raise :class:`ganlab.MetricError` with a fix when the
    metric cannot be computed here (missing weights). ``ganlab eval`` and
    ``--eval-every`` compute every metric of every active plugin: results
    add up, this is not a single-answer hook; two plugins offering one
    metric name is a conflict.
    """


# --- training ----------------------------------------------------------------


@hookspec(firstresult=True)
def ganlab_optimizer(
    player: str, params: list[torch.nn.Parameter], train: Any
) -> torch.optim.Optimizer:
    """Build the optimizer of one player.

    ``player`` is ``"G"`` or ``"D"``; ``params`` are that player's trainable
    parameters; ``train`` holds the resolved trainer settings (``train.lr``,
    ``train.betas``), with ``train.lr`` already that player's rate (``--g-lr``
    or ``--d-lr`` where set). Returns a ``torch.optim.Optimizer``. The default is Adam
    with the seeds' lr 2e-4 and betas (0.5, 0.999). Single answer.
    """


@hookspec
def ganlab_on_run_start(run_dir: Path, step: int, config: Mapping[str, Any]) -> None:
    """Called once when training starts, and again each time the run resumes.

    ``step`` is where training starts (0, or the checkpoint's step on
    ``--resume``: anything an observer recorded after it in an earlier session
    belongs to steps that will be trained again). ``config`` is the run's
    ``config.toml`` as a mapping (``plugins``, ``train``, ``options``). Return
    value is ignored.
    """


@hookspec
def ganlab_on_log(step: int, record: Mapping[str, float], run_dir: Path) -> None:
    """Observe training: called at every logging step.

    ``record`` is the row just appended to ``metrics.jsonl``: ``step``, the
    losses, each named penalty, the mean real and fake scores, the gradient
    norms of G and D and the wall time. Return value is ignored.
    """


@hookspec
def ganlab_on_eval(step: int, row: Mapping[str, Any], run_dir: Path) -> None:
    """Observe an evaluation: called for every row a run's ``eval.jsonl`` gets.

    ``row`` holds ``step``, ``source`` (``"samples"``: the fixed-noise points
    of a 2-D run's sample step; ``"train"``: ``--eval-every``; ``"eval"``:
    ``ganlab eval`` on a saved run), ``n`` and each metric's values. Return
    value is ignored.

    ``ganlab eval`` calls it with the plugins of the run's ``config.toml``,
    after the row is written and outside any training session: no
    ``ganlab_on_run_start`` comes first, so an observer that keeps state per
    run opens it here when it has none.
    """


@hookspec
def ganlab_on_samples(step: int, samples: torch.Tensor, picture: Path, run_dir: Path) -> None:
    """Observe the fixed-noise samples: called at every sample step.

    ``samples`` are G's outputs for the run's fixed noise (images in
    ``[-1, 1]``, or 2-D points); ``picture`` is the PNG just written from them
    (the image grid, or the scatter plot). Return value is ignored.
    """


@hookspec
def ganlab_on_run_end(run_dir: Path, step: int, status: str) -> None:
    """Called once when a run stops.

    ``status`` is ``"finished"``, ``"interrupted"`` or ``"failed"``; ``step``
    is the last completed step. Use it to write extra artifacts into
    ``run_dir``. Return value is ignored.
    """
