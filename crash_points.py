"""Named instants of a run where the crash tests stop the process, as SQLite's crash tests do:
before and after each file is renamed into place, around each checkpoint save, at each training
step and at the final writes. Imports no TensorFlow; costs one dictionary look-up per instant
unless a test asks for a crash.

    FLIPREID_CRASH_AT="wrote inference_model.h5:1"      # SIGKILL right after that rename
    FLIPREID_CRASH_AT="checkpoint save:2:0.2"           # SIGKILL 0.2 s into the second save
    FLIPREID_CRASH_AT="train step begins:3:SIGTERM"     # SIGTERM as the third step begins
    FLIPREID_CRASH_TRACE=/tmp/trace.txt                 # append every instant reached

The spec is "name:count[:delay seconds or signal name]": the count-th time this process reaches
`name`. Names are the strings passed to crash_point (they hold no colon).
"""

import os
import signal
import threading
import time

_SPEC = os.environ.get("FLIPREID_CRASH_AT", "")
_TRACE_PATH = os.environ.get("FLIPREID_CRASH_TRACE", "")
_counts: dict[str, int] = {}


def _parse(spec: str) -> tuple[str, int, str] | None:
    """(name, count, option) from "name:count[:option]"; names hold no colon."""
    if not spec:
        return None
    name, count, *option = spec.split(":")
    return name, int(count), option[0] if option else ""


_TARGET = _parse(_SPEC)


def crash_point(name: str) -> None:
    """Reached `name`: kill this process here if FLIPREID_CRASH_AT says so."""
    if _TARGET is None and not _TRACE_PATH:
        return
    _counts[name] = _counts.get(name, 0) + 1
    if _TRACE_PATH:
        with open(_TRACE_PATH, "a") as trace:
            trace.write(f"{time.time():.3f} {name}:{_counts[name]}\n")
    if _TARGET is None or _TARGET[:2] != (name, _counts[name]):
        return
    option = _TARGET[2]
    if option.startswith("SIG"):
        os.kill(os.getpid(), getattr(signal, option))
    elif option:
        timer = threading.Timer(float(option), os.kill, (os.getpid(), signal.SIGKILL))
        timer.daemon = True
        timer.start()
    else:
        os.kill(os.getpid(), signal.SIGKILL)
