"""tf2cv's ImageNet weights files: their names, the local cache, one checked download."""

import legacy_keras  # noqa: F401, I001  (Keras 2 must be selected before TensorFlow is imported)

import hashlib
import os
import shutil
import tempfile
import zipfile

from tf2cv.models import model_store

from atomic_files import atomic_output

from .errors import BackboneError


DOWNLOAD_TIMEOUT_SECONDS = 60


def weights_file_name(backbone_model_name: str) -> str:
    error, sha1_hash, _ = model_store.get_model_name_suffix_data(backbone_model_name)
    return f"{backbone_model_name}-{error}-{sha1_hash[:8]}.tf2.h5"


def cached_weights_file_path(backbone_model_name: str) -> str:
    """tf2cv's cached ImageNet weights, downloaded (with a timeout and SHA-1 check) if absent."""
    error, sha1_hash, release_tag = model_store.get_model_name_suffix_data(backbone_model_name)
    file_name = weights_file_name(backbone_model_name)
    cache_folder_path = os.path.expanduser(os.path.join("~", ".tensorflow", "models"))
    file_path = os.path.join(cache_folder_path, file_name)
    if os.path.isfile(file_path) and sha1_of(file_path) == sha1_hash:
        return file_path
    url = f"{model_store.imgclsmob_repo_url}/releases/download/{release_tag}/{file_name}.zip"
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
