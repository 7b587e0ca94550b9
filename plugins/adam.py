"""The default optimizer: Adam with the seeds' lr 2e-4 and betas (0.5, 0.999)."""

import torch

from ganlab import hookimpl


@hookimpl
def ganlab_optimizer(player, params, train):
    return torch.optim.Adam(params, lr=train.lr, betas=tuple(train.betas))
