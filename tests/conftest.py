"""Shared fixtures: where the real data lives for this run."""
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO_ROOT.parent / 'shared' / 'data'
CAMVID_SAMPLE = REPO_ROOT / 'data' / 'camvid_sample'
CARVANA_SAMPLE = REPO_ROOT / 'data' / 'carvana_sample'
ISBI_SAMPLE = REPO_ROOT / 'data' / 'isbi_sample'


def shared_or_sample(shared_name: str, sample: Path) -> Path:
    """The full set where CI has ``../shared``, else the bundled sample."""
    shared = SHARED_DATA / shared_name
    return shared if shared.is_dir() else sample


@pytest.fixture(scope='session')
def camvid_root() -> Path:
    return shared_or_sample('camvid', CAMVID_SAMPLE)


@pytest.fixture(scope='session')
def carvana_root() -> Path:
    return shared_or_sample('carvana_format', CARVANA_SAMPLE)


@pytest.fixture(scope='session')
def isbi_root() -> Path:
    return shared_or_sample('isbi_membrane', ISBI_SAMPLE)


@pytest.fixture(scope='session')
def camvid_sample_root() -> Path:
    """The small real CamVid sample bundled in the repo (always present)."""
    return CAMVID_SAMPLE


@pytest.fixture(scope='session')
def carvana_sample_root() -> Path:
    """The bundled Carvana-format sample (always present): 3 cars."""
    return CARVANA_SAMPLE
