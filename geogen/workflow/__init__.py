"""The workflow layer: a YAML file in, every stage run into a run directory, resumably."""

from geogen.workflow.runner import Workflow, train

__all__ = ["Workflow", "train"]
