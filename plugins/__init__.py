"""Built-in plugins, one module per variant (packaged as ``ganlab.plugins``).

They use only the public hook contract and the names the ``ganlab`` facade
exports, exactly like third-party plugins, and never import one another. The
host lists them in its table of defaults, :mod:`ganlab.defaults`.
"""
