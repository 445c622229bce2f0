"""The spec's single-field index exemptions (firestore.index_exemptions) in Terraform: the spec
module derives them from the spec as contentflow.spec reads it (steps.*.<field> expanded to every
step record, so a new step brings its own), refuses what contentflow.spec refuses, and
modules/firestore sets each with one google_firestore_field (the records' TTL field's in its TTL
policy), the subfields that keep indexes under an exempted map first. The .tf files still match
the providers' schema."""

from __future__ import annotations

import re

import pytest
import yaml

import contentflow.steps
from contentflow import documents
from contentflow.settings import Settings
from contentflow.spec import EXPIRY_FIELD, RECORDS_TTL_FIELD, STEP_RECORDS, load_spec_file, parse_spec

from .support import SPEC_PATH, TF_DIR, attr, blocks, dynamic_blocks, evaluate_spec_module
from .test_tf_add_step import _spec_with_summarise_step
from .test_tf_schema import _errors, check

SPEC = load_spec_file(SPEC_PATH)
STEP_TIMESTAMPS = ("queued_at", "started_at", "finished_at", "lease_until", "first_started_at", "redriven_at",
                   "hand_on_failed_at")
TF_ORDER = {"ASCENDING": ("ASCENDING", None), "DESCENDING": ("DESCENDING", None), "ARRAY_CONTAINS": (None, "CONTAINS")}


def expected_exemptions(spec) -> dict[str, dict]:
    """"<collection>/<field>" => the spec module's entry, computed from contentflow.spec."""
    exemptions = spec.index_exemptions()
    return {f"{c}/{f}": {
        "collection": c,
        "field": f,
        "indexes": [{"order": TF_ORDER[o][0], "array_config": TF_ORDER[o][1]} for o in keep],
        "under_exempted_map": any(c2 == c and f.startswith(f"{f2}.") for c2, f2 in exemptions),
    } for (c, f), keep in exemptions.items()}


def test_the_exemptions_are_the_specs_with_one_per_step_record(spec_outputs):
    out = spec_outputs["index_exemptions"]
    assert out == expected_exemptions(SPEC)
    records = [documents.FETCH_STEP, *(s.name for s in SPEC.steps)]
    assert records == ["fetch", "extract", "analyse", "index"]
    for stamp in STEP_TIMESTAMPS:
        for key in records:
            entry = out[f"documents/steps.{key}.{stamp}"]
            assert entry["indexes"] == [] and not entry["under_exempted_map"], (key, stamp)
    assert out["documents/event_pending_since"]["indexes"] == [{"order": "ASCENDING", "array_config": None}]
    assert out["documents/updated_at"]["indexes"] == []  # set by the TTL policy's resource
    # Subfields that keep their index under an exempted map: set first.
    assert {k for k, e in out.items() if e["under_exempted_map"]} == {
        "documents/stats.extraction.language", "documents/reembed_failed.space", "documents/analysis.cache_key",
        "documents/index.cache_key"}
    assert len(out) == 46 and len(out) + len(spec_outputs["firestore"]["expiring"]) <= 200


def test_the_names_the_exemptions_rely_on_are_the_codes(spec_outputs):
    facts = spec_outputs["code_facts"]
    assert facts["fetch_step"] == documents.FETCH_STEP
    assert facts["step_records"] == STEP_RECORDS and "steps" in documents.Document.model_fields
    defaults = [f.default for n, f in Settings.model_fields.items() if n == "collection" or n.endswith("_collection")]
    assert sorted(facts["collections"]) == sorted(defaults)
    assert set(facts["collections"]) | {SPEC.embeddings.collection} == SPEC.firestore_collections()
    firestore = spec_outputs["firestore"]
    assert (firestore["collection"], firestore["ttl_field"]) == (facts["collection"], RECORDS_TTL_FIELD)
    assert [e["field"] for e in firestore["expiring"].values()] == [EXPIRY_FIELD]


@pytest.fixture
def summarise_handler(monkeypatch):
    known = contentflow.steps.registered_steps()
    monkeypatch.setattr(contentflow.steps, "registered_steps", lambda: known | {"summarise"})


def test_a_new_step_brings_its_exemptions(tmp_path, summarise_handler):
    raw = _spec_with_summarise_step()
    spec_copy = tmp_path / "pipeline.yaml"
    spec_copy.write_text(yaml.safe_dump(raw, sort_keys=False))
    out = evaluate_spec_module(tmp_path / "tf", spec_path=spec_copy)["index_exemptions"]
    assert out == expected_exemptions(parse_spec(raw))
    assert {f"documents/steps.summarise.{s}" for s in STEP_TIMESTAMPS} <= set(out)
    assert len(out) == 46 + len(STEP_TIMESTAMPS)


@pytest.mark.parametrize("mutate, message", [
    (lambda e: e.update(documentz=[{"field": "x", "keep": []}]), "names a collection the code does not write"),
    (lambda e: e["documents"].append({"field": "steps.analyse.lease_until", "keep": []}), "A field is exempted twice"),
    (lambda e: e.update(idempotency=[{"field": "expires_at", "keep": []}]), "The idempotency keys' expiry field"),
    (lambda e: e["documents"].append({"field": "source.url", "keep": ["ASC"]}), "keeps each of ASCENDING, DESCENDING and ARRAY_CONTAINS"),
    (lambda e: e["documents"].append({"field": "stats.*.language", "keep": []}), "`*` only as steps.*.<field>"),
])
def test_the_spec_module_refuses_what_contentflow_spec_refuses(tmp_path, mutate, message):
    raw = yaml.safe_load(SPEC_PATH.read_text())
    mutate(raw["firestore"]["index_exemptions"])
    broken = tmp_path / "pipeline.yaml"
    broken.write_text(yaml.safe_dump(raw))
    with pytest.raises(AssertionError) as err:
        evaluate_spec_module(tmp_path / "tf", spec_path=broken)
    assert message in " ".join(str(err.value).split())


