"""Shared fixtures: where the real data lives for this run."""
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO_ROOT.parent / 'shared' / 'data'
CAMVID_SAMPLE = REPO_ROOT / 'data' / 'camvid_sample'


@pytest.fixture(scope='session')
def camvid_root() -> Path:
    """The full CamVid where CI has ``../shared``, else the bundled sample."""
    shared = SHARED_DATA / 'camvid'
    return shared if shared.is_dir() else CAMVID_SAMPLE


@pytest.fixture(scope='session')
def camvid_sample_root() -> Path:
    """The small real sample bundled in the repo (always present)."""
    return CAMVID_SAMPLE
