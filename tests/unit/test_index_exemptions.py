"""The spec's single-field index exemptions (firestore.index_exemptions): the section validates,
broken ones are refused naming the field, and no exemption takes an index a query in lib/ needs.

The queries are read from the code itself (an AST walk over lib/contentflow): every FieldFilter
and order_by call, grouped into the query it belongs to (a chain of where / order_by calls, a
variable built up over several statements, a method returning a query, a field name passed in by
the callers or taken from a loop over literal tuples). From each query follows the single-field
index it needs, if any:

- a query on one field only (equalities, ranges, orders; the document key's order aside) needs
  that field's index: ascending or descending for an equality, array-contains for array_contains,
  for a range or an order the order's direction (a range alone: ascending, its implicit order);
- a query of equalities only on several fields is served by merging their single-field indexes:
  each needs its own;
- any other query on several fields needs a composite index (single-field exemptions do not
  touch those), and a vector search its vector index.

Filters added under a condition (in an `if` or a loop) are optional: each combination counts.
The check is conservative: a need holds for the field path in every collection, and GET
/documents' filter fields (store.LISTING_FILTER_FIELDS) keep their equality or array-contains
index although composite indexes serve the listing. Every FieldFilter and order_by in lib/ must
be understood (a test fails on one the walk cannot place), so a new query cannot slip by.
"""

from __future__ import annotations

import ast
import copy
from collections import defaultdict
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import pytest
import yaml

import contentflow
from contentflow import store
from contentflow.spec import DEFAULT_SPEC_PATH, SpecError, expand_field_path, load_spec, parse_spec

LIB = Path(contentflow.__file__).parent
ASC, DESC, ARRAY = "ASCENDING", "DESCENDING", "ARRAY_CONTAINS"
EQUALITY_OPS = {"==", "in"}
ARRAY_OPS = {"array_contains", "array_contains_any"}
RANGE_OPS = {"<", "<=", ">", ">=", "!=", "not-in"}
# Calls that keep a query a query (reading, paging, projecting, aggregating).
PASS_THROUGH = {"limit", "limit_to_last", "select", "start_after", "start_at", "end_before", "end_at", "offset",
                "count", "stream", "get"}
KEY = "__name__"
STEP_TIMESTAMPS = ("queued_at", "started_at", "finished_at", "lease_until", "first_started_at", "redriven_at",
                   "hand_on_failed_at")


# --- reading the queries ----------------------------------------------------------------------

@dataclass(frozen=True)
class Constraint:
    field: str | None  # None: a parameter of the function (param), named by its callers
    kind: str  # eq, array, range, order
    direction: str = ASC  # of an order
    optional: bool = False
    line: int = 0
    param: tuple | None = None  # (function, position, least and most arguments) when field is None


@dataclass
class State:
    constraints: list[Constraint] = field(default_factory=list)
    vector: bool = False
    collection: str | None = None  # None: not known (the check then holds in every collection)

    def plus(self, constraints: list[Constraint], vector: bool) -> State:
        return State([*self.constraints, *constraints], self.vector or vector, self.collection)


@dataclass(frozen=True)
class Query:
    where: str
    constraints: tuple[Constraint, ...]
    vector: bool
    collection: str | None


@dataclass(frozen=True)
class Need:
    field: str
    any_of: frozenset[str]  # the field keeps at least one of these
    where: str
    collection: str | None  # None: in every collection


def _collections() -> dict[str, str]:
    """Settings field => its default collection name; `embeddings`: the spec's chunk collection."""
    from contentflow.settings import Settings

    names = {n: f.default for n, f in Settings.model_fields.items() if n == "collection" or n.endswith("_collection")}
    return {**names, "embeddings": load_spec().embeddings.collection}


# Where a query starts (the expression its chain of calls is rooted at), per file: the collection
# it reads, as services.py wires it (test_query_roots_are_the_collections_services_wires checks).
# A query rooted elsewhere is checked against every collection.
QUERY_ROOTS = {
    ("contentflow/store.py", "self._collection"): "collection",  # DocumentStore(client, settings.collection)
    ("contentflow/chunks.py", "self._collection"): "embeddings",  # ChunkStore(client, embeddings.collection)
    ("contentflow/results_cache.py", "self._documents"): "collection",  # ResultsLookup(client, settings.collection)
    ("contentflow/idempotency.py", "self._collection"): "idempotency_collection",
    ("contentflow/jobs/report.py", "self._documents"): "collection",
    ("contentflow/jobs/report.py", "self._reports"): "reports_collection",
    ("contentflow/jobs/retention.py", "self._documents"): "collection",
    ("contentflow/jobs/reconcile.py", "self._documents"): "collection",
}


