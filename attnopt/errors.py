"""The one exception type that means "the user asked for something invalid".

The CLI turns it into a single line on stderr and exit code 2; everything else is a bug and keeps
its traceback.
"""


class ConfigError(ValueError):
    """An invalid value, key or name in a config, override or API call."""


def one_line(exc: BaseException, base=None) -> str:
    """Hydra/OmegaConf errors span several lines; keep what names the bad value and the choices.
    (Here, not in the CLI, so that every command that composes configs shares it.)

    ``base`` (the config composed without the failing job's overrides) lets an unknown key be
    answered with the keys that do exist at that level.
    """
    import difflib
    import re

    from omegaconf import OmegaConf

    text = str(exc).strip()
    options = re.search(r"Could not (?:find|load) '([^/']+)/([^']*)'.*?Available options in '[^']+':\s*(.*)", text, re.S)
    if options:
        group, value, listed = options.groups()
        choices = []
        for line in listed.splitlines():
            if line.startswith("Config search path"):
                break
            if line.strip():
                choices.append(line.strip())
        return f"unknown {group} '{value}'; choose from: {', '.join(choices)}"
    key = re.search(r"Could not override '([^']+)'", text)
    if key and "No match in the defaults list" in text:
        # a group with no default choice (experiment=...) must be added, not overridden
        return f"'{key.group(1)}' has no default to override: add it with a '+', e.g. +{key.group(1)}=<name>"
    cause_text = str(exc.__cause__ or "")
    if key and ("not in struct" in text + cause_text or "No match in config" in text + cause_text):
        full = key.group(1)
        parent, _, leaf = full.rpartition(".")
        node = OmegaConf.select(base, parent) if (base is not None and parent) else base
        if node is not None and hasattr(node, "keys"):
            allowed = sorted(str(k) for k in node.keys() if str(k) != "hydra")
            close = difflib.get_close_matches(leaf, allowed, n=1)
            hint = f" (did you mean '{close[0]}'?)" if close else ""
            return f"unknown key '{full}'{hint}; allowed keys: {', '.join(allowed)}"
        return f"unknown key '{full}'; run `attnopt run --help` to list the keys"
    if key:
        cause = exc.__cause__ or exc
        detail = str(cause).strip().splitlines()[0] if str(cause).strip() else text.splitlines()[-1]
        return f"cannot set '{key.group(1)}': {detail}"
    lines = [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.strip().startswith(("full_key", "object_type", "reference_type"))]
    return " ".join(lines[:2]) if lines else type(exc).__name__
