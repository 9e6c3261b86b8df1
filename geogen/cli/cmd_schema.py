"""``geogen schema``: the JSON Schema of workflow files (for editors and validators)."""

from __future__ import annotations

import json

from geogen.cli.app import app


@app.command()
def schema() -> None:
    """Print the JSON Schema of a workflow file."""
    from geogen.schemas.workflow import json_schema

    print(json.dumps(json_schema(), indent=2))
