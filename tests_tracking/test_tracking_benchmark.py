"""benchmarks/tracking_benchmark.py as a long run needs: its model files checked before anything
is generated, each row's scores written as the row finishes, and finished rows skipped when the
same command runs again (an 80-minute run interrupted at row 15 goes on from row 15)."""

import json
import os
import shutil
import signal

from conftest import run_program

BENCHMARK = "benchmarks/tracking_benchmark.py"


def test_model_files_are_checked_before_anything_is_generated(tracker_model, tmp_path):
    """Finding 13: a missing file started generating sequences, a pixel-layout export ran for
    minutes before its traceback."""
    pixels_model = str(tmp_path / "pixels.onnx")
    shutil.copyfile(tracker_model, pixels_model)
    with open(tracker_model[: -len(".onnx")] + ".json") as description_file:
        description = json.load(description_file)
    description["layout"] = "pixels"
    with open(tmp_path / "pixels.json", "w") as description_file:
        json.dump(description, description_file)
    for trained, expected in (
        (str(tmp_path / "missing.onnx"), "does not exist"),
        (pixels_model, "--layout tracker"),
    ):
        status, output = run_program(
            [
                BENCHMARK,
                "--trained_model_path",
                trained,
                "--untrained_model_path",
                tracker_model,
                "--seeds",
                "0",
                "--frame_num",
                "12",
                "--sequence_folder",
                str(tmp_path / "sequences"),
                "--output_path",
                str(tmp_path / "tracking.md"),
            ]
        )
        assert status == 1 and "Traceback" not in output, output[-3000:]
        errors = [line for line in output.splitlines() if line.startswith("Error: ")]
        assert len(errors) == 1 and "--trained_model_path" in errors[0] and expected in errors[0]
        assert not (tmp_path / "sequences").exists()  # nothing generated


def table_rows(path) -> list[str]:
    with open(path) as table_file:
        return [line for line in table_file.read().splitlines() if line.startswith("| ")][2:]


def test_each_row_is_written_as_it_finishes_and_skipped_on_a_rerun(tracker_model, tmp_path):
    """Finding 17: killed after the second of four rows, the table holds those two; the same
    command then measures only the other two, and the first two are as they were."""
    command = [
        BENCHMARK,
        "--trained_model_path",
        tracker_model,
        "--untrained_model_path",
        tracker_model,
        "--trackers",
        "bytetrack,botsort",
        "--seeds",
        "0",
        "--frame_num",
        "12",
        "--sequence_folder",
        str(tmp_path / "sequences"),
        "--output_path",
        str(tmp_path / "tracking.md"),
    ]
    crash = {**os.environ, "FLIPREID_CRASH_AT": "wrote tracking.md:2"}
    status, output = run_program(command, env=crash)
    assert status == -signal.SIGKILL, output[-3000:]
    first_rows = table_rows(tmp_path / "tracking.md")
    assert [row.split(" | ")[:2] for row in first_rows] == [
        ["| bytetrack", "none (motion only)"],
        ["| botsort", "none (motion only)"],
    ]
    assert "2 of 4 rows so far" in (tmp_path / "tracking.md").read_text()
    assert all(row in output for row in first_rows)  # printed as each finished

    status, output = run_program(command)
    assert status == 0, output[-3000:]
    assert output.count("scored by an earlier run") == 2
    rows = table_rows(tmp_path / "tracking.md")
    assert rows[:2] == first_rows and len(rows) == 4
    assert "rows so far" not in (tmp_path / "tracking.md").read_text()
