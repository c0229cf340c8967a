"""The one exception type the flow raises for bad input; the CLI turns it into a one-line error."""


class CodesignError(Exception):
    """Bad input or a failed check: the message names what was wrong and what is allowed."""
