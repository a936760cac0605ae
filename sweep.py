r"""Sweeps: a grid of solution.py's flag values, each combination a run of its own, and one table
that compares them.

    python3 sweep.py --grid preset=resnet50,ibn_resnet50,resnesta50 \
        --grid dataset_name=Market1501,DukeMTMC_reID,MSMT17 \
        --sweep_folder_path output/backbones \
        --use_horizontal_flipping_inside_model --steps_per_epoch 200 --epoch_num 200

Every other flag of solution.py given here is passed to every run. Each run gets its own
--output_folder_path under --sweep_folder_path, named after its values; the plan (runs, folders,
commands) is printed first (--dry_run prints only that). Runs go one after another, or one per
GPU at a time when several are visible. The same command again skips finished runs and continues
unfinished ones; a run that fails is reported and the others go on. At the end,
sweep_summary.csv, a printed table and sweep_test_mAP.png compare the runs (and where runs test
on several datasets, --testing_dataset_names, sweep_cross_domain.csv and the train x test table);
--summarize_runs folder,folder,... makes the same table for run folders made by hand or by the
2021 release.
"""

import command_line  # noqa: I001  (first: a Python without the project's packages is told what to do)

import os
import sys

from absl import app, flags

import solution  # defines solution.py's flags, which a sweep passes on to its runs
import sweeps

FLAGS = flags.FLAGS
flags.DEFINE_multi_string(
    "grid",
    [],
    "A flag of solution.py and its values, e.g. backbone_model_name=resnet50,ibn_resnet50 (or "
    f"preset={','.join(sweeps.PRESETS)}: the seed README's backbone settings); repeatable.",
)
flags.DEFINE_string("sweep_folder_path", "./output/sweep", "Where the runs and the summary go.")
flags.DEFINE_bool("dry_run", False, "Print the plan only.")
flags.DEFINE_list(
    "summarize_runs",
    [],
    "Only write the summary of these run folders (solution.py output folders, or the 2021 "
    "release's), into --sweep_folder_path.",
)


class SweepError(Exception):
    """A sweep that cannot be made; the message says what to change."""


def main(argv):
    if len(argv) > 1:
        sys.exit(f"Error: unexpected arguments {argv[1:]}; flags start with --.")
    try:
        sys.exit(run_sweep())
    except (SweepError, sweeps.GridError) as error:
        sys.exit(f"\nError: {error}")
    except sweeps.SweepInterrupted as interruption:
        sys.exit(128 + interruption.signal_number)  # the shell's convention: 143, 130


def solution_flags() -> list:
    return FLAGS.get_flags_for_module(solution)


def run_sweep() -> int:
    sweep_folder_path = os.path.abspath(os.path.expanduser(FLAGS.sweep_folder_path))
    if FLAGS.summarize_runs:
        summaries = [
            sweeps.summarize(sweeps.RunSummary(os.path.basename(os.path.normpath(path)), path))
            for path in FLAGS.summarize_runs
        ]
        report(summaries, sweep_folder_path)
        return 0
    flag_kinds = {
        flag.name: "bool" if isinstance(flag, flags.BooleanFlag) else "value"
        for flag in solution_flags()
    }
    axes = sweeps.parse_grid(FLAGS.grid, flag_kinds=flag_kinds)
    if not axes:
        raise SweepError("Give at least one --grid option, e.g. --grid seed=0,1,2.")
    if FLAGS["output_folder_path"].present:
        raise SweepError(
            "--output_folder_path is chosen per run, under --sweep_folder_path; give that instead."
        )
    grid_flags = {name for name, _ in axes} | (
        set(next(iter(sweeps.PRESETS.values()))) if "preset" in dict(axes) else set()
    )
    both = sorted(
        flag.name for flag in solution_flags() if flag.present and flag.name in grid_flags
    )
    if both:
        raise SweepError(
            f"--{', --'.join(both)} given both as a common flag and in the grid (or its "
            "presets); give each flag once."
        )
    common_arguments = [flag.serialize() for flag in solution_flags() if flag.present]
    runs = sweeps.expand(axes, sweep_folder_path=sweep_folder_path, flag_kinds=flag_kinds)
    gpus = sweeps.visible_gpus()
    print(
        f"Sweep of {len(runs)} runs into {sweep_folder_path}, "
        + (f"one per GPU ({', '.join(gpus)}) at a time" if gpus else "one at a time")
        + ":",
        flush=True,
    )
    for run in runs:
        print(f"  {run.name}\n    {run.printable_command(common_arguments)}", flush=True)
    if FLAGS.dry_run:
        return 0
    os.makedirs(sweep_folder_path, exist_ok=True)
    sweeps.execute(
        runs, common_arguments=common_arguments, sweep_folder_path=sweep_folder_path, gpus=gpus
    )
    record = sweeps.read_record(sweep_folder_path)
    summaries = []
    for run in runs:
        attempt = record.get(run.name, {})
        summary = sweeps.RunSummary(run.name, run.output_folder_path, dict(run.values))
        if sweeps.is_finished(run):
            summary.status = "finished"
        elif attempt.get("status") in ("failed", "interrupted"):
            summary.status, summary.error = attempt["status"], attempt.get("error", "")
        summaries.append(sweeps.summarize(summary))
    report(summaries, sweep_folder_path)
    return 1 if any(summary.status == "failed" for summary in summaries) else 0


def report(summaries: list, sweep_folder_path: str) -> None:
    os.makedirs(sweep_folder_path, exist_ok=True)
    table = sweeps.write_summary(summaries, sweep_folder_path)
    print(f"\n{table}\n\nSummary: {os.path.join(sweep_folder_path, 'sweep_summary.csv')}")


if __name__ == "__main__":
    app.run(main, flags_parser=command_line.parse_flags)
