"""tests/conftest.py skips ``@pytest.mark.cuda`` tests where torch sees no
CUDA device, and only those, saying why; with a GPU it leaves them be. It
also runs the files with the most slow tests first."""
import importlib.util
from pathlib import Path

import pytest
import torch

spec = importlib.util.spec_from_file_location(
    'tests_root_conftest', Path(__file__).with_name('conftest.py'))
root_conftest = importlib.util.module_from_spec(spec)
spec.loader.exec_module(root_conftest)


class Item:
    """What the hook uses of a collected test: its id and two methods."""

    def __init__(self, cuda: bool = False, slow: bool = False,
                 nodeid: str = 'tests/test_x.py::test') -> None:
        self.cuda, self.slow, self.nodeid, self.added = cuda, slow, nodeid, []

    def get_closest_marker(self, name: str):
        marked = {'cuda': self.cuda, 'slow': self.slow}.get(name)
        return getattr(pytest.mark, name).mark if marked else None

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


def test_the_files_with_the_most_slow_tests_run_first():
    quick = Item(nodeid='tests/a.py::quick')
    one_slow = Item(slow=True, nodeid='tests/b.py::slow')
    two_slow = [Item(slow=True, nodeid='tests/c.py::slow1'),
                Item(nodeid='tests/c.py::quick'),
                Item(slow=True, nodeid='tests/c.py::slow2')]
    items = [quick, one_slow, *two_slow]
    root_conftest.pytest_collection_modifyitems(None, items)
    assert items == [*two_slow, one_slow, quick]
