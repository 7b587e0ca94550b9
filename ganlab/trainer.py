"""The training loop: D and G take turns, ``n_critic`` D updates per G update.

Every random draw comes from a stream whose state is checkpointed (the global
torch RNG for dropout and penalties, ``noise`` for z and fake labels, the
batcher's shuffling), so a resumed run continues bit for bit. Statistics stay
on the device between logging steps: a step that does not log never waits
for the device.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import torch

from ganlab.artifacts import plot_losses
from ganlab.checkpoint import append_line, drop_rows_after, keep_checkpoint, load_checkpoint, save_checkpoint
from ganlab.cpu_load import warn_about_cpu
from ganlab.datasets import Batcher
from ganlab.distributed import World, any_rank, mean_over_ranks, wrap
from ganlab.errors import GanlabError, PluginError, TrainingDiverged
from ganlab.eval_log import EvalLog, summary
from ganlab.manager import guarded
from ganlab.precision import Precision
from ganlab.progress import Progress
from ganlab.regularizers import PenaltyBatch, Regularizer
from ganlab.runfolder import RunFolder
from ganlab.runsetup import RunSetup, build_optimizers
from ganlab.samples import SamplePictures, generate
from ganlab.stepstats import StepStats, Update, all_finite, grad_norm, no_grad_for, scores_of, strict_json
from ganlab.stop_signals import StopSignals
from ganlab import trainer_state


class Trainer:
    def __init__(self, setup: RunSetup, run_dir: Path, quiet: bool = False, log=print, world: World = World()):
        self.setup, self.quiet, self.log, self.world = setup, quiet, log, world
        self.folder = RunFolder(run_dir)
        self.run_dir = self.folder.path
        self.train = t = setup.train
        self.G, self.D = setup.generator, setup.discriminator
        # A plugin's average of G's weights (an EMA): what samples and metrics are drawn from.
        self.G_avg = setup.generator_average
        self.sampler = self.G_avg.module if self.G_avg is not None else self.G
        self.device, self.options, self.cond = setup.device, setup.options, setup.conditioner
        self.selection, self.hook = setup.selection, setup.selection.hook
        self.opt_g, self.opt_d = build_optimizers(setup)
        self.precision = Precision(t.precision, self.device)
        if world.is_main:
            warn_about_cpu(t, self.device)
        if self.device.type == "cuda":  # tensor cores want NHWC; a no-op for MLPs
            for module in (self.G, self.D):
                if any(isinstance(m, torch.nn.Conv2d | torch.nn.ConvTranspose2d) for m in module.modules()):
                    module.to(memory_format=torch.channels_last)
        if t.compile:
            compile_models(self.G, self.D, self.device, self.log)
        self.d_regs, self.g_regs = setup.regularizers_for("D"), setup.regularizers_for("G")
        self.g_needs_real = setup.selection.wants_argument("ganlab_g_loss", "real_scores")
        self._d_trainable = [p for p in self.D.parameters() if p.requires_grad]
        self.batcher = Batcher(setup.loaded, t.batch_size, self.device, seed=t.seed, labels=self.cond is not None,
                               shard=(world.rank, world.size))
        # The networks as trained: in DDP under torchrun (gradients averaged over ranks), else as built.
        self.G_train, self.D_train = wrap(self.G, world, self.device), wrap(self.D, world, self.device)
        if world.rank:  # the same initial weights (seeded alike), but each rank its own dropout and penalty draws
            torch.manual_seed(t.seed + 7919 * world.rank)
        self.noise = torch.Generator(device=self.device).manual_seed(t.seed + 1)
        # Collaborators, one job each: pictures, eval.jsonl, Ctrl-C.
        self.pictures = SamplePictures(setup, self.folder, self.sampler)
        self.eval_log = EvalLog(setup, self.folder, self.sampler, self.G_avg is not None, quiet, log,
                                observe=lambda row: self._observe("ganlab_on_eval", step=row["step"], row=row,
                                                                  run_dir=self.run_dir))
        self.signals = StopSignals(log)
        self.step = self.start_step = 0
        self.wall_offset = 0.0
        self.lock = None  # the run folder's lock, released when training stops
        # The first step whose loss was non-finite (-1: none yet), kept on the device: no sync per step.
        self._first_bad = torch.full((), -1, dtype=torch.long, device=self.device)

    # -- inputs ---------------------------------------------------------------

    def latent(self, n: int):
        """This rank's slice of ``n`` x ranks draws: every rank draws the global batch alike."""
        total, mine = n * self.world.size, slice(self.world.rank * n, (self.world.rank + 1) * n)
        z = torch.randn(total, self.train.latent_dim, generator=self.noise, device=self.device)[mine]
        labels = self.cond.sample_labels(total, self.noise, self.device)[mine] if self.cond is not None else None
        return z, labels

    @property
    def stop_requested(self) -> bool:
        return self.signals.requested

    # -- one step -------------------------------------------------------------

    def train_step(self, log: bool = False) -> StepStats:
        """``n_critic`` updates of D, then one of G; D's numbers are averaged over its updates."""
        d_updates = [self.d_update(measure=log) for _ in range(self.train.n_critic)]
        real, real_labels = d_updates[-1].real, d_updates[-1].real_labels
        g = self.g_update(real, real_labels, measure=log)
        return StepStats.of(d_updates, g)

    def d_update(self, measure: bool = False) -> Update:
        """One step of D on a fresh real batch and fresh fakes."""
        real, real_labels = self.batcher.next()
        z, fake_labels = self.latent(self.train.batch_size)
        with torch.no_grad(), self.precision.autocast():
            fake = generate(self.G_train, z, fake_labels)
        with self.precision.autocast():
            real_scores = scores_of(self.D_train, real, real_labels)
            fake_scores = scores_of(self.D_train, fake, fake_labels)
        loss = self.loss("ganlab_d_loss", real_scores=real_scores, fake_scores=fake_scores)
        penalties = self.penalties(self.d_regs, real=real, fake=fake, real_labels=real_labels,
                                   fake_labels=fake_labels, real_scores=real_scores, fake_scores=fake_scores)
        grad_norm = self.optimize("D", loss, penalties, measure)
        return Update(loss.detach(), {k: v.detach() for k, v in penalties.items()}, grad_norm,
                      real_scores.detach().mean(), fake_scores.detach().mean(), real, real_labels)

    def g_update(self, real, real_labels, measure: bool = False) -> Update:
        """One step of G; ``real`` is D's last real batch (for relativistic losses and G-side penalties)."""
        z, fake_labels = self.latent(self.train.batch_size)
        # G's update needs no gradient for D's parameters; only those D trains (a plugin may freeze some)
        with no_grad_for(self._d_trainable):
            with self.precision.autocast():
                fake = generate(self.G_train, z, fake_labels)
                fake_scores = scores_of(self.D, fake, fake_labels)
                real_scores = scores_of(self.D, real, real_labels) if self.g_needs_real else None
            loss = self.loss("ganlab_g_loss", fake_scores=fake_scores, real_scores=real_scores)
            penalties = self.penalties(self.g_regs, real=real, fake=fake, real_labels=real_labels,
                                       fake_labels=fake_labels, real_scores=real_scores, fake_scores=fake_scores)
            grad_norm = self.optimize("G", loss, penalties, measure)
        if self.G_avg is not None:
            self.G_avg.update_parameters(self.G)
        return Update(loss.detach(), {k: v.detach() for k, v in penalties.items()}, grad_norm,
                      None, fake_scores.detach().mean(), real, real_labels)

    def loss(self, hook_name: str, **scores) -> torch.Tensor:
        """Call the run's loss hook; a plugin's failure names the plugin and the hook."""
        who = ", ".join(self.selection.implementers(hook_name))
        loss = guarded(who, f"{hook_name} at step {self.step + 1}", getattr(self.hook, hook_name),
                       options=self.options, **scores)
        if not (isinstance(loss, torch.Tensor) and loss.dim() == 0):
            shown = f"a tensor of shape {tuple(loss.shape)}" if isinstance(loss, torch.Tensor) else \
                f"a {type(loss).__name__}"
            raise PluginError(f"{hook_name} ({who}) returned {shown}; a loss must be a scalar tensor")
        if not loss.requires_grad:
            player = "D" if hook_name == "ganlab_d_loss" else "G"
            raise PluginError(f"{hook_name} ({who}) returned a loss with no gradient path to {player} "
                              f"(detached from the scores?), so {player} would never learn")
        return loss

    def penalties(self, regs: list[Regularizer], discriminator=None, generator=None,
                  **fields) -> dict[str, torch.Tensor]:
        """Each regularizer's penalty; ``discriminator``/``generator``: the modules it calls (default D and G)."""
        if not regs:
            return {}
        fields["fake"] = fields["fake"].float()  # penalties run in float32: a gradient norm is delicate
        batch = PenaltyBatch(**fields, discriminator=self.D if discriminator is None else discriminator,
                             generator=self.G if generator is None else generator, step=self.step)
        out = {}
        for reg in regs:
            with self.precision.full():
                value = guarded(self.setup.owners.get(reg.name, "?"),
                                f"the penalty of regularizer {reg.name!r} at step {self.step + 1}", reg.penalty, batch)
            if value is not None:
                out[reg.name] = value
        return out

    def no_gradient(self, player: str) -> PluginError:
        """The error for a loss that left the player's parameters without a gradient."""
        hook = f"ganlab_{player.lower()}_loss"
        return PluginError(f"{hook} ({', '.join(self.selection.implementers(hook))}) gave {player} no "
                           f"gradient: its loss does not depend on {player}'s parameters, so {player} "
                           f"would never learn")

    def optimize(self, player: str, loss, penalties, measure: bool) -> torch.Tensor | None:
        """Backward, one optimizer step and the player's constraints; the grad norm if measured."""
        module, opt, regs = (self.D, self.opt_d, self.d_regs) if player == "D" else (self.G, self.opt_g, self.g_regs)
        total = loss + sum(penalties.values()) if penalties else loss
        bad = ~torch.isfinite(total.detach()) & (self._first_bad < 0)
        self._first_bad = torch.where(bad, self.step + 1, self._first_bad)
        opt.zero_grad(set_to_none=True)
        self.precision.backward(player, total)
        if self.step == self.start_step and not any(p.grad is not None for p in module.parameters()):
            raise self.no_gradient(player)
        if measure:
            self.precision.unscale(player, opt)
        norm = grad_norm(module) if measure else None
        self.precision.step(player, opt)
        for reg in regs:
            reg.after_step(module)
        return norm

    # -- state ----------------------------------------------------------------

    def state_dict(self) -> dict[str, Any]:
        """Everything a checkpoint holds (:data:`ganlab.runfolder.CHECKPOINT_CONTENTS`)."""
        return trainer_state.capture(self)

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore a checkpoint: refused whole, naming every problem, before anything changes."""
        trainer_state.restore(self, state)

    def resume(self) -> None:
        self.restore()
        self.trim_logs()
        self.keep_if_lost()

    def keep_if_lost(self) -> None:
        """Keep the restored step if it is a --keep-every step that a killed process never kept."""
        if self.world.is_main and self._keep_now() and not self.folder.kept(self.step).exists():
            keep_checkpoint(self.folder, self.step)

    def restore(self) -> None:
        """Load the run's checkpoint; no file of the run changes."""
        # RNG states must stay on the CPU; modules and optimizers move tensors themselves.
        self.load_state_dict(load_checkpoint(self.folder.checkpoint, "cpu"))

    def trim_logs(self) -> None:
        """Drop log rows written after the checkpoint (they will be written again); rank 0's files only."""
        for path in (self.folder.metrics, self.folder.eval) if self.world.is_main else ():
            drop_rows_after(path, self.step)

    def wall_time(self) -> float:
        return self.wall_offset + (time.perf_counter() - self._t0 if hasattr(self, "_t0") else 0.0)

    def check_finite(self, record: dict[str, Any] | None = None) -> None:
        """Stop before a non-finite loss, weight, gradient or optimizer state reaches a checkpoint.

        Losses are watched on the device at every step (no sync); this reads
        the verdict, so it runs on logging steps and before each checkpoint.
        """
        first_bad = int(self._first_bad)
        bad = []
        for name, module, opt in (("G", self.G, self.opt_g), ("D", self.D, self.opt_d)):
            # With loss scaling an overflowing gradient is expected: the scaler skips that step.
            grads = [] if self.precision.scales_gradients else [p.grad for p in module.parameters()
                                                                   if p.grad is not None]
            tensors = {f"{name}'s weights": list(module.parameters()), f"{name}'s gradients": grads,
                       f"{name}'s optimizer state": [v for s in opt.state.values() for v in s.values()
                                                     if isinstance(v, torch.Tensor) and v.is_floating_point()]}
            bad += [what for what, ts in tensors.items() if ts and not all_finite(ts)]
        if not bad and first_bad < 0:
            return
        shown = ""
        if record is not None:
            losses = {k: v for k, v in record.items() if k.endswith("loss") or k.startswith("penalty/")}
            shown = " (" + ", ".join(f"{k}={'nan' if v is None else f'{v:.4g}'}" for k, v in losses.items()) + ")"
        ckpt = self.folder.checkpoint
        kept = f"the last good checkpoint {ckpt} is intact" if ckpt.exists() else "no checkpoint was written yet"
        what = f"a loss became non-finite at step {first_bad}" if first_bad >= 0 else \
            f"{bad.pop(0)} became non-finite by step {self.step}"
        also = f" ({', '.join(bad)} too)" if bad else ""
        raise TrainingDiverged(
            f"training stopped: {what}{shown}{also}; "
            f"{kept}. Try a lower --lr, a regularizer (e.g. a gradient penalty or spectral norm), or another --seed."
        )

    def _keep_now(self) -> bool:
        return bool(self.train.keep_every) and self.step % self.train.keep_every == 0

    def save_checkpoint(self) -> None:
        self.check_finite()
        if self.world.is_main:
            save_checkpoint(self.state_dict(), self.folder.checkpoint)
            if self._keep_now():
                keep_checkpoint(self.folder, self.step)

    # -- what the run leaves ---------------------------------------------------

    def save_samples(self) -> Path | None:
        """The fixed-noise picture; on 2-D data its metrics go to eval.jsonl and into the title."""
        if not self.world.is_main:
            return None
        fake = self.pictures.draw()
        row = self.eval_log.of_samples(self.step, fake, self.pictures.labels)
        values = {k: v for k, v in (row or {}).items() if k not in ("step", "source", "n", "weights")}
        picture = self.pictures.save(self.step, fake, summary(values))
        self._observe("ganlab_on_samples", step=self.step, samples=fake, picture=picture, run_dir=self.run_dir)
        return picture

    def evaluate_metrics(self) -> dict[str, Any] | None:
        """``--eval-every``: the row written; only rank 0 evaluates (the metrics draw no shared stream)."""
        return self.eval_log.every(self.step) if self.world.is_main else None

    # -- the loop -------------------------------------------------------------

    def logs_at(self, step: int) -> bool:
        return step % self.train.log_every == 0 or step == self.train.steps

    def advance(self) -> dict[str, Any] | None:
        """One step exactly as the loop runs it; returns the metrics row on logging steps."""
        log_now = self.logs_at(self.step + 1)
        stats = self.train_step(log=log_now)
        self.step += 1
        return self.record(stats) if log_now else None

    def record(self, stats: StepStats) -> dict[str, Any]:
        """The metrics row of the step just taken; stops the run first if anything became non-finite."""
        average = (lambda t: mean_over_ranks(self.world, t)) if self.world.active else None
        record = {"step": self.step, **stats.values(average), "time": round(self.wall_time(), 3)}
        self.check_finite(record)
        return record

    def due(self) -> dict[str, bool]:
        """Which of the run's intervals fall on this step, besides logging: what :meth:`after_step` writes."""
        t, step = self.train, self.step
        return {"samples": step % t.sample_every == 0,
                "eval": bool(t.eval_every) and step % t.eval_every == 0,
                "checkpoint": step % t.checkpoint_every == 0 or self._keep_now()}

    def after_step(self, record: dict[str, Any] | None, progress: Progress | None = None) -> None:
        """What the run writes after a step, each at its interval: metrics, samples, evaluations, checkpoints."""
        if record is not None and self.world.is_main:
            append_line(self.folder.metrics, strict_json(record))
            if progress is not None:
                progress.logged(self.step, record, self.log)
            self._observe("ganlab_on_log", step=self.step, record=record, run_dir=self.run_dir)
        due = self.due()
        if due["samples"]:
            self.save_samples()
        if due["eval"]:
            self.evaluate_metrics()
        if due["checkpoint"]:
            self.save_checkpoint()

    def wrap_up(self) -> None:
        """The last step's samples and checkpoint, where the intervals did not just write them."""
        if self.step % self.train.sample_every:
            self.save_samples()
        if self.step % self.train.checkpoint_every and not self._keep_now():
            self.save_checkpoint()

    def started(self) -> None:
        """Tell observers where training starts (the config as ``config.toml`` records it)."""
        if self.world.is_main:
            from ganlab.config import read_toml

            config = read_toml(self.folder.config, "run config") if self.folder.config.is_file() else {}
            self._observe("ganlab_on_run_start", run_dir=self.run_dir, step=self.step, config=config)

    def speak(self, quiet: bool, log) -> None:
        """Where this run's lines go: a ``--seeds`` run gives each seed a log that names it."""
        self.quiet = self.eval_log.quiet = quiet
        self.log = self.eval_log.log = self.signals.log = log

    def fit(self) -> str:
        """Train to ``--steps``; ``finished``, ``interrupted`` (a checkpoint was saved) or ``failed``."""
        t = self.train
        self._t0 = time.perf_counter()
        progress = Progress(t, self.step, self.quiet, self.world.is_main, self.log)  # rank 0 speaks
        status = "failed"
        try:
            self.started()
            with self.signals:
                while self.step < t.steps and not self._stopping():
                    record = self.advance()
                    progress.stepped(self.step)
                    self.after_step(record, progress)
                status = "interrupted" if self.stop_requested else "finished"
                self.wrap_up()
        finally:
            progress.close()
            try:
                self._finish(status)
            finally:
                self.close()
        return status

    def _stopping(self) -> bool:
        """A stop request; under torchrun the ranks agree on it at logging steps, so all stop together."""
        if not self.world.active:
            return self.signals.requested
        if self.step % self.train.log_every:
            return False
        self.signals.requested = any_rank(self.world, self.signals.requested, self.device)
        return self.signals.requested

    def close(self) -> None:
        """Release the run folder for other processes (fit does this when training stops)."""
        if self.lock is not None:
            self.lock.release()
            self.lock = None

    def _finish(self, status: str) -> None:
        """The plots and the end-of-run hook; when the run already failed, the first error wins."""
        if not self.world.is_main:
            return
        try:
            plot_losses(self.folder.metrics, self.folder.loss_plot)
            if self.train.eval_every:
                self.eval_log.plot()
            self._observe("ganlab_on_run_end", run_dir=self.run_dir, step=self.step, status=status)
        except GanlabError as exc:
            if status != "failed":
                raise
            self.log(f"ganlab: warning: {exc}")

    def _observe(self, hook_name: str, **kwargs) -> None:
        """Call every observer of a hook; one that raises names its plugin and stops the run."""
        self.selection.call_each(hook_name, what=f"{hook_name} at step {self.step}", **kwargs)


def compile_models(G: torch.nn.Module, D: torch.nn.Module, device: torch.device, log) -> None:
    """``torch.compile`` both networks in place (state-dict keys stay as they are)."""
    mode = "reduce-overhead" if device.type == "cuda" else None  # CUDA graphs for launch-bound nets
    for module in (G, D):
        module.compile(mode=mode, dynamic=False)
    log(f"compiling G and D{' (' + mode + ')' if mode else ''}: the first steps are slow")

