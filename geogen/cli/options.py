"""What several commands share: options declared once, and the step from given options to a configuration."""

from __future__ import annotations

from typing import Any


def given(**options: Any) -> dict[str, Any]:
    """The options the user set (None: not given, so the configuration's default holds)."""
    return {k: v for k, v in options.items() if v is not None}
