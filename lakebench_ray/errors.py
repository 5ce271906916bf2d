"""The project's exception tree.

Every error a user can cause or fix is a :class:`LakebenchError` whose message is one line
that says what is wrong and how to fix it; the CLI prints that line and exits non-zero.
"""


class LakebenchError(Exception):
    """Base of every error this package raises on purpose."""


class ConfigError(LakebenchError, ValueError):
    """A configuration value is missing, unknown, of the wrong type or out of range."""


class UsageError(ConfigError):
    """A command line argument the command does not have, or a malformed one (exit status 2)."""


class SinkError(LakebenchError):
    """The output location cannot be reached, read or written."""


class CheckpointMismatchError(LakebenchError):
    """A checkpoint exists but was written by a different generating configuration."""


class GenerationFailed(LakebenchError):
    """Some files could not be generated after all attempts."""


class VerificationFailed(LakebenchError):
    """A dataset is incomplete or breaks a rule of the spec; the message names the first problems."""


class LeaseHeld(LakebenchError):
    """Another live run holds the lease on the output prefix (and partition)."""


class LeaseLost(LakebenchError):
    """This run's lease was taken over (it stopped renewing for longer than the lease lasts)."""


class PrefixNotOwned(LakebenchError):
    """The data prefix holds data files this run's plan does not make (``output.existing``)."""


class ClusterError(LakebenchError):
    """Ray cannot be joined, or cannot ever run the run's actors."""


class StorageUnavailable(SinkError):
    """The storage did not answer (connection refused, timeouts, 5xx): it may come back, so the
    run pauses and probes instead of spending every file's attempts."""


class StorageOutage(LakebenchError):
    """The storage stayed unavailable for longer than ``outage_budget_s``."""


class Interrupted(LakebenchError):
    """The run was stopped by a signal (SIGTERM from Kubernetes, SIGINT from Ctrl-C)."""

    def __init__(self, message: str, signum: int):
        super().__init__(message)
        self.signum = signum

    @property
    def exit_code(self) -> int:
        return 128 + self.signum
