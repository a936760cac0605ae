"""tf2cv's ImageNet weights files: their names, the local cache, one checked download."""

import hashlib
import os
import shutil
import tempfile
import zipfile

from atomic_files import atomic_output

from .errors import BackboneError

DOWNLOAD_TIMEOUT_SECONDS = 60

# Where tf2cv 0.0.18 (the last release, 2021) publishes its ImageNet weights, and what it says of
# each file (tf2cv/models/model_store.py): the error figure in its name, its SHA-1, the imgclsmob
# release that holds it. The file names and the cache folder are tf2cv's, so a
# cache filled by tf2cv (or by earlier versions of this program) is used as it is.
IMGCLSMOB_URL = "https://github.com/osmr/imgclsmob"
WEIGHTS_FILES = {
    "resnet18": ("0870", "e1d3f22e0387c8df1a5ad09b0efd6fc03916e4b0", "v0.0.478"),
    "resnet34": ("0744", "7f7d70e7780e24b4cb60cefc895198cdb2b94665", "v0.0.422"),
    "resnet50": ("0604", "728800bf57bd49f79671399fd4fd2b7fe9883f07", "v0.0.422"),
    "resnet101": ("0518", "64320ac17d95157a805e30e4e9becfff31609292", "v0.0.499"),
    "resnet152": ("0444", "83163f546bc21bdff36ab27911285f4c3e45dcd6", "v0.0.518"),
    "ibn_resnet50": ("0562", "515dd2539c53defca766f20609d83fdd868a67f0", "v0.0.495"),
    "ibn_resnet101": ("0489", "325dbc1ccc5fa2ac608bf8d146543fd1957c7d93", "v0.0.552"),
    "resnesta50": ("0439", "9ef477b8d0abd63be449baf1c2f6a3e29d78c56d", "v0.0.531"),
    "resnesta101": ("0400", "bb2a90f59e103c73bdfc75fc8b8d898325444069", "v0.0.465"),
}


def weights_file_name(backbone_model_name: str) -> str:
    error, sha1_hash, _ = WEIGHTS_FILES[backbone_model_name]
    return f"{backbone_model_name}-{error}-{sha1_hash[:8]}.tf2.h5"


def cached_weights_file_path(backbone_model_name: str) -> str:
    """tf2cv's cached ImageNet weights, downloaded (with a timeout and SHA-1 check) if absent."""
    error, sha1_hash, release_tag = WEIGHTS_FILES[backbone_model_name]
    file_name = weights_file_name(backbone_model_name)
    cache_folder_path = os.path.expanduser(os.path.join("~", ".tensorflow", "models"))
    file_path = os.path.join(cache_folder_path, file_name)
    if os.path.isfile(file_path) and sha1_of(file_path) == sha1_hash:
        return file_path
    url = f"{IMGCLSMOB_URL}/releases/download/{release_tag}/{file_name}.zip"
    try:
        download_and_unzip(url, cache_folder_path, file_name)
    except Exception as download_error:
        raise BackboneError(
            f"Cannot get the ImageNet weights of {backbone_model_name}: downloading {url} failed "
            f"({download_error}).\nEither put the file {file_name} (unzipped from {file_name}.zip, "
            f"SHA-1 {sha1_hash}) into {cache_folder_path}, or pass its location with "
            "--pretrained_backbone_weights_file_path, or train from scratch with "
            "--nouse_pretrained_backbone."
        ) from download_error
    if sha1_of(file_path) != sha1_hash:
        raise BackboneError(
            f"{file_path} does not have the expected SHA-1 {sha1_hash}; the download is damaged. "
            "Delete it and retry, or pass --nouse_pretrained_backbone."
        )
    return file_path


def download_and_unzip(url: str, folder_path: str, file_name: str) -> None:
    """Download a zip archive and write its member `file_name` into folder_path, atomically."""
    import requests

    with tempfile.TemporaryFile() as zip_file:
        with requests.get(url, stream=True, timeout=DOWNLOAD_TIMEOUT_SECONDS) as response:
            response.raise_for_status()
            for chunk in response.iter_content(chunk_size=2**20):
                zip_file.write(chunk)
        zip_file.seek(0)
        with (
            zipfile.ZipFile(zip_file) as archive,
            archive.open(file_name) as member,
            atomic_output(os.path.join(folder_path, file_name)) as temporary_path,
            open(temporary_path, "wb") as output_file,
        ):
            shutil.copyfileobj(member, output_file)


def sha1_of(file_path: str) -> str:
    digest = hashlib.sha1()
    with open(file_path, "rb") as file:
        for chunk in iter(lambda: file.read(2**20), b""):
            digest.update(chunk)
    return digest.hexdigest()
