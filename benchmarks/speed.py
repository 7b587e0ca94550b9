"""How much does the plugin layer cost? ganlab's training step vs two hand-written loops.

Both loops train the seeds' LSGAN MLPs on MNIST at batch 64, and ganlab runs
``Trainer.advance()``, exactly what ``ganlab run --plugin lsgan`` executes per
step (hook calls, finiteness guard, metrics every 10 steps):

* **seed 000's loop, as written** (the issue's baseline): a torchvision-style
  dataset (each image a PIL image through Resize(28) and ToTensor) in a
  shuffled DataLoader; G updated first on pred = G(z), with the L1 term
  0.05·|pred - x| and MSE(D(pred), 1), so D's weight gradients are computed
  and thrown away; then D on the real batch and pred.detach() with MSE
  targets 1 and 0; PyTorch's default Adam (3e-4, (0.4, 0.8), weight decay
  1e-4), and the five ``.item()`` calls of its print every 50 steps. Its G
  ends in a sigmoid and its data lies in [0, 1], as in the seed.
* **the same math as ganlab, hand-written**: one D update on a real batch
  (in-memory tensor) and fresh fakes generated without grad, then one G update
  on fresh noise with D frozen; Adam(2e-4, (0.5, 0.999)); ½-scaled LSGAN
  losses. This isolates the plugin layer's own cost.

They run in one process, interleaved in blocks with alternating order, so
machine noise hits all alike. Prints ms/step for each and ganlab's ratio to
each (target: <= 0.77 against seed 000's loop). The hand-written loops use
PyTorch's default (for-loop) Adam; ganlab's default optimizer plugin uses the
fused Adam kernel, the same arithmetic.

    python benchmarks/speed.py [--rounds 40] [--block 20] [--threads N]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time

import torch
from torch import nn

os.environ.setdefault("GANLAB_OFFLINE", "1")

from ganlab.config import RunRequest  # noqa: E402
from ganlab.manager import make_plugin_manager  # noqa: E402
from ganlab.run import prepare_run  # noqa: E402

LATENT, BATCH = 96, 64
TARGET = 0.77  # ganlab's step at most 0.77x the hand-written loop's (1.3x faster)


def seed_networks(g_out: nn.Module) -> tuple[nn.Sequential, nn.Sequential]:
    """Seed 000's MLPs: G 128-256-512-1024 with batch norm and GELU, then ``g_out``; D 512-...-32 with GELU."""

    def g_block(i, o):
        return [nn.Linear(i, o), nn.BatchNorm1d(o), nn.GELU()]

    G = nn.Sequential(*g_block(LATENT, 128), *g_block(128, 256), *g_block(256, 512), *g_block(512, 1024),
                      nn.Linear(1024, 784), g_out)
    widths = [784, 512, 256, 128, 64, 32]
    d_layers = []
    for i, o in zip(widths, widths[1:]):
        d_layers += [nn.Linear(i, o), nn.GELU()]
    return G, nn.Sequential(*d_layers, nn.Linear(32, 1))


