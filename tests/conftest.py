"""Fixtures shared by the unit tests."""

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def repo() -> Path:
    return REPO


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory, monkeypatch, request):
    """Give each unit test its own cache dir; real-data tests share one for the session."""
    if request.node.get_closest_marker("data"):
        cache = tmp_path_factory.getbasetemp() / "shared-cache"
    else:
        cache = tmp_path_factory.mktemp("cache")
        monkeypatch.delenv("COURSE_DATA_DIR", raising=False)
    monkeypatch.setenv("COURSE_CACHE_DIR", str(cache))


@pytest.fixture
def real_data():
    """Return a function that checks a real data set is available, or skips / fails."""
    from course_utils import datasets

    def need(*keys: str) -> None:
        missing = [k for k in keys if not datasets.is_available(k)]
        if not missing:
            return
        if os.environ.get("COURSE_DATA_DIR"):
            pytest.fail(f"COURSE_DATA_DIR is set but {missing} are missing or invalid there")
        pytest.skip(f"real data {missing} not available; set COURSE_DATA_DIR to run")

    return need
