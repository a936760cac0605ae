"""Devices and precision: the flags that choose them, checked as they are built."""

from dataclasses import dataclass

from .checks import (
    require_at_least,
    require_one_of,
)

MIXED_PRECISION_MODES = ("auto", "float32", "float16", "bfloat16")


@dataclass(frozen=True)
class DeviceSettings:
    """Precision and devices; field names are the command-line flags."""

    mixed_precision: str = "auto"
    logical_cpu_device_num: int = 0
    jit_compile: bool = False
    use_deterministic_ops: bool = False

    def __post_init__(self):
        require_one_of(self, "mixed_precision", MIXED_PRECISION_MODES)
        require_at_least(self, logical_cpu_device_num=0)
