"""Test-wide settings for tests/ and for the notebooks nbval collects (lectures/, solutions/).

- Notebooks run in fast mode (COURSE_FAST=1) unless the caller set COURSE_FAST already.
- nbval's kernels get a user's environment (``tests/user_env.py``: COURSE_FAST, COURSE_DATA_DIR,
  nothing else of this process), not pytest's: with ``PYTEST_CURRENT_TEST`` ipykernel would
  drop what native code writes to stderr, so a notebook would look cleaner here than to users.
  The variables set below are for the test process itself (in-process plots and TensorFlow).
- A notebook lists the data sets it needs in its metadata (``"course": {"datasets": [...]}``).
  When one is missing it is skipped with a reason if COURSE_DATA_DIR is unset; when
  COURSE_DATA_DIR is set, missing data is a failure (the notebook runs and reports it).
"""

import json
import os

import pytest

os.environ.setdefault("COURSE_FAST", "1")
os.environ.setdefault("MPLBACKEND", "Agg")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def pytest_configure(config):
    try:
        import nbval.kernel
    except ImportError:
        return
    from tests.user_env import user_environment

    start_new_kernel = nbval.kernel.start_new_kernel

    def start_as_a_user_would(*args, **kwargs):
        env = user_environment(activated=True, COURSE_FAST=os.environ["COURSE_FAST"])
        return start_new_kernel(*args, **{"env": env, **kwargs})

    nbval.kernel.start_new_kernel = start_as_a_user_would


def _needed_datasets(path) -> list[str]:
    try:
        with open(path, encoding="utf-8") as fh:
            return json.load(fh).get("metadata", {}).get("course", {}).get("datasets", [])
    except (OSError, ValueError):
        return []  # nbval reports a broken notebook itself


def pytest_collection_modifyitems(config, items):
    if os.environ.get("COURSE_DATA_DIR"):
        return
    from course_utils import datasets

    verdicts: dict[str, list[str]] = {}
    for item in items:
        path = str(item.path)
        if not path.endswith(".ipynb"):
            continue
        if path not in verdicts:
            verdicts[path] = [k for k in _needed_datasets(path) if not datasets.is_available(k)]
        missing = verdicts[path]
        if missing:
            item.add_marker(
                pytest.mark.skip(
                    reason=f"needs data set(s) {', '.join(missing)}; set COURSE_DATA_DIR "
                    "(see README: Data) to run it"
                )
            )
