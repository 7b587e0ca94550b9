"""Score-level checks of ``ganlab_d_loss`` and ``ganlab_g_loss``, on made-up score batches."""

from __future__ import annotations

import random
from typing import Any

import torch

from ganlab.testing.results import Results, num, require, require_scalar

# Score batches the loss checks use: several seeds, so a check that holds by
# accident on one batch is unlikely to hold on all of them.
SCORE_SEEDS = (0, 1, 2, 3, 4)
SCORE_BATCH = 8
SIGN_REPEATS = 5


def _scores(seed: int, n: int, scale: float = 1.0) -> torch.Tensor:
    """``n`` scores drawn from N(0, scale²), fixed by ``seed``."""
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


class Loss:
    """Calls one loss hook the way the trainer does."""

    def __init__(self, selection, options, which: str):
        self.which = which
        self.selection = selection
        self.hook = getattr(selection.hook, f"ganlab_{which}")
        self.options = options
        # Like the trainer: real scores reach g_loss only when it declares them.
        self.g_wants_real = which == "g_loss" and selection.wants_argument("ganlab_g_loss", "real_scores")

    def __call__(self, real: torch.Tensor, fake: torch.Tensor) -> Any:
        if self.which == "d_loss":
            return self.hook(real_scores=real, fake_scores=fake, options=self.options)
        return self.hook(fake_scores=fake, real_scores=real if self.g_wants_real else None, options=self.options)


