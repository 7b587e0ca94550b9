"""Many seeds in one process: K runs of one set-up trained as one batched model.

Each seed is an ordinary run: its own :class:`~ganlab.trainer.Trainer`, run
folder, initial weights, data order, noise, fixed samples, regularizer state,
metrics and checkpoints. What the seeds share is the arithmetic. G's and D's
forward and backward passes run once for all of them, on weights stacked
along a new first dimension (``torch.func``: ``functional_call`` and
``vmap``), and one optimizer steps the stacked weights:
Adam, RMSprop and SGD act element by element, so that is each seed's own
optimizer. Losses and penalties stay each seed's own calls of the plugins'
hooks, on that seed's slice of the scores and with that seed's random stream,
so a seed's numbers are those of its separate run up to float rounding
(``tests/core/test_seeds.py`` holds them to it).

A set-up that cannot batch (see :func:`why_not`) runs its seeds one after
another instead, and says once which plugin stops it and why.
"""

from __future__ import annotations

import contextlib
import copy
import time
from typing import Any, Iterator

import torch
from torch import nn
from torch.func import functional_call, vmap

from ganlab.errors import TrainingDiverged
from ganlab.regularizers import Regularizer
from ganlab.runsetup import build_optimizer
from ganlab.stepstats import StepStats, Update, no_grad_for, scores_of


class Streams:
    """Each seed's global torch random stream (what its separate process would draw from)."""

    def __init__(self, states: list[torch.Tensor]):
        self.states = list(states)

    @contextlib.contextmanager
    def use(self, k: int) -> Iterator[None]:
        outside = torch.get_rng_state()
        torch.set_rng_state(self.states[k])
        try:
            yield
        finally:
            self.states[k] = torch.get_rng_state()
            torch.set_rng_state(outside)


class Stacked:
    """One player's K modules as one: stacked weights and buffers, called under ``vmap``.

    The seeds' own modules stay as they are and are brought up to date by
    :meth:`copy_to` before anything reads them (samples, checkpoints, G's average).
    """

    def __init__(self, modules: list[nn.Module]):
        self.modules = modules
        self.template = copy.deepcopy(modules[0])  # functional_call swaps tensors in and out of it
        # Not torch.func.stack_module_state: it refuses parametrized modules, whose classes are made per instance.
        with torch.no_grad():
            self.params = {name: torch.stack([dict(m.named_parameters())[name] for m in modules])
                           .requires_grad_(p.requires_grad) for name, p in modules[0].named_parameters()}
            self.buffers = {name: torch.stack([dict(m.named_buffers())[name] for m in modules])
                            for name, _ in modules[0].named_buffers()}
        self.trainable = [p for p in self.params.values() if p.requires_grad]
        self._calls: dict[tuple[bool, ...], Any] = {}

    def _call(self, params, buffers, *args):
        return functional_call(self.template, (params, buffers), args)

    def __call__(self, *args: torch.Tensor | None) -> torch.Tensor:
        """The K modules on their own inputs: each argument stacked along dim 0 (labels may be None)."""
        given = tuple(a is not None for a in args)
        if given not in self._calls:
            dims = (0, 0, *[0 if g else None for g in given])
            self._calls[given] = vmap(self._call, in_dims=dims, randomness="error")
        return self._calls[given](self.params, self.buffers, *args)

    def view(self, k: int) -> nn.Module:
        return SeedView(self, k)

    @torch.no_grad()
    def copy_to(self, k: int, grads: bool = False) -> None:
        module = self.modules[k]
        for name, p in module.named_parameters():
            p.copy_(self.params[name][k])
            if grads:
                g = self.params[name].grad
                p.grad = None if g is None else g[k].clone()
        for name, b in module.named_buffers():
            b.copy_(self.buffers[name][k])

    @torch.no_grad()
    def copy_from(self, k: int) -> None:
        for name, p in self.modules[k].named_parameters():
            self.params[name][k].copy_(p)

    def grad_norms(self) -> torch.Tensor:
        """Each seed's gradient norm over all its parameters, as the trainer measures it: ``(K,)``."""
        per = [p.grad.flatten(1).norm(dim=1) for p in self.params.values() if p.grad is not None]
        return torch.linalg.vector_norm(torch.stack(per), dim=0)


