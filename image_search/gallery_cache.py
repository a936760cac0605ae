"""The gallery's features, kept beside the results and reused while the model and the gallery
files are unchanged."""

import hashlib
import io
import json
import os

import numpy as np

from atomic_files import write_atomically

from .images import Images


def cached_gallery_features(
    extract_features,
    gallery: Images,
    *,
    flipping: bool,
    model_file_path: str,
    output_folder_path: str,
) -> np.ndarray:
    """The gallery's features (extract_features(paths) -> features), embedded once and kept in
    output_folder_path under a key of the model file's content, the flipping, and each gallery
    file's path, size and time; a damaged cache is a cache miss."""
    key = hashlib.sha1()
    with open(model_file_path, "rb") as model_file:
        for chunk in iter(lambda: model_file.read(2**20), b""):
            key.update(chunk)
    key.update(json.dumps({"flipping": flipping}).encode())
    for path in gallery.paths:
        status = os.stat(path)
        key.update(f"{path}\0{status.st_size}\0{status.st_mtime_ns}\n".encode())
    cache_path = os.path.join(output_folder_path, f"gallery_features_{key.hexdigest()[:16]}.npz")
    if os.path.isfile(cache_path):
        try:
            with np.load(cache_path) as cached:
                features = cached["features"]
            if features.shape[0] != len(gallery.paths):
                raise ValueError(f"{features.shape[0]} rows for {len(gallery.paths)} images")
            print(f"Gallery features reused from {cache_path}")
            return features
        except Exception as error:  # a damaged .npz raises many kinds (BadZipFile, EOFError...)
            print(
                f"Warning: the gallery cache {cache_path} cannot be read ({type(error).__name__}: "
                f"{error}); the gallery's features are computed again and the cache rewritten.",
                flush=True,
            )
    print(f"Embedding {len(gallery.paths):,} gallery images", flush=True)
    features = extract_features(gallery.paths)
    content = io.BytesIO()
    np.savez(content, features=features, paths=np.array(gallery.paths))
    write_atomically(cache_path, content.getvalue())
    print(f"Embedded {len(gallery.paths)} gallery images; features cached in {cache_path}")
    return features
