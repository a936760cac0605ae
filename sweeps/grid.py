"""A grid of flag values, expanded into runs, each with its own folder and command."""

import itertools
import re
import shlex
import sys
from dataclasses import dataclass

# The seed README's settings for its three backbones: --grid preset=resnet50,... expands to them.
PRESETS = {
    backbone_model_name: {
        "backbone_model_name": backbone_model_name,
        "learning_rate_start": learning_rate,
        "learning_rate_end": learning_rate,
        "learning_rate_base": learning_rate,
        "learning_rate_lower_bound": lower_bound,
        "kernel_regularization_factor": regularization_factor,
        "bias_regularization_factor": regularization_factor,
        "gamma_regularization_factor": regularization_factor,
        "beta_regularization_factor": regularization_factor,
    }
    for backbone_model_name, learning_rate, lower_bound, regularization_factor in (
        ("resnet50", "2e-4", "2e-6", "0.0005"),
        ("ibn_resnet50", "3e-4", "3e-6", "0.0005"),
        ("resnesta50", "3e-4", "3e-6", "0.0010"),
    )
}
TRUE_WORDS, FALSE_WORDS = ("true", "yes", "1"), ("false", "no", "0")


class GridError(ValueError):
    """A --grid option that cannot be expanded; the message says what was expected."""


@dataclass(frozen=True)
class Run:
    """One combination of the grid: its values (flag name -> text) and where it goes."""

    name: str
    values: dict[str, str]
    output_folder_path: str
    arguments: list[str]  # for solution.py, after the common flags

    def command(self, common_arguments: list[str]) -> list[str]:
        return [
            sys.executable,
            "-u",
            "solution.py",
            *common_arguments,
            *self.arguments,
            "--output_folder_path",
            self.output_folder_path,
        ]

    def printable_command(self, common_arguments: list[str]) -> str:
        return shlex.join(["python3", *self.command(common_arguments)[1:]])


def parse_grid(options: list[str], *, flag_kinds: dict[str, str]) -> list[tuple[str, list[str]]]:
    """[(flag name or "preset", values)] from options like "backbone_model_name=a,b".

    flag_kinds: solution.py's flags and their kinds ("bool" or other), to check the names.
    """
    axes = []
    for option in options:
        name, separator, values_text = option.partition("=")
        name = name.strip().removeprefix("--")
        values = [value.strip() for value in values_text.split(",") if value.strip()]
        if not separator or not values:
            raise GridError(
                f"--grid {option!r}: expected a flag name, '=' and comma-separated values, "
                "e.g. --grid backbone_model_name=resnet50,ibn_resnet50."
            )
        if name == "preset":
            unknown = [value for value in values if value not in PRESETS]
            if unknown:
                raise GridError(
                    f"--grid preset: unknown presets {unknown}; expected some of "
                    f"{', '.join(PRESETS)} (the seed README's backbone settings)."
                )
        elif name not in flag_kinds:
            raise GridError(f"--grid {option!r}: solution.py has no flag --{name}.")
        elif flag_kinds[name] == "bool":
            unknown = [v for v in values if v.lower() not in TRUE_WORDS + FALSE_WORDS]
            if unknown:
                raise GridError(f"--grid {name}: {unknown} are not true or false.")
        if name in (axis_name for axis_name, _ in axes):
            raise GridError(f"--grid {name} is given twice; give all its values in one option.")
        axes.append((name, values))
    return axes


def expand(axes: list[tuple[str, list[str]]], *, sweep_folder_path: str, flag_kinds) -> list[Run]:
    """Every combination of the axes' values, in order (the last axis changing fastest)."""
    runs = []
    for combination in itertools.product(*(values for _, values in axes)):
        values = dict(zip((name for name, _ in axes), combination, strict=True))
        name = "__".join(f"{key}-{slug(value)}" for key, value in values.items()) or "run"
        arguments = []
        for key, value in values.items():
            settings = PRESETS[value] if key == "preset" else {key: value}
            for flag_name, flag_value in settings.items():
                arguments.append(flag_argument(flag_name, flag_value, flag_kinds))
        runs.append(Run(name, values, f"{sweep_folder_path}/{name}", arguments))
    return runs


def flag_argument(name: str, value, flag_kinds: dict[str, str]) -> str:
    if flag_kinds.get(name) == "bool":
        return f"--{name}" if str(value).lower() in TRUE_WORDS else f"--no{name}"
    return f"--{name}={value}"


def slug(value: str) -> str:
    """A value as a folder-name part: letters, digits, '.', '-' and '+' kept."""
    return re.sub(r"[^A-Za-z0-9.+-]+", "_", value.replace("/", "_")).strip("_") or "empty"
