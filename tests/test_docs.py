"""README.md and docs/guides/ stay true: every shell command in a ```bash
block names a tool that exists and whose argument parser accepts the
command's flags (and its ``--cfg-options`` are checked against the config,
as the tool checks them), and every ```python config block loads with
``segkit.apis.load_config`` and builds its model. A renamed flag, tool,
config, extra or config key fails here.

Arguments are parsed in-process (the tool's own ``parse_args`` under a
patched ``sys.argv``), so the fast tests stay within seconds; the ``slow``
ones run the README's own-data recipe end to end, shortened to one
iteration."""
import argparse
import ast
import importlib.util
import re
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Dict, List, Tuple
from unittest import mock

import cv2
import numpy as np
import pytest

from segkit.apis import load_config
from segkit.registry import MODELS
from tool_process import run_python

REPO = Path(__file__).resolve().parents[1]
DOCS = [REPO / 'README.md'] + sorted((REPO / 'docs' / 'guides').glob('*.md'))
# Programs a command may call that are not segkit's: checked no further.
EXTERNAL = {'tensorboard', 'wandb'}
# Placeholders the pages write for the user's own files.
PLACEHOLDERS = {'CONFIG', 'CKPT', 'SWEEP'}


def _blocks(lang: str) -> List[Tuple[str, str]]:
    """``(page, text)`` of every fenced ``lang`` block of the pages."""
    found = []
    for doc in DOCS:
        text = doc.read_text(encoding='utf-8')
        for block in re.findall(rf'^```{lang}\n(.*?)^```', text, re.S | re.M):
            found.append((doc.relative_to(REPO).as_posix(), block))
    return found


def _commands() -> List[Tuple[str, List[str]]]:
    """``(page, argv)`` of every command of the bash blocks: continuation
    lines joined, comments dropped, environment assignments and
    ``/usr/bin/time -v`` taken off the front."""
    commands = []
    for page, block in _blocks('bash'):
        for line in block.replace('\\\n', ' ').splitlines():
            argv = shlex.split(line, comments=True)
            while argv and re.fullmatch(r'[A-Z_]+=\S*', argv[0]):
                argv = argv[1:]
            if argv[:2] == ['/usr/bin/time', '-v']:
                argv = argv[2:]
            if argv:
                commands.append((page, argv))
    return commands


COMMANDS = _commands()
CONFIG_BLOCKS = [(page, block) for page, block in _blocks('python')
                 if not re.search(r'^(import|from) ', block, re.M)]
API_BLOCKS = [(page, block) for page, block in _blocks('python')
              if re.search(r'^(import|from) ', block, re.M)]


def _written_configs() -> Dict[str, str]:
    """Configs the pages tell the user to write: a python block whose first
    line is ``# configs/<name>.py``, by that path."""
    written = {}
    for _, block in CONFIG_BLOCKS:
        first = re.match(r'# (configs/\w+\.py)', block)
        if first:
            written[first.group(1)] = block
    return written


WRITTEN = _written_configs()
# Configs that tools/make_config.py writes in the pages' own commands.
MADE = {argv[argv.index('--out') + 1] for _, argv in COMMANDS
        if 'tools/make_config.py' in argv and '--out' in argv}


def _extras() -> set:
    tree = ast.parse((REPO / 'setup.py').read_text(encoding='utf-8'))
    for node in ast.walk(tree):
        if isinstance(node, ast.keyword) and node.arg == 'extras_require':
            return {key.value for key in node.value.keys}
    raise AssertionError('setup.py has no extras_require')


_TOOLS = {}


