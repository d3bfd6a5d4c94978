"""User-fixable error types, in a leaf module that every layer (configs, registries, models, metrics, the CLI)
may import without importing the rest of its package."""


class ConfigError(ValueError):
    """A user-fixable configuration problem; ``str(e)`` is the one-line message to show."""


class MetricInputError(ValueError):
    """Inputs a metric cannot use; the message names the input and says what to do."""
