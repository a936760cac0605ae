"""Grids of runs: expanding them, running them (resumable, one per GPU), and one table that
compares any run folders. Imports no TensorFlow; the runs are solution.py processes.

    runs = expand(parse_grid(["preset=resnet50,resnesta50"], flag_kinds=...), ...)
    execute(runs, common_arguments=[...], sweep_folder_path="output/backbones", gpus=[])
"""

from .grid import PRESETS, GridError, Run, expand, parse_grid
from .runner import (
    RECORD_FILE_NAME,
    SweepInterrupted,
    execute,
    is_finished,
    read_record,
    visible_gpus,
)
from .summary import RunSummary, summarize, write_summary

__all__ = [
    "PRESETS",
    "RECORD_FILE_NAME",
    "GridError",
    "Run",
    "RunSummary",
    "SweepInterrupted",
    "execute",
    "expand",
    "is_finished",
    "parse_grid",
    "read_record",
    "summarize",
    "visible_gpus",
    "write_summary",
]