class _Module:
    """The queries of one file."""

    def __init__(self, path: Path, root: Path):
        self.path = path
        self.name = str(path.relative_to(root.parent))
        self.tree = ast.parse(path.read_text(), str(path))
        self.queries: list[Query] = []
        self.consumed: set[int] = set()  # lines of the FieldFilter / order_by calls placed in a query
        self.returns: dict[str, State] = {}  # method name => the query it returns

    def functions(self):
        for node in ast.walk(self.tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                yield node

    def analyse(self) -> None:
        for _ in range(2):  # a method may return a query built from another's
            for fn in self.functions():
                _Function(self, fn, record=False).run()
        for fn in self.functions():
            _Function(self, fn, record=True).run()


class _Function:
    def __init__(self, module: _Module, fn, record: bool):
        self.module, self.fn, self.record = module, fn, record
        self.params = [a.arg for a in fn.args.args if a.arg not in ("self", "cls")]
        self.states: dict[str, State] = {}
        self.loop_values: dict[str, list] = {}  # name => its value per iteration (literal tuples looped over)

    def run(self) -> None:
        self.block(self.fn.body, conditional=False)

    # statements
    def block(self, body, conditional: bool) -> None:
        for stmt in body:
            self.statement(stmt, conditional)

    def statement(self, stmt, conditional: bool) -> None:
        if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            return  # analysed on its own
        if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1 and isinstance(stmt.targets[0], ast.Name) \
                and self.is_query(stmt.value):
            name = stmt.targets[0].id
            state, root = self.chain(stmt.value, optional=False)
            if conditional and isinstance(root, ast.Name) and root.id == name:
                # built up under a condition: the filters this statement adds are optional
                base = self.states.get(name, State())
                added = [Constraint(c.field, c.kind, c.direction, True, c.line, c.param)
                         for c in state.constraints[len(base.constraints):]]
                state = State([*base.constraints, *added], state.vector, state.collection)
            self.states[name] = state
            self.arguments(stmt.value)
            return
        if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1 and isinstance(stmt.targets[0], ast.Name) \
                and (self.module.name, ast.unparse(stmt.value)) in QUERY_ROOTS:  # query = self._collection
            setting = QUERY_ROOTS[(self.module.name, ast.unparse(stmt.value))]
            self.states[stmt.targets[0].id] = State(collection=_collections()[setting])
            return
        if isinstance(stmt, ast.Return) and stmt.value is not None and self.is_query(stmt.value):
            state, _ = self.chain(stmt.value, optional=False)
            self.module.returns[self.fn.name] = state
            self.use(stmt.value, state)
            self.arguments(stmt.value)
            return
        if isinstance(stmt, ast.For):
            self.bind_loop(stmt)
            self.expressions(stmt.iter)
            self.block(stmt.body, conditional=True)
            self.block(stmt.orelse, conditional=True)
            return
        if isinstance(stmt, (ast.If, ast.While)):
            self.expressions(stmt.test)
            self.block(stmt.body, conditional=True)
            self.block(stmt.orelse, conditional=True)
            return
        if isinstance(stmt, (ast.With, ast.AsyncWith)):
            for item in stmt.items:
                self.expressions(item.context_expr)
            self.block(stmt.body, conditional)
            return
        if isinstance(stmt, ast.Try):
            self.block(stmt.body, conditional)
            for handler in stmt.handlers:
                self.block(handler.body, True)
            self.block(stmt.orelse, conditional)
            self.block(stmt.finalbody, conditional)
            return
        self.expressions(stmt)

    def bind_loop(self, stmt: ast.For) -> None:
        """for a, b, c in ((literal, literal, x), ...): each name's literal value per iteration."""
        if isinstance(stmt.target, ast.Tuple) and isinstance(stmt.iter, (ast.Tuple, ast.List)) \
                and all(isinstance(e, ast.Tuple) and len(e.elts) == len(stmt.target.elts) for e in stmt.iter.elts):
            for i, target in enumerate(stmt.target.elts):
                if isinstance(target, ast.Name):
                    self.loop_values[target.id] = [e.elts[i].value if isinstance(e.elts[i], ast.Constant) else None
                                                   for e in stmt.iter.elts]

    # expressions
    def expressions(self, node) -> None:
        """Every query used in `node` (a chain not assigned to a variable)."""
        if isinstance(node, ast.expr) and self.is_query(node):
            state, _ = self.chain(node, optional=False)
            self.use(node, state)
            self.arguments(node)
            return
        for child in ast.iter_child_nodes(node):
            self.expressions(child)

    def arguments(self, node) -> None:
        """The queries in the arguments of the chain's calls (e.g. _count(<query>))."""
        cur = node
        while True:
            if isinstance(cur, ast.IfExp):
                self.expressions(cur.test)
                self.expressions(cur.orelse)
                cur = cur.body
                continue
            if isinstance(cur, ast.Call):
                if not self.is_filter_call(cur):
                    for arg in [*cur.args, *(k.value for k in cur.keywords)]:
                        self.expressions(arg)
                cur = cur.func
                continue
            if isinstance(cur, ast.Attribute):
                cur = cur.value
                continue
            return

    def use(self, node, state: State) -> None:
        if self.record and state.constraints:
            self.module.queries.append(Query(f"{self.module.name}:{node.lineno} ({self.fn.name})",
                                             tuple(state.constraints), state.vector, state.collection))

    def is_query(self, node) -> bool:
        cur = node
        while True:
            if isinstance(cur, ast.IfExp):
                cur = cur.body
            elif isinstance(cur, ast.Call) and isinstance(cur.func, ast.Attribute):
                if cur.func.attr in ("where", "order_by", "find_nearest") or self.inlined(cur):
                    return True
                if cur.func.attr not in PASS_THROUGH:
                    return False
                cur = cur.func.value
            elif isinstance(cur, ast.Name):
                return cur.id in self.states
            else:
                return False

    def inlined(self, call) -> State | None:
        f = call.func
        if isinstance(f, ast.Attribute) and isinstance(f.value, ast.Name) and f.value.id == "self":
            return self.module.returns.get(f.attr)
        return None

    def chain(self, node, optional: bool) -> tuple[State, ast.AST]:
        """The query `node` builds: its base (a variable, a method's query, or a collection) plus
        the filters and orders of its calls, in order."""
        calls = []
        cur = node
        base = None
        while True:
            if isinstance(cur, ast.IfExp):
                cur = cur.body
                continue
            if isinstance(cur, ast.Call) and isinstance(cur.func, ast.Attribute):
                inlined = self.inlined(cur)
                if inlined is not None:
                    base = inlined
                    break
                if cur.func.attr in ("where", "order_by", "find_nearest") or cur.func.attr in PASS_THROUGH:
                    calls.append(cur)
                    cur = cur.func.value
                    continue
                break
            if isinstance(cur, ast.Name) and cur.id in self.states:
                base = self.states[cur.id]
            break
        if base is None:  # a collection
            setting = QUERY_ROOTS.get((self.module.name, ast.unparse(cur)))
            base = State(collection=_collections()[setting] if setting else None)
        added: list[Constraint] = []
        vector = False
        for call in reversed(calls):  # innermost first: the order they apply
            if call.func.attr == "where":
                added += self.where(call, optional)
            elif call.func.attr == "order_by":
                added += self.order_by(call, optional)
            elif call.func.attr == "find_nearest":
                vector = True
        return base.plus(added, vector), cur

    def is_filter_call(self, call) -> bool:
        f = call.func
        return (isinstance(f, ast.Name) and f.id == "FieldFilter") or (isinstance(f, ast.Attribute) and f.attr == "FieldFilter")

    def where(self, call, optional: bool) -> list[Constraint]:
        if len(call.args) == 3:  # where("field", op, value)
            return self.filter_constraints(call, call.args[0], call.args[1], optional)
        flt = next((k.value for k in call.keywords if k.arg == "filter"), call.args[0] if call.args else None)
        if isinstance(flt, ast.Call) and self.is_filter_call(flt) and len(flt.args) >= 2:
            return self.filter_constraints(flt, flt.args[0], flt.args[1], optional)
        return []  # not understood: its FieldFilter calls stay unconsumed, and a test says so

    def filter_constraints(self, call, field_node, op_node, optional: bool) -> list[Constraint]:
        self.module.consumed.add(call.lineno)
        out = []
        if isinstance(field_node, ast.Constant) and isinstance(op_node, ast.Constant):
            pairs = [(field_node.value, op_node.value)]
        elif isinstance(field_node, ast.Name) and field_node.id in self.loop_values:
            ops = (self.loop_values.get(op_node.id) if isinstance(op_node, ast.Name)
                   else [op_node.value] * len(self.loop_values[field_node.id]))
            pairs = list(zip(self.loop_values[field_node.id], ops))
            optional = True  # one filter per iteration, each under its own condition
        elif isinstance(field_node, ast.Name) and field_node.id in self.params and isinstance(op_node, ast.Constant):
            arity = (len(self.params) - len(self.fn.args.defaults), len(self.params))
            return [Constraint(None, _kind(op_node.value), optional=optional, line=call.lineno,
                               param=(self.fn.name, self.params.index(field_node.id), *arity))]
        else:
            self.module.consumed.discard(call.lineno)
            return []
        for fld, op in pairs:
            out.append(Constraint(fld, _kind(op), optional=optional, line=call.lineno))
        return out

    def order_by(self, call, optional: bool) -> list[Constraint]:
        self.module.consumed.add(call.lineno)
        arg = call.args[0] if call.args else None
        direction = DESC if any(isinstance(k.value, ast.Attribute) and k.value.attr == "DESCENDING"
                                for k in call.keywords if k.arg == "direction") else ASC
        if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
            return [Constraint(arg.value, "order", direction, optional, call.lineno)]
        if isinstance(arg, ast.Call) and isinstance(arg.func, ast.Attribute) and arg.func.attr == "document_id":
            return [Constraint(KEY, "order", direction, optional, call.lineno)]
        self.module.consumed.discard(call.lineno)
        return []


def _kind(op: str) -> str:
    if op in EQUALITY_OPS:
        return "eq"
    if op in ARRAY_OPS:
        return "array"
    if op in RANGE_OPS:
        return "range"
    raise AssertionError(f"unknown Firestore operator {op!r}")


def _param_values(modules: list[_Module]) -> dict[tuple, set[str]]:
    """(function, position, arity) => the field names its callers pass there as literals (calls of
    a method of that name with as many arguments: not str.count)."""
    wanted = {c.param for m in modules for q in m.queries for c in q.constraints if c.param}
    found: dict[tuple, set[str]] = defaultdict(set)
    for m in modules:
        imported = {a.asname or a.name.split(".")[0] for n in ast.walk(m.tree) if isinstance(n, (ast.Import, ast.ImportFrom))
                    for a in n.names}
        for node in ast.walk(m.tree):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) \
                    and not (isinstance(node.func.value, ast.Name) and node.func.value.id in imported):  # metering.count
                for name, pos, least, most in wanted:
                    given = len(node.args) + len(node.keywords)
                    if node.func.attr == name and least <= given <= most and len(node.args) > pos \
                            and isinstance(node.args[pos], ast.Constant) and isinstance(node.args[pos].value, str):
                        found[(name, pos, least, most)].add(node.args[pos].value)
    return found


