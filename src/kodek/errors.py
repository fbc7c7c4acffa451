"""The base of every error a user can act on: the CLI prints it as one line."""


class KodekError(Exception):
    """An error with a message that names the item and says what to do."""
