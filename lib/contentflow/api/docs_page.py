"""Human API docs (`GET /docs`), rendered on the server from the app's own OpenAPI document.

FastAPI's default Swagger UI loads its scripts and styles from a CDN, which is broken for users
behind a proxy (and nothing here may reach the internet). This page is plain HTML and CSS built from
`app.openapi()`: every operation with its parameters, request body, responses, and every
component schema; so it cannot drift from the code any more than /openapi.json can."""

from __future__ import annotations

import json
import re
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from contentflow.api.errors import ERROR_CODES
from contentflow.api.app import OPEN_PATHS
from contentflow.api.pages import page_response, render

router = APIRouter(include_in_schema=False)

METHODS = ("get", "post", "put", "patch", "delete", "head", "options")
# The error codes clients branch on: the api's error contract (raised as ApiError by the routes,
# mapped by app.py's handlers, payload_too_large by functions/api.py). Kept in step by hand.


# --- from OpenAPI to what the page shows ----------------------------------------------------------
def _ref_name(ref: str) -> str:
    return ref.rsplit("/", 1)[-1]


class _Describer:
    def __init__(self, components: dict[str, Any]):
        self.components = components

    def type_of(self, schema: Any) -> list[dict]:
        """The schema's type as tokens: {"text": ...} or {"ref": name, "known": bool} (a link)."""
        if not isinstance(schema, dict) or not schema:
            return [{"text": "any"}]
        if "$ref" in schema:
            name = _ref_name(schema["$ref"])
            return [{"ref": name, "known": name in self.components}]
        for key in ("anyOf", "oneOf"):
            if isinstance(schema.get(key), list):
                return self._join([self.type_of(s) for s in schema[key]], " | ")
        if isinstance(schema.get("allOf"), list):
            return self._join([self.type_of(s) for s in schema["allOf"]], " & ")
        if "const" in schema:
            return [{"text": json.dumps(schema["const"])}]
        kind = schema.get("type")
        if isinstance(kind, list):
            return self._join([self.type_of({**schema, "type": k}) for k in kind], " | ")
        if kind == "array":
            return [{"text": "array of "}, *self.type_of(schema.get("items"))]
        if kind == "object" or "properties" in schema or "additionalProperties" in schema:
            values = schema.get("additionalProperties")
            if isinstance(values, dict) and values:
                return [{"text": "object of string → "}, *self.type_of(values)]
            return [{"text": "object"}]
        if kind is None:
            return [{"text": "any"}]
        fmt = schema.get("format")
        return [{"text": f"{kind} ({fmt})" if fmt else str(kind)}]

    @staticmethod
    def _join(parts: list[list[dict]], separator: str) -> list[dict]:
        tokens: list[dict] = []
        for i, part in enumerate(parts):
            if i:
                tokens.append({"text": separator})
            tokens.extend(part)
        return tokens

    def constraints(self, schema: Any) -> list[str]:
        """What limits the value, in words (pattern, lengths, range, items, enum, default, example)."""
        if not isinstance(schema, dict):
            return []
        found: list[str] = []
        variants = [schema] + [s for key in ("anyOf", "oneOf") for s in schema.get(key) or [] if isinstance(s, dict)]
        for variant in variants:
            if "pattern" in variant:
                found.append(f"pattern `{variant['pattern']}`")
            low, high = variant.get("minLength"), variant.get("maxLength")
            if low is not None or high is not None:
                found.append(_range_words(low, high, "characters"))
            low, high = variant.get("minItems"), variant.get("maxItems")
            if low is not None or high is not None:
                found.append(_range_words(low, high, "items"))
            bounds = [f"{sign} {_number(variant[key])}" for key, sign in
                      (("minimum", "≥"), ("exclusiveMinimum", ">"), ("maximum", "≤"), ("exclusiveMaximum", "<"))
                      if key in variant]
            if any(bounds):
                found.append(" and ".join(b for b in bounds if b))
            if isinstance(variant.get("enum"), list):
                found.append("one of " + ", ".join(f"`{json.dumps(v)}`" for v in variant["enum"]))
        if "default" in schema:
            found.append(f"default `{json.dumps(schema['default'])}`")
        examples = schema.get("examples")
        if isinstance(examples, list) and examples:
            found.append(f"e.g. `{json.dumps(examples[0])}`")
        return found

    def variants(self, schema: Any) -> list[dict]:
        """A request body's shapes, each with its fields: the body is one of them (a body's
        schemas are the ones a reader needs at hand, not one click away)."""
        if not isinstance(schema, dict):
            return []
        options = next((schema[k] for k in ("anyOf", "oneOf") if isinstance(schema.get(k), list)), [schema])
        shapes = []
        for option in options:
            name = _ref_name(option["$ref"]) if isinstance(option, dict) and "$ref" in option else None
            resolved = self.components.get(name) if name else option
            if not isinstance(resolved, dict):  # a reference the document does not define
                shapes.append({"name": name, "known": False, "description": "", "fields": [], "closed": False})
                continue
            shapes.append({"name": name, "known": True, "description": resolved.get("description") or "",
                           "fields": self.fields(resolved), "closed": resolved.get("additionalProperties") is False})
        return shapes

    def fields(self, schema: dict) -> list[dict]:
        required = set(schema.get("required") or [])
        return [{"name": name, "type": self.type_of(prop), "required": name in required,
                 "constraints": self.constraints(prop),
                 "description": (prop.get("description") or "") if isinstance(prop, dict) else ""}
                for name, prop in (schema.get("properties") or {}).items()]


