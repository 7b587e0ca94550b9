"""Errors that are the user's to fix.

The CLI prints these as one clear message and exits non-zero, with no
traceback. Anything else escaping the CLI is a bug in ganlab or a plugin.
"""


class GanlabError(Exception):
    """A problem with the user's input or environment, with a fix in its message."""


class PluginError(GanlabError):
    """An unknown, broken or conflicting plugin."""


class ConfigError(GanlabError):
    """A bad option, flag or config file."""


class DataError(GanlabError):
    """A dataset that is missing, unreadable or cannot be downloaded."""


class CheckpointError(GanlabError):
    """A checkpoint that is missing, corrupt or from another run."""


class TrainingDiverged(GanlabError):
    """A loss became NaN or infinite; the last good checkpoint is kept."""


class Terminated(BaseException):
    """SIGTERM arrived before training started: set-up unwinds and removes what it wrote.

    A BaseException, like KeyboardInterrupt, so that no ``except Exception`` swallows it.
    """
