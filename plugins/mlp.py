"""The seeds' MLP generator and discriminator (the default architecture).

The defaults are seed 000's LSGAN set-up: G 128-256-512-1024 with batch norm
and GELU, D 512-256-128-64-32 with GELU. ``preset`` sets every architecture
field at once to one seed's networks:

* ``seed000``: the defaults;
* ``seed002``: G 128-256-512-1024 with LeakyReLU(0.2) and batch norm on every
  hidden layer but the first, D 512-512-512 with LeakyReLU(0.2) and dropout
  0.4 after its second and third layers only;
* ``seed004``: G 256-512-1024 with LeakyReLU(0.2) and no batch norm, D
  1024-512-256 with LeakyReLU(0.2) and dropout 0.3 after every layer;
* ``pacgan``: the 2-D set-up after PacGAN's Table 1 (Lin et al. 2018) that
  the 2-D comparison of docs/evaluation.md was run with: G with four 400-wide
  ReLU + batch-norm layers, D with three 200-wide ReLU layers, PyTorch's
  default init. It also suggests PacGAN's 2-D noise, batch 100 and Adam
  settings (lr 1e-4, betas (0.8, 0.999)), as fallbacks: a loss's own
  suggestion (WGAN's RMSprop lr, WGAN-GP's betas) wins over them, so
  ``ganlab run --data ring -o mlp.preset=pacgan`` reproduces the 2-D
  comparison's set-up for every variant.
* ``pacgan-paper``: PacGAN's networks as its code builds them
  (fjxmlzn/PacGAN, synthetic_data_experiments/*/pacgan_task.py): D with three
  200-wide maxout layers of 5 pieces, G as in ``pacgan`` but without the
  bias that batch norm cancels, every linear weight drawn from N(0, 0.02) and
  every bias 0, batch norm with Blocks' eps 1e-4 and moving-average weight
  0.05; the same trainer suggestions as ``pacgan``. ``pacgan`` stays as it
  was, so the documented 2-D tables and timings still reproduce.

A maxout layer of width w and k pieces (Goodfellow et al. 2013) is a linear
map to w·k units followed by the maximum over each group of k consecutive
units. ``init = "normal"`` draws every linear weight of G and D (not a
conditioner's embeddings or projection head) from N(0, ``init_std``) and sets
biases to 0; the layers keep that rule in their ``reset_parameters``, so a
transform that rebuilds a layer (one that widens D's input) draws it alike.

Seed 002 builds batch norm as ``nn.BatchNorm1d(out_feat, 0.8)``, whose second
positional argument is eps, not momentum (0.8 reads like a momentum, but that
is not what the seed's code trains). Its preset mirrors eps = 0.8, so the
preset reproduces the network the seed actually ran: with eps that large the
layer divides by sqrt(var + 0.8) and normalises small activations only
weakly. ``g_batchnorm_eps`` is an option of its own, so spelling the fields out
with eps 1e-5 gives the textbook layer instead.
"""

from dataclasses import dataclass, field, fields
from math import prod
from typing import Literal

import torch
from torch import nn

from ganlab import Fallback, hookimpl

ACTIVATIONS = {
    "gelu": nn.GELU,
    "leaky_relu": lambda: nn.LeakyReLU(0.2),
    "relu": nn.ReLU,
}
Activation = Literal["gelu", "leaky_relu", "relu", "maxout"]

# Every architecture field a preset sets; fields it does not name keep their defaults.
PRESETS = {
    "seed000": {},
    "seed002": {"activation": "leaky_relu", "g_batchnorm_first": False, "g_batchnorm_eps": 0.8,
                "d_hidden": (512, 512, 512), "d_dropout": 0.4, "d_dropout_first": False},
    "seed004": {"activation": "leaky_relu", "g_hidden": (256, 512, 1024), "g_batchnorm": False,
                "d_hidden": (1024, 512, 256), "d_dropout": 0.3},
    "pacgan": {"activation": "relu", "g_hidden": (400, 400, 400, 400), "d_hidden": (200, 200, 200)},
    # fjxmlzn/PacGAN's config.py and pacgan_task.py: LinearMaxout(200, 5 pieces) x 3 in D, G's hidden
    # Linear layers without bias (use_bias=False) before Blocks' BatchNormalization (epsilon 1e-4,
    # population statistics updated as 0.95·old + 0.05·batch), IsotropicGaussian(0.02) weights, zero biases.
    "pacgan-paper": {"activation": "relu", "d_activation": "maxout", "pieces": 5,
                     "g_hidden": (400, 400, 400, 400), "d_hidden": (200, 200, 200), "g_bias": False,
                     "g_batchnorm_eps": 1e-4, "g_batchnorm_momentum": 0.05, "init": "normal", "init_std": 0.02},
}
# Trainer settings a preset suggests; they yield to flags and to other plugins' suggestions.
_PACGAN_TRAIN = Fallback(latent_dim=2, batch_size=100, lr=1e-4, betas=(0.8, 0.999))
PRESET_TRAIN = {"pacgan": _PACGAN_TRAIN, "pacgan-paper": _PACGAN_TRAIN}


