"""Shared fixtures: where the real data lives for this run."""
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO_ROOT.parent / 'shared' / 'data'
CAMVID_SAMPLE = REPO_ROOT / 'data' / 'camvid_sample'
CARVANA_SAMPLE = REPO_ROOT / 'data' / 'carvana_sample'
ISBI_SAMPLE = REPO_ROOT / 'data' / 'isbi_sample'


@pytest.fixture(scope='session')
def camvid_root() -> Path:
    """The full CamVid where CI has ``../shared``, else the bundled sample."""
    shared = SHARED_DATA / 'camvid'
    return shared if shared.is_dir() else CAMVID_SAMPLE


@pytest.fixture(scope='session')
def camvid_sample_root() -> Path:
    """The small real sample bundled in the repo (always present)."""
    return CAMVID_SAMPLE


@pytest.fixture(scope='session')
def carvana_root() -> Path:
    """The full Carvana-format set where CI has ``../shared``, else the
    bundled sample."""
    shared = SHARED_DATA / 'carvana_format'
    return shared if shared.is_dir() else CARVANA_SAMPLE


@pytest.fixture(scope='session')
def carvana_sample_root() -> Path:
    """The bundled Carvana-format sample (always present): 3 cars."""
    return CARVANA_SAMPLE


@pytest.fixture(scope='session')
def isbi_root() -> Path:
    """The full ISBI 2012 slices where CI has ``../shared``, else the
    bundled sample."""
    shared = SHARED_DATA / 'isbi_membrane'
    return shared if shared.is_dir() else ISBI_SAMPLE
