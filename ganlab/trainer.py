"""The training loop: D and G take turns, ``n_critic`` D updates per G update.

Every random draw comes from a stream whose state is checkpointed (the global
torch RNG for dropout and penalties, ``noise`` for z and fake labels, the
batcher's shuffling), so a resumed run continues bit for bit.
"""

from __future__ import annotations

import json
import signal
import time
import warnings
from pathlib import Path
from typing import Any

import torch

from ganlab import __version__
from ganlab.artifacts import plot_losses, save_image_grid, save_scatter
from ganlab.checkpoint import CHECKPOINT_NAME, load_checkpoint, save_checkpoint, write_text_atomic
from ganlab.datasets import Batcher
from ganlab.errors import CheckpointError, GanlabError, PluginError, TrainingDiverged
from ganlab.regularizers import PenaltyBatch
from ganlab.runsetup import RunSetup, build_optimizers

SAMPLES_UNCONDITIONAL = 64
SAMPLES_PER_CLASS = 10
SCATTER_POINTS = 2500


def _grad_norm(module: torch.nn.Module) -> float:
    norms = [p.grad.detach().norm() for p in module.parameters() if p.grad is not None]
    return float(torch.linalg.vector_norm(torch.stack(norms))) if norms else 0.0


def _row_step(line: str) -> float:
    try:
        return json.loads(line)["step"]
    except (ValueError, KeyError, TypeError):
        return float("inf")  # unreadable: dropped


def _describe(value: Any) -> str:
    if isinstance(value, torch.Tensor):
        return f"a tensor of shape {tuple(value.shape)}"
    return f"a {type(value).__name__}"


def _scores(module, x, labels) -> torch.Tensor:
    out = module(x) if labels is None else module(x, labels)
    if not isinstance(out, torch.Tensor):
        raise PluginError(f"the discriminator returned {_describe(out)}; expected raw scores, a tensor")
    if out.dim() not in (1, 2) or (out.dim() == 2 and out.shape[1] != 1) or out.shape[0] != x.shape[0]:
        raise PluginError(
            f"the discriminator returned scores of shape {tuple(out.shape)}; "
            f"expected ({x.shape[0]},) or ({x.shape[0]}, 1)"
        )
    return out.reshape(-1)