@dataclass
class MLPOptions:
    g_hidden: tuple[int, ...] = field(default=(128, 256, 512, 1024), metadata={"help": "generator widths"})
    d_hidden: tuple[int, ...] = field(default=(512, 256, 128, 64, 32), metadata={"help": "discriminator widths"})
    activation: Activation = field(
        default="gelu", metadata={"help": "hidden activation (leaky_relu has slope 0.2; maxout: see pieces)"}
    )
    d_activation: Literal["same", "gelu", "leaky_relu", "relu", "maxout"] = field(
        default="same", metadata={"help": "D's hidden activation; same = activation (pacgan-paper: maxout)"}
    )
    pieces: int = field(
        default=5, metadata={"help": "maxout pieces k: a maxout layer of width w is a Linear to w*k units "
                                     "and the max over each group of k"}
    )
    init: Literal["default", "normal"] = field(
        default="default", metadata={"help": "linear weights: default = PyTorch's; normal = N(0, init_std) "
                                             "with zero biases (PacGAN)"}
    )
    init_std: float = field(default=0.02, metadata={"help": "std of the weights with init=normal"})
    g_batchnorm: bool = field(default=True, metadata={"help": "batch norm after each generator layer"})
    g_batchnorm_first: bool = field(
        default=True, metadata={"help": "with g_batchnorm: also after G's first layer (seed 002: false)"}
    )
    g_batchnorm_eps: float = field(
        default=1e-5, metadata={"help": "eps of G's batch norm (seed 002's code: 0.8)"}
    )
    g_batchnorm_momentum: float = field(
        default=0.1, metadata={"help": "weight of each batch in G's batch-norm running statistics "
                                       "(PyTorch's 0.1; PacGAN's code 0.05)"}
    )
    g_bias: bool = field(
        default=True, metadata={"help": "bias in G's hidden layers that batch norm follows (batch norm "
                                        "cancels it; PacGAN's G has none)"}
    )
    d_dropout: float = field(default=0.0, metadata={"help": "dropout after each discriminator layer"})
    d_dropout_first: bool = field(
        default=True, metadata={"help": "with d_dropout: also after D's first layer (seed 002: false)"}
    )
    preset: Literal["none", "seed000", "seed002", "seed004", "pacgan", "pacgan-paper"] = field(
        default="none",
        metadata={"help": "set every field above to one seed's networks: seed000 = the defaults; "
                          "seed002 = LeakyReLU, G's batch norm with eps 0.8 and not on its first layer, "
                          "D 512-512-512 with dropout 0.4 after its 2nd and 3rd layers; seed004 = LeakyReLU, "
                          "G 256-512-1024 without batch norm, D 1024-512-256 with dropout 0.3; pacgan = PacGAN's 2-D "
                          "networks, ReLU, G 400x4 with batch norm, D 200x3 (and, unless a loss suggests otherwise, latent "
                          "dim 2, batch 100, lr 1e-4, betas 0.8,0.999); pacgan-paper = pacgan with PacGAN's "
                          "exact networks: D maxout with 5 pieces, N(0, 0.02) init, G's batch norm as in its "
                          "code"},
    )

    def __post_init__(self):
        if self.preset != "none":
            self._apply_preset()
        if not self.g_hidden or not self.d_hidden or min(self.g_hidden + self.d_hidden) < 1:
            raise ValueError("g_hidden and d_hidden need at least one positive width")
        if not 0 <= self.d_dropout < 1:
            raise ValueError(f"d_dropout must be in [0, 1), got {self.d_dropout}")
        if not self.g_batchnorm_eps > 0:
            raise ValueError(f"g_batchnorm_eps must be > 0, got {self.g_batchnorm_eps}")
        if not 0 < self.g_batchnorm_momentum <= 1:
            raise ValueError(f"g_batchnorm_momentum must be in (0, 1], got {self.g_batchnorm_momentum}")
        if self.pieces < 2:
            raise ValueError(f"pieces must be at least 2 (a maxout of one piece is a linear layer), "
                             f"got {self.pieces}")
        if not self.init_std > 0:
            raise ValueError(f"init_std must be > 0, got {self.init_std}")

    @property
    def d_act(self) -> str:
        """D's hidden activation (``d_activation``, or ``activation`` where it says ``same``)."""
        return self.activation if self.d_activation == "same" else self.d_activation

    def _apply_preset(self):
        # A field the user moved off its default conflicts, unless it already holds the
        # preset's value (a saved, resolved config read back in holds exactly those).
        chosen = PRESETS[self.preset]
        conflicts = []
        for f in fields(self):
            if f.name == "preset":
                continue
            target = chosen.get(f.name, f.default)
            value = getattr(self, f.name)
            if value != f.default and value != target:
                conflicts.append(f"{f.name}={value} (the preset has {target})")
            setattr(self, f.name, target)
        if conflicts:
            given = "was" if len(conflicts) == 1 else "were"
            raise ValueError(
                f"preset={self.preset} sets every architecture field, but {'; '.join(conflicts)} {given} "
                "also given; use the preset alone, or drop it and spell out every field"
            )


