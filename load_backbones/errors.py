"""The error of this package: its message says what to do."""


class BackboneError(Exception):
    """The backbone cannot be built or its weights cannot be had; the message says what to do."""
