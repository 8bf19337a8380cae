"""The one exception type for bad user input."""

from __future__ import annotations

__all__ = ["ERFError"]


class ERFError(ValueError):
    """Bad user input: the message names the offending value and what would be valid.

    The command line turns it into one line on stderr and exit status 2; any other
    exception escaping erftheory is a bug.

    Examples
    --------
    >>> from erftheory import ERFError
    >>> issubclass(ERFError, ValueError)
    True
    """