@hookimpl
def ganlab_options():
    return MLPOptions


@hookimpl
def ganlab_train_defaults(options):
    return PRESET_TRAIN.get(options[MLPOptions].preset)


class NormalLinear(nn.Linear):
    """A Linear layer whose weights are drawn from N(0, std) and whose bias is 0 (PacGAN, DCGAN).

    The rule lives in ``reset_parameters``, so re-initialising the layer (or a
    widened copy of it) draws from it again.
    """

    def __init__(self, in_features: int, out_features: int, std: float, bias: bool = True):
        self.std = std  # before Linear.__init__, which calls reset_parameters
        super().__init__(in_features, out_features, bias=bias)

    def reset_parameters(self) -> None:
        nn.init.normal_(self.weight, 0.0, self.std)
        if self.bias is not None:
            nn.init.zeros_(self.bias)

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, std={self.std}"


class Maxout(nn.Module):
    """The maximum over each group of ``pieces`` consecutive features: (..., w·k) -> (..., w)."""

    def __init__(self, pieces: int):
        super().__init__()
        self.pieces = pieces

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.unflatten(-1, (x.shape[-1] // self.pieces, self.pieces)).amax(-1)

    def extra_repr(self) -> str:
        return f"pieces={self.pieces}"


def linear(in_features: int, out_features: int, opts: MLPOptions, bias: bool = True) -> nn.Linear:
    """A Linear layer with the configured init (``default``: PyTorch's, drawn exactly as before)."""
    if opts.init == "normal":
        return NormalLinear(in_features, out_features, opts.init_std, bias=bias)
    return nn.Linear(in_features, out_features, bias=bias)


def hidden_layer(width: int, hidden: int, activation: str, opts: MLPOptions, batchnorm: bool = False) -> list[nn.Module]:
    """Linear, optional batch norm, activation; a maxout layer's Linear has ``hidden * pieces`` outputs."""
    units = hidden * opts.pieces if activation == "maxout" else hidden
    layers: list[nn.Module] = [linear(width, units, opts, bias=opts.g_bias or not batchnorm)]
    if batchnorm:
        layers.append(nn.BatchNorm1d(units, eps=opts.g_batchnorm_eps, momentum=opts.g_batchnorm_momentum))
    layers.append(Maxout(opts.pieces) if activation == "maxout" else ACTIVATIONS[activation]())
    return layers


class MLPGenerator(nn.Module):
    def __init__(self, latent_dim, out_shape, opts: MLPOptions, conditioner=None, tanh=True):
        super().__init__()
        self.out_shape = tuple(out_shape)
        self.embed = conditioner.generator_embedding() if conditioner else None
        width = latent_dim + (conditioner.g_embed_dim if conditioner else 0)
        layers = []
        for i, hidden in enumerate(opts.g_hidden):
            norm = opts.g_batchnorm and (i > 0 or opts.g_batchnorm_first)
            layers += hidden_layer(width, hidden, opts.activation, opts, batchnorm=norm)
            width = hidden
        layers.append(linear(width, prod(self.out_shape), opts))
        if tanh:
            layers.append(nn.Tanh())
        self.net = nn.Sequential(*layers)

    def forward(self, z, labels=None):
        if self.embed is not None:
            z = torch.cat([z, self.embed(labels)], dim=1)
        return self.net(z).view(z.shape[0], *self.out_shape)


class MLPDiscriminator(nn.Module):
    def __init__(self, in_shape, opts: MLPOptions, conditioner=None):
        super().__init__()
        self.embed = conditioner.discriminator_embedding() if conditioner else None
        width = prod(in_shape) + (conditioner.discriminator_input_dim() if conditioner else 0)
        layers = []
        for i, hidden in enumerate(opts.d_hidden):
            layers += hidden_layer(width, hidden, opts.d_act, opts)
            # Seed 002 puts dropout before LeakyReLU, seed 004 after it: the same map, since
            # LeakyReLU(m·x) = m·LeakyReLU(x) for a mask scale m >= 0.
            if opts.d_dropout and (i > 0 or opts.d_dropout_first):
                layers.append(nn.Dropout(opts.d_dropout))
            width = hidden
        self.features = nn.Sequential(*layers)
        self.projection = conditioner.projection_head(width) if conditioner else None
        self.head = None if self.projection is not None else linear(width, 1, opts)

    def forward(self, x, labels=None):
        h = x.flatten(1)
        if self.embed is not None:
            h = torch.cat([h, self.embed(labels)], dim=1)
        h = self.features(h)
        if self.projection is not None:
            return self.projection(h, labels)
        return self.head(h)


@hookimpl
def ganlab_generator(data, latent_dim, conditioner, options):
    return MLPGenerator(latent_dim, data.shape, options[MLPOptions], conditioner, tanh=data.is_image)


@hookimpl
def ganlab_discriminator(data, conditioner, options):
    return MLPDiscriminator(data.shape, options[MLPOptions], conditioner)
