"""What every settings object shares: one error type and the range checks its fields need.

Settings objects (frozen dataclasses, one per concern, in this package) name their fields
after the command-line flags, so a message can name the flag to change. Imports no TensorFlow.
"""

from typing import Any


class SettingsError(ValueError):
    """A setting (or a combination) that cannot work; the message names the flag to change."""


def require_at_least(settings: Any, **minimums: float) -> None:
    """Raise SettingsError for the first field below its minimum, e.g.
    require_at_least(settings, steps_per_epoch=1, epoch_num=0)."""
    for name, minimum in minimums.items():
        value = getattr(settings, name)
        if value < minimum:
            raise SettingsError(f"--{name} must be at least {minimum}; got {value}.")


def require_positive(settings: Any, *field_names: str) -> None:
    """Raise SettingsError for the first named field at or below zero."""
    for name in field_names:
        value = getattr(settings, name)
        if not value > 0:
            raise SettingsError(f"--{name} must be above 0; got {value}.")


def require_fraction(settings: Any, *field_names: str) -> None:
    """Raise SettingsError for the first named field outside [0, 1]."""
    for name in field_names:
        value = getattr(settings, name)
        if not 0 <= value <= 1:
            raise SettingsError(f"--{name} must be a probability in [0, 1]; got {value}.")


def require_one_of(settings: Any, field_name: str, allowed: tuple[str, ...]) -> None:
    value = getattr(settings, field_name)
    if value not in allowed:
        raise SettingsError(f"--{field_name} must be one of {', '.join(allowed)}; got {value!r}.")
