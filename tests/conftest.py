"""Shared fixtures: where the real data lives for this run, and a capture of
MMEngine's logged warnings; and the skip of CUDA tests where there is no
GPU."""
import collections
import contextlib
import gc
import logging
import os
from pathlib import Path
from typing import Callable, ContextManager, Iterator, List

import pytest
import torch
from mmengine.logging import MMLogger

from segkit.engine import install_checkpoint_safety

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO_ROOT.parent / 'shared' / 'data'
CAMVID_SAMPLE = REPO_ROOT / 'data' / 'camvid_sample'
CARVANA_SAMPLE = REPO_ROOT / 'data' / 'carvana_sample'
ISBI_SAMPLE = REPO_ROOT / 'data' / 'isbi_sample'


def pytest_configure(config: pytest.Config) -> None:
    """Each pytest-xdist worker takes its share of the cores, for torch and
    for the tools it starts (``OMP_NUM_THREADS``, unless set): two workers
    of 2 threads each on 2 cores wait on each other's spinning threads."""
    workers = int(os.environ.get('PYTEST_XDIST_WORKER_COUNT', '1'))
    if workers > 1 and 'OMP_NUM_THREADS' not in os.environ:
        threads = max(1, (os.cpu_count() or 1) // workers)
        os.environ['OMP_NUM_THREADS'] = str(threads)
        torch.set_num_threads(threads)


def pytest_collection_modifyitems(config: pytest.Config,
                                  items: List[pytest.Item]) -> None:
    """The files with the most ``slow`` tests run first, so that the two
    workers end together on the many quick ones (pytest.ini turns off
    xdist's own order, fewest-tests-last, which left the minute-long files
    to the end). ``@pytest.mark.cuda`` tests run where torch sees a CUDA
    device and are skipped, saying why, everywhere else."""
    slow = collections.Counter(item.nodeid.split('::')[0] for item in items
                               if item.get_closest_marker('slow'))
    items.sort(key=lambda item: -slow[item.nodeid.split('::')[0]])
    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason='needs a CUDA device')
    for item in items:
        if item.get_closest_marker('cuda'):
            item.add_marker(skip)


def pytest_collection_finish(session: pytest.Session) -> None:
    """What collection imported (torch, MMEngine, timm, onnx...: ~0.5 M
    objects) is frozen out of the garbage collector: each full collection
    then scans what the tests make, not that again (measured on tests/models
    and tests/engine: 7.0 s of full collections, 4.1 s frozen)."""
    gc.freeze()


@pytest.fixture(scope='session', autouse=True)
def checkpoint_safety() -> None:
    """What every tool does first: weights-only loads that read MMEngine's
    own checkpoints (tests/engine/test_checkpoint.py tests it alone)."""
    install_checkpoint_safety()


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


@contextlib.contextmanager
def _warnings_logged() -> Iterator[List[str]]:
    records: List[str] = []
    handler = logging.Handler(logging.WARNING)
    handler.emit = lambda record: records.append(record.getMessage())
    logger = MMLogger.get_current_instance()
    logger.addHandler(handler)
    try:
        yield records
    finally:
        logger.removeHandler(handler)


@pytest.fixture
def warnings_logged() -> Callable[[], ContextManager[List[str]]]:
    """``with warnings_logged() as messages:`` collects the messages of the
    WARNINGs logged through MMEngine's current logger inside the block."""
    return _warnings_logged
