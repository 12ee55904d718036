"""tests/conftest.py skips ``@pytest.mark.cuda`` tests where torch sees no
CUDA device, and only those, saying why; with a GPU it leaves them be."""
import importlib.util
from pathlib import Path

import pytest
import torch

spec = importlib.util.spec_from_file_location(
    'tests_root_conftest', Path(__file__).with_name('conftest.py'))
root_conftest = importlib.util.module_from_spec(spec)
spec.loader.exec_module(root_conftest)


class Item:
    """The two methods of a collected test the hook uses."""

    def __init__(self, cuda: bool) -> None:
        self.cuda, self.added = cuda, []

    def get_closest_marker(self, name: str):
        return pytest.mark.cuda.mark if self.cuda and name == 'cuda' else None

    def add_marker(self, marker) -> None:
        self.added.append(marker)


@pytest.mark.parametrize('cuda_available', [False, True])
def test_cuda_tests_are_skipped_only_without_cuda(monkeypatch,
                                                  cuda_available):
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: cuda_available)
    marked, plain = Item(cuda=True), Item(cuda=False)
    root_conftest.pytest_collection_modifyitems(None, [marked, plain])
    assert plain.added == []
    if cuda_available:
        assert marked.added == []
    else:
        [skip] = marked.added
        assert skip.mark.name == 'skip'
        assert skip.mark.kwargs == {'reason': 'needs a CUDA device'}
