r"""Track people in a video with a FlipReID model and one of BoxMOT's trackers (or
deep-sort-realtime's DeepSort), from detections in MOT Challenge's det.txt format; in the
tracking environment (requirements-tracking.txt):

    python track.py --source video.mp4 --detections_path det.txt \
        --model_file_path ./exported/tracker_model.onnx --output_folder_path ./tracks

The source is a video file or a folder of frames (MOT Challenge's img1/); the detections are one
box per line, "frame, -1, left, top, width, height, score", frames counted from 1, as any
detector's output written in MOT's format. The model is an ONNX file from export.py --layout
tracker (best centred with --center_on_images_path: docs/tracking.md), which BoxMOT loads by
path; the appearance gate (BoT-SORT's appearance_thresh, StrongSORT's max_cos_dist) of an
uncentred model is its own "same person?" distance at false positive rate 1e-2 unless
--appearance_threshold says otherwise (tracking/trackers.py says why). Writes, into
the output folder: tracks.txt (MOT rows: frame, track, left, top, width, height, score, -1, -1,
-1; score the detection's) and annotated.mp4 for a video, annotated/ (one JPEG per frame) for a
folder, each track's box drawn with its number; tracks.txt last, so that it marks a finished
run. Inputs, flags and the output folder are checked before the first frame, and one run at a
time writes a folder (a lock in it); a run stopped while tracking, by an error (an unreadable
frame, a full disk), Ctrl-C or SIGTERM, keeps its tracks as tracks.partial.txt, and the same
command run again removes what a killed run left. Imports no TensorFlow.
"""

import command_line  # noqa: I001  (first: a Python without the project's packages is told what to do)

import contextlib
import importlib.util
import os
import signal
import sys

from absl import app, flags

from tracking.frames import AnnotatedOutput, AnnotationError, FrameSource, FrameSourceError
from tracking.mot_files import MotFileError, read_detections, write_tracks
from tracking.output_folder import (
    PARTIAL_TRACKS_NAME,
    TRACKS_NAME,
    OutputFolderError,
    prepare_output_folder,
    save_partial_tracks,
)
from tracking.track_frames import track_frames
from tracking.trackers import (
    TRACKERS,
    TrackerSetupError,
    appearance_caution,
    can_use_appearance,
    check_appearance_threshold,
    make_tracker,
)

FLAGS = flags.FLAGS
flags.DEFINE_string("source", None, "A video file, or a folder of frames (e.g. MOT's img1/).")
flags.DEFINE_string(
    "detections_path", None, "Detections in MOT Challenge's det.txt format (frames from 1)."
)
flags.DEFINE_string(
    "model_file_path",
    None,
    "The ReID model: an ONNX file from export.py --layout tracker (with its .json).",
)
flags.DEFINE_enum(
    "tracker",
    "botsort",
    list(TRACKERS),
    "BoxMOT's tracker, or deepsort: deep-sort-realtime's DeepSort given the model's embeddings.",
)
flags.DEFINE_bool(
    "use_appearance",
    True,
    "Associate by appearance (the ReID model) as well as by motion; bytetrack and ocsort do not.",
)
flags.DEFINE_float(
    "appearance_threshold",
    None,
    'The appearance gate, a cosine distance (default: the model\'s "same person?" distance at '
    "false positive rate 1e-2; BoxMOT's default for a model exported with "
    "--center_on_images_path, which has none).",
)
flags.DEFINE_string("output_folder_path", "./tracks", "Where tracks.txt and the drawings go.")
flags.DEFINE_bool("annotate", True, "Also write the frames with each track's box and number.")

TRACKING_ENVIRONMENT = (
    "python3 -m venv .venv-tracking && . .venv-tracking/bin/activate && "
    "pip install -r requirements-tracking.txt"
)


def main(_) -> None:
    if importlib.util.find_spec("boxmot") is None:
        sys.exit(
            "Error: track.py runs BoxMOT's trackers, which this Python does not have (they need "
            f"PyTorch, kept out of the training environment). Use the tracking environment: "
            f"{TRACKING_ENVIRONMENT}"
        )
    for name in ("source", "detections_path"):
        if getattr(FLAGS, name) is None:
            sys.exit(f"Error: give --{name} (python track.py --help says what each flag takes).")
    use_appearance = FLAGS.use_appearance
    if not can_use_appearance(FLAGS.tracker) and not FLAGS["use_appearance"].present:
        use_appearance = False  # bytetrack, ocsort: by motion only, unless asked otherwise
    try:  # everything checked before the first frame is tracked, the inputs first
        check_appearance_threshold(FLAGS.appearance_threshold)
        source = FrameSource(FLAGS.source)
        detections = read_detections(FLAGS.detections_path)
        check_frames(detections, source)
        tracker = make_tracker(
            FLAGS.tracker,
            model_file_path=FLAGS.model_file_path,
            use_appearance=use_appearance,
            appearance_threshold=FLAGS.appearance_threshold,
            frame_rate=source.frame_rate,
        )
        caution = appearance_caution(
            FLAGS.tracker, model_file_path=FLAGS.model_file_path, use_appearance=use_appearance
        )
        annotated_name = None
        if FLAGS.annotate:
            annotated_name = "annotated.mp4" if source.is_video else "annotated"
        lock, removed = prepare_output_folder(
            FLAGS.output_folder_path, annotated_name=annotated_name
        )
    except (FrameSourceError, MotFileError, TrackerSetupError, OutputFolderError) as error:
        sys.exit(f"Error: {error}")
    try:
        for path in removed:
            print(f"Removed {path}, the temporary of a write an earlier run did not finish.")
        if caution is not None:
            print(caution)
        appearance = "with appearance" if use_appearance else "by motion only"
        print(
            f"Tracking {source.frame_num:,} frames of {FLAGS.source}: {FLAGS.tracker}, {appearance}"
        )
        track_into_taken_folder(source, detections, tracker, annotated_name=annotated_name)
    finally:
        lock.release()


