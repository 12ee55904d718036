"""``compile=True`` compiles the network, not MMEngine's train step, and a
part that fails to compile runs eager after one warning line."""
from pathlib import Path

import pytest
import torch
from test_seg_runner import accuracy_metric, config  # noqa: F401 (autouse)
from torch._dynamo import register_backend

from segkit.apis import init_model
from segkit.engine.compile import CompiledOrEager, compile_network
from segkit.registry import RUNNERS

REPO = Path(__file__).resolve().parents[2]


class CountingBackend:
    """A ``torch.compile`` backend that runs each graph as traced (eager
    numerics) and counts the graphs."""

    def __init__(self) -> None:
        self.graphs = 0

    def __call__(self, graph: torch.fx.GraphModule, example_inputs):
        self.graphs += 1
        return graph.forward


# A config holds names, not functions: the runs' backends are registered.
RUN_BACKEND = CountingBackend()
register_backend(name='segkit_test_counting')(RUN_BACKEND)


@register_backend(name='segkit_test_failing')
def failing_backend(graph, example_inputs):
    raise RuntimeError('no C++ compiler on this machine')


def test_the_backbone_and_heads_are_compiled_with_eager_results():
    torch.manual_seed(0)
    model = init_model(str(REPO / 'configs' / 'unet_camvid_quick.py'),
                       cfg_options={'model.backbone.base_channels': 4})
    images = torch.rand(2, 3, 64, 96)
    expected = model.forward_logits(images)
    backend = CountingBackend()
    assert compile_network(model, backend=backend) == ['backbone',
                                                       'decode_head']
    assert compile_network(model, backend=backend) == ['backbone',
                                                       'decode_head']
    assert isinstance(model.backbone.forward, CompiledOrEager)
    assert not isinstance(model.data_preprocessor.forward, CompiledOrEager)
    assert torch.equal(model.forward_logits(images), expected)
    assert backend.graphs >= 2  # one graph (or more) per compiled part


def test_a_compiled_run_trains_as_the_eager_one(tmp_path):
    """The config's ``compile`` reaches the network (the test model has no
    backbone, so its whole forward), and training gives the same weights."""
    runs, graphs = {}, RUN_BACKEND.graphs
    for name, compile_cfg in (('eager', False),
                              ('compiled', dict(backend='segkit_test_counting'))):
        runner = RUNNERS.build(config(tmp_path / name, compile=compile_cfg))
        runner.train()
        runs[name] = runner.model.state_dict()
    assert RUN_BACKEND.graphs > graphs
    for key, value in runs['eager'].items():
        assert torch.allclose(runs['compiled'][key], value, atol=1e-6), key


def test_a_part_that_fails_to_compile_runs_eager_after_one_line(tmp_path):
    runner = RUNNERS.build(
        config(tmp_path / 'w', compile=dict(backend='segkit_test_failing')))
    runner.train()
    assert runner.iter == 4  # trained to the end, eager
    log = next((tmp_path / 'w').glob('2*/*.log')).read_text()
    warnings = [line for line in log.splitlines()
                if 'torch.compile of' in line]
    assert len(warnings) == 1, warnings
    assert 'SegRunnerTestModel' not in warnings[0]  # the class, not the key
    assert 'TinyModel failed, running it eager' in warnings[0]
    assert 'no C++ compiler on this machine' in warnings[0]


def test_an_error_of_the_callers_own_is_not_taken_for_the_compilers():
    layer = torch.nn.Linear(3, 2)
    layer.forward = CompiledOrEager(layer, backend=CountingBackend())
    with pytest.raises(RuntimeError, match='shapes cannot be multiplied'):
        layer(torch.rand(4, 5))  # wrong width: eager fails too
    assert layer.forward.compiled is not None  # not blamed on compile
