"""Constructor arguments as our configs carry them (camelCase) turned into MONAI's keyword names."""
import re


def monai_kwargs(config):
    """{"numResBlocks": [1, 1]} -> {"num_res_blocks": [1, 1]} (snake_case keys pass through)."""
    return {re.sub(r"(?<!^)([A-Z])", r"_\1", k).lower(): v for k, v in config.items()}


def per_level(value, levels):
    """One number for every level, or one per level (MONAI's num_res_blocks / num_head_channels)."""
    return list(value) if isinstance(value, (list, tuple)) else [value] * levels