def track_into_taken_folder(
    source: FrameSource, detections: dict, tracker, *, annotated_name: str | None
) -> None:
    """Track into the output folder, which this run holds: tracks.txt, or tracks.partial.txt
    when stopped early."""
    output_folder_path = FLAGS.output_folder_path
    rows = []
    annotated = contextlib.nullcontext()
    if annotated_name is not None:
        annotated = AnnotatedOutput(
            os.path.join(output_folder_path, annotated_name),
            frame_rate=source.frame_rate,
            frame_size=source.first_frame.shape[:2],
        )
    try:
        with annotated as output, stop_requests():
            track_frames(
                source, detections, tracker, frame_num=source.frame_num, annotated=output, rows=rows
            )
    except (FrameSourceError, AnnotationError, OSError) as error:
        sys.exit(f"Error: {error} {save_partial_tracks(output_folder_path, rows, write_tracks)}")
    except StopRequested as stop:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # the short save is not itself interrupted
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        drawn = ""
        if annotated_name == "annotated.mp4":
            drawn = " The drawn video is not kept (a finished run writes it)."
        print(
            f"Stopped by {stop.name} at frame {source.read_num:,} of {source.frame_num:,}. "
            f"{save_partial_tracks(output_folder_path, rows, write_tracks)}{drawn} The same "
            "command tracks from the first frame again (a tracker's state is not saved).",
            flush=True,
        )
        sys.exit(128 + stop.signal_number)
    if source.read_num < source.frame_num:
        print(
            f"Warning: {FLAGS.source} announces {source.frame_num:,} frames and OpenCV decoded "
            f"{source.read_num:,} (a video cut short or damaged): the tracks end at frame "
            f"{source.read_num:,}."
        )
    finish(output_folder_path, rows, annotated_path=getattr(annotated, "path", None))


class StopRequested(Exception):
    """Ctrl-C (SIGINT) or SIGTERM while tracking."""

    def __init__(self, signal_number: int):
        super().__init__(signal_number)
        self.signal_number = signal_number
        self.name = signal.Signals(signal_number).name
        if signal_number == signal.SIGINT:
            self.name = "Ctrl-C"


@contextlib.contextmanager
def stop_requests():
    """While tracking, Ctrl-C and SIGTERM raise StopRequested (between two Python steps: a frame
    inside the tracker finishes first), so that the tracks so far can be saved."""

    def request_stop(signal_number, _):
        raise StopRequested(signal_number)

    previous = {
        number: signal.signal(number, request_stop) for number in (signal.SIGINT, signal.SIGTERM)
    }
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)


def finish(output_folder_path: str, rows: list, *, annotated_path: str | None) -> None:
    """Write tracks.txt, the mark of a finished run, last; say what was written."""
    tracks_path = os.path.join(output_folder_path, TRACKS_NAME)
    try:
        write_tracks(tracks_path, rows)
    except OSError as error:
        sys.exit(f"Error: {error}")
    track_num = len({row[1] for row in rows})
    print(f"{len(rows):,} boxes in {track_num} tracks: {tracks_path}")
    if annotated_path is not None:
        print(f"Drawn: {annotated_path}")
    partial_path = os.path.join(output_folder_path, PARTIAL_TRACKS_NAME)
    if os.path.isfile(partial_path):
        os.remove(partial_path)
        print(f"Removed {partial_path}, an earlier run's: {TRACKS_NAME} holds all the tracks.")


def check_frames(detections: dict, source: FrameSource) -> None:
    """The detections must name frames of the source (a det.txt of another video does not)."""
    last = max(detections)
    if source.frame_num and min(detections) > source.frame_num:
        raise MotFileError(
            f"The detections start at frame {min(detections)}, after the source's last frame "
            f"({source.frame_num}): are they of another video?"
        )
    if source.frame_num and last > source.frame_num:
        print(
            f"Warning: detections go up to frame {last}; the source has {source.frame_num} "
            "frames; the later ones are left out."
        )


if __name__ == "__main__":
    app.run(main, flags_parser=command_line.parse_flags)
