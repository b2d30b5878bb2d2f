"""The one exception type that means "the user gave us something wrong"."""


class UserError(Exception):
    """Bad input (file, flag, key, data path): the CLI prints it on one line, exits 2."""


class TrialDiverged(RuntimeError):
    """A trial's loss became NaN or infinite; Tune records it as the trial's error."""
