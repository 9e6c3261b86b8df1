"""Pydantic models of the workflow file and the JSON Schema generated from them.

Shipped as ``geogen.schemas``; ``workflow.schema.json`` beside this file is produced by
:func:`geogen.schemas.workflow.json_schema` and a test keeps the two in sync.
"""

from geogen.schemas.workflow import WorkflowConfig, json_schema

__all__ = ["WorkflowConfig", "json_schema"]
