"""Turn a pydantic ValidationError into one line with the YAML path of the field.

``training.step2.epochs: must be > 0``; an unknown key names the closest valid key
(difflib) so that a typo is fixed in one go.  Only the first error is reported: the
user fixes it and reruns, and one line is what the CLI contract allows.
"""

from __future__ import annotations

import difflib
import typing
from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel, ValidationError


def yaml_path(loc: Sequence[str | int]) -> str:
    """``("data", "velocity", 0)`` -> ``data.velocity[0]``."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out


def _models_in(annotation: Any) -> list[type[BaseModel]]:
    """The pydantic models an annotation may hold (through Optional, unions, lists)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    found: list[type[BaseModel]] = []
    origin = typing.get_origin(annotation)
    if origin is not None:
        for arg in typing.get_args(annotation):
            found.extend(_models_in(arg))
    return found


def model_at(root: type[BaseModel] | None, loc: Sequence[str | int]) -> type[BaseModel] | None:
    """The model class that holds the key at ``loc`` (``loc[-1]`` is the key itself)."""
    model: type[BaseModel] | None = root
    for part in loc[:-1]:
        if model is None:
            return None
        if isinstance(part, int):
            continue
        field = model.model_fields.get(part)
        if field is None:
            return None
        candidates = _models_in(field.annotation)
        model = candidates[0] if candidates else None
    return model


def _describe(err: dict[str, Any], root: type[BaseModel] | None) -> str:
    kind = err["type"]
    ctx = err.get("ctx") or {}
    loc = list(err["loc"])
    value = err.get("input")
    if err.get("union_of_paths"):
        return f"must be a path or a list of paths, got {value!r}"
    if kind == "extra_forbidden":
        model = model_at(root, loc)
        key = str(loc[-1])
        valid = list(model.model_fields) if model is not None else []
        close = difflib.get_close_matches(key, valid, n=1, cutoff=0.5)
        hint = f"; did you mean '{close[0]}'?" if close else (f"; valid keys: {', '.join(valid)}" if valid else "")
        return f"unknown key{hint}"
    if kind == "missing":
        return "required key is missing"
    bounds = {"greater_than": ">", "greater_than_equal": ">=", "less_than": "<", "less_than_equal": "<="}
    if kind in bounds:
        for name in ("gt", "ge", "lt", "le"):
            if name in ctx:
                return f"must be {bounds[kind]} {ctx[name]} (got {value!r})"
    if kind in ("int_parsing", "int_type", "int_from_float"):
        return f"must be an integer, got {value!r}"
    if kind in ("float_parsing", "float_type"):
        return f"must be a number, got {value!r}"
    if kind in ("bool_parsing", "bool_type"):
        return f"must be true or false, got {value!r}"
    if kind in ("string_type",):
        return f"must be a string, got {value!r}"
    if kind in ("list_type", "tuple_type"):
        return f"must be a list, got {value!r}"
    if kind in ("model_type", "model_attributes_type", "dict_type"):
        return f"must be a mapping of keys, got {value!r}"
    if kind == "literal_error":
        return f"must be one of {ctx.get('expected', '')}, got {value!r}"
    if kind == "string_pattern_mismatch":
        return f"{value!r} must match {ctx.get('pattern')}"
    if kind == "too_short":
        return f"must have at least {ctx.get('min_length')} items"
    if kind == "too_long":
        return f"must have at most {ctx.get('max_length')} items"
    message = str(err.get("msg", kind))
    return message.removeprefix("Value error, ").removeprefix("Assertion failed, ")


def describe_validation_error(exc: ValidationError, root: type[BaseModel] | None = None,
                              prefix: Sequence[str | int] | None = None) -> str:
    """One line for the first error of ``exc``: ``<yaml.path>: <what is wrong>``.

    ``root`` is the model validated (its keys suggest the fix for an unknown key); ``prefix`` the path of that
    model in the file (default: none for a root model, else the model's name, e.g. ``Acquisition.receiver_x``).
    """
    if prefix is None:
        prefix = () if root is not None else (exc.title,)
    errors = exc.errors(include_url=False)
    # an unknown key explains most follow-on errors; report it first
    errors.sort(key=lambda e: e["type"] != "extra_forbidden")
    err = dict(errors[0])
    tags = [i for i, p in enumerate(err["loc"]) if p in ("str", "list[str]")]
    if tags:  # a data source is a path or a list of paths: pydantic tried both
        err["union_of_paths"] = True
        err["loc"] = tuple(err["loc"][: tags[0]])
    loc = [*prefix, *[p for p in err["loc"] if not _is_tag(p)]]
    text = _describe({**err, "loc": tuple(loc[len(prefix):])}, root)
    path = yaml_path(loc)
    if not path:
        return text
    if text.startswith(path + ":"):
        return text
    return f"{path}: {text}"


def _is_tag(part: str | int) -> bool:
    """pydantic adds validator tags to loc (``function-after[...]``); drop them."""
    return isinstance(part, str) and part.startswith("function-")
