"""Static "same" padding for the export: the same logits as timm's dynamic
padding on every input the export takes, and only where that holds."""
from pathlib import Path

import pytest
import torch

from segkit.apis import init_model
from segkit.apis.same_padding import static_same_padding

pytest.importorskip('timm')
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope='module')
def lite0():
    """The EfficientNet-Lite0 U-Net (timm's tf_ model: five strided
    convolutions with dynamic "same" padding), random weights."""
    torch.manual_seed(0)
    return init_model(str(REPO / 'configs' / 'unet_effl0_camvid_quick.py'),
                      cfg_options={'model.backbone.init_cfg': None})


def patched(model) -> list:
    return [m for m in model.modules() if 'forward' in vars(m)]


def test_static_pads_give_the_dynamic_logits_on_multiples_of_32(lite0):
    inputs = [torch.randn(1, 3, 32 * h, 32 * w) for h, w in ((2, 3), (3, 5))]
    with torch.no_grad():
        expected = [lite0(x, mode='tensor') for x in inputs]
        with static_same_padding(lite0, 3, 32):
            assert len(patched(lite0)) == 5  # every strided conv
            got = [lite0(x, mode='tensor') for x in inputs]
    assert patched(lite0) == []  # restored
    for a, b in zip(got, expected):
        assert torch.equal(a, b)


class TwoStridedConvs(torch.nn.Module):
    """Two stride-2 "same" convolutions, called as a segmentor is."""

    def __init__(self) -> None:
        super().__init__()
        from timm.layers.conv2d_same import Conv2dSame
        self.first = Conv2dSame(3, 4, 3, stride=2)
        self.second = Conv2dSame(4, 4, 5, stride=2)

    def forward(self, x, mode='tensor'):
        return self.second(self.first(x))


def test_a_conv_whose_input_the_divisor_does_not_make_even_stays_dynamic():
    """Inputs of multiples of 2 reach the second conv at odd sides (1 at
    the 2 x 2 probe, 3 at 6 x 6): it keeps timm's padding."""
    torch.manual_seed(0)
    model = TwoStridedConvs()
    odd, even = torch.randn(1, 3, 6, 10), torch.randn(1, 3, 8, 12)
    with torch.no_grad():
        expected = model(odd), model(even)
        with static_same_padding(model, 3, 2):
            assert patched(model) == [model.first]
            assert torch.equal(model(odd), expected[0])
        with static_same_padding(model, 3, 4):  # both even from 4 on
            assert patched(model) == [model.first, model.second]
            assert torch.equal(model(even), expected[1])
