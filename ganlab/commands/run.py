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
    p.add_argument("--seeds", type=int, default=1, metavar="K",
                   help="train seeds --seed .. --seed+K-1, each in OUT/seedN, as one batched model (default 1)")
    p.add_argument("--vectorize", choices=("auto", "on", "off"), default="auto",
                   help="with --seeds: auto batches when the plugins allow it, else runs the seeds one by one and "
                        "says why; on refuses to run them one by one; off never batches (default auto)")
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
    settings = resolve_train(request, [])  # the user's own trainer values, checked alone
    if args.seeds != 1 or (args.resume and _seed_folders(args.resume)):
        return _main_seeds(args, request, settings.seed)

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


def _seed_folders(folder) -> list:
    from ganlab.seeds import group_folders

    return group_folders(folder)


def _main_seeds(args, request, base: int) -> int:
    """``--seeds K``: K ordinary run folders OUT/seedN, trained together (or one by one, saying why)."""
    import dataclasses
    from pathlib import Path

    from ganlab import manager
    from ganlab.config import RunRequest
    from ganlab.errors import ConfigError
    from ganlab.run import RESUMABLE_FLAGS
    from ganlab.runfolder import default_folder
    from ganlab.seeds import train_seeds

    if args.seeds < 1:
        raise ConfigError(f"--seeds must be at least 1, got {args.seeds}")
    if args.resume:
        folders = _seed_folders(args.resume)
        if not folders:
            raise ConfigError(f"{args.resume} holds no seedN run folders of a --seeds run; resume a single run "
                              f"with `ganlab run --resume {args.resume}` (without --seeds)")
        if args.out is not None or request.plugins or request.options or set(request.train) - RESUMABLE_FLAGS:
            raise ConfigError(f"--resume {args.resume} continues its seeds as recorded; only --steps, the "
                              f"intervals, --device and --threads can change")
        runs = [{"request": RunRequest(train=dict(request.train)), "resume": f} for f in folders]
        root = Path(args.resume)
    else:
        root = Path(args.out) if args.out else default_folder(request.plugins).path
        runs = [{"request": dataclasses.replace(request, train={**request.train, "seed": base + k}),
                 "out": root / f"seed{base + k}"} for k in range(args.seeds)]

    def header(trainers, reason) -> None:
        first = trainers[0]
        print(f"ganlab: plugins {', '.join(first.setup.plugins)} on {first.setup.device}, {len(trainers)} seeds "
              f"in {root}")
        print(f"data: {first.setup.loaded.source}")
        if trainers[0].step:
            print(f"resuming at step {trainers[0].step} of {first.setup.train.steps}")
        print("training the seeds as one batched model" if reason is None else
              f"training the seeds one by one: {reason}")

    results, _ = train_seeds(manager.make_plugin_manager(), runs, args.vectorize, args.quiet, before_fit=header)
    for folder, status in results.items():
        print(f"{folder}: {status}")
    if any(s == "interrupted" for s in results.values()):
        print(f"interrupted; continue with: ganlab run --resume {root}")
        return EXIT_INTERRUPTED
    failed = [f for f, s in results.items() if s not in ("finished", "interrupted")]
    return 2 if failed else 0