def read_queries(root: Path = LIB) -> tuple[list[Query], list[_Module]]:
    modules = [_Module(p, root) for p in sorted(root.rglob("*.py"))]
    for m in modules:
        m.analyse()
    values = _param_values(modules)
    queries = []
    for m in modules:
        for q in m.queries:
            params = [c for c in q.constraints if c.param]
            if not params:
                queries.append(q)
                continue
            assert len(params) == 1, q
            names = values.get(params[0].param)
            assert names, f"{q.where}: no caller names the field of {params[0].param[0]}()"
            for name in sorted(names):
                cs = tuple(Constraint(name, c.kind, c.direction, c.optional, c.line) if c.param else c for c in q.constraints)
                queries.append(Query(f"{q.where} with {name}", cs, q.vector, q.collection))
    return queries, modules


def needs_of(query: Query) -> list[Need]:
    """The single-field indexes a query needs (none when a composite or vector index serves it)."""
    if query.vector:
        return []
    required = [c for c in query.constraints if not c.optional and c.field != KEY]
    optional = [c for c in query.constraints if c.optional and c.field != KEY]
    required_fields = {c.field for c in required}
    out = []
    for fld in {c.field for c in required + optional}:
        if not required_fields <= {fld}:
            continue  # with another field, always: not a single-field query
        on_field = [c for c in required + optional if c.field == fld]
        orders = {c.direction for c in on_field if c.kind == "order"} or {ASC}
        for c in on_field:
            if c.kind == "eq":
                out.append(Need(fld, frozenset({ASC, DESC}), query.where, query.collection))
            elif c.kind == "array":
                out.append(Need(fld, frozenset({ARRAY}), query.where, query.collection))
            elif c.kind == "range":
                out += [Need(fld, frozenset({d}), query.where, query.collection) for d in orders]
            else:
                out.append(Need(fld, frozenset({c.direction}), query.where, query.collection))
    if not any(c.kind in ("range", "order") for c in required):
        equalities = [c for c in required + optional if c.kind in ("eq", "array")]
        if len({c.field for c in equalities}) > 1:  # served by merging the single-field indexes
            out += [Need(c.field, frozenset({ASC, DESC} if c.kind == "eq" else {ARRAY}), f"{query.where} (merged)",
                         query.collection) for c in equalities]
    return out


