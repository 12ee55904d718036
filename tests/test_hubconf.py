"""hubconf.py: torch.hub.load of a local checkout gives init_model's model,
from a tiny U-Net checkpoint, and segkit's one-line errors."""
import importlib.util
from typing import Optional

import pytest
import torch
from mmengine.runner import save_checkpoint
from tiny_models import REPO, tiny_options

from segkit.apis import inference, init_model
from segkit.utils import MissingPathError

CONFIG = 'configs/unet_camvid_quick.py'
TINY = tiny_options('unet_camvid_quick.py')


def hub_load(config: str, checkpoint: Optional[str]) -> torch.nn.Module:
    return torch.hub.load(str(REPO), 'segkit', config=config,
                          checkpoint=checkpoint, cfg_options=TINY,
                          source='local')


@pytest.fixture(scope='module')
def checkpoint(tmp_path_factory) -> str:
    torch.manual_seed(0)
    model = init_model(REPO / CONFIG, cfg_options=TINY)
    path = str(tmp_path_factory.mktemp('hub') / 'tiny.pth')
    save_checkpoint({'state_dict': model.state_dict()}, path)
    return path


def test_torch_hub_lists_the_segkit_entry_point():
    # torch.hub.list reads GitHub only; for a local directory this is its
    # rule: hubconf's public callables.
    spec = importlib.util.spec_from_file_location('hubconf',
                                                  REPO / 'hubconf.py')
    hubconf = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(hubconf)
    assert [name for name in dir(hubconf) if not name.startswith('_')
            and callable(getattr(hubconf, name))] == ['segkit']


@pytest.mark.parametrize('config', [CONFIG, str(REPO / CONFIG)],
                         ids=['relative-to-repo', 'absolute'])
def test_hub_model_predicts_as_init_model(config, checkpoint, camvid_root,
                                          monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)  # the relative config is not found here
    hub_model = hub_load(config, checkpoint)
    reference = init_model(REPO / CONFIG, checkpoint, cfg_options=TINY)
    assert not hub_model.training
    saved = torch.load(checkpoint, weights_only=True)['state_dict']
    assert all(torch.equal(value, saved[key])
               for key, value in hub_model.state_dict().items())
    frame = sorted((camvid_root / 'val').glob('*.png'))[0]
    (ours, ), (theirs, ) = (inference(m, frame) for m in (hub_model,
                                                           reference))
    assert torch.equal(ours.seg_logits.data, theirs.seg_logits.data)


@pytest.mark.parametrize('config, checkpoint, named', [
    (CONFIG, 'missing.pth', 'checkpoint not found: missing.pth'),
    ('configs/unet_camvd.py', None, str(REPO / 'configs/unet_camvd.py')),
])
def test_missing_file_is_one_line_user_error(config, checkpoint, named):
    with pytest.raises(MissingPathError) as error:
        hub_load(config, checkpoint)
    assert named in str(error.value) and '\n' not in str(error.value)
