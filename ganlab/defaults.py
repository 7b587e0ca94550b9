"""The table of defaults: the only place where the host names built-in plugins.

Built-ins are ordinary plugins; the host imports them by module name from
this table (as pytest and llm load their default plugins), and everything
else they bring travels through hooks.
"""

# --plugin name -> module. Infrastructure first, so its hooks register first.
BUILTINS = {
    "data": "ganlab.plugins.data",
    "adam": "ganlab.plugins.adam",
    "mlp": "ganlab.plugins.mlp",
    "dcgan": "ganlab.plugins.dcgan",
    "gan": "ganlab.plugins.gan",
    "lsgan": "ganlab.plugins.lsgan",
    "wgan": "ganlab.plugins.wgan",
    "hinge": "ganlab.plugins.hinge",
    "fgan": "ganlab.plugins.fgan",
    "relativistic": "ganlab.plugins.relativistic",
    "began": "ganlab.plugins.began",
    "pac": "ganlab.plugins.pac",  # before sn and diffaugment: D transforms apply in this order
    "wgan-gp": "ganlab.plugins.wgan_gp",
    "sn": "ganlab.plugins.sn",
    "r1": "ganlab.plugins.r1",
    "dragan": "ganlab.plugins.dragan",
    "lecam": "ganlab.plugins.lecam",
    "cr": "ganlab.plugins.cr",
    "diffaugment": "ganlab.plugins.diffaugment",
    "recon": "ganlab.plugins.recon",
    "ema": "ganlab.plugins.ema",
    "cgan": "ganlab.plugins.cgan",
    "mnist-metrics": "ganlab.plugins.mnist_metrics",
    "inception": "ganlab.plugins.inception",
    "tensorboard": "ganlab.plugins.tensorboard_events",
}

# Active in every run: the datasets and the MNIST sample-quality metrics.
ALWAYS_ACTIVE = ("data", "mnist-metrics")

# What the conformance kit's tiny runs use: the default plugins' smallest settings,
# an image dataset and a 2-D one that need no download.
TINY_OPTIONS = {"mlp": {"g_hidden": (16,), "d_hidden": (16,)}, "data": {"toy_samples": 256}}
TINY_DATA = {"image": "mnist-embedded", "points": "ring"}

# Who answers a single-answer hook when no selected plugin does.
DEFAULT_PROVIDERS = {
    "ganlab_generator": "mlp",
    "ganlab_discriminator": "mlp",
    "ganlab_d_loss": "gan",
    "ganlab_g_loss": "gan",
    "ganlab_optimizer": "adam",
}
