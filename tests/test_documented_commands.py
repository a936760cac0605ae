"""The commands of the README and of docs/*.md: every program they run exists, every flag they
give is one that program defines, and every path they name exists in the repository or is one
the README's demo (or an earlier documented command) makes. A README claim is a test waiting to
be written; a renamed flag or file must not leave a command that fails as written."""

import glob
import os
import re
import shlex
import subprocess
import sys

import pytest
from conftest import REPOSITORY

DOCUMENTS = ["README.md", *sorted(glob.glob("docs/*.md", root_dir=REPOSITORY))]
# What the README's commands create (the demo, its evaluation, searches and exports).
MADE_BY_THE_DEMO = (
    "./data/Synthetic_100x100_c6_128x64_seed0/Market-1501-v15.09.15/query",
    "./data/Synthetic_100x100_c6_128x64_seed0/Market-1501-v15.09.15/bounding_box_test",
    "./data/Synthetic_100x100_c6_128x64_seed0/Market-1501-v15.09.15/bounding_box_train",
    "./output/Synthetic_resnet18/training_model.h5",
    "./output/Synthetic_resnet18/inference_model.h5",
    "./evaluation_only/Synthetic_resnet18",
    "./exported/model.onnx",
    "./exported/tracker_model.onnx",  # docs/deployment.md and docs/tracking.md export them
    "./exported/untrained_tracker_model.onnx",
    "./exported/trained_centered_tracker_model.onnx",
    "./exported/untrained_centered_tracker_model.onnx",
    "./tracking_sequences/",  # benchmarks/tracking_benchmark.py --sequence_folder
)
# Output folders a command may name before they exist (it creates them).
OUTPUT_FLAGS = (
    "output_folder_path",
    "output_path",
    "output",
    "export_saved_model_path",
    "sweep_folder_path",
    "sequence_folder",
)
# The seed's commands and the ones for datasets this machine cannot have name files of a user's.
USER_FILES = re.compile(
    r"^(\?\.h5|Market1501_resnesta50\.h5|output/Market1501_resnet50/|my_video\.mp4|my_det\.txt)"
)


def documented_commands() -> list[tuple[str, list[str]]]:
    """(document, tokens) of every `python`/`python3` command in the documents' bash blocks."""
    commands = []
    for document in DOCUMENTS:
        with open(os.path.join(REPOSITORY, document)) as text_file:
            text = text_file.read()
        for block in re.findall(r"```bash\n(.*?)```", text, re.S):
            joined = block.replace("\\\n", " ")
            for line in joined.splitlines():
                for part in re.split(r"&&|;", line):
                    tokens = shlex.split(part)
                    if tokens and tokens[0] in ("python", "python3") and len(tokens) > 1:
                        commands.append((document, tokens[1:]))
    return commands


COMMANDS = documented_commands()


def program_of(arguments: list[str]) -> str | None:
    """The script a command runs (None for `-m pip`, `-m pytest`, `-m venv`)."""
    for argument in arguments:
        if argument == "-m":
            return None
        if not argument.startswith("-"):
            return argument
    return None


def defined_flags(program: str) -> set[str]:
    """The flags `program --help` lists (absl's --helpfull for the entry points)."""
    option = "--helpfull" if program in ("solution.py", "search.py", "export.py") else "--help"
    output = subprocess.run(
        [sys.executable, program, option],
        cwd=REPOSITORY,
        capture_output=True,
        text=True,
        timeout=300,
    ).stdout
    return set(re.findall(r"--(?:\[no\])?([A-Za-z_][\w-]*)", output))


def test_the_documents_hold_the_commands_people_run():
    programs = {program_of(arguments) for _, arguments in COMMANDS}
    assert {"solution.py", "search.py", "export.py"} <= programs, programs
    assert len(COMMANDS) >= 10


@pytest.mark.parametrize(
    "program", sorted({p for _, a in COMMANDS if (p := program_of(a)) is not None})
)
def test_every_documented_flag_is_defined_by_its_program(program):
    assert os.path.isfile(os.path.join(REPOSITORY, program)), f"{program} does not exist"
    flags = defined_flags(program)
    assert flags, f"{program} --help listed no flags"
    if program == "sweep.py":  # it hands every other flag of solution.py to each run
        flags |= defined_flags("solution.py")
    unknown = []
    for document, arguments in COMMANDS:
        if program_of(arguments) != program:
            continue
        for argument in arguments:
            if not argument.startswith("--"):
                continue
            name = argument[2:].split("=")[0]
            if name not in flags and not (name.startswith("no") and name[2:] in flags):
                unknown.append(f"{document}: {argument}")
    assert unknown == [], f"flags that {program} does not define: {unknown}"


def test_every_documented_path_exists_or_is_made_by_the_demo():
    missing = []
    for document, arguments in COMMANDS:
        previous = ""
        for argument in arguments:
            flag, value = previous.lstrip("-"), argument
            previous = argument
            if (
                argument.startswith("-")
                or "/" not in value
                and not value.endswith((".py", ".txt", ".h5", ".onnx", ".csv"))
            ):
                continue
            if flag in OUTPUT_FLAGS or USER_FILES.match(value):
                continue
            if os.path.exists(os.path.join(REPOSITORY, value)):
                continue
            if value.rstrip("/").startswith(MADE_BY_THE_DEMO) or value in ("./data",):
                continue
            missing.append(f"{document}: --{flag} {value}")
    assert missing == []


def test_the_paths_the_demo_makes_are_those_it_makes():
    """MADE_BY_THE_DEMO's data folders against the code: the synthetic set the demo's flags
    (the defaults) generate."""
    from settings import SyntheticSettings

    data = f"./data/{SyntheticSettings().folder_name}/Market-1501-v15.09.15"
    assert MADE_BY_THE_DEMO[0] == f"{data}/query"
    assert MADE_BY_THE_DEMO[1] == f"{data}/bounding_box_test"
    assert MADE_BY_THE_DEMO[2] == f"{data}/bounding_box_train"
