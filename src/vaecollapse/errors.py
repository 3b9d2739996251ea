"""Errors a user can cause. The CLI turns each into one line on stderr and exit code 2."""


class UserError(ValueError):
    """Base class for bad input: a bad spec, value, file or hyperparameter (not a bug)."""


class DataError(UserError):
    """Missing, corrupt or malformed data, or a bad data spec."""


class HyperparameterError(UserError):
    """A hyperparameter outside its valid range or an unsupported combination."""


class UnboundedError(HyperparameterError):
    """The loss has no minimum for these hyperparameters (the message says why); raised by the
    numerical theory (vaecollapse.theory.hierarchy), defined here so that catching it imports
    no torch."""

    def __init__(self, message: str, hyperparameters: dict):
        super().__init__(message)
        self.hyperparameters = hyperparameters

