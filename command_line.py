"""What the entry points share on the command line: a Python without this project's
packages is told how to get them (instead of a ModuleNotFoundError), and --help, --helpshort and
--helpfull answer with exit status 0 (absl's own exit with 1, as for an error). Each entry point
imports this module first.

    app.run(main, flags_parser=command_line.parse_flags)
"""

import importlib.util
import os
import sys

BASE_PACKAGES = ("absl", "numpy", "pandas", "cv2")
TENSORFLOW_PACKAGES = ("tensorflow", "keras", "h5py")
# search.py ranks with an ONNX model without TensorFlow (requirements-onnx.txt); it asks for
# TensorFlow (require_tensorflow) only when given a Keras weights file. track.py runs in the
# tracking environment (requirements-tracking.txt), which has no TensorFlow.
PROGRAMS_WITHOUT_TENSORFLOW = ("search.py", "track.py")


def missing_packages_message(packages=BASE_PACKAGES + TENSORFLOW_PACKAGES) -> str | None:
    """What to do when this Python lacks some of the packages (None: it has them)."""
    missing = [name for name in packages if importlib.util.find_spec(name) is None]
    if not missing:
        return None
    folder_path = os.path.dirname(os.path.abspath(__file__))
    environment = os.path.join(folder_path, ".venv")
    where = (
        f"Activate the project's environment first: . {environment}/bin/activate (or run "
        f"{environment}/bin/python)"
        if os.path.isdir(environment)
        else f"Create it first: python3 -m venv {environment} && . {environment}/bin/activate && "
        f"pip install -r {os.path.join(folder_path, 'requirements.txt')}"
    )
    return (
        f"Error: this Python ({sys.executable}) does not have {', '.join(missing)}, which this "
        f"project needs. {where}."
    )


def require_tensorflow(reason: str) -> None:
    """Exit with what to do when TensorFlow's packages are missing; reason: what needs them."""
    if (message := missing_packages_message(TENSORFLOW_PACKAGES)) is not None:
        sys.exit(f"{message} ({reason})")


without_tensorflow = os.path.basename(sys.argv[0]) in PROGRAMS_WITHOUT_TENSORFLOW
if (
    message := missing_packages_message(
        BASE_PACKAGES if without_tensorflow else BASE_PACKAGES + TENSORFLOW_PACKAGES
    )
) is not None:
    sys.exit(message)

from absl import app  # noqa: E402

SHORT_HELP = ("--help", "-help", "--helpshort", "-helpshort", "-?")
FULL_HELP = ("--helpfull", "-helpfull")


def parse_flags(argv: list[str]) -> list[str]:
    """absl's parser (a misspelt flag or value: a message and exit status 1), except that a
    request for help prints it and exits with status 0."""
    for argument in argv[1:]:
        if argument == "--":
            break
        if argument in SHORT_HELP + FULL_HELP:
            app.usage(shorthelp=argument in SHORT_HELP, writeto_stdout=True, exitcode=0)
    return app.parse_flags_with_usage(argv)
