"""The workflow JSON Schema: generated from the pydantic models and kept in sync."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from geogen.schemas.workflow import WorkflowConfig, json_schema
from geogen.workflow.runner import load_yaml

ROOT = Path(__file__).resolve().parents[1]
SCHEMA_FILE = ROOT / "schemas" / "workflow.schema.json"


def test_schema_file_is_in_sync_with_the_models():
    stored = json.loads(SCHEMA_FILE.read_text())
    assert stored == json_schema(), (
        "schemas/workflow.schema.json is stale; regenerate it with "
        "`geogen schema > schemas/workflow.schema.json`"
    )


def test_schema_forbids_unknown_keys_and_embeds_training_models():
    schema = json_schema()
    defs = schema["$defs"]
    assert schema["additionalProperties"] is False
    assert all(d.get("additionalProperties") is False for d in defs.values() if d.get("type") == "object")
    # the training section is geogen.training.config's own model, not a copy
    for name in ("ModelConfig", "TrainingConfig", "Step1Config", "Step2Config", "DiffusionConfig", "SplitConfig"):
        assert name in defs
    # every Acquisition field can be overridden next to the preset
    from geogen.acquisition import Acquisition

    assert set(Acquisition.model_fields) | {"preset"} == set(defs["AcquisitionConfig"]["properties"])


def test_geogen_schema_prints_the_schema():
    out = subprocess.run([sys.executable, "-m", "geogen", "schema"], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout) == json_schema()


@pytest.mark.parametrize("name", ["quickstart", "openfwi", "field_adapt"])
def test_shipped_workflows_validate(name):
    config = WorkflowConfig.model_validate(load_yaml(ROOT / "workflows" / f"{name}.yaml"))
    assert config.name == name
    assert config.export.formats


def test_schema_validates_the_shipped_workflows_with_a_json_schema_validator():
    jsonschema = pytest.importorskip("jsonschema")
    for path in sorted((ROOT / "workflows").glob("*.yaml")):
        jsonschema.validate(load_yaml(path), json_schema())
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"data": {"synth": {}}, "modle": {}}, json_schema())
