"""``ganlab run``: train a GAN from composable plugins, or continue one with ``--resume``."""

from __future__ import annotations

from ganlab.commands import EXIT_INTERRUPTED, add_plugin_arguments, add_train_flags, train_flags_given

HELP = "train a GAN"
DESCRIPTION = "Train a GAN from composable plugins."


def add_arguments(p) -> None:
    add_plugin_arguments(p, "use plugin NAME; repeat to compose an architecture, a loss, regularizers...",
                         "set a plugin option (see `ganlab plugins`); repeated, the last value wins")
    p.add_argument("--config", metavar="FILE.toml", help="load settings from TOML (flags win)")
    p.add_argument("--out", metavar="DIR", help="run folder (default runs/<timestamp>-<plugins>)")
    p.add_argument("--resume", metavar="RUN_DIR", help="continue a run exactly from its checkpoint")
    p.add_argument("--quiet", "-q", action="store_true", help="plain log lines instead of a progress bar")
    add_train_flags(p.add_argument_group("trainer settings"))


def request_from_args(args):
    """The run as asked for: flags over ``--config``; trainer values checked before any plugin loads."""
    from ganlab.config import RunRequest, check_train_keys, load_config_file
    from ganlab.options import parse_overrides

    train = train_flags_given(args)
    check_train_keys(train, "the command line")
    cli = RunRequest(list(args.plugin), train, parse_overrides(args.overrides),
                     {key: "the command line" for key in train})
    if args.config:
        return load_config_file(args.config).merged_with(cli)
    return cli


def main(args) -> int:
    from ganlab import __version__, manager
    from ganlab.api import train_request
    from ganlab.config import resolve_train

    request = request_from_args(args)  # flag mistakes fail before plugins (and torch) are loaded
    manager.check_names_early([*request.plugins, *request.options])
    resolve_train(request, [])  # the user's own trainer values, checked alone

    def header(trainer) -> None:
        if not trainer.world.is_main:  # under torchrun, rank 0 speaks for the run
            return
        setup = trainer.setup
        print(f"ganlab {__version__}: plugins {', '.join(setup.plugins)} on {setup.device}")
        print(f"data: {setup.loaded.source}")
        if trainer.step:
            print(f"resuming at step {trainer.step} of {setup.train.steps}")
        if trainer.world.active:
            print(f"data-parallel over {trainer.world.size} ranks: {setup.train.batch_size} samples per rank and step")
        print(f"run folder: {trainer.folder}")

    trainer, status = train_request(manager.make_plugin_manager(), request, args.out, args.resume, args.quiet,
                                    before_fit=header)
    folder = trainer.folder
    if not trainer.world.is_main:
        return EXIT_INTERRUPTED if status == "interrupted" else 0
    if status == "finished" and trainer.step == trainer.start_step:
        print(f"nothing to do: {folder} is already at step {trainer.step}; raise --steps to train on")
        return 0
    if status == "interrupted":
        print(f"interrupted at step {trainer.step}; continue with: ganlab run --resume {folder}")
        return EXIT_INTERRUPTED
    print(f"done: {trainer.step} steps; samples in {folder.samples}, metrics in {folder.metrics}, "
          f"loss plot {folder.loss_plot}")
    return 0