def _squeezed(expr: str) -> str:
    return re.sub(r"\s+", "", expr)


def _firestore_call(terraform_hcl) -> dict:
    calls = [b for b in terraform_hcl.module_calls().values() if attr(b, "source") == "./modules/firestore"]
    assert len(calls) == 1
    return calls[0]


def _kept_indexes_block(body: dict, source: str) -> None:
    """index_config with one `indexes` per kept index, passed through from `source`."""
    indexes = dynamic_blocks(body, "indexes")
    assert len(indexes) == 1 and attr(indexes[0], "for_each") == source
    content = blocks(indexes[0], "content")[0]
    assert {k: attr(content, k) for k in ("order", "array_config")} == {
        "order": "${indexes.value.order}", "array_config": "${indexes.value.array_config}"}
    assert "query_scope" not in content  # COLLECTION, as the automatic indexes


def test_modules_firestore_sets_each_exemption_with_one_field_resource(terraform_hcl):
    assert attr(_firestore_call(terraform_hcl), "index_exemptions") == "${module.spec.index_exemptions}"
    variable = terraform_hcl.variables("firestore")["index_exemptions"]
    assert attr(variable, "description") and attr(variable, "type").startswith("${map(object(")
    assert len(blocks(variable, "validation")) >= 4
    locals_ = {k: v for path, doc in terraform_hcl.files.items() if path == TF_DIR / "modules/firestore/main.tf"
               for block in doc["locals"] for k, v in block.items()}
    assert attr(locals_, "ttl_exemption") == "${var.layout.collection}/${var.layout.ttl_field}"
    assert _squeezed(attr(locals_, "index_subfields")) == \
        _squeezed("${{for k, e in var.index_exemptions : k => e if e.under_exempted_map && k != local.ttl_exemption}}")
    assert _squeezed(attr(locals_, "index_exemptions")) == \
        _squeezed("${{for k, e in var.index_exemptions : k => e if !e.under_exempted_map && k != local.ttl_exemption}}")
    for name, source in (("index_subfield", "${local.index_subfields}"), ("index_exemption", "${local.index_exemptions}")):
        res = terraform_hcl.resource("firestore", "google_firestore_field", name).body
        assert attr(res, "for_each") == source, name
        assert (attr(res, "collection"), attr(res, "field")) == ("${each.value.collection}", "${each.value.field}")
        assert attr(res, "database") == "${local.database}" and not blocks(res, "ttl_config")
        config = blocks(res, "index_config")
        assert len(config) == 1, name  # always one: an empty one keeps no index
        _kept_indexes_block(config[0], "${each.value.indexes}")
    # The maps' exemptions wait for their subfields' own settings.
    exemption = terraform_hcl.resource("firestore", "google_firestore_field", "index_exemption").body
    assert attr(exemption, "depends_on") == ["${google_firestore_field.index_subfield}"]
    # The TTL field's exemption is part of its TTL policy (a field takes one google_firestore_field).
    ttl = terraform_hcl.resource("firestore", "google_firestore_field", "ttl").body
    config = dynamic_blocks(ttl, "index_config")
    for_each = _squeezed(attr(config[0], "for_each")) if len(config) == 1 else ""
    assert for_each.startswith("${contains(keys(var.index_exemptions),local.ttl_exemption)?") and for_each.endswith(":[]}")
    assert "var.index_exemptions[local.ttl_exemption].indexes" in for_each
    _kept_indexes_block(blocks(config[0], "content")[0], "${index_config.value}")
    fields = sorted(r.name for r in terraform_hcl.resources() if r.type == "google_firestore_field")
    assert fields == ["expiry", "index_exemption", "index_subfield", "ttl"]


def test_the_tf_files_match_the_provider_schema():
    """scripts/tf_schema.py's extract (google_firestore_field at the pinned provider) against the
    changed modules, as test_tf_schema checks the whole tree."""
    errors = [str(f) for f in _errors(check(TF_DIR)) if "/modules/firestore/" in f.path or "/modules/spec/" in f.path
              or f.path.endswith("terraform/main.tf")]
    assert not errors, errors


def test_a_planted_schema_error_in_an_exemption_is_found(tmp_path):
    import shutil

    root = tmp_path / "terraform"
    shutil.copytree(TF_DIR, root, ignore=shutil.ignore_patterns(".terraform", "*.tfstate*"))
    main = root / "modules" / "firestore" / "main.tf"
    text = main.read_text()
    old = 'resource "google_firestore_field" "index_exemption" {\n  for_each = local.index_exemptions\n'
    assert text.count(old) == 1
    main.write_text(text.replace(old, old + '\n  query_scope = "COLLECTION"\n'))
    errors = [str(f) for f in _errors(check(root))]
    assert any("google_firestore_field.index_exemption: unknown argument query_scope" in e for e in errors), errors
