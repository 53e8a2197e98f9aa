"""The one exception type that means "the user asked for something invalid".

The CLI turns it into a single line on stderr and exit code 2; everything else is a bug and keeps
its traceback.
"""


class ConfigError(ValueError):
    """An invalid value, key or name in a config, override or API call."""
