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
    # losses
    "gan": "ganlab.plugins.gan",
    "lsgan": "ganlab.plugins.lsgan",
}