@cache
def _lib_queries() -> tuple[list[Query], list[_Module]]:
    return read_queries()


def code_needs() -> list[Need]:
    queries, _ = _lib_queries()
    needs = [n for q in queries for n in needs_of(q)]
    needs += [Need(f, frozenset({ARRAY} if f == "labels" else {ASC, DESC}), "store.LISTING_FILTER_FIELDS",
                   _collections()["collection"]) for f in store.LISTING_FILTER_FIELDS]
    return needs


def kept(exemptions: dict[tuple[str, str], tuple[str, ...]], collection: str, path: str) -> set[str] | None:
    """The single-field indexes of `path` in `collection`: its own exemption's, else its nearest
    exempted map's, else None (all automatic indexes)."""
    names = path.split(".")
    for i in range(len(names), 0, -1):
        found = exemptions.get((collection, ".".join(names[:i])))
        if found is not None:
            return set(found)
    return None


def violations(spec, needs: list[Need]) -> list[str]:
    exemptions = dict(spec.index_exemptions())
    # The idempotency keys' expiry field: Terraform's TTL policy turns its indexes off.
    exemptions[(next(iter(spec.firestore_collections(kind="idempotency"))), "expires_at")] = ()
    collections = {c for c, _ in exemptions}
    found = []
    for need in needs:
        for collection in sorted(collections) if need.collection is None else [need.collection]:
            have = kept(exemptions, collection, need.field)
            if have is not None and not have & need.any_of:
                found.append(f"{collection}.{need.field} keeps {sorted(have)}, {need.where} needs one of {sorted(need.any_of)}")
    return sorted(set(found))