def _penalty_grad_on_fakes(loss: Loss, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor | None:
    """The fake-score gradient of the same selection's D penalties, or None.

    A controlled term may live in a regularizer that carries its state: BEGAN's
    d_loss is L(x) alone and -k_t·L(G(z)) is its ``began`` regularizer. Then D
    learns from the fakes through that penalty, which must at least be connected to them.
    """
    from ganlab.datasets import DataSpec
    from ganlab.regularizers import PenaltyBatch, Regularizer
    from ganlab.runsetup import _flatten

    spec = DataSpec("conformance", (1,), None, "points")
    answers = loss.selection.call_each("ganlab_regularizer", data=spec, conditioner=None, options=loss.options)
    regs = [r for r in _flatten([a for _, a in answers])
            if isinstance(r, Regularizer) and r.player == "D" and type(r).penalty is not Regularizer.penalty]
    total = None
    for reg in regs:
        batch = PenaltyBatch(real=real.detach()[:, None], fake=fake.detach()[:, None], real_scores=real,
                             fake_scores=fake, discriminator=lambda x, labels=None: x.flatten())
        value = reg.penalty(batch)
        if value is not None and value.requires_grad:
            total = value if total is None else total + value
    if total is None:
        return None
    (grad,) = torch.autograd.grad(total, fake, allow_unused=True)
    return grad


def _check_common(loss: Loss, results: Results) -> None:
    which = loss.which

    def scalar():
        for seed in SCORE_SEEDS:
            require_scalar(loss(_scores(seed, SCORE_BATCH), _scores(seed + 100, SCORE_BATCH)), which)

    def batch_size_one():
        require_scalar(loss(_scores(0, 1), _scores(1, 1)), f"{which} with batch size 1")

    def batch_sizes():
        # The trainer passes real and fake batches of one length (the batcher never
        # yields a short batch), so elementwise code such as (fake - real).mean() is valid.
        for n in (3, 5):
            require_scalar(loss(_scores(0, n), _scores(1, n)), f"{which} with {n} real and {n} fake scores")

    def gradients():
        # D learns from both scores; G only through its fakes (a relativistic
        # g_loss also reads real scores, but D is frozen in G's update).
        wanted = ["real", "fake"] if which == "d_loss" else ["fake"]
        for seed in SCORE_SEEDS:
            # Scores near 0, where no loss in ganlab's catalogue is saturated or flat.
            real = _scores(seed, SCORE_BATCH, 0.5).requires_grad_(True)
            fake = _scores(seed + 100, SCORE_BATCH, 0.5).requires_grad_(True)
            value = require_scalar(loss(real, fake), which)
            require(
                value.requires_grad,
                f"{which} carries no gradient to the scores; compute it from the score tensors "
                "without .detach(), .item() or torch.no_grad()",
            )
            inputs = {"real": real, "fake": fake}
            strays = [t for t in _graph_leaves(value) if not any(t is x for x in inputs.values())]
            require(
                not strays,
                f"{which} depends on tensor(s) other than its score arguments "
                f"({', '.join(str(tuple(t.shape)) for t in strays)}); a loss must be a pure function of "
                "the scores, so gradients reach only the players through them (move learnable "
                "parameters into the discriminator or generator)",
            )
            grads = list(torch.autograd.grad(value, [inputs[a] for a in wanted], allow_unused=True))
            controlled = False
            if which == "d_loss" and (grads[1] is None or not bool(grads[1].abs().sum() > 0)):
                # Through a controlled penalty the weight may start at 0 (BEGAN's k_0): connected is enough.
                grads[1] = _penalty_grad_on_fakes(loss, real, fake)
                controlled = grads[1] is not None
            for arg, grad in zip(wanted, grads):
                require(
                    grad is not None and (bool(grad.abs().sum() > 0) or (arg == "fake" and controlled)),
                    f"{which} gives no gradient to the {arg} scores (seed {seed}); "
                    f"the {'discriminator' if which == 'd_loss' else 'generator'} cannot learn from them. "
                    "Is a score tensor detached or unused?",
                )
                require(bool(torch.isfinite(grad).all()), f"{which} has a non-finite gradient for the {arg} scores")

    def deterministic():
        real, fake = _scores(0, SCORE_BATCH), _scores(1, SCORE_BATCH)
        _reseed(0)
        first = loss(real, fake)
        _reseed(0)
        second = loss(real, fake)
        require(
            torch.equal(first, second),
            f"{which} gave {num(first)!r} and then {num(second)!r} for the same scores under the "
            "same seed; remove the randomness (or non-deterministic operation) from the loss",
        )

    def pure():
        real, fake = _scores(0, SCORE_BATCH), _scores(1, SCORE_BATCH)
        before = (real.clone(), fake.clone())
        _reseed(0)
        first = loss(real, fake)
        require(
            torch.equal(real, before[0]) and torch.equal(fake, before[1]),
            f"{which} modified its score arguments in place; compute on copies (no in-place ops on inputs)",
        )
        _reseed(12345)
        loss(_scores(2, SCORE_BATCH), _scores(3, SCORE_BATCH))  # any hidden state would change now
        again = loss(real, fake)
        require(
            torch.equal(first, again),
            f"{which} gave {num(first)!r}, then {num(again)!r} for the same scores after another "
            "call under another random state; the hookspec requires a pure function of the scores "
            "(no global random draws, no state kept between calls)",
        )

    results.run(f"{which}.scalar", scalar)
    results.run(f"{which}.batch_size_1", batch_size_one)
    if which == "d_loss" or loss.g_wants_real:
        results.run(f"{which}.batch_sizes", batch_sizes)
    results.run(f"{which}.gradients", gradients)
    results.run(f"{which}.deterministic", deterministic)
    results.run(f"{which}.pure", pure)


def check_d_loss(selection, options, results: Results) -> None:
    loss = Loss(selection, options, "d_loss")
    _check_common(loss, results)

    def sign():
        # D is right when reals score above fakes. Any d_loss that falls as real
        # scores rise and fake scores fall is lower there than with the scores
        # swapped, and so is one with targets b > a (LSGAN), which is not monotone.
        for seed in range(SIGN_REPEATS):
            base = _scores(seed, SCORE_BATCH)
            gap = 0.5 + 1.5 * torch.rand((), generator=torch.Generator().manual_seed(seed + 50))
            right = num(loss(base + gap, base - gap))
            wrong = num(loss(base - gap, base + gap))
            require(
                right < wrong,
                f"d_loss is {right:.4g} when real scores exceed fake scores by {2 * float(gap):.3g} "
                f"but {wrong:.4g} when they are swapped (seed {seed}); d_loss must fall as real scores rise "
                "and fake scores fall (scores are raw, higher means more real: is the sign or the "
                "real/fake order flipped?)",
            )

    results.run("d_loss.sign", sign)


def check_g_loss(selection, options, results: Results) -> None:
    loss = Loss(selection, options, "g_loss")
    _check_common(loss, results)

    def sign():
        # While D scores fakes far below reals, G gains by raising its scores.
        # Unlike "g_loss falls whenever fake scores rise", this also holds for
        # losses with a target, such as LSGAN's c = 0 or 1.
        for seed in range(SIGN_REPEATS):
            real = _scores(seed, SCORE_BATCH, 0.5)
            low = num(loss(real, real - 4.0))
            higher = num(loss(real, real - 2.0))
            require(
                higher < low,
                f"g_loss is {low:.4g} for fakes scored 4 below the reals but {higher:.4g} for fakes "
                f"scored 2 below (seed {seed}); g_loss must fall as D's scores of the fakes rise toward "
                "the reals' (is its sign flipped?)",
            )

    results.run("g_loss.sign", sign)
