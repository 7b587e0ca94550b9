"""Built-in plugins, one module per variant (packaged as ``ganlab.plugins``).

They use only the public hook contract, exactly like third-party plugins.
``BUILTINS`` maps each plugin's ``--plugin`` name to its module.
"""

BUILTINS = {
    # infrastructure
    "data": "ganlab.plugins.data",
    "adam": "ganlab.plugins.adam",
    # architectures
    "mlp": "ganlab.plugins.mlp",
    "dcgan": "ganlab.plugins.dcgan",
    # losses
    "gan": "ganlab.plugins.gan",
    "lsgan": "ganlab.plugins.lsgan",
    "wgan": "ganlab.plugins.wgan",
    "hinge": "ganlab.plugins.hinge",
    # losses with their regularizer
    "wgan-gp": "ganlab.plugins.wgan_gp",
    # regularizers
    "sn": "ganlab.plugins.sn",
    "r1": "ganlab.plugins.r1",
    "recon": "ganlab.plugins.recon",
    # conditioning
    "cgan": "ganlab.plugins.cgan",
}