def _number(value: Any) -> str:
    return str(int(value)) if isinstance(value, float) and value.is_integer() else str(value)


def _range_words(low: Any, high: Any, unit: str) -> str:
    if low is not None and high is not None:
        return f"{low} to {high} {unit}"
    return f"at least {low} {unit}" if low is not None else f"at most {high} {unit}"


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def describe(openapi: dict, open_paths: frozenset[str] = frozenset()) -> dict:
    """The page's content, from an OpenAPI 3.1 document."""
    components = (openapi.get("components") or {}).get("schemas") or {}
    d = _Describer(components)
    operations, tags = [], {}
    for path, item in (openapi.get("paths") or {}).items():
        shared_parameters = item.get("parameters") or []
        for method in METHODS:
            op = item.get(method)
            if not isinstance(op, dict):
                continue
            parameters = [{
                "name": p.get("name", ""), "in": p.get("in", ""), "required": bool(p.get("required")),
                "type": d.type_of(p.get("schema")), "constraints": d.constraints(p.get("schema")),
                "description": p.get("description") or (p.get("schema") or {}).get("description") or "",
            } for p in [*shared_parameters, *(op.get("parameters") or [])]]
            body = op.get("requestBody") or None
            request_body = None
            if body:
                request_body = {"required": bool(body.get("required")), "description": body.get("description") or "",
                                "content": [{"media": media, "type": d.type_of(spec.get("schema")),
                                             "variants": d.variants(spec.get("schema"))}
                                            for media, spec in (body.get("content") or {}).items()]}
            responses = []
            for code, answer in sorted((op.get("responses") or {}).items()):
                responses.append({
                    "code": code, "description": answer.get("description") or "",
                    "content": [{"media": media, "type": d.type_of(spec.get("schema"))}
                                for media, spec in (answer.get("content") or {}).items()],
                    "headers": [{"name": name, "description": (h or {}).get("description") or ""}
                                for name, h in (answer.get("headers") or {}).items()],
                })
            tag = (op.get("tags") or ["other"])[0]
            entry = {"anchor": f"{method}-{_slug(path) or 'root'}", "method": method.upper(), "path": path,
                     "summary": op.get("summary") or "", "description": op.get("description") or "",
                     "parameters": parameters, "body": request_body, "responses": responses,
                     "deprecated": bool(op.get("deprecated")), "open": path in open_paths}
            operations.append(entry)
            tags.setdefault(tag, []).append(entry)
    schemas = [{"name": name, "anchor": f"schema-{name}", "description": (schema or {}).get("description") or "",
                "type": d.type_of({k: v for k, v in (schema or {}).items() if k != "title"}),
                "constraints": d.constraints(schema), "fields": d.fields(schema or {}),
                "closed": (schema or {}).get("additionalProperties") is False}
               for name, schema in sorted(components.items())]
    info = openapi.get("info") or {}
    return {"title": info.get("title") or "API", "version": info.get("version") or "", "openapi": openapi.get("openapi", ""),
            "description": info.get("description") or "", "tags": tags, "operations": operations, "schemas": schemas}


@router.get("/docs", response_class=HTMLResponse)
def api_docs(request: Request) -> HTMLResponse:
    app = request.app
    html = getattr(app.state, "docs_html", None)
    if html is None:  # the OpenAPI document is fixed for the app's lifetime: render it once
        html = render("docs.html", {**describe(app.openapi(), OPEN_PATHS), "open_paths": sorted(OPEN_PATHS),
                                    "error_codes": ERROR_CODES})
        app.state.docs_html = html
    return page_response(html, cache="no-cache")