# --- the spec section -------------------------------------------------------------------------

@pytest.fixture
def raw():
    return yaml.safe_load(DEFAULT_SPEC_PATH.read_text())


def _exemptions(raw) -> dict:
    return raw["firestore"]["index_exemptions"]


def test_shipped_exemptions_are_valid_and_steps_star_is_every_step_record():
    spec = load_spec()
    exemptions = spec.index_exemptions()
    records = spec.step_record_keys()
    assert records == ["fetch", *(s.name for s in spec.steps)]  # the URL documents' fetch stage first
    for stamp in STEP_TIMESTAMPS:
        for key in records:
            assert exemptions[("documents", f"steps.{key}.{stamp}")] == (), (key, stamp)
    assert exemptions[("documents", "updated_at")] == ()
    assert exemptions[("documents", "event_pending_since")] == ("ASCENDING",)
    assert exemptions[("documents", "stats")] == () and exemptions[("documents", "stats.extraction.language")] == ("ASCENDING",)
    assert exemptions[("documents", "reembed_failed.space")] == ("ASCENDING",)
    assert exemptions[("documents", "analysis")] == () and exemptions[("documents", "analysis.cache_key")] == ("ASCENDING",)
    assert exemptions[("documents", "index")] == () and exemptions[("documents", "index.cache_key")] == ("ASCENDING",)
    assert ("documents", "created_at") not in exemptions and ("documents", "labels") not in exemptions
    assert exemptions[(spec.embeddings.collection, "text")] == ()
    assert {c for c, _ in exemptions} <= spec.firestore_collections()
    assert len(exemptions) == 46


