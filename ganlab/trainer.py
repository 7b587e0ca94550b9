"""The training loop: D and G take turns, ``n_critic`` D updates per G update.

Every random draw comes from a stream whose state is checkpointed (the global
torch RNG for dropout and penalties, ``noise`` for z and fake labels, the
batcher's shuffling), so a resumed run continues bit for bit. Statistics stay
on the device between logging steps: a step that does not log never waits
for the device.
"""

from __future__ import annotations

import contextlib
import json
import signal
import time
import warnings
from pathlib import Path
from typing import Any, Iterator

import torch

from ganlab.artifacts import plot_losses, save_image_grid, save_scatter
from ganlab.checkpoint import (CHECKPOINT_NAME, append_line, keep_checkpoint, kept_path, load_checkpoint,
                               save_checkpoint, write_text_atomic)
from ganlab.cpu_load import warn_about_cpu
from ganlab.datasets import Batcher
from ganlab.distributed import World, any_rank, mean_over_ranks, wrap
from ganlab.errors import CheckpointError, GanlabError, PluginError, TrainingDiverged
from ganlab.estimate import Estimate
from ganlab.manager import guarded
from ganlab.precision import Precision
from ganlab.regularizers import PenaltyBatch, Regularizer
from ganlab.runsetup import RunSetup, build_optimizers
from ganlab.stepstats import StepStats, Update, all_finite, grad_norm, scores_of, strict_json

SAMPLES_UNCONDITIONAL = 64
SAMPLES_PER_CLASS = 10
SCATTER_POINTS = 2500
METRICS_NAME = "metrics.jsonl"
EVAL_NAME = "eval.jsonl"