def _tool(path: Path):
    """The module of ``tools/<name>.py``, imported once."""
    if path not in _TOOLS:
        spec = importlib.util.spec_from_file_location(
            f'docs_tool_{path.stem}', path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        _TOOLS[path] = module
    return _TOOLS[path]


def _parse(module, argv: List[str]):
    """``(args, parser)`` of the tool's own ``parse_args`` on ``argv``.
    Every flag must be the parser's exactly: argparse would take an
    abbreviation (``--minute`` for ``--minutes``), and a renamed flag that
    is a prefix of another must still fail."""
    parsers = []
    original = argparse.ArgumentParser.parse_known_args

    def recording(self, *a, **k):
        parsers.append(self)
        return original(self, *a, **k)

    with mock.patch.object(sys, 'argv', argv), mock.patch.object(
            argparse.ArgumentParser, 'parse_known_args', recording):
        args = module.parse_args()
    known = parsers[-1]._option_string_actions
    for arg in argv[1:]:
        flag = arg.split('=', 1)[0]
        if flag.startswith('--'):
            assert flag in known, f'{argv[0]} has no {flag} (only a longer one)'
    return args


def _config_snippet_file(block: str, directory: Path) -> Path:
    """``block`` as a config file in ``directory``: its ``_base_`` names,
    relative to configs/ as the pages write them, made absolute."""
    def absolute(match):
        name = match.group(1)
        return repr(str(REPO / 'configs' / name))
    text = re.sub(r"'([\w/]+\.py)'", lambda m: absolute(m)
                  if (REPO / 'configs' / m.group(1)).is_file() else m.group(0),
                  block)
    path = directory / f'snippet_{abs(hash(block))}.py'
    path.write_text(text, encoding='utf-8')
    return path


def _load(config: str, cfg_options=None, tmp_path: Path = None):
    """Load ``config`` as the tool would, a written one from its block."""
    if config in WRITTEN:
        path = _config_snippet_file(WRITTEN[config], tmp_path)
    elif config in MADE:
        return None  # written by make_config.py: tested below
    else:
        path = REPO / config
        assert path.is_file(), f'{config} does not exist'
    return load_config(str(path), cfg_options=cfg_options, check_data=False)


def _check_paths(page: str, argv: List[str]) -> None:
    for arg in argv:
        if re.fullmatch(r'(configs|tools|benchmarks|tests)/[\w/.-]+\.(py|sh)',
                        arg):
            assert ((REPO / arg).exists() or arg in WRITTEN
                    or arg in MADE), f'{page}: {arg} does not exist'


def test_the_pages_have_commands_and_configs():
    assert len(DOCS) >= 10
    tools = {arg for _, argv in COMMANDS for arg in argv
             if arg.startswith('tools/')}
    assert len(COMMANDS) > 60 and len(tools) >= 15, tools
    assert len(CONFIG_BLOCKS) >= 15 and API_BLOCKS


def _shell_flags(script: Path) -> str:
    """The text a shell tool's flags are looked up in: the script and, for
    the launchers, tools/torchrun.sh."""
    text = script.read_text(encoding='utf-8')
    if 'torchrun.sh' in text:
        text += (REPO / 'tools' / 'torchrun.sh').read_text(encoding='utf-8')
    return text


@pytest.mark.parametrize('page,argv', COMMANDS,
                         ids=[f'{p}:{" ".join(a)[:60]}' for p, a in COMMANDS])
def test_command(page, argv, tmp_path):
    program = argv[0]
    if program in EXTERNAL:
        return
    if program in ('.', 'source'):
        assert argv[1] == '.venv/bin/activate', argv
        return
    if program == 'pip':
        extra = re.fullmatch(r"\.\[(\w+)\]", argv[-1])
        if extra:
            assert argv[1:3] == ['install', '-e'], argv
            assert extra.group(1) in _extras(), f'{page}: no extra {argv[-1]}'
        return
    _check_paths(page, argv)
    if program in ('bash', 'sbatch'):
        script = REPO / argv[1]
        assert script.is_file(), f'{page}: {argv[1]} does not exist'
        subprocess.run(['bash', '-n', str(script)], check=True)
        if argv[1] == 'tools/run_tests.sh':
            for arg in argv[2:]:
                if arg.startswith('tests/'):
                    assert (REPO / arg).exists(), arg
            return
        text = _shell_flags(script)
        for flag in (a for a in argv[2:] if a.startswith('--')):
            if flag == '--cfg-options':
                continue
            assert flag in text, f'{page}: {argv[1]} has no {flag}'
        if '--cfg-options' in argv and argv[1] == 'tools/quickstart.sh':
            options = argv[argv.index('--cfg-options') + 1:]
            parsed = dict(option.split('=', 1) for option in options)
            _load('configs/unet_camvid_quick.py', parsed, tmp_path)
        return
    assert program == 'python', f'{page}: unknown program {argv}'
    script = REPO / argv[1]
    assert script.is_file(), f'{page}: {argv[1]} does not exist'
    if argv[1].startswith('benchmarks/'):
        return
    module = _tool(script)
    if not hasattr(module, 'parse_args'):
        # a tool that parses inside main (model_zoo.py): its flags by name
        text = script.read_text(encoding='utf-8')
        for flag in (a for a in argv[2:] if a.startswith('--')):
            assert f"'{flag}'" in text, f'{page}: {argv[1]} has no {flag}'
        return
    try:
        args = _parse(module, argv[1:])
    except SystemExit as error:
        pytest.fail(f'{page}: {" ".join(argv)} is refused by its '
                    f'argument parser (exit {error.code})')
    config = getattr(args, 'config', None)
    if config and config not in PLACEHOLDERS:
        cfg = _load(config, getattr(args, 'cfg_options', None), tmp_path)
        if cfg is not None and config in WRITTEN:
            MODELS.build(cfg.model)
    sweep = getattr(args, 'sweep', None)
    if sweep and sweep not in PLACEHOLDERS:
        from segkit.apis.sweep import read_sweep
        # every variant checked as tools/sweep.py checks it; --only names
        # that the file lacks are refused
        assert read_sweep(sweep, args.cfg_options, args.only)


def _is_fragment(block: str) -> bool:
    return '_base_' not in block


@pytest.mark.parametrize('page,block', CONFIG_BLOCKS,
                         ids=[f'{p}:{b.splitlines()[0][:50]}'
                              for p, b in CONFIG_BLOCKS])
def test_config_block_loads_and_builds(page, block, tmp_path):
    """Every config block loads as a config (keys checked) and its model
    builds; a fragment without ``_base_`` is a model dict built as is."""
    path = _config_snippet_file(block, tmp_path)
    if _is_fragment(block):
        cfg = load_config(str(path), check_data=False)
        assert 'model' in cfg, f'{page}: a fragment without a model'
    else:
        cfg = load_config(str(path), check_data=False)
    if 'albumentations' in block or "type='Albu'" in block:
        pytest.importorskip('albumentations')
    model = MODELS.build(cfg.model)
    assert sum(p.numel() for p in model.parameters()) > 0
    from segkit.registry import TRANSFORMS
    for transform in cfg.get('train_pipeline', []):
        TRANSFORMS.build(transform)


@pytest.mark.parametrize('page,block', API_BLOCKS,
                         ids=[f'{p}:{i}' for i, (p, _) in
                              enumerate(API_BLOCKS)])
def test_api_block_compiles_and_its_imports_exist(page, block):
    tree = ast.parse(block)
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            module = importlib.import_module(node.module)
            for alias in node.names:
                assert hasattr(module, alias.name), (
                    f'{page}: {node.module} has no {alias.name}')
        elif isinstance(node, ast.Call) and getattr(
                node.func, 'attr', None) == 'load' and any(
                    k.arg == 'source' for k in node.keywords):
            # torch.hub.load(..., 'segkit', source='local'): the entry exists
            entry = node.args[1].value
            spec = importlib.util.spec_from_file_location(
                'docs_hubconf', REPO / 'hubconf.py')
            hub = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(hub)
            assert callable(getattr(hub, entry, None)), entry


def test_a_renamed_flag_or_key_fails_here(tmp_path):
    """The checks above can fail: a flag the tool lacks and a misspelt key."""
    module = _tool(REPO / 'tools' / 'train.py')
    assert _parse(module, ['tools/train.py', 'c.py', '--minutes', '3'])
    with pytest.raises(AssertionError, match='no --minute '):
        _parse(module, ['tools/train.py', 'c.py', '--minute', '3'])
    with pytest.raises(SystemExit):
        _parse(module, ['tools/train.py', 'c.py', '--budget', '3'])
    with pytest.raises(Exception, match='max_iters'):
        load_config(str(REPO / 'configs/unet_camvid_quick.py'),
                    cfg_options={'train_cfg.max_iter': 1}, check_data=False)


def _own_data_folder(root: Path) -> Path:
    """data/my_cracks as the README describes it: images/ and masks/ of
    0/255, made from the bundled Carvana sample."""
    sample = REPO / 'data' / 'carvana_sample'
    folder = root / 'data' / 'my_cracks'
    (folder / 'images').mkdir(parents=True)
    (folder / 'masks').mkdir()
    for image in sorted((sample / 'train').glob('*.jpg'))[:3]:
        (folder / 'images' / image.name).write_bytes(image.read_bytes())
        gif = sample / 'train_masks' / f'{image.stem}_mask.gif'
        ok, mask = cv2.VideoCapture(str(gif)).read()
        assert ok, gif
        binary = (mask[..., 0] > 127).astype(np.uint8) * 255
        cv2.imwrite(str(folder / 'masks' / f'{image.stem}.png'), binary)
    return folder


@pytest.mark.slow
def test_readme_own_data_config_trains_one_iteration(tmp_path):
    """The README's hand-written config, on a folder of images and 0/255
    masks, trains (one iteration) and validates from pretrained weights."""
    pytest.importorskip('timm')
    _own_data_folder(tmp_path)
    block = WRITTEN['configs/my_cracks.py']
    (tmp_path / 'configs').mkdir()
    config = tmp_path / 'configs' / 'my_cracks.py'
    config.write_text(block.replace(
        "_base_ = ['unet_effl0_carvana_quick.py']",
        f"_base_ = [{str(REPO / 'configs/unet_effl0_carvana_quick.py')!r}]"))
    proc = run_python(
        [REPO / 'tools' / 'train.py', config, '--work-dir', tmp_path / 'work',
         '--cfg-options', 'train_cfg.max_iters=1',
         'optim_wrapper.precision=fp32'], cwd=tmp_path, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert list((tmp_path / 'work').glob('*/report.html'))


@pytest.mark.slow
def test_make_config_command_writes_a_config_that_loads(tmp_path):
    """``tools/make_config.py data/my_data --out configs/my_data.py`` on a
    folder of images and 0/255 masks writes a config that loads."""
    folder = _own_data_folder(tmp_path)
    out = tmp_path / 'configs' / 'my_data.py'
    proc = run_python(
        [REPO / 'tools' / 'make_config.py', folder, '--out', out],
        cwd=Path.cwd(), timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert 'train it: python tools/train.py' in proc.stdout
    cfg = load_config(str(out))
    MODELS.build(cfg.model)


def test_every_relative_link_and_image_resolves():
    """Links between the pages (and the README's pictures) after the move:
    README, guides, performance.md and the dated studies."""
    pages = DOCS + [REPO / 'docs' / 'performance.md'] + sorted(
        (REPO / 'docs' / 'experiments').glob('*.md'))
    broken = []
    for page in pages:
        text = page.read_text(encoding='utf-8')
        for target in re.findall(r'\]\(([^)#\s]+)(?:#[^)]*)?\)', text):
            if re.match(r'\w+://', target):
                continue
            if not (page.parent / target).exists():
                broken.append(f'{page.relative_to(REPO)}: {target}')
    assert not broken, broken


def test_readme_zoo_rows_are_the_generated_ones():
    """The rows the README quotes are docs/model_zoo.md's (made by
    tools/model_zoo.py): a regenerated zoo must not leave them stale."""
    def rows(text):
        found = {}
        for line in text.splitlines():
            cells = [c.strip() for c in line.strip().strip('|').split('|')]
            if line.startswith('| ') and cells[0].endswith('.py'):
                found[cells[0]] = cells
        return found, next(
            [c.strip() for c in line.strip().strip('|').split('|')]
            for line in text.splitlines() if line.startswith('| config'))

    readme, readme_head = rows((REPO / 'README.md').read_text('utf-8'))
    zoo, zoo_head = rows((REPO / 'docs' / 'model_zoo.md').read_text('utf-8'))
    assert len(readme) >= 3
    for config, cells in readme.items():
        assert config in zoo, f'README quotes {config}, not in the zoo'
        for name, value in zip(readme_head, cells):
            assert value == zoo[config][zoo_head.index(name)], (config, name)