def test_a_step_added_to_the_spec_gets_its_step_exemptions():
    assert expand_field_path("steps.*.lease_until", ["fetch", "extract", "summarise"]) == [
        "steps.fetch.lease_until", "steps.extract.lease_until", "steps.summarise.lease_until"]
    assert expand_field_path("stats.extraction.language", ["fetch"]) == ["stats.extraction.language"]


def test_a_spec_without_the_section_exempts_nothing(raw):
    raw.pop("firestore")
    assert parse_spec(raw).index_exemptions() == {}


@pytest.mark.parametrize("mutate, message", [
    (lambda e: e.update(documentz=[{"field": "x", "keep": []}]),
     "firestore.index_exemptions.documentz: unknown collection (the code writes chunks, documents, idempotency, jobs, reports)"),
    (lambda e: e.update(Documents=[{"field": "x", "keep": []}]), "firestore.index_exemptions.Documents"),
    (lambda e: e["documents"].append({"field": "stats..language", "keep": []}),
     "firestore.index_exemptions.documents.21.field: Value error, 'stats..language' is not a field path"),
    (lambda e: e["documents"].append({"field": "source name", "keep": []}), "'source name' is not a field path"),
    (lambda e: e["documents"].append({"field": "`source`", "keep": []}), "'`source`' is not a field path"),
    (lambda e: e["documents"].append({"field": "__name__", "keep": []}), "'__name__': __...__ names are reserved"),
    (lambda e: e["documents"].append({"field": "stats.*.language", "keep": []}), "`*` only as steps.*.<field>"),
    (lambda e: e["documents"].append({"field": "steps.*", "keep": []}), "`*` only as steps.*.<field>"),
    (lambda e: e["documents"].append({"field": "steps.*.x.*", "keep": []}), "`*` only as steps.*.<field>"),
    (lambda e: e["documents"].append({"field": "preview", "keep": ["ASC"]}), "firestore.index_exemptions.documents.21.keep.0"),
    (lambda e: e["documents"].append({"field": "metadata.filename", "keep": ["ASCENDING", "ASCENDING"]}),
     "firestore.index_exemptions.documents.21.keep: Value error, an index is listed twice"),
    (lambda e: e["documents"].append({"field": "metadata.filename"}), "firestore.index_exemptions.documents.21.keep: Field required"),
    (lambda e: e["documents"].append({"field": "x", "keep": [], "why": "extra"}), "firestore.index_exemptions.documents.21.why"),
    (lambda e: e["documents"].append({"field": "preview", "keep": ["ASCENDING"]}),
     "firestore.index_exemptions.documents[21].field: preview is exempted twice"),
    # a step's field, named on its own beside steps.*.<field>
    (lambda e: e["documents"].append({"field": "steps.analyse.lease_until", "keep": []}),
     "firestore.index_exemptions.documents[21].field: steps.analyse.lease_until is exempted twice"),
    (lambda e: e.update(idempotency=[{"field": "expires_at", "keep": []}]),
     "firestore.index_exemptions.idempotency[0].field: expires_at is the idempotency keys' expiry field"),
])
def test_broken_exemptions_are_refused_naming_the_field(raw, mutate, message):
    broken = copy.deepcopy(raw)
    mutate(_exemptions(broken))
    with pytest.raises(SpecError) as err:
        parse_spec(broken)
    assert message in str(err.value)


