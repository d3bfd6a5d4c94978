"""User-fixable error types, in a leaf module that every layer (configs, registries, models) may import."""


class ConfigError(ValueError):
    """A user-fixable configuration problem; ``str(e)`` is the one-line message to show."""
