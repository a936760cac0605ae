"""oneDNN's CPU kernels and a quiet start: every package that uses TensorFlow imports this module
first, so these settings are in force before TensorFlow is imported.

TensorFlow turns its oneDNN kernels on by default only on CPUs with AVX512_VNNI, AVX512_BF16,
AVX_VNNI or AMX; elsewhere (AVX2-only CPUs such as many AMD EPYCs) it uses Eigen's, whose
Conv2DBackpropInput costs 6 to 60 times the forward convolution on this network's last stage
(docs/method.md, "Speed of a training step"). We turn oneDNN on everywhere unless the user set
TF_ENABLE_ONEDNN_OPTS themselves.

TensorFlow's C++ side prints information lines at every start (oneDNN's notice, "Could not find
cuda drivers", the CPU instructions it was not built for), some of them before its logging is
set up, where no setting reaches them, and on a machine without an NVIDIA driver an error-level
"failed call to cuInit" that reads as if something broke. Unless the user chose TensorFlow's
logging (their own TF_CPP_MIN_LOG_LEVEL, or absl's --verbosity on the command line), C++ lines
below errors are hidden (all of them where there is no NVIDIA driver, so no GPU to report on),
and the lines printed while TensorFlow is imported are filtered the same way. The program
describes the devices in its own words (training.describe_devices).
"""

import os
import re
import sys
import tempfile

os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")

# C++ log lines: severity letter, date, time, thread, file:line] message (absl's format).
CPP_LOG_LINE = re.compile(r"^[IWEF]\d{4} [\d:.]+ +\d+ [\w./-]+:\d+\] ")
NOISE_LINES = (
    "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR",
    "To enable the following instructions:",
)


def nvidia_driver_present() -> bool:
    return any(os.path.exists(path) for path in ("/proc/driver/nvidia/version", "/dev/dxg"))


def user_chose_logging() -> bool:
    return "TF_CPP_MIN_LOG_LEVEL" in os.environ or any(
        argument.startswith(("--verbosity", "-v=")) or argument == "-v" for argument in sys.argv
    )


def kept_line(line: str, *, minimum_level: int) -> bool:
    """Whether a line TensorFlow printed while importing is shown: not absl's notice, and a C++
    log line only at or above the level ("IWEF".index(severity))."""
    if line.startswith(NOISE_LINES) or not line.strip():
        return False
    if CPP_LOG_LINE.match(line):
        return "IWEF".index(line[0]) >= minimum_level
    return True


def import_tensorflow_quietly(minimum_level: int) -> None:
    """Import TensorFlow with the process's stderr (the C++ side writes to it directly) sent to
    a file, then pass on the lines that are not below minimum_level. Everything is passed on if
    the import fails."""
    sys.stderr.flush()
    saved_stderr = os.dup(2)
    with tempfile.TemporaryFile(mode="w+b") as captured:
        os.dup2(captured.fileno(), 2)
        failed = True
        try:
            import tensorflow  # noqa: F401

            failed = False
        finally:
            os.dup2(saved_stderr, 2)
            os.close(saved_stderr)
            captured.seek(0)
            text = captured.read().decode(errors="replace")
            lines = [
                line
                for line in text.splitlines()
                if failed or kept_line(line, minimum_level=minimum_level)
            ]
            if lines:
                sys.stderr.write("\n".join(lines) + "\n")
                sys.stderr.flush()


if not user_chose_logging() and "tensorflow" not in sys.modules:
    QUIET_LEVEL = 2 if nvidia_driver_present() else 3
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = str(QUIET_LEVEL)
    import_tensorflow_quietly(QUIET_LEVEL)


BACKEND_NAMES = {"tensorflow": "TensorFlow", "jax": "JAX", "torch": "PyTorch", "numpy": "NumPy"}


def keras_backend_problem(
    program: str, *, backends: tuple[str, ...] = ("tensorflow",)
) -> str | None:
    """What to do when Keras runs on a backend that `program` does not run on (`backends`);
    None when it does. Keras takes its backend from KERAS_BACKEND, else ~/.keras/keras.json."""
    import keras

    backend = keras.backend.backend()
    if backend in backends:
        return None
    names = " or ".join(BACKEND_NAMES.get(name, name) for name in backends)
    return (
        f"{program} runs on Keras' {names} backend, but Keras is set to {backend!r} (by the "
        'KERAS_BACKEND environment variable, or "backend" in ~/.keras/keras.json). Run it with '
        "KERAS_BACKEND=tensorflow. solution.py (one device) and search.py run on TensorFlow and "
        "JAX; export.py and training on several devices on TensorFlow only (docs/devices.md, "
        '"Keras 3 and JAX").'
    )
