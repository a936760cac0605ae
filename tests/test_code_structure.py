"""Rules of the code base that a reader relies on, checked over every Python file."""

import ast
import os
import re
import subprocess
import sys

from conftest import REPOSITORY

PACKAGES = [
    "applications",
    "callbacks",
    "datasets",
    "evaluation",
    "image_augmentation",
    "image_search",
    "load_backbones",
    "metric_learning",
    "regularizers",
    "training",
    "visualization",
]


def python_files():
    for folder, folder_names, file_names in os.walk(REPOSITORY):
        folder_names[:] = [name for name in folder_names if not name.startswith((".", "__"))]
        for file_name in file_names:
            if file_name.endswith(".py"):
                yield os.path.join(folder, file_name)


def parse(file_path):
    with open(file_path) as source:
        return ast.parse(source.read(), file_path)


def test_no_call_passes_more_than_four_values_by_position():
    """Five values in a row are a swap waiting to happen; past four, arguments get names."""
    offenders = []
    for file_path in python_files():
        for node in ast.walk(parse(file_path)):
            if not isinstance(node, ast.Call):
                continue
            starred = any(isinstance(argument, ast.Starred) for argument in node.args)
            if len(node.args) > 4 or (starred and len(node.args) > 1):
                offenders.append(
                    f"{os.path.relpath(file_path, REPOSITORY)}:{node.lineno} "
                    f"{ast.unparse(node)[:80]}"
                )
    assert offenders == []


def test_packages_read_no_flags():
    """Flags are read in the entry points only; packages take settings objects."""
    readers = []
    for package in PACKAGES:
        for folder, _, file_names in os.walk(os.path.join(REPOSITORY, package)):
            for file_name in file_names:
                if not file_name.endswith(".py"):
                    continue
                for node in ast.walk(parse(os.path.join(folder, file_name))):
                    imported = isinstance(node, ast.ImportFrom) and node.module == "absl"
                    if imported or (isinstance(node, ast.Name) and node.id == "FLAGS"):
                        readers.append(os.path.join(package, file_name))
    assert readers == []


def test_package_faces_only_hand_names_on():
    """A package's __init__.py says what the package is for and re-exports names; its code
    lives in modules named after what they do."""
    offenders = []
    for file_path in python_files():
        if os.path.basename(file_path) != "__init__.py":
            continue
        tree = parse(file_path)
        where = os.path.relpath(file_path, REPOSITORY)
        if ast.get_docstring(tree) is None:
            offenders.append(f"{where}: no docstring saying what the package is for")
        for node in tree.body[1:]:
            names_on = isinstance(node, ast.Import | ast.ImportFrom) or (
                isinstance(node, ast.Assign)
                and [getattr(target, "id", None) for target in node.targets] == ["__all__"]
            )
            if not names_on:
                offenders.append(f"{where}:{node.lineno} {ast.unparse(node).splitlines()[0][:70]}")
    assert offenders == []


def test_the_code_map_names_files_and_names_that_exist():
    """docs/code_map.md writes `file.py::name` (or `file.py`, `folder/`); each must exist, the
    name as a top-level definition of the file or a method of one of its classes."""
    with open(os.path.join(REPOSITORY, "docs", "code_map.md")) as map_file:
        references = re.findall(r"`([\w/]+(?:\.py)?/?)(?:::([\w.]+))?`", map_file.read())
    assert len(references) > 40
    missing = []
    for path, name in references:
        full_path = os.path.join(REPOSITORY, path)
        if not os.path.exists(full_path):
            missing.append(path)
            continue
        if not name:
            continue
        definitions = {}
        for node in parse(full_path).body:
            if isinstance(node, ast.FunctionDef | ast.ClassDef):
                definitions[node.name] = node
        owner, _, member = name.partition(".")
        node = definitions.get(owner)
        found = node is not None and (
            not member
            or any(getattr(child, "name", None) == member for child in getattr(node, "body", []))
        )
        if not found:
            missing.append(f"{path}::{name}")
    assert missing == []


def test_no_function_of_the_entry_points_is_longer_than_60_lines():
    """solution.py reads as a driver: flags, settings from flags, a short wiring."""
    long_functions = []
    for file_name in ("solution.py", "sweep.py", "training/run.py"):
        for node in ast.walk(parse(os.path.join(REPOSITORY, file_name))):
            if isinstance(node, ast.FunctionDef) and node.end_lineno - node.lineno + 1 > 60:
                long_functions.append(f"{file_name}::{node.name}")
    assert long_functions == []


def test_the_onnx_runtime_path_loads_no_scikit_learn():
    """export.py's, search.py's and track.py's way to an ONNX model (deployment/onnx_model.py,
    which reads images with datasets/) imports no scikit-learn: its second of import was most of
    their start-up. Only the LabelEncoder of a training run needs it, imported where it is used."""
    script = (
        "import sys\n"
        "import deployment.onnx_model, datasets, image_search\n"
        "print(sorted(name for name in sys.modules if name.split('.')[0] == 'sklearn')[:3])\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=REPOSITORY, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip() == "[]", result.stdout