class Trainer:
    def __init__(self, setup: RunSetup, run_dir: Path, quiet: bool = False, log=print, world: World = World()):
        self.setup, self.run_dir, self.quiet, self.log, self.world = setup, Path(run_dir), quiet, log, world
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
        self.fixed_z, self.fixed_labels = self._fixed_inputs(t.seed + 2)
        self.metrics_path, self.eval_path = self.run_dir / METRICS_NAME, self.run_dir / EVAL_NAME
        self.step = self.start_step = 0
        self.wall_offset = 0.0
        self.stop_requested = False
        self.lock = None  # the run folder's lock, released when training stops
        # The first step whose loss was non-finite (-1: none yet), kept on the device: no sync per step.
        self._first_bad = torch.full((), -1, dtype=torch.long, device=self.device)

    # -- inputs ---------------------------------------------------------------

    def _fixed_inputs(self, seed: int):
        gen = torch.Generator().manual_seed(seed)
        if self.setup.data.kind == "points":
            n = SCATTER_POINTS
            labels = torch.arange(n) % self.cond.num_classes if self.cond is not None else None
        elif self.cond is not None:
            labels = self.cond.grid_labels(SAMPLES_PER_CLASS)
            n = len(labels)
        else:
            n, labels = SAMPLES_UNCONDITIONAL, None
        z = torch.randn(n, self.train.latent_dim, generator=gen)
        return z.to(self.device), (labels.to(self.device) if labels is not None else None)

    def latent(self, n: int):
        """This rank's slice of ``n`` x ranks draws: every rank draws the global batch alike."""
        total, mine = n * self.world.size, slice(self.world.rank * n, (self.world.rank + 1) * n)
        z = torch.randn(total, self.train.latent_dim, generator=self.noise, device=self.device)[mine]
        labels = self.cond.sample_labels(total, self.noise, self.device)[mine] if self.cond is not None else None
        return z, labels

    def generate(self, z, labels, G=None):
        G = G or self.G
        return G(z) if labels is None else G(z, labels)

    # -- one step -------------------------------------------------------------

    def train_step(self, log: bool = False) -> StepStats:
        """``n_critic`` updates of D, then one of G; D's numbers are averaged over its updates."""
        d_updates = [self.d_update(measure=log) for _ in range(self.train.n_critic)]
        real, real_labels = d_updates[-1].real, d_updates[-1].real_labels
        g = self.g_update(real, real_labels, measure=log)
        n = len(d_updates)
        d_penalties = {k: sum(u.penalties[k] for u in d_updates) / n for k in d_updates[0].penalties}
        return StepStats(
            d_loss=sum(u.loss for u in d_updates) / n,
            g_loss=g.loss,
            penalties=d_penalties | g.penalties,
            real_score=sum(u.real_score for u in d_updates) / n,
            fake_score=sum(u.fake_score for u in d_updates) / n,
            grad_norm_d=d_updates[-1].grad_norm,
            grad_norm_g=g.grad_norm,
        )

    def d_update(self, measure: bool = False) -> Update:
        """One step of D on a fresh real batch and fresh fakes."""
        real, real_labels = self.batcher.next()
        z, fake_labels = self.latent(self.train.batch_size)
        with torch.no_grad(), self.precision.autocast():
            fake = self.generate(z, fake_labels, self.G_train)
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
        with self._d_frozen():  # G's update needs no gradient for D's parameters
            with self.precision.autocast():
                fake = self.generate(z, fake_labels, self.G_train)
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

    def penalties(self, regs: list[Regularizer], **fields) -> dict[str, torch.Tensor]:
        if not regs:
            return {}
        fields["fake"] = fields["fake"].float()  # penalties run in float32: a gradient norm is delicate
        batch = PenaltyBatch(**fields, discriminator=self.D, generator=self.G, step=self.step)
        out = {}
        for reg in regs:
            with self.precision.full():
                value = guarded(self.setup.owners.get(reg.name, "?"),
                                f"the penalty of regularizer {reg.name!r} at step {self.step + 1}", reg.penalty, batch)
            if value is not None:
                out[reg.name] = value
        return out

    def optimize(self, player: str, loss, penalties, measure: bool) -> torch.Tensor | None:
        """Backward, one optimizer step and the player's constraints; the grad norm if measured."""
        module, opt, regs = (self.D, self.opt_d, self.d_regs) if player == "D" else (self.G, self.opt_g, self.g_regs)
        total = loss + sum(penalties.values()) if penalties else loss
        bad = ~torch.isfinite(total.detach()) & (self._first_bad < 0)
        self._first_bad = torch.where(bad, self.step + 1, self._first_bad)
        opt.zero_grad(set_to_none=True)
        self.precision.backward(player, total)
        if self.step == self.start_step and not any(p.grad is not None for p in module.parameters()):
            hook = f"ganlab_{player.lower()}_loss"
            raise PluginError(f"{hook} ({', '.join(self.selection.implementers(hook))}) gave {player} no "
                              f"gradient: its loss does not depend on {player}'s parameters, so {player} "
                              f"would never learn")
        if measure:
            self.precision.unscale(player, opt)
        norm = grad_norm(module) if measure else None
        self.precision.step(player, opt)
        for reg in regs:
            reg.after_step(module)
        return norm

    @contextlib.contextmanager
    def _d_frozen(self) -> Iterator[None]:
        for p in self._d_trainable:  # only those D trains: a plugin may have frozen some on purpose
            p.requires_grad_(False)
        try:
            yield
        finally:
            for p in self._d_trainable:
                p.requires_grad_(True)

    # -- state ----------------------------------------------------------------

    def _data_identity(self) -> dict[str, Any]:
        return {"identity": dict(self.setup.loaded.identity), "n": len(self.setup.loaded)}

    def state_dict(self) -> dict[str, Any]:
        return {
            "step": self.step,
            "plugins": list(self.setup.plugins),
            "data": self._data_identity(),
            "device": self.device.type,
            "generator": self.G.state_dict(),
            "discriminator": self.D.state_dict(),
            "opt_g": self.opt_g.state_dict(),
            "opt_d": self.opt_d.state_dict(),
            "rng_torch": torch.get_rng_state(),
            "rng_cuda": torch.cuda.get_rng_state(self.device) if self.device.type == "cuda" else None,
            "rng_noise": self.noise.get_state(),
            "batcher": self.batcher.state_dict(),
            "wall_time": self.wall_time(),
            "scalers": self.precision.state_dict(),
            "regularizers": {r.name: r.state_dict() for r in self.setup.regularizers if r.state_dict()},
            "generator_average": self.G_avg.state_dict() if self.G_avg is not None else None,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore a checkpoint whose schema :func:`ganlab.checkpoint.load_checkpoint` checked."""
        from ganlab.defaults import ALWAYS_ACTIVE  # added over time; a run that predates one still resumes

        if [p for p in state["plugins"] if p not in ALWAYS_ACTIVE] != \
                [p for p in self.setup.plugins if p not in ALWAYS_ACTIVE]:
            raise CheckpointError(f"the checkpoint was written by plugins {state['plugins']}, "
                                  f"but this run uses {self.setup.plugins}")
        if state["data"] != self._data_identity():
            raise CheckpointError(f"the checkpoint was trained on {state['data']}, but this run loads "
                                  f"{self._data_identity()}; point --data-root (or the data path) at the run's data")
        problems = self._content_problems(state)
        if problems:
            raise CheckpointError(f"checkpoint {self.run_dir / CHECKPOINT_NAME} is damaged: {'; '.join(problems[:4])}"
                                  + (f" (and {len(problems) - 4} more)" if len(problems) > 4 else "")
                                  + "; restore it from a backup or start a new run")
        try:
            self.G.load_state_dict(state["generator"])
            self.D.load_state_dict(state["discriminator"])
            self.opt_g.load_state_dict(state["opt_g"])
            self.opt_d.load_state_dict(state["opt_d"])
            if self.G_avg is not None:  # present: _content_problems checked it
                self.G_avg.load_state_dict(state["generator_average"])
            torch.set_rng_state(state["rng_torch"])
            same_device = state["device"] == self.device.type
            if same_device:
                if state["rng_cuda"] is not None:
                    torch.cuda.set_rng_state(state["rng_cuda"], self.device)
                self.noise.set_state(state["rng_noise"])
                self.batcher.load_state_dict(state["batcher"])
        except (RuntimeError, KeyError, ValueError, TypeError, IndexError) as exc:
            raise CheckpointError(f"the checkpoint does not fit this run: {str(exc).splitlines()[0]}") from None
        self.precision.load_state_dict(state.get("scalers") or {})
        saved = state.get("regularizers") or {}
        for reg in self.setup.regularizers:
            if reg.name in saved:
                reg.load_state_dict(saved[reg.name])
        self.step = self.start_step = state["step"]
        if self.world.rank:  # rank 0's dropout stream came with the checkpoint: other ranks draw their own
            torch.manual_seed(self.train.seed + 7919 * self.world.rank + self.step)
        self.wall_offset = float(state["wall_time"])
        if not same_device:
            # Generator states of one device type cannot seed another: continue, but not bit for bit.
            warnings.warn(f"the checkpoint was written on {state['device']} and this run is on "
                          f"{self.device.type}: training continues, but its random streams differ from an "
                          f"uninterrupted run", UserWarning, stacklevel=2)
            self.noise.manual_seed(self.train.seed + 1 + self.step)
            self.batcher.reseed(self.train.seed + self.step)

    def _content_problems(self, state: dict[str, Any]) -> list[str]:
        """Everything inside the checkpoint against this run, before any of it is restored."""
        from ganlab import checkpoint_contents as cc

        problems = [*cc.module_problems(state["generator"], self.G, "generator"),
                    *cc.module_problems(state["discriminator"], self.D, "discriminator")]
        if self.G_avg is not None:
            saved = state.get("generator_average")
            problems += (["the checkpoint has no average of G's weights, but this run keeps one"] if saved is None
                         else cc.module_problems(saved, self.G_avg, "generator_average"))
        problems += cc.batcher_problems(state["batcher"], len(self.batcher.data))
        problems += cc.scaler_problems(state.get("scalers") or {}, list(self.precision.scalers))
        saved = state.get("regularizers")
        problems += cc.regularizer_problems({} if saved is None else saved, self.setup.regularizers,
                                            self.setup.owners)
        return problems

    def resume(self) -> None:
        self.restore()
        self.trim_logs()
        self.keep_if_lost()

    def keep_if_lost(self) -> None:
        """Keep the restored step if it is a --keep-every step that a killed process never kept."""
        if self.world.is_main and self._keep_now() and not kept_path(self.run_dir, self.step).exists():
            keep_checkpoint(self.run_dir, self.step)

    def restore(self) -> None:
        """Load the run's checkpoint; no file of the run changes."""
        # RNG states must stay on the CPU; modules and optimizers move tensors themselves.
        self.load_state_dict(load_checkpoint(self.run_dir / CHECKPOINT_NAME, "cpu"))

    def trim_logs(self) -> None:
        """Drop log rows written after the checkpoint (they will be written again); rank 0's files only."""
        for path in (self.metrics_path, self.eval_path) if self.world.is_main else ():
            if path.is_file():  # drop rows logged after the checkpoint, and a line torn by a crash
                kept = [line for line in path.read_text().splitlines() if _row_step(line) <= self.step]
                write_text_atomic(path, "".join(line + "\n" for line in kept))

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
        ckpt = self.run_dir / CHECKPOINT_NAME
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
            save_checkpoint(self.state_dict(), self.run_dir / CHECKPOINT_NAME)
            if self._keep_now():
                keep_checkpoint(self.run_dir, self.step)

    # -- artifacts ------------------------------------------------------------

    @torch.no_grad()
    def save_samples(self) -> Path | None:
        if not self.world.is_main:
            return None
        was_training = self.sampler.training
        self.sampler.eval()
        try:
            fake = self.generate(self.fixed_z, self.fixed_labels, self.sampler)
        finally:
            self.sampler.train(was_training)
        path = self.run_dir / "samples" / f"step_{self.step:06d}.png"
        evaluation = self.evaluate(fake)
        if self.setup.data.kind == "points":
            title = f"{self.setup.data.name}, step {self.step}"
            title += f"\n{evaluation.summary}" if evaluation is not None else ""
            save_scatter(self.setup.loaded.data[:SCATTER_POINTS], fake, path, title)
        else:
            save_image_grid(fake, path, nrow=SAMPLES_PER_CLASS if self.fixed_labels is not None else 8)
        return path

    def evaluate(self, fake: torch.Tensor):
        """The dataset's own score of the fixed-noise samples, when it offers one."""
        if self.setup.loaded.evaluate is None:
            return None
        try:
            evaluation = self.setup.loaded.evaluate(fake)
        except GanlabError as exc:  # a diagnostic must never stop training
            warnings.warn(f"evaluation not computed at step {self.step}: {exc}", UserWarning, stacklevel=2)
            return None
        append_line(self.eval_path, strict_json({"step": self.step, **self.weights_field(), **evaluation.values}))
        if self.quiet:
            self.log(f"step {self.step}: {evaluation.summary}")
        return evaluation

    def evaluate_metrics(self) -> dict[str, Any] | None:
        """``--eval-every``: every active metric (:mod:`ganlab.metrics`) into ``eval.jsonl``; RNG streams untouched."""
        from ganlab.metrics import evaluate_generator

        if not self.world.is_main:  # only rank 0 writes; the metrics draw no shared random stream
            return None

        try:
            values = evaluate_generator(self.selection, self.setup.loaded, self.options, self.sampler,
                                        self.train.latent_dim, self.cond is not None, self.train.eval_samples,
                                        self.train.seed, self.device)
        except GanlabError as exc:  # a diagnostic must never stop training
            warnings.warn(f"metrics not computed at step {self.step}: {exc}", UserWarning, stacklevel=2)
            return None
        if not values:
            return None
        row = {"step": self.step, "source": "train", "n": self.train.eval_samples, **self.weights_field(), **values}
        append_line(self.eval_path, strict_json(row))
        if self.quiet:
            self.log(f"step {self.step}: " + ", ".join(f"{k} {v:.4g}" for k, v in values.items()))
        return row

    def weights_field(self) -> dict[str, str]:
        """Marks evaluations of an average of G's weights; runs without one keep their rows as they were."""
        return {"weights": "average"} if self.G_avg is not None else {}

    # -- the loop -------------------------------------------------------------

    def advance(self) -> dict[str, Any] | None:
        """One step exactly as the loop runs it; returns the metrics row on logging steps."""
        t = self.train
        log_now = (self.step + 1) % t.log_every == 0 or self.step + 1 == t.steps
        stats = self.train_step(log=log_now)
        self.step += 1
        if not log_now:
            return None
        average = (lambda t: mean_over_ranks(self.world, t)) if self.world.active else None
        record = {"step": self.step, **stats.values(average), "time": round(self.wall_time(), 3)}
        self.check_finite(record)
        return record

    def fit(self) -> str:
        from tqdm import tqdm

        t = self.train
        self._t0 = time.perf_counter()
        main = self.world.is_main  # only rank 0 writes the run folder
        bar = tqdm(total=t.steps, initial=self.step, disable=self.quiet or not main, unit="step", dynamic_ncols=True)
        estimate = Estimate(self.step, t.steps)
        status = "failed"
        try:
            with self._stop_signals():
                while self.step < t.steps and not self._stopping():
                    record = self.advance()
                    bar.update(1)
                    said = estimate.update(self.step, time.perf_counter()) if main else None
                    if said:
                        (self.log if self.quiet else bar.write)(said)
                    if record is not None and main:
                        append_line(self.metrics_path, strict_json(record))
                        self._show(bar, record)
                        self._observe("ganlab_on_log", step=self.step, record=record, run_dir=self.run_dir)
                    if self.step % t.sample_every == 0:
                        self.save_samples()
                    if t.eval_every and self.step % t.eval_every == 0:
                        self.evaluate_metrics()
                    if self.step % t.checkpoint_every == 0 or self._keep_now():
                        self.save_checkpoint()
                status = "interrupted" if self.stop_requested else "finished"
                if self.step % t.sample_every:
                    self.save_samples()
                if self.step % t.checkpoint_every and not self._keep_now():
                    self.save_checkpoint()
        finally:
            bar.close()
            try:
                self._finish(status)
            finally:
                self.close()
        return status

    def _stopping(self) -> bool:
        """A stop request; under torchrun the ranks agree on it at logging steps, so all stop together."""
        if not self.world.active:
            return self.stop_requested
        if self.step % self.train.log_every:
            return False
        self.stop_requested = any_rank(self.world, self.stop_requested, self.device)
        return self.stop_requested

    def close(self) -> None:
        """Release the run folder for other processes (fit does this when training stops)."""
        if self.lock is not None:
            self.lock.release()
            self.lock = None

    def _finish(self, status: str) -> None:
        """The loss plot and the end-of-run hook; when the run already failed, the first error wins."""
        failing = status == "failed"
        if not self.world.is_main:
            return
        try:
            plot_losses(self.metrics_path, self.run_dir / "losses.png")
            if self.train.eval_every:
                from ganlab.metrics import plot_eval

                plot_eval(self.eval_path, self.run_dir / "eval.png")
            self._observe("ganlab_on_run_end", run_dir=self.run_dir, step=self.step, status=status)
        except GanlabError as exc:
            if not failing:
                raise
            self.log(f"ganlab: warning: {exc}")

    def _observe(self, hook_name: str, **kwargs) -> None:
        """Call every observer of a hook; one that raises names its plugin and stops the run."""
        for impl in getattr(self.hook, hook_name).get_hookimpls():
            guarded(impl.plugin_name, f"{hook_name} at step {self.step}", impl.function,
                    **{k: kwargs[k] for k in impl.argnames})

    @contextlib.contextmanager
    def _stop_signals(self) -> Iterator[None]:
        """The first Ctrl-C or SIGTERM finishes the step and checkpoints; a second Ctrl-C aborts."""

        def handler(signum, frame):
            if self.stop_requested and signum == signal.SIGINT:
                raise KeyboardInterrupt
            self.stop_requested = True
            name = "interrupt" if signum == signal.SIGINT else "SIGTERM"
            try:
                self.log(f"\n{name}: finishing this step and saving a checkpoint (Ctrl-C again to abort)")
            except RuntimeError:  # the signal came while the run was printing: a re-entrant print fails
                pass  # the notice is lost, the checkpoint is not

        previous = {}
        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                previous[sig] = signal.signal(sig, handler)
            except ValueError:  # not in the main thread
                pass
        try:
            yield
        finally:
            for sig, old in previous.items():
                signal.signal(sig, old)

    def _show(self, bar, record: dict[str, Any]) -> None:
        shown = {"d_loss": record["d_loss"], "g_loss": record["g_loss"],
                 "D(x)": record["real_score"], "D(G(z))": record["fake_score"]}
        if not self.quiet:
            bar.set_postfix({k: f"{v:.3f}" for k, v in shown.items()}, refresh=False)
            return
        every = max(self.train.log_every, self.train.steps // 20)
        if self.step % every == 0 or self.step == self.train.steps:
            rate = (self.step - self.start_step) / max(time.perf_counter() - self._t0, 1e-9)
            parts = " ".join(f"{k}={v:.4f}" for k, v in shown.items())
            self.log(f"step {self.step}/{self.train.steps} {parts} ({rate:.1f} steps/s)")


def compile_models(G: torch.nn.Module, D: torch.nn.Module, device: torch.device, log) -> None:
    """``torch.compile`` both networks in place (state-dict keys stay as they are)."""
    mode = "reduce-overhead" if device.type == "cuda" else None  # CUDA graphs for launch-bound nets
    for module in (G, D):
        module.compile(mode=mode, dynamic=False)
    log(f"compiling G and D{' (' + mode + ')' if mode else ''}: the first steps are slow")


def _row_step(line: str) -> float:
    try:
        return json.loads(line)["step"]
    except (ValueError, KeyError, TypeError):
        return float("inf")  # unreadable: dropped
