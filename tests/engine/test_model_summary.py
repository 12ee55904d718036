"""Parameters and FLOPs against hand-counted numbers."""
import pytest
import torch
from mmengine.model import BaseModel
from torch import nn

from segkit.engine.model_summary import (human, network_input,
                                         summarize_model, summary_line,
                                         summary_table)


class Net(BaseModel):
    """conv 3->4 (3x3, padding 1), then a ModuleList of two 1x1 convs
    4->4 that is never called itself, only its members."""

    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(3, 4, 3, padding=1)
        self.blocks = nn.ModuleList([nn.Conv2d(4, 4, 1), nn.Conv2d(4, 4, 1)])
        self.frozen = nn.Conv2d(4, 2, 1).requires_grad_(False)

    def forward(self, inputs, data_samples=None, mode='tensor'):
        x = self.stem(inputs)
        for block in self.blocks:
            x = block(x)
        return self.frozen(x)


def test_parameters_and_flops_per_module_by_hand():
    model = Net()
    summary = summarize_model(model, torch.zeros(2, 3, 8, 16))
    pixels = 8 * 16
    stem = 2 * 4 * 3 * 9 * pixels  # multiply and add counted apart
    block = 2 * 4 * 4 * pixels
    head = 2 * 2 * 4 * pixels
    assert summary.input_shape == (3, 8, 16)
    assert summary.flops == stem + 2 * block + head  # per image
    assert summary.params == (4 * 27 + 4) + 2 * (16 + 4) + (8 + 2)
    assert summary.params - summary.trainable == 10
    rows = {row.name: (row.params, row.flops) for row in summary.modules}
    assert rows == {'stem': (112, stem), 'blocks': (40, 2 * block),
                    'blocks.0': (20, block), 'blocks.1': (20, block),
                    'frozen': (10, head)}
    # The model itself was neither moved nor run.
    assert all(p.device.type == 'cpu' for p in model.parameters())
    assert summary_line(summary) == (
        'Net: 162 parameters (10 frozen), 37.9 kFLOPs per 3x8x16 input')
    table = summary_table(summary).splitlines()
    assert table[0].split() == ['module', 'params', 'FLOPs']
    assert table[3].split() == ['blocks', '40', '24.7%', '8.19', 'k',
                                '21.6%']  # 8192 of 37888 FLOPs
    assert table[-1].split()[:2] == ['total', '162']


def test_network_input_is_what_the_preprocessor_makes():
    model = Net()
    image = torch.zeros(3, 5, 7, dtype=torch.uint8)
    assert network_input(model, image).shape == (1, 3, 5, 7)


@pytest.mark.parametrize('count,text', [(162, '162'), (18432, '18.4 k'),
                                        (1.94e6, '1.94 M'),
                                        (4.28e9, '4.28 G')])
def test_human_counts(count, text):
    assert human(count) == text
