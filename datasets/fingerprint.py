"""What a run trains and tests on, recorded in its checkpoints so that a resumed run can tell a
moved dataset (another --root_folder_path: the same files) from a changed one.

    fingerprint = dataset_fingerprint({"train": train_df, "query": query_df, "gallery": gallery_df})
    changes = describe_changes(saved_fingerprint, fingerprint)  # None when nothing changed

An image is recorded by its path relative to the dataset's folder (the deepest folder holding
every image), its size in bytes, its identity and its camera.
"""

import os

import pandas as pd

SHOWN_NAMES = 5


def dataset_fingerprint(splits: dict[str, pd.DataFrame]) -> dict:
    """{"splits": {name: [[relative path, bytes, identity, camera], ...] sorted}}."""
    paths = [path for frame in splits.values() for path in frame["image_file_path"]]
    base = os.path.commonpath(paths) if paths else ""
    if paths and len(set(paths)) == 1:
        base = os.path.dirname(base)
    return {
        "splits": {
            name: sorted(
                [
                    os.path.relpath(path, base) if base else path,
                    file_size(path),
                    str(identity),
                    str(camera),
                ]
                for path, identity, camera in zip(
                    frame["image_file_path"], frame["identity_ID"], frame["camera_ID"], strict=True
                )
            )
            for name, frame in splits.items()
        }
    }


def file_size(path: str) -> int:
    try:
        return os.path.getsize(path)
    except OSError:
        return -1


def describe_changes(saved: dict, current: dict) -> str | None:
    """None when both fingerprints list the same images; otherwise, per split, how many images
    were added, removed or changed (size, identity or camera), naming a few."""
    lines = []
    saved_splits, current_splits = saved.get("splits", {}), current.get("splits", {})
    for name in sorted(set(saved_splits) | set(current_splits)):
        before = {record[0]: tuple(record[1:]) for record in saved_splits.get(name, [])}
        after = {record[0]: tuple(record[1:]) for record in current_splits.get(name, [])}
        removed = sorted(set(before) - set(after))
        added = sorted(set(after) - set(before))
        changed = sorted(path for path in set(before) & set(after) if before[path] != after[path])
        parts = [
            f"{len(paths)} {kind} ({named(paths)})"
            for kind, paths in (("removed", removed), ("added", added), ("changed", changed))
            if paths
        ]
        if parts:
            lines.append(f"{name}: " + ", ".join(parts))
    return "\n  ".join(lines) if lines else None


def named(paths: list[str]) -> str:
    shown = ", ".join(paths[:SHOWN_NAMES])
    return shown + (f" and {len(paths) - SHOWN_NAMES} more" if len(paths) > SHOWN_NAMES else "")