def hand_written(images_uint8: torch.Tensor, seed: int):
    """A plain PyTorch LSGAN loop with the seeds' MLP, no ganlab involved."""
    torch.manual_seed(seed)
    G, D = seed_networks(nn.Tanh())
    D = nn.Sequential(nn.Flatten(), *D)
    opt_g = torch.optim.Adam(G.parameters(), lr=2e-4, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(D.parameters(), lr=2e-4, betas=(0.5, 0.999))
    gen = torch.Generator().manual_seed(seed)
    n = len(images_uint8)
    state = {"perm": torch.randperm(n, generator=gen), "pos": 0}

    def batch():
        if state["pos"] + BATCH > n:
            state["perm"], state["pos"] = torch.randperm(n, generator=gen), 0
        idx = state["perm"][state["pos"]: state["pos"] + BATCH]
        state["pos"] += BATCH
        return images_uint8[idx].float().div_(127.5).sub_(1.0)

    def step():
        real = batch()
        with torch.no_grad():
            fake = G(torch.randn(BATCH, LATENT, generator=gen)).view(BATCH, 1, 28, 28)
        d_loss = 0.5 * (D(real) - 1).pow(2).mean() + 0.5 * D(fake).pow(2).mean()
        opt_d.zero_grad(set_to_none=True)
        d_loss.backward()
        opt_d.step()
        D.requires_grad_(False)
        fake = G(torch.randn(BATCH, LATENT, generator=gen)).view(BATCH, 1, 28, 28)
        g_loss = 0.5 * (D(fake) - 1).pow(2).mean()
        opt_g.zero_grad(set_to_none=True)
        g_loss.backward()
        D.requires_grad_(True)
        opt_g.step()

    return step


class _PILDigits(torch.utils.data.Dataset):
    """What torchvision.datasets.MNIST.__getitem__ does: a PIL image through the transform."""

    def __init__(self, images_uint8: torch.Tensor):
        from torchvision import transforms

        self.images = images_uint8.reshape(-1, 28, 28)
        self.transform = transforms.Compose([transforms.Resize(28), transforms.ToTensor()])

    def __len__(self):
        return len(self.images)

    def __getitem__(self, i):
        from PIL import Image

        return self.transform(Image.fromarray(self.images[i].numpy(), mode="L")), 0


def seed_000(images_uint8: torch.Tensor, seed: int):
    """Seed 000's LSGAN training loop as the seed writes it (see the module docstring)."""
    torch.manual_seed(seed)
    G, D = seed_networks(nn.Sigmoid())  # the seed's G outputs [0, 1] and its D a probability
    D = nn.Sequential(*D, nn.Sigmoid())
    opt_g = torch.optim.Adam(G.parameters(), lr=3e-4, betas=(0.4, 0.8), weight_decay=1e-4)
    opt_d = torch.optim.Adam(D.parameters(), lr=3e-4, betas=(0.4, 0.8), weight_decay=1e-4)
    loss_fn = nn.MSELoss()
    ones, zeros = torch.ones(BATCH, 1), torch.zeros(BATCH, 1)
    loader = torch.utils.data.DataLoader(_PILDigits(images_uint8), batch_size=BATCH, shuffle=True, drop_last=True)
    state = {"it": iter(loader), "i": 0}

    def step():
        try:
            gt_images, _ = next(state["it"])
        except StopIteration:  # the seed's next epoch
            state["it"] = iter(loader)
            gt_images, _ = next(state["it"])
        z = torch.randn(BATCH, LATENT)
        pred_images = G(z).reshape(BATCH, 1, 28, 28)
        opt_g.zero_grad()
        recons_loss = torch.abs(pred_images - gt_images).mean()
        g_loss = recons_loss * 0.05 + loss_fn(D(pred_images.flatten(1)), ones)
        g_loss.backward()
        opt_g.step()
        opt_d.zero_grad()
        real_loss = loss_fn(D(gt_images.flatten(1)), ones)
        fake_loss = loss_fn(D(pred_images.detach().flatten(1)), zeros)
        d_loss = real_loss + fake_loss
        d_loss.backward()
        opt_d.step()
        if state["i"] % 50 == 0:  # the seed prints these five numbers
            [t.item() for t in (recons_loss, g_loss, d_loss, real_loss, fake_loss)]
        state["i"] += 1

    return step


def ganlab_step(out_dir: str, seed: int):
    request = RunRequest(["lsgan"], {"data": "mnist-embedded", "batch_size": BATCH, "seed": seed,
                                     "steps": 10**9, "device": "cpu"}, {})
    trainer = prepare_run(make_plugin_manager(autoload=False), request, out=out_dir, quiet=True)
    return trainer.advance, trainer.setup.loaded.data


def time_block(step, n: int) -> tuple[float, float]:
    """Wall-clock and this thread's CPU time per step, in ms."""
    wall, cpu = time.perf_counter(), time.thread_time()
    for _ in range(n):
        step()
    return (time.perf_counter() - wall) / n * 1e3, (time.thread_time() - cpu) / n * 1e3


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=40)
    parser.add_argument("--block", type=int, default=20, help="steps per timed block")
    parser.add_argument("--warmup", type=int, default=30)
    parser.add_argument("--threads", type=int, default=0,
                        help="torch threads (0: torch's default, as a user's loop gets); with 1, all work "
                             "runs on this thread and its CPU time is immune to other processes")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        ours, images = ganlab_step(os.path.join(tmp, "run"), seed=0)
        baselines = {"seed 000": seed_000(images, seed=0), "same math": hand_written(images, seed=0)}
        steps = {"ganlab": ours, **baselines}
        for step in steps.values():
            time_block(step, args.warmup)
        times = {name: [] for name in steps}
        for r in range(args.rounds):
            order = list(steps.items())
            for name, step in (order if r % 2 == 0 else order[::-1]):
                times[name].append(time_block(step, args.block))
    print(f"torch {torch.__version__}, {torch.get_num_threads()} thread(s), batch {BATCH}, "
          f"{args.rounds} rounds x {args.block} steps, interleaved")
    result = {}
    clocks = ["wall", "cpu"] if args.threads == 1 else ["wall"]
    for i, clock in enumerate(clocks):
        per = {k: [t[i] for t in v] for k, v in times.items()}
        med = {k: statistics.median(v) for k, v in per.items()}
        print(f"{clock} time (medians): " + ", ".join(f"{k} {v:.3f} ms/step" for k, v in med.items()))
        result[clock] = {"ms": med}
        for base in baselines:
            ratios = [g / h for g, h in zip(per["ganlab"], per[base])]
            ratio = statistics.median(ratios)
            target = f"; target <= {TARGET}" if base == "seed 000" else " (the plugin layer's own cost)"
            print(f"  ganlab / {base}: {ratio:.3f} (median of per-round ratios, min {min(ratios):.3f}, "
                  f"max {max(ratios):.3f}){target}")
            result[clock][base] = ratio
    return result


if __name__ == "__main__":
    main()