class SeedView(nn.Module):
    """Seed k's module, computed from the stacked weights: what a penalty calls (gradients reach them)."""

    def __init__(self, stacked: Stacked, k: int):
        super().__init__()
        self._stacked, self._k = stacked, k  # not submodules: no parameters of its own

    def forward(self, *args):
        s, k = self._stacked, self._k
        return functional_call(s.template, ({n: p[k] for n, p in s.params.items()},
                                            {n: b[k] for n, b in s.buffers.items()}), args)


def stack_optimizer(opt: torch.optim.Optimizer, stacked: Stacked, seeds: list[torch.optim.Optimizer]) -> None:
    """Fill a fresh optimizer over the stacked weights with the seeds' own states (after a resume)."""
    names = [n for n, p in stacked.params.items() if p.requires_grad]
    for name in names:
        states = [o.state.get(dict(m.named_parameters())[name], {}) for o, m in zip(seeds, stacked.modules)]
        if not states[0]:
            continue
        p = stacked.params[name]
        opt.state[p] = {key: (torch.stack([s[key] for s in states]) if torch.is_tensor(v) and v.shape == p.shape[1:]
                              else v.clone() if torch.is_tensor(v) else v) for key, v in states[0].items()}


@torch.no_grad()
def unstack_optimizer(opt: torch.optim.Optimizer, stacked: Stacked, k: int, seed_opt: torch.optim.Optimizer) -> None:
    named = dict(stacked.modules[k].named_parameters())
    for name, p in stacked.params.items():
        state = opt.state.get(p)
        if not state:
            continue
        seed_opt.state[named[name]] = {key: (v[k].clone() if torch.is_tensor(v) and v.shape == p.shape
                                             else v.clone() if torch.is_tensor(v) else v) for key, v in state.items()}


def _custom_after_step(reg: Regularizer) -> bool:
    return type(reg).after_step is not Regularizer.after_step


def why_not(trainers: list) -> str | None:
    """Why these runs cannot train as one batched model (None: they can), naming the plugin where one is to blame."""
    first = trainers[0]
    t = first.train
    if len(trainers) < 2:
        return "there is one seed"
    if t.precision != "fp32":
        return f"--precision {t.precision} is not batched (only fp32 is)"
    if t.compile:
        return "--compile is not batched"
    if first.world.active:
        return "runs under torchrun are not batched"
    steps = {tr.step for tr in trainers}
    if len(steps) > 1:
        return f"the seeds' folders are at different steps ({', '.join(map(str, sorted(steps)))})"
    shapes = {tuple((n, tuple(p.shape)) for n, p in tr.G.state_dict().items()) +
              tuple((n, tuple(p.shape)) for n, p in tr.D.state_dict().items()) for tr in trainers}
    if len(shapes) > 1:
        return "the seeds' networks differ in shape"
    for player, module, hook in (("G", first.G, "ganlab_generator"), ("D", first.D, "ganlab_discriminator")):
        problem = _trial(module, player, first)
        if problem:
            built = ", ".join(first.selection.implementers(hook)) or "the default"
            changed = [first.setup.owners.get(r.name, r.name) for r in first.setup.regularizers
                       if r.player == player and type(r).transform is not Regularizer.transform]
            by = f"built by {built}" + (f", changed by {', '.join(dict.fromkeys(changed))}" if changed else "")
            return f"{player} ({by}) cannot run batched: {problem}"
    return None


def _trial(module: nn.Module, player: str, trainer) -> str | None:
    """Run two copies of ``module`` under vmap on a tiny batch; the error, if any, in one line."""
    copies = [copy.deepcopy(module) for _ in range(2)]
    stacked = Stacked(copies)
    labels = None
    if trainer.cond is not None:
        labels = torch.zeros(2, 2, dtype=torch.long, device=trainer.device)
    if player == "G":
        x = torch.zeros(2, 2, trainer.train.latent_dim, device=trainer.device)
    else:
        x = torch.zeros(2, 2, *trainer.setup.data.shape, device=trainer.device)
    outside = torch.get_rng_state()
    try:
        out = stacked(x, labels)
        out.float().sum().backward()
    except Exception as exc:  # any failure means: not batchable, here
        text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        text = _plainly(text)
        culprit = _module_in_traceback(exc)
        return (f"{culprit}: " if culprit else "") + text
    finally:
        torch.set_rng_state(outside)
    return None