def test_more_exemptions_than_firestore_takes_are_refused(raw):
    broken = copy.deepcopy(raw)
    _exemptions(broken)["jobs"] = [{"field": f"f{i}", "keep": []} for i in range(160)]
    with pytest.raises(SpecError) as err:
        parse_spec(broken)
    assert "firestore.index_exemptions: 206 fields, Firestore takes at most 199 besides the expiry field" in str(err.value)


# --- the queries --------------------------------------------------------------------------------

def test_every_filter_and_order_in_lib_is_placed_in_a_query():
    """The walk understands every FieldFilter and order_by call in lib/: an unplaced one would be a
    query whose needs go unchecked."""
    _, modules = _lib_queries()
    missed = []
    for m in modules:
        for node in ast.walk(m.tree):
            if isinstance(node, ast.Call) and ((isinstance(node.func, ast.Name) and node.func.id == "FieldFilter")
                                               or (isinstance(node.func, ast.Attribute) and node.func.attr in ("FieldFilter", "order_by"))):
                if node.lineno not in m.consumed:
                    missed.append(f"{m.name}:{node.lineno}")
    assert not missed, f"queries the walk cannot read: {missed}"


def test_the_walk_finds_the_needs_of_the_known_queries():
    """What the code's queries need, as the module docstrings say (a walk that reads nothing would
    pass the check below)."""
    needs = {(n.field, n.any_of) for n in code_needs()}
    either = frozenset({ASC, DESC})
    expected = {
        ("event_pending_since", frozenset({ASC})),   # DocumentStore.unsent_events: < t
        ("created_at", frozenset({ASC})),            # retention: < cutoff ordered ascending; the report's range count
        ("created_at", frozenset({DESC})),           # GET /documents without a filter: newest first
        ("status", either),                          # the counts, the backfill's page (ordered by key)
        ("embedding_space", either),                 # search coverage
        ("reembed_failed.space", either),            # search coverage
        ("document_id", either),                     # the chunks of a document (merged with the space)
        ("date", frozenset({DESC})),                 # the latest report
        ("labels", frozenset({ARRAY})),              # GET /documents' filter (store.LISTING_FILTER_FIELDS)
        ("stats.extraction.language", either),
        ("analysis.cache_key", either),              # an earlier analysis of identical content
        ("index.cache_key", either),                 # earlier vectors of identical content
    }
    assert expected <= needs, expected - needs
    # Served by the composite index (status, updated_at): the sweeper's and the report's queries.
    assert not [n for n in code_needs() if n.field == "updated_at"]
    # The chunk search's filters ride on its vector indexes.
    assert ("language", either) not in needs


def test_no_exemption_takes_an_index_a_query_needs():
    assert violations(load_spec(), code_needs()) == []


@pytest.mark.parametrize("mutate, message", [
    # the unsent events' `event_pending_since < t` needs the ascending index
    (lambda e: next(x for x in e["documents"] if x["field"] == "event_pending_since").update(keep=[]),
     "documents.event_pending_since keeps [], contentflow/store.py"),
    (lambda e: next(x for x in e["documents"] if x["field"] == "event_pending_since").update(keep=["DESCENDING"]),
     "documents.event_pending_since keeps ['DESCENDING']"),
    # retention needs created_at ascending, GET /documents descending
    (lambda e: e["documents"].append({"field": "created_at", "keep": ["ASCENDING"]}),
     "documents.created_at keeps ['ASCENDING'], contentflow/store.py"),
    (lambda e: e["documents"].append({"field": "created_at", "keep": ["DESCENDING"]}),
     "documents.created_at keeps ['DESCENDING'], contentflow/jobs/retention.py"),
    # an exempted map takes its subfields' indexes: search coverage counts reembed_failed.space ==
    (lambda e: e["documents"].remove({"field": "reembed_failed.space", "keep": ["ASCENDING"]}),
     "documents.reembed_failed.space keeps [], contentflow/store.py"),
    (lambda e: e["documents"].remove({"field": "stats.extraction.language", "keep": ["ASCENDING"]}),
     "documents.stats.extraction.language keeps [], store.LISTING_FILTER_FIELDS"),
    # identical content is found by an equality on a subfield of an exempted map
    (lambda e: e["documents"].remove({"field": "analysis.cache_key", "keep": ["ASCENDING"]}),
     "documents.analysis.cache_key keeps [], contentflow/results_cache.py"),
    (lambda e: e["documents"].remove({"field": "index.cache_key", "keep": ["ASCENDING"]}),
     "documents.index.cache_key keeps [], contentflow/results_cache.py"),
    (lambda e: next(x for x in e["documents"] if x["field"] == "index.cache_key").update(keep=["ARRAY_CONTAINS"]),
     "documents.index.cache_key keeps ['ARRAY_CONTAINS'], contentflow/results_cache.py"),
    (lambda e: e["documents"].append({"field": "labels", "keep": ["ASCENDING", "DESCENDING"]}),
     "documents.labels keeps ['ASCENDING', 'DESCENDING'], store.LISTING_FILTER_FIELDS needs one of ['ARRAY_CONTAINS']"),
    # the chunks of a document: document_id == merged with embedding_space ==
    (lambda e: e["chunks"].append({"field": "document_id", "keep": []}), "chunks.document_id keeps [], contentflow/chunks.py"),
    (lambda e: e.update(reports=[{"field": "date", "keep": ["ASCENDING"]}]), "reports.date keeps ['ASCENDING'], contentflow/jobs/report.py"),
])
def test_a_planted_bad_exemption_fails_the_check(raw, mutate, message):
    broken = copy.deepcopy(raw)
    mutate(_exemptions(broken))
    found = violations(parse_spec(broken), code_needs())
    assert any(message in v for v in found), found


