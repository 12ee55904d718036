"""The Runner's config, formatted by yapf once per content rather than at
every use."""
from mmengine.config import Config


class RunConfig(Config):
    """MMEngine's :class:`~mmengine.config.Config` whose ``pretty_text``
    is formatted once for as long as the config is unchanged.

    A Runner formats its config with yapf to log it, to dump it, to hand it
    to the visualiser's backends, for the message hub and again into every
    checkpoint's meta: about a second each on a CPU, most of a short run's
    start-up and a pause at every checkpoint. The text is the same as
    MMEngine's; a changed config is formatted again.
    """

    @classmethod
    def of(cls, cfg: Config) -> 'RunConfig':
        """``cfg`` as a :class:`RunConfig`, sharing its contents."""
        run_cfg = cls.__new__(cls)
        for key, value in cfg.__dict__.items():
            super(Config, run_cfg).__setattr__(key, value)
        return run_cfg

    @property
    def pretty_text(self) -> str:
        """MMEngine's formatted text, from the cache where the config's
        unformatted text is the one formatted last."""
        formatting = self._format_python_code
        super(Config, self).__setattr__('_format_python_code', False)
        try:
            unformatted = Config.pretty_text.fget(self)
        finally:
            super(Config, self).__setattr__('_format_python_code', formatting)
        if not formatting:
            return unformatted
        cached = self.__dict__.get('_formatted')
        if cached is None or cached[0] != unformatted:
            cached = (unformatted, Config.pretty_text.fget(self))
            super(Config, self).__setattr__('_formatted', cached)
        return cached[1]