def _plainly(text: str) -> str:
    """vmap's error, said in terms of what the module does."""
    if "random" in text.lower():
        return "it draws random numbers inside its forward (dropout, augmentation), which would mix the " \
               "seeds' random streams"
    if "control flow" in text:
        return "its forward branches on a tensor's value (data-dependent control flow)"
    if "out=" in text:
        return f"it writes into a tensor with out= ({text})"
    return text


def _module_in_traceback(exc: BaseException) -> str | None:
    tb, found = exc.__traceback__, None
    while tb is not None:
        me = tb.tb_frame.f_locals.get("self")
        if isinstance(me, nn.Module):
            found = type(me).__name__
        tb = tb.tb_next
    return found


class SeedGroup:
    """Seeds of one set-up, trained together; each trainer keeps its own folder and bookkeeping."""

    def __init__(self, trainers: list, streams: list[torch.Tensor], log=print, quiet: bool = False):
        self.trainers, self.log, self.quiet = trainers, log, quiet
        self.streams = Streams(streams)
        self.G = Stacked([t.G for t in trainers])
        self.D = Stacked([t.D for t in trainers])
        first = trainers[0]
        self.opt_g = build_optimizer(first.setup, "G", self.G.trainable)
        self.opt_d = build_optimizer(first.setup, "D", self.D.trainable)
        stack_optimizer(self.opt_g, self.G, [t.opt_g for t in trainers])
        stack_optimizer(self.opt_d, self.D, [t.opt_d for t in trainers])
        self.alive = list(range(len(trainers)))
        self.failed: dict[int, str] = {}
        self.g_needs_real = first.g_needs_real
        self.first_bad = torch.full((len(trainers),), -1, dtype=torch.long, device=first.device)
        self._checked_scores = False

    @property
    def step(self) -> int:
        return self.trainers[0].step if not self.alive else self.trainers[self.alive[0]].step

    # -- one step for every seed ------------------------------------------------

    def _stack(self, values: list[torch.Tensor | None]) -> torch.Tensor | None:
        return None if values[0] is None else torch.stack(values)

    def _scores(self, x: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor:
        out = self.D(x, labels)
        if not self._checked_scores:  # the trainer's own check, on seed 0's slice
            scores_of(lambda *a: out[0], x[0], None)
            self._checked_scores = True
        return out.reshape(out.shape[0], -1).float()

    def _penalties(self, k: int, regs: list[Regularizer], **fields) -> dict[str, torch.Tensor]:
        """Seed k's own penalties, calling its slice of the stacked networks, with its own random stream."""
        if not regs:
            return {}
        with self.streams.use(k):
            return self.trainers[k].penalties(regs, discriminator=self.D.view(k), generator=self.G.view(k), **fields)

    def _optimize(self, player: str, totals: dict[int, torch.Tensor], measure: bool) -> torch.Tensor | None:
        stacked, opt = (self.D, self.opt_d) if player == "D" else (self.G, self.opt_g)
        finite = torch.stack([torch.isfinite(totals[k].detach()) if k in totals else torch.ones((), dtype=torch.bool,
                              device=self.first_bad.device) for k in range(len(self.trainers))])
        step = torch.tensor([t.step + 1 for t in self.trainers], device=self.first_bad.device)
        self.first_bad = torch.where(~finite & (self.first_bad < 0), step, self.first_bad)
        opt.zero_grad(set_to_none=True)
        sum(totals.values()).backward()
        first = self.trainers[0]
        if self.step == first.start_step and all(p.grad is None for p in stacked.trainable):
            raise first.no_gradient(player)
        norms = stacked.grad_norms() if measure else None
        opt.step()
        regs = [t.d_regs if player == "D" else t.g_regs for t in self.trainers]
        for k in self.alive:
            for reg in regs[k]:
                if _custom_after_step(reg):  # a constraint on the weights: applied to seed k's own module
                    stacked.copy_to(k)
                    reg.after_step(stacked.modules[k])
                    stacked.copy_from(k)
        return norms

    def d_update(self, measure: bool) -> list[Update | None]:
        ts = self.trainers
        reals = [t.batcher.next() for t in ts]
        latents = [t.latent(t.train.batch_size) for t in ts]
        R, YR = self._stack([r for r, _ in reals]), self._stack([y for _, y in reals])
        Z, YF = self._stack([z for z, _ in latents]), self._stack([y for _, y in latents])
        with torch.no_grad():
            F = self.G(Z, YF)
        RS, FS = self._scores(R, YR), self._scores(F, YF)
        totals, losses, pens = {}, {}, {}
        for k in self.alive:
            yr, yf = (None if YR is None else YR[k]), (None if YF is None else YF[k])
            losses[k] = ts[k].loss("ganlab_d_loss", real_scores=RS[k], fake_scores=FS[k])
            pens[k] = self._penalties(k, ts[k].d_regs, real=R[k], fake=F[k], real_labels=yr, fake_labels=yf,
                                      real_scores=RS[k], fake_scores=FS[k])
            totals[k] = losses[k] + sum(pens[k].values()) if pens[k] else losses[k]
        norms = self._optimize("D", totals, measure)
        RS, FS = RS.detach(), FS.detach()
        return [Update(losses[k].detach(), {n: v.detach() for n, v in pens[k].items()},
                       None if norms is None else norms[k], RS[k].mean(), FS[k].mean(), R[k],
                       None if YR is None else YR[k]) if k in losses else None for k in range(len(ts))]

    def g_update(self, last: list[Update | None], measure: bool) -> list[Update | None]:
        ts = self.trainers
        latents = [t.latent(t.train.batch_size) for t in ts]
        Z, YF = self._stack([z for z, _ in latents]), self._stack([y for _, y in latents])
        R = torch.stack([u.real if u is not None else torch.zeros_like(last[self.alive[0]].real) for u in last])
        labels = [u.real_labels if u is not None else last[self.alive[0]].real_labels for u in last]
        YR = self._stack(labels)
        with no_grad_for(self.D.trainable):
            F = self.G(Z, YF)
            FS = self._scores(F, YF)
            RS = self._scores(R, YR) if self.g_needs_real else None
            totals, losses, pens = {}, {}, {}
            for k in self.alive:
                yr, yf = (None if YR is None else YR[k]), (None if YF is None else YF[k])
                rs = None if RS is None else RS[k]
                losses[k] = ts[k].loss("ganlab_g_loss", fake_scores=FS[k], real_scores=rs)
                pens[k] = self._penalties(k, ts[k].g_regs, real=R[k], fake=F[k], real_labels=yr, fake_labels=yf,
                                          real_scores=rs, fake_scores=FS[k])
                totals[k] = losses[k] + sum(pens[k].values()) if pens[k] else losses[k]
            norms = self._optimize("G", totals, measure)
        for k in self.alive:
            if ts[k].G_avg is not None:
                self.G.copy_to(k)
                ts[k].G_avg.update_parameters(ts[k].G)
        FS = FS.detach()
        return [Update(losses[k].detach(), {n: v.detach() for n, v in pens[k].items()},
                       None if norms is None else norms[k], None, FS[k].mean(), R[k],
                       None if YR is None else YR[k]) if k in losses else None for k in range(len(ts))]

    def train_step(self, log: bool) -> dict[int, StepStats]:
        n_critic = self.trainers[0].train.n_critic
        d_updates = [self.d_update(measure=log) for _ in range(n_critic)]
        g = self.g_update(d_updates[-1], measure=log)
        return {k: StepStats.of([u[k] for u in d_updates], g[k]) for k in self.alive}

    # -- the seeds' own modules, optimizers and random streams, brought up to date ----------

    def sync(self, k: int) -> None:
        t = self.trainers[k]
        self.G.copy_to(k, grads=True)
        self.D.copy_to(k, grads=True)
        unstack_optimizer(self.opt_g, self.G, k, t.opt_g)
        unstack_optimizer(self.opt_d, self.D, k, t.opt_d)
        t._first_bad = self.first_bad[k].clone()

    # -- the loop -----------------------------------------------------------------

    def fit(self) -> dict[int, str]:
        """Train every seed to ``--steps``; each seed's status: finished, interrupted or failed (with why)."""
        from ganlab.progress import Progress
        from ganlab.stop_signals import StopSignals

        ts = self.trainers
        first = ts[0]
        t0 = time.perf_counter()
        for t in ts:
            t._t0 = t0
        progress = Progress(first.train, first.step, self.quiet, True, self.log)
        signals = StopSignals(self.log)
        statuses: dict[int, str] = {}
        status = "failed"
        try:
            for k in list(self.alive):
                self._guarded(k, lambda t: t.started())
            with signals:
                while self.alive and self.step < first.train.steps and not signals.requested:
                    log_now = first.logs_at(self.step + 1)
                    stats = self.train_step(log_now)
                    for k in self.alive:
                        ts[k].step += 1
                    progress.stepped(self.step)
                    for k in list(self.alive):
                        self._after_step(k, stats[k], log_now, progress if k == self.alive[0] else None)
                status = "interrupted" if signals.requested else "finished"
                for k in list(self.alive):
                    self._guarded(k, lambda t: t.wrap_up())
        finally:
            progress.close()
            for k, t in enumerate(ts):
                if k in self.failed:
                    statuses[k] = "failed"
                    continue
                statuses[k] = status
                try:
                    t._finish(status)
                finally:
                    t.close()
        return statuses

    def _after_step(self, k: int, stats: StepStats, log_now: bool, progress) -> None:
        t = self.trainers[k]

        def write(t):
            record = t.record(stats) if log_now else None
            t.after_step(record, progress)

        if log_now or any(t.due().values()):  # _guarded brings seed k's own module up to date first
            self._guarded(k, write)

    def _guarded(self, k: int, action) -> None:
        """Seed k's bookkeeping with its own random stream; a seed that diverged stops alone."""
        t = self.trainers[k]
        self.sync(k)
        try:
            with self.streams.use(k):
                action(t)
        except TrainingDiverged as exc:
            self.failed[k] = str(exc)
            self.alive.remove(k)
            self.log(f"seed {t.train.seed} ({t.folder}): {exc}")
            try:
                t._finish("failed")
            finally:
                t.close()


# -- starting the seeds ---------------------------------------------------------------------

VECTORIZE = ("auto", "on", "off")


def group_folders(root) -> list:
    """The seed folders of a ``--seeds`` run folder (``seedN`` with a config), by seed; [] if it is not one."""
    from pathlib import Path

    from ganlab.runfolder import RunFolder

    found = [p for p in Path(root).glob("seed*") if p.name[4:].isdigit() and RunFolder(p).config.is_file()]
    return sorted(found, key=lambda p: int(p.name[4:]))


def train_seeds(pm, runs: list[dict], vectorize: str = "auto", quiet: bool = False, log=print,
                before_fit=None) -> tuple[dict, str | None]:
    """Prepare every run (``{"request": RunRequest, "out": ..., "resume": ...}``), then train them together.

    Returns ``({folder: status or the error of a seed that diverged}, why they ran one by one or None)``.
    ``vectorize``: ``auto`` batches when the set-up can and otherwise runs the seeds one by one, saying why;
    ``on`` refuses a set-up that cannot; ``off`` runs them one by one.
    """
    from ganlab.errors import ConfigError
    from ganlab.run import prepare_run

    if vectorize not in VECTORIZE:
        raise ConfigError(f"--vectorize {vectorize!r}: choose from {', '.join(VECTORIZE)}")
    trainers, streams = [], []
    try:
        for run in runs:
            trainers.append(prepare_run(pm, run["request"], out=run.get("out"), resume=run.get("resume"),
                                        quiet=True, log=log))
            streams.append(torch.get_rng_state())  # what this seed's own process would draw from next
            seed = trainers[-1].train.seed
            trainers[-1].speak(quiet, lambda message, seed=seed: log(f"seed {seed}: {message}"))
    except BaseException:
        for t in trainers:
            t.close()
        raise
    reason = "--vectorize off" if vectorize == "off" else why_not(trainers)
    if reason is not None and vectorize == "on":
        for t in trainers:
            t.close()
        raise ConfigError(f"the seeds cannot train batched: {reason}; use --vectorize auto to run them one by one")
    if before_fit is not None:
        before_fit(trainers, reason)
    results: dict = {}
    if reason is None:
        group = SeedGroup(trainers, streams, log=log, quiet=quiet)
        statuses = group.fit()
        for k, t in enumerate(trainers):
            results[t.folder.path] = group.failed.get(k, statuses[k])
        return results, None
    stopped = False
    for k, t in enumerate(trainers):
        if stopped:  # Ctrl-C during an earlier seed: this one waits at its step, resumable with the rest
            try:
                t.save_checkpoint()
            finally:
                t.close()
            results[t.folder.path] = "interrupted"
            continue
        torch.set_rng_state(streams[k])
        try:
            results[t.folder.path] = t.fit()
        except TrainingDiverged as exc:
            results[t.folder.path] = str(exc)
        stopped = results[t.folder.path] == "interrupted"
    return results, reason