def test_the_walk_reads_a_new_query_shape(tmp_path):
    """A query in a new place (a parameter named by its caller, a filter in a loop, a method
    returning a query) is read like the existing ones."""
    (tmp_path / "jobs.py").write_text('''
from google.cloud.firestore_v1.base_query import FieldFilter

class Sweep:
    def _due(self, field):
        return self._jobs.where(filter=FieldFilter(field, "<", 1))

    def run(self):
        query = self._due("next_run_at").order_by("next_run_at", direction=Query.DESCENDING)
        for name, op in (("owner", "=="), ("tags", "array_contains")):
            if name:
                query = query.where(filter=FieldFilter(name, op, 1))
        return list(query.stream())
''')
    queries, modules = read_queries(tmp_path)
    needs = {(n.field, n.any_of) for q in queries for n in needs_of(q)}
    assert ("next_run_at", frozenset({DESC})) in needs  # range with its order's direction
    assert ("next_run_at", frozenset({ASC})) in needs  # _due() alone: the implicit ascending order
    assert not {f for f, _ in needs} & {"owner", "tags"}  # always with next_run_at's range: composite
    assert modules[0].consumed == {6, 9, 12}


def test_query_roots_are_the_collections_services_wires():
    """QUERY_ROOTS says which collection a query rooted at, say, `self._collection` of store.py
    reads: the argument services.py gives the constructor parameter that attribute is set from."""
    services = ast.parse((LIB / "services.py").read_text())
    constructed = {n.func.id: n for n in ast.walk(services) if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)}
    for (module, root), setting in QUERY_ROOTS.items():
        tree = ast.parse((LIB.parent / module).read_text())
        attribute = root.removeprefix("self.")
        found = []
        for cls in (n for n in ast.walk(tree) if isinstance(n, ast.ClassDef)):
            init = next((f for f in cls.body if isinstance(f, ast.FunctionDef) and f.name == "__init__"), None)
            for stmt in ast.walk(init) if init else ():
                if isinstance(stmt, ast.Assign) and ast.unparse(stmt.targets[0]) == root:
                    value = stmt.value.args[0] if isinstance(stmt.value, ast.Call) else stmt.value  # client.collection(x) or x
                    params = [a.arg for a in init.args.args[1:]]
                    found.append((cls.name, params.index(value.id), value.id))
        assert len(found) == 1, (module, root, found)
        cls_name, position, param = found[0]
        call = constructed[cls_name]
        arg = call.args[position] if position < len(call.args) else next(k.value for k in call.keywords if k.arg == param)
        text = ast.unparse(arg)
        if setting == "embeddings":
            assert text == "emb.collection" and "emb = self.settings.spec.embeddings" in ast.unparse(services), text
        else:
            assert text.removesuffix(")").endswith(f".{setting}"), (module, root, text)