class Trainer:
    def __init__(self, setup: RunSetup, run_dir: Path, quiet: bool = False, log=print):
        self.setup = setup
        self.run_dir = Path(run_dir)
        self.quiet = quiet
        self.log = log
        t = setup.train
        self.G, self.D = setup.generator, setup.discriminator
        self.device = setup.device
        self.opt_g, self.opt_d = build_optimizers(setup)
        self.hook = setup.selection.hook
        self.options = setup.options
        self.cond = setup.conditioner
        self.batcher = Batcher(setup.loaded, t.batch_size, self.device, seed=t.seed, labels=self.cond is not None)
        self.noise = torch.Generator(device=self.device)
        self.noise.manual_seed(t.seed + 1)
        self.fixed_z, self.fixed_labels = self._fixed_inputs(t.seed + 2)
        self.d_regs = setup.regularizers_for("D")
        self.g_regs = setup.regularizers_for("G")
        self.g_needs_real = setup.selection.wants_argument("ganlab_g_loss", "real_scores")
        self._d_trainable = [p for p in self.D.parameters() if p.requires_grad]
        self.step = 0
        self.metrics_path = self.run_dir / "metrics.jsonl"
        self.modes_path = self.run_dir / "modes.jsonl"
        self.stop_requested = False
        self.wall_offset = 0.0

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
        z = torch.randn(n, self.setup.train.latent_dim, generator=gen)
        return z.to(self.device), (labels.to(self.device) if labels is not None else None)

    def _latent(self, n: int):
        z = torch.randn(n, self.setup.train.latent_dim, generator=self.noise, device=self.device)
        labels = self.cond.sample_labels(n, self.noise, self.device) if self.cond is not None else None
        return z, labels

    def _generate(self, z, labels):
        return self.G(z) if labels is None else self.G(z, labels)

    # -- one update of each player -------------------------------------------

    def _update(self, player, loss, batch: PenaltyBatch, opt, module, regs, want_stats: bool):
        """Add the player's penalties to its loss, step its optimizer, apply its constraints."""
        if not (isinstance(loss, torch.Tensor) and loss.dim() == 0):
            hook = f"ganlab_{player.lower()}_loss"
            raise PluginError(f"{hook} ({', '.join(self.setup.selection.implementers(hook))}) returned "
                              f"{_describe(loss)}; a loss must be a scalar tensor")
        penalties = {}
        for reg in regs:
            value = reg.penalty(batch)
            if value is not None:
                penalties[reg.name] = value
        total = loss + sum(penalties.values()) if penalties else loss
        opt.zero_grad(set_to_none=True)
        total.backward()
        norm = _grad_norm(module) if want_stats else None
        opt.step()
        for reg in regs:
            reg.after_step(module)
        return penalties, norm

    def d_update(self, want_stats: bool) -> dict[str, Any]:
        B = self.setup.train.batch_size
        real, real_labels = self.batcher.next()
        z, fake_labels = self._latent(B)
        with torch.no_grad():
            fake = self._generate(z, fake_labels)
        real_scores = _scores(self.D, real, real_labels)
        fake_scores = _scores(self.D, fake, fake_labels)
        loss = self.hook.ganlab_d_loss(real_scores=real_scores, fake_scores=fake_scores, options=self.options)
        batch = PenaltyBatch(real=real, fake=fake, real_labels=real_labels, fake_labels=fake_labels,
                             real_scores=real_scores, fake_scores=fake_scores, discriminator=self.D,
                             generator=self.G, step=self.step)
        penalties, norm = self._update("D", loss, batch, self.opt_d, self.D, self.d_regs, want_stats)
        self._last_real = (real, real_labels)
        return {"d_loss": loss, "real_scores": real_scores, "fake_scores": fake_scores,
                "penalties": penalties, "grad_norm_d": norm}

    def g_update(self, want_stats: bool) -> dict[str, Any]:
        B = self.setup.train.batch_size
        z, fake_labels = self._latent(B)
        self._set_d_trainable(False)  # D's gradients are not needed for G's update
        try:
            fake = self._generate(z, fake_labels)
            fake_scores = _scores(self.D, fake, fake_labels)
            real, real_labels = self._last_real
            real_scores = _scores(self.D, real, real_labels) if self.g_needs_real else None
            loss = self.hook.ganlab_g_loss(fake_scores=fake_scores, real_scores=real_scores, options=self.options)
            batch = PenaltyBatch(real=real, fake=fake, real_labels=real_labels, fake_labels=fake_labels,
                                 real_scores=real_scores, fake_scores=fake_scores, discriminator=self.D,
                                 generator=self.G, step=self.step)
            penalties, norm = self._update("G", loss, batch, self.opt_g, self.G, self.g_regs, want_stats)
        finally:
            self._set_d_trainable(True)
        return {"g_loss": loss, "penalties": penalties, "grad_norm_g": norm}

    def _set_d_trainable(self, flag: bool) -> None:
        # Only the parameters D trains: a plugin may have frozen some on purpose.
        for p in self._d_trainable:
            p.requires_grad_(flag)

    def train_step(self, want_stats: bool) -> dict[str, Any]:
        for _ in range(self.setup.train.n_critic):
            d = self.d_update(want_stats)
        g = self.g_update(want_stats)
        return {**d, **g, "penalties": {**d["penalties"], **g["penalties"]}}

    # -- state ----------------------------------------------------------------

    def _data_identity(self) -> dict[str, Any]:
        return {"identity": dict(self.setup.loaded.identity), "n": len(self.setup.loaded)}

    def state_dict(self) -> dict[str, Any]:
        return {
            "step": self.step,
            "ganlab_version": __version__,
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
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if list(state.get("plugins", [])) != list(self.setup.plugins):
            raise CheckpointError(
                f"the checkpoint was written by plugins {state.get('plugins')}, "
                f"but this run uses {self.setup.plugins}"
            )
        if state.get("data") != self._data_identity():
            raise CheckpointError(
                f"the checkpoint was trained on {state.get('data')}, but this run loads "
                f"{self._data_identity()}; point --data-root (or the data path) at the run's data"
            )
        try:
            self.G.load_state_dict(state["generator"])
            self.D.load_state_dict(state["discriminator"])
            self.opt_g.load_state_dict(state["opt_g"])
            self.opt_d.load_state_dict(state["opt_d"])
        except (RuntimeError, KeyError, ValueError) as exc:
            raise CheckpointError(f"the checkpoint does not fit this run's models: {exc}") from None
        self.step = int(state["step"])
        self.wall_offset = float(state.get("wall_time", 0.0))
        torch.set_rng_state(state["rng_torch"])
        if state["device"] != self.device.type:
            # Generator states of one device type cannot seed another: continue, but not bit for bit.
            warnings.warn(
                f"the checkpoint was written on {state['device']} and this run is on {self.device.type}: "
                f"training continues, but its random streams differ from an uninterrupted run",
                UserWarning, stacklevel=2,
            )
            self.noise.manual_seed(self.setup.train.seed + 1 + self.step)
            self.batcher.reseed(self.setup.train.seed + self.step)
            return
        if state["rng_cuda"] is not None:
            torch.cuda.set_rng_state(state["rng_cuda"], self.device)
        self.noise.set_state(state["rng_noise"])
        self.batcher.load_state_dict(state["batcher"])

    def resume(self) -> None:
        # RNG states must stay on the CPU; modules and optimizers move tensors themselves.
        self.load_state_dict(load_checkpoint(self.run_dir / CHECKPOINT_NAME, "cpu"))
        for path in (self.metrics_path, self.modes_path):
            if path.is_file():  # drop rows logged after the checkpoint, and a line torn by a crash
                kept = [line for line in path.read_text().splitlines() if _row_step(line) <= self.step]
                write_text_atomic(path, "".join(line + "\n" for line in kept))

    def wall_time(self) -> float:
        return self.wall_offset + (time.perf_counter() - self._t0 if hasattr(self, "_t0") else 0.0)

    def save_checkpoint(self) -> None:
        for name, module in (("G", self.G), ("D", self.D)):
            bad = [n for n, p in module.named_parameters() if not torch.isfinite(p).all()]
            if bad:  # never replace the last good checkpoint with broken weights
                raise TrainingDiverged(
                    f"{name}'s weights became non-finite by step {self.step} ({', '.join(bad[:3])}); "
                    f"the last good checkpoint {self.run_dir / CHECKPOINT_NAME} is kept. "
                    f"Try a lower --lr or a regularizer."
                )
        save_checkpoint(self.state_dict(), self.run_dir / CHECKPOINT_NAME)

    # -- artifacts ------------------------------------------------------------

    @torch.no_grad()
    def save_samples(self) -> Path:
        was_training = self.G.training
        self.G.eval()
        try:
            fake = self._generate(self.fixed_z, self.fixed_labels)
        finally:
            self.G.train(was_training)
        path = self.run_dir / "samples" / f"step_{self.step:06d}.png"
        if self.setup.data.kind == "points":
            real = self.setup.loaded.data[:SCATTER_POINTS]
            title = f"{self.setup.data.name}, step {self.step}"
            report = self._mode_report(fake)
            if report is not None:
                title += f"\n{report.summary()}"
            save_scatter(real, fake, path, title)
        else:
            nrow = SAMPLES_PER_CLASS if self.fixed_labels is not None else 8
            save_image_grid(fake, path, nrow=nrow)
        return path

    def _mode_report(self, fake: torch.Tensor):
        """Mode coverage of the fixed-noise points on the ring/grid mixtures (PacGAN protocol)."""
        from ganlab.evaluation import DATASETS, evaluate_points, mixture

        if self.setup.data.name not in DATASETS:
            return None
        try:
            report = evaluate_points(fake, *mixture(self.setup.data.name, self.options))
        except GanlabError as exc:  # a diagnostic must never stop training
            warnings.warn(f"mode coverage not computed at step {self.step}: {exc}", UserWarning, stacklevel=2)
            return None
        row = {"step": self.step, "modes_captured": report.modes_captured, "n_modes": report.n_modes,
               "high_quality_fraction": report.high_quality_fraction, "kl_to_uniform": report.kl_to_uniform}
        with open(self.modes_path, "a") as fh:
            fh.write(json.dumps(row) + "\n")
        if self.quiet:
            self.log(f"step {self.step}: {report.summary()}")
        return report

    # -- the loop -------------------------------------------------------------

    def _record(self, out: dict[str, Any]) -> dict[str, float]:
        record = {"step": self.step, "d_loss": float(out["d_loss"].detach()), "g_loss": float(out["g_loss"].detach())}
        for name, value in out["penalties"].items():
            record[f"penalty/{name}"] = float(value.detach())
        record["real_score"] = float(out["real_scores"].detach().mean())
        record["fake_score"] = float(out["fake_scores"].detach().mean())
        record["grad_norm_g"] = out["grad_norm_g"]
        record["grad_norm_d"] = out["grad_norm_d"]
        record["time"] = round(self.wall_time(), 3)
        return record

    def advance(self) -> dict[str, float] | None:
        """One step exactly as the loop runs it; returns the metrics row on logging steps."""
        t = self.setup.train
        log_now = (self.step + 1) % t.log_every == 0 or self.step + 1 == t.steps
        out = self.train_step(want_stats=log_now)
        self._check_finite(out)
        self.step += 1
        return self._record(out) if log_now else None

    def _check_finite(self, out: dict[str, Any]) -> None:
        values = [out["d_loss"], out["g_loss"], *out["penalties"].values()]
        if bool(torch.isfinite(torch.stack([v.detach().float() for v in values])).all()):
            return
        names = ["d_loss", "g_loss", *out["penalties"]]
        shown = ", ".join(f"{n}={float(v.detach()):.4g}" for n, v in zip(names, values))
        ckpt = self.run_dir / CHECKPOINT_NAME
        kept = f"the last good checkpoint {ckpt} is intact" if ckpt.exists() else "no checkpoint was written yet"
        raise TrainingDiverged(
            f"a loss became non-finite at step {self.step + 1} ({shown}); training stopped and "
            f"{kept}. Try a lower --lr, a regularizer (e.g. --plugin sn), or another --seed."
        )

    def _install_sigint(self):
        def handler(signum, frame):
            if self.stop_requested:
                raise KeyboardInterrupt
            self.stop_requested = True
            self.log("\ninterrupt: finishing this step and saving a checkpoint (Ctrl-C again to abort)")

        try:
            return signal.signal(signal.SIGINT, handler)
        except ValueError:  # not in the main thread
            return None

    def fit(self) -> str:
        from tqdm import tqdm

        t = self.setup.train
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self._t0 = time.perf_counter()
        previous = self._install_sigint()
        bar = tqdm(total=t.steps, initial=self.step, disable=self.quiet, unit="step", dynamic_ncols=True)
        status = "failed"
        try:
            with open(self.metrics_path, "a") as metrics:
                while self.step < t.steps and not self.stop_requested:
                    record = self.advance()
                    bar.update(1)
                    if record is not None:
                        metrics.write(json.dumps(record) + "\n")
                        metrics.flush()
                        self._show(bar, record)
                        self.hook.ganlab_on_log(step=self.step, record=record, run_dir=self.run_dir)
                    if self.step % t.sample_every == 0:
                        self.save_samples()
                    if self.step % t.checkpoint_every == 0:
                        self.save_checkpoint()
            status = "interrupted" if self.stop_requested else "finished"
            if self.step % t.sample_every:
                self.save_samples()
            if self.step % t.checkpoint_every:
                self.save_checkpoint()
        finally:
            bar.close()
            if previous is not None:
                signal.signal(signal.SIGINT, previous)
            plot_losses(self.metrics_path, self.run_dir / "losses.png")
            self.hook.ganlab_on_run_end(run_dir=self.run_dir, step=self.step, status=status)
        return status

    def _show(self, bar, record: dict[str, float]) -> None:
        shown = {"d_loss": record["d_loss"], "g_loss": record["g_loss"],
                 "D(x)": record["real_score"], "D(G(z))": record["fake_score"]}
        if not self.quiet:
            bar.set_postfix({k: f"{v:.3f}" for k, v in shown.items()}, refresh=False)
            return
        every = max(self.setup.train.log_every, self.setup.train.steps // 20)
        if self.step % every == 0 or self.step == self.setup.train.steps:
            rate = self.step / max(self.wall_time(), 1e-9)
            parts = " ".join(f"{k}={v:.4f}" for k, v in shown.items())
            self.log(f"step {self.step}/{self.setup.train.steps} {parts} ({rate:.1f} steps/s)")
