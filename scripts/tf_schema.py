#!/usr/bin/env python3
"""Extract the schema of every resource and data-source type the project's .tf files use from the
providers' Go source, into terraform/schema/provider-schemas.json (issue 14's offline check).

The providers cannot be downloaded here, so `terraform providers schema -json` cannot run. The Go
source is the exact schema: this script reads it with a small Go-expression interpreter that
evaluates the `schema.Resource` / `schema.Schema` literals (terraform-plugin-sdk/v2) and the
plugin-framework `schema.Schema` literals (archive, time), following the helpers they call
(tpgiamresource.ResourceIamMember, tpgresource.DatasourceSchemaFromResourceSchema, ...). Nothing
is built or run from the source; no network.

Each source is a local copy: a checkout directory, or a git directory plus a revision (a bare
mirror works):

    scripts/tf_schema.py --google /src/terraform-provider-google@v7.45.0 \\
        --google-beta /src/terraform-provider-google-beta@v7.45.0 \\
        --archive /src/terraform-provider-archive@v2.8.0 --time /src/terraform-provider-time@v0.14.0

`PATH@REV` reads revision REV of the git directory PATH; a plain PATH reads the files on disk (the
commit is then taken from `git rev-parse HEAD` there when it is a work tree, else --commit-<name>).
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

REPO = Path(__file__).resolve().parents[1]
TF_DIR = REPO / "terraform"
DEFAULT_OUT = TF_DIR / "schema" / "provider-schemas.json"
PROVIDERS = ("google", "google-beta", "archive", "time")


# --- source trees --------------------------------------------------------------------------------

class SourceTree:
    """Files of one provider at one revision: a directory on disk or a git revision."""

    def __init__(self, spec: str):
        path, _, rev = spec.partition("@")
        self.root = Path(path)
        self.rev = rev or None
        self._cache: dict[str, str] = {}
        if self.rev:
            self.commit = self._git("rev-parse", f"{self.rev}^{{commit}}").strip()
            listing = self._git("ls-tree", "-r", "--name-only", self.commit)
            self.files = [f for f in listing.splitlines() if f]
        else:
            self.commit = None
            try:
                self.commit = subprocess.run(["git", "-C", str(self.root), "rev-parse", "HEAD"], capture_output=True,
                                             text=True, check=True).stdout.strip() or None
            except (subprocess.CalledProcessError, FileNotFoundError):
                pass
            self.files = sorted(str(p.relative_to(self.root)) for p in self.root.rglob("*") if p.is_file())
        self._file_set = set(self.files)

    def _git(self, *args: str) -> str:
        return subprocess.run(["git", f"--git-dir={self.root}", *args], capture_output=True, text=True,
                              check=True).stdout

    def read(self, rel: str) -> str:
        if rel not in self._cache:
            if self.rev:
                self._cache[rel] = self._git("show", f"{self.commit}:{rel}")
            else:
                self._cache[rel] = (self.root / rel).read_text(encoding="utf-8", errors="replace")
        return self._cache[rel]

    def read_many(self, rels: list[str]) -> None:
        """Fill the cache with one `git cat-file --batch` for many files (a scan of services/)."""
        missing = [r for r in rels if r not in self._cache]
        if not self.rev or not missing:
            return
        proc = subprocess.run(["git", f"--git-dir={self.root}", "cat-file", "--batch"],
                              input="".join(f"{self.commit}:{r}\n" for r in missing).encode(), capture_output=True,
                              check=True)
        out, pos = proc.stdout, 0
        for rel in missing:
            header_end = out.index(b"\n", pos)
            header = out[pos:header_end].split()
            size = int(header[2])
            self._cache[rel] = out[header_end + 1:header_end + 1 + size].decode("utf-8", errors="replace")
            pos = header_end + 1 + size + 1

    def go_files(self, directory: str) -> list[str]:
        prefix = directory.rstrip("/") + "/"
        return [f for f in self.files if f.startswith(prefix) and "/" not in f[len(prefix):]
                and f.endswith(".go") and not f.endswith("_test.go")]

    def module_path(self) -> str:
        match = re.search(r"^module\s+(\S+)", self.read("go.mod"), re.M)
        assert match, "go.mod has no module line"
        return match.group(1)

    def version(self) -> str | None:
        if self.rev and re.fullmatch(r"v\d+\.\d+\.\d+.*", self.rev):
            return self.rev[1:]
        return None


# --- Go tokens -----------------------------------------------------------------------------------

TOKEN_RE = re.compile(r"""
    (?P<ws>[ \t\r]+)
  | (?P<nl>\n)
  | (?P<lcomment>//[^\n]*)
  | (?P<bcomment>/\*.*?\*/)
  | (?P<raw>`[^`]*`)
  | (?P<str>"(?:[^"\\\n]|\\.)*")
  | (?P<rune>'(?:[^'\\\n]|\\.)+')
  | (?P<num>0[xX][0-9a-fA-F_]+|(?:\d[\d_]*\.?\d*(?:[eE][+-]?\d+)?|\.\d+(?:[eE][+-]?\d+)?))
  | (?P<ident>[A-Za-z_][A-Za-z0-9_]*)
  | (?P<op><<=|>>=|&\^=|\.\.\.|&&|\|\||<-|\+\+|--|==|!=|<=|>=|:=|\+=|-=|\*=|/=|%=|&=|\|=|\^=|<<|>>|&\^|[-+*/%&|^<>=!()\[\]{},;.:~])
""", re.X | re.S)

SEMI_AFTER = {"ident", "num", "str", "raw", "rune"}
SEMI_AFTER_WORDS = {"break", "continue", "fallthrough", "return"}
SEMI_AFTER_OPS = {"++", "--", ")", "]", "}"}


@dataclass(frozen=True)
class Tok:
    kind: str  # ident, num, str, op, semi, eof
    text: str
    line: int


def tokenize(src: str) -> list[Tok]:
    toks: list[Tok] = []
    line, pos = 1, 0

    def needs_semi() -> bool:
        if not toks:
            return False
        last = toks[-1]
        return (last.kind in SEMI_AFTER and (last.kind != "ident" or True)) or \
            (last.kind == "op" and last.text in SEMI_AFTER_OPS) or last.text in SEMI_AFTER_WORDS

    while pos < len(src):
        m = TOKEN_RE.match(src, pos)
        if not m:
            raise SyntaxError(f"cannot tokenize at line {line}: {src[pos:pos + 20]!r}")
        kind, text = m.lastgroup, m.group()
        pos = m.end()
        if kind == "nl" or (kind == "bcomment" and "\n" in text):
            if needs_semi():
                toks.append(Tok("semi", "\n", line))
            line += text.count("\n") if kind == "bcomment" else 1
            continue
        if kind in ("ws", "lcomment", "bcomment"):
            continue
        if kind == "raw":
            toks.append(Tok("str", text[1:-1].replace("\r", ""), line))
            line += text.count("\n")
        elif kind == "str":
            toks.append(Tok("str", _unquote(text), line))
        elif kind == "rune":
            toks.append(Tok("num", text, line))
        elif kind == "op" and text == ";":
            toks.append(Tok("semi", ";", line))
        else:
            toks.append(Tok(kind if kind != "op" else "op", text, line))
    toks.append(Tok("semi", "\n", line))
    toks.append(Tok("eof", "", line))
    return toks


def _unquote(text: str) -> str:
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text[1:-1].encode().decode("unicode_escape", errors="replace")


# --- values --------------------------------------------------------------------------------------

class Opaque:
    """A value the interpreter does not model (a function, a regexp, an API call...)."""

    def __init__(self, what: str):
        self.what = what

    def __repr__(self) -> str:
        return f"Opaque({self.what})"


@dataclass
class Enum:
    values: list[str]
    ignore_case: bool = False


class Struct(dict):
    """A Go struct value: its fields, and its type as `<package>.<Name>` (sdk:schema.Schema)."""

    def __init__(self, type_name: str, fields: dict | None = None):
        super().__init__(fields or {})
        self.type_name = type_name


@dataclass
class Closure:
    params: list[tuple[str, bool]]  # (name, variadic)
    body: tuple[int, int]  # token range of the statements, braces excluded
    unit: "Unit"
    env: dict
    name: str = "func literal"


# --- Go AST (tuples) -----------------------------------------------------------------------------
# ("name", id) ("sel", x, id) ("lit", value) ("call", f, args, spread) ("index", x, i)
# ("composite", type, [(key|None, value)]) ("unary", op, x) ("binary", op, a, b) ("func", Closure-ish)
# types: ("tname", qualified) ("map", k, v) ("slice", t) ("ptr", t) ("other",)

class Parser:
    def __init__(self, toks: list[Tok], pos: int = 0):
        self.toks, self.pos = toks, pos

    @property
    def tok(self) -> Tok:
        return self.toks[self.pos]

    def peek(self, n: int = 1) -> Tok:
        return self.toks[min(self.pos + n, len(self.toks) - 1)]

    def next(self) -> Tok:
        tok = self.toks[self.pos]
        self.pos += 1
        return tok

    def expect(self, text: str) -> Tok:
        tok = self.next()
        if tok.text != text:
            raise SyntaxError(f"line {tok.line}: expected {text!r}, found {tok.text!r}")
        return tok

    def at(self, *texts: str) -> bool:
        return self.tok.kind in ("op", "ident", "semi") and self.tok.text in texts

    def skip_balanced(self) -> None:
        """Skip one (...) [...] or {...} group starting at the current token."""
        pairs = {"(": ")", "[": "]", "{": "}"}
        opener = self.next().text
        depth, closer = 1, pairs[opener]
        while depth:
            tok = self.next()
            if tok.kind == "eof":
                raise SyntaxError("unbalanced brackets")
            if tok.kind == "op" and tok.text == opener:
                depth += 1
            elif tok.kind == "op" and tok.text == closer:
                depth -= 1

    # types
    def parse_type(self):
        tok = self.tok
        if tok.text == "*":
            self.next()
            return ("ptr", self.parse_type())
        if tok.text == "[":
            self.next()
            if not self.at("]"):
                while not self.at("]"):
                    self.next()
            self.expect("]")
            return ("slice", self.parse_type())
        if tok.text == "map":
            self.next()
            self.expect("[")
            key = self.parse_type()
            self.expect("]")
            return ("map", key, self.parse_type())
        if tok.text in ("interface", "struct"):
            self.next()
            self.skip_balanced()
            return ("other",)
        if tok.text == "func":
            self.next()
            self.skip_balanced()
            self._skip_result_type()
            return ("other",)
        if tok.text == "chan":
            self.next()
            return ("other", self.parse_type())
        if tok.kind == "ident":
            name = self.next().text
            if self.at(".") and self.peek().kind == "ident":
                self.next()
                name += "." + self.next().text
            if self.at("["):  # generic instantiation
                self.skip_balanced()
            return ("tname", name)
        if tok.text == "(":
            self.next()
            inner = self.parse_type()
            self.expect(")")
            return inner
        raise SyntaxError(f"line {tok.line}: not a type: {tok.text!r}")

    def _skip_result_type(self) -> None:
        if self.at("("):
            self.skip_balanced()
        elif not self.at("{", ",", ")", "]", "}") and self.tok.kind != "semi":
            self.parse_type()

    def parse_params(self) -> list[tuple[str, bool]]:
        """A parameter list `(a, b T, c ...U)` → [(name, variadic)]; unnamed parameters → []."""
        self.expect("(")
        groups: list[list[Tok]] = [[]]
        depth = 0
        while True:
            tok = self.next()
            if tok.kind == "op" and tok.text in "([{":
                depth += 1
            elif tok.kind == "op" and tok.text in ")]}":
                if depth == 0:
                    break
                depth -= 1
            if depth == 0 and tok.text == ",":
                groups.append([])
            else:
                groups[-1].append(tok)
        groups = [g for g in groups if g]
        if not any(len(g) > 1 and g[0].kind == "ident" and g[1].text not in (".",) for g in groups):
            return []
        return [(g[0].text, any(t.text == "..." for t in g)) for g in groups]

    # expressions
    def parse_expr(self, min_prec: int = 1):
        PREC = {"||": 1, "&&": 2, "==": 3, "!=": 3, "<": 3, "<=": 3, ">": 3, ">=": 3,
                "+": 4, "-": 4, "|": 4, "^": 4, "*": 5, "/": 5, "%": 5, "<<": 5, ">>": 5, "&": 5, "&^": 5}
        left = self.parse_unary()
        while self.tok.kind == "op" and self.tok.text in PREC and PREC[self.tok.text] >= min_prec:
            op = self.next().text
            right = self.parse_expr(PREC[op] + 1)
            left = ("binary", op, left, right)
        return left

    def parse_unary(self):
        if self.tok.kind == "op" and self.tok.text in ("&", "*", "-", "+", "!", "^", "<-"):
            op = self.next().text
            return ("unary", op, self.parse_unary())
        return self.parse_postfix(self.parse_operand())

    def parse_operand(self):
        tok = self.tok
        if tok.kind == "str":
            self.next()
            return ("lit", tok.text)
        if tok.kind == "num":
            self.next()
            text = tok.text.replace("_", "")
            try:
                value = int(text, 0)
            except ValueError:
                try:
                    value = float(text)
                except ValueError:
                    value = text
            return ("lit", value)
        if tok.text == "func" and self.peek().text == "(":
            self.next()
            params = self.parse_params()
            self._skip_result_type()
            start = self.pos
            self.skip_balanced()
            return ("func", params, (start + 1, self.pos - 1))
        if tok.text in ("[", "map", "struct", "interface") or (tok.text == "func"):
            typ = self.parse_type()
            if self.at("{"):
                return self.parse_composite(typ)
            return ("type", typ)
        if tok.text == "(":
            self.next()
            inner = self.parse_expr()
            self.expect(")")
            return inner
        if tok.text == "{":  # elided type inside a composite literal
            return self.parse_composite(None)
        if tok.kind == "ident":
            self.next()
            return ("name", tok.text)
        raise SyntaxError(f"line {tok.line}: unexpected {tok.text!r}")

    def parse_postfix(self, node):
        while True:
            if self.at("."):
                self.next()
                if self.at("("):  # type assertion x.(T)
                    self.skip_balanced()
                    continue
                node = ("sel", node, self.next().text)
            elif self.at("("):
                self.next()
                args, spread = [], False
                while not self.at(")"):
                    if self.tok.kind == "semi":
                        self.next()
                        continue
                    args.append(self._parse_arg())
                    if self.at("..."):
                        self.next()
                        spread = True
                    if self.at(","):
                        self.next()
                self.expect(")")
                node = ("call", node, args, spread)
            elif self.at("["):
                self.next()
                if self.at(":"):
                    index = ("lit", None)
                else:
                    index = self.parse_expr()
                if self.at(":"):  # slicing: keep the operand
                    while not self.at("]"):
                        self.next()
                    self.expect("]")
                    continue
                if self.at(","):  # generic with several type arguments
                    while not self.at("]"):
                        self.next()
                self.expect("]")
                node = ("index", node, index)
            elif self.at("{") and node[0] in ("name", "sel", "index") and self._looks_like_type(node):
                node = self.parse_composite(("expr", node))
            else:
                return node

    @staticmethod
    def _looks_like_type(node) -> bool:
        # Composite literals follow type names: exported identifiers or package-qualified ones.
        if node[0] == "sel":
            return node[1][0] == "name"
        if node[0] == "name":
            return node[1] not in ("if", "for", "switch", "select", "range", "return", "go", "defer", "else")
        return node[0] == "index"

    def _parse_arg(self):
        if self.tok.text in ("map", "[", "*", "func", "interface", "struct", "chan") and \
                not (self.tok.text == "func" and self.peek().text == "(" and self._func_literal_ahead()):
            if self.tok.text == "*":
                return self.parse_expr()
            typ = self.parse_type()
            if self.at("{"):
                return self.parse_postfix(self.parse_composite(typ))
            return ("type", typ)
        return self.parse_expr()

    def _func_literal_ahead(self) -> bool:
        save = self.pos
        try:
            self.next()
            self.skip_balanced()
            self._skip_result_type()
            return self.at("{")
        except SyntaxError:
            return False
        finally:
            self.pos = save

    def parse_composite(self, typ):
        self.expect("{")
        elements = []
        while not self.at("}"):
            if self.tok.kind == "semi":
                self.next()
                continue
            first = self.parse_element()
            if self.at(":"):
                self.next()
                elements.append((first, self.parse_element()))
            else:
                elements.append((None, first))
            if self.at(","):
                self.next()
        self.expect("}")
        return ("composite", typ, elements)

    def parse_element(self):
        if self.at("{"):
            return self.parse_composite(None)
        return self.parse_expr()


# --- packages ------------------------------------------------------------------------------------

@dataclass
class Unit:
    """One Go file: its tokens and imports."""
    package: "Package"
    path: str
    toks: list[Tok]
    imports: dict[str, str]


@dataclass
class FuncDecl:
    unit: Unit
    params: list[tuple[str, bool]]
    body: tuple[int, int]
    name: str


@dataclass
class Package:
    directory: str
    funcs: dict[str, FuncDecl] = field(default_factory=dict)
    methods: dict[tuple[str, str], FuncDecl] = field(default_factory=dict)
    values: dict[str, tuple[Unit, int]] = field(default_factory=dict)  # var/const → expression position
    units: list[Unit] = field(default_factory=list)


def index_unit(package: Package, path: str, src: str) -> Unit:
    toks = tokenize(src)
    unit = Unit(package, path, toks, {})
    p = Parser(toks)
    while p.tok.kind != "eof":
        start = p.pos
        try:
            _index_declaration(p, package, unit)
        except SyntaxError:
            p.pos = start
            _skip_statement(p)
    return unit


def _index_declaration(p: Parser, package: Package, unit: Unit) -> None:
    if True:
        tok = p.tok
        if tok.kind == "semi":
            p.next()
        elif tok.text == "package":
            p.next()
            p.next()
        elif tok.text == "import":
            p.next()
            specs: list[list[Tok]] = []
            if p.at("("):
                p.next()
                current: list[Tok] = []
                while not p.at(")"):
                    t = p.next()
                    if t.kind == "semi":
                        if current:
                            specs.append(current)
                        current = []
                    else:
                        current.append(t)
                if current:
                    specs.append(current)
                p.next()
            else:
                current = [p.next()]
                if current[0].kind != "str":
                    current.append(p.next())
                specs.append(current)
            for spec in specs:
                import_path = spec[-1].text
                alias = spec[0].text if len(spec) == 2 else import_path.rstrip("/").split("/")[-1]
                if re.fullmatch(r"v\d+", alias):  # .../sdk/v2 → the package before the version
                    alias = import_path.split("/")[-2]
                unit.imports[alias] = import_path
        elif tok.text == "func":
            p.next()
            receiver = None
            if p.at("("):
                recv_toks = []
                p.next()
                while not p.at(")"):
                    recv_toks.append(p.next().text)
                p.next()
                receiver = [t for t in recv_toks if t not in ("*",)][-1]
            name = p.next().text
            if p.at("["):  # type parameters
                p.skip_balanced()
            params = p.parse_params()
            p._skip_result_type()
            if p.at("{"):
                start = p.pos
                p.skip_balanced()
                decl = FuncDecl(unit, params, (start + 1, p.pos - 1), name)
                if receiver:
                    package.methods[(receiver, name)] = decl
                else:
                    package.funcs[name] = decl
        elif tok.text in ("var", "const"):
            p.next()
            grouped = p.at("(")
            if grouped:
                p.next()
            while True:
                while p.tok.kind == "semi":
                    p.next()
                if grouped and p.at(")"):
                    p.next()
                    break
                names = [p.next().text]
                while p.at(","):
                    p.next()
                    names.append(p.next().text)
                if not p.at("=") and p.tok.kind != "semi" and not p.at(")"):
                    p.parse_type()
                if p.at("="):
                    p.next()
                    for i, name in enumerate(names):
                        if name != "_":
                            package.values[name] = (unit, p.pos)
                        try:
                            p.parse_expr() if not p.at("{") else p.parse_composite(None)
                        except SyntaxError:
                            _skip_statement(p)
                            break
                        if p.at(","):
                            p.next()
                if not grouped:
                    break
        elif tok.text == "type":
            p.next()
            if p.at("("):
                p.skip_balanced()
            else:
                p.next()
                if p.at("["):
                    p.skip_balanced()
                if p.at("="):
                    p.next()
                p.parse_type()
        else:
            _skip_statement(p)


def _skip_statement(p: Parser) -> None:
    while p.tok.kind not in ("semi", "eof"):
        if p.at("(", "[", "{"):
            p.skip_balanced()
        else:
            p.next()
    if p.tok.kind == "semi":
        p.next()


# --- interpreter ---------------------------------------------------------------------------------

class Return(Exception):
    def __init__(self, value):
        self.value = value


TYPE_NAMES = {"TypeString": "string", "TypeInt": "number", "TypeFloat": "number", "TypeBool": "bool",
              "TypeList": "list", "TypeSet": "set", "TypeMap": "map"}


class Interpreter:
    def __init__(self, tree: SourceTree):
        self.tree = tree
        self.module = tree.module_path()
        self.packages: dict[str, Package] = {}
        self.value_cache: dict[tuple[str, str], Any] = {}
        self.depth = 0

    def package(self, directory: str) -> Package:
        if directory not in self.packages:
            package = Package(directory)
            files = self.tree.go_files(directory)
            self.tree.read_many(files)
            for path in files:
                try:
                    package.units.append(index_unit(package, path, self.tree.read(path)))
                except SyntaxError as error:
                    raise SyntaxError(f"{path}: {error}") from error
            self.packages[directory] = package
        return self.packages[directory]

    def package_of_import(self, import_path: str) -> Package | None:
        if import_path == self.module or import_path.startswith(self.module + "/"):
            return self.package(import_path[len(self.module) + 1:])
        return None

    # entry points
    def call_function(self, package: Package, name: str, args: list | None = None):
        decl = package.funcs[name]
        return self.invoke(FuncDecl(decl.unit, decl.params, decl.body, name), args or [], {})

    def invoke(self, decl, args: list, env: dict, receiver: tuple[str, Any] | None = None):
        self.depth += 1
        if self.depth > 60:
            self.depth -= 1
            return Opaque("recursion")
        scope = dict(env)
        for i, (pname, variadic) in enumerate(decl.params):
            scope[pname] = args[i:] if variadic else (args[i] if i < len(args) else None)
        if receiver:
            scope[receiver[0]] = receiver[1]
        try:
            self.exec_block(decl.unit, decl.body, scope)
            return None
        except Return as ret:
            return ret.value
        finally:
            self.depth -= 1

    def exec_block(self, unit: Unit, body: tuple[int, int], scope: dict) -> None:
        p = Parser(unit.toks, body[0])
        while p.pos < body[1]:
            tok = p.tok
            if tok.kind == "semi":
                p.next()
                continue
            if tok.text in ("if", "for", "switch", "select"):
                # Control flow is not modelled: skip the statement and its blocks.
                while not p.at("{"):
                    if p.at("(", "["):
                        p.skip_balanced()
                    else:
                        p.next()
                p.skip_balanced()
                while p.at("else"):
                    p.next()
                    while not p.at("{"):
                        p.next()
                    p.skip_balanced()
                continue
            if tok.text in ("go", "defer", "panic", "log", "fmt"):
                _skip_statement(p)
                continue
            if tok.text == "return":
                p.next()
                if p.tok.kind == "semi":
                    raise Return(None)
                value = self.eval(unit, p.parse_expr(), scope)
                raise Return(value)
            if tok.text == "var":
                p.next()
                name = p.next().text
                if not p.at("="):
                    typ = p.parse_type()
                    scope[name] = {} if typ[0] == "map" else [] if typ[0] == "slice" else None
                if p.at("="):
                    p.next()
                    scope[name] = self.eval(unit, p.parse_expr(), scope)
                _skip_statement(p)
                continue
            start = p.pos
            try:
                lhs = [p.parse_expr()]
                while p.at(","):
                    p.next()
                    lhs.append(p.parse_expr())
                if p.at(":=", "="):
                    op = p.next().text
                    rhs = [self.eval(unit, p.parse_expr(), scope)]
                    while p.at(","):
                        p.next()
                        rhs.append(self.eval(unit, p.parse_expr(), scope))
                    if len(lhs) > 1 and len(rhs) == 1:
                        rhs = [rhs[0]] + [None] * (len(lhs) - 1)  # v, err := f()
                    for target, value in zip(lhs, rhs):
                        self.assign(unit, target, value, scope, declare=(op == ":="))
                elif p.at("+=", "-=", "++", "--"):
                    pass
                else:
                    for expr in lhs:
                        self.eval(unit, expr, scope)
            except SyntaxError:
                p.pos = start
            _skip_statement(p)

    def assign(self, unit: Unit, target, value, scope: dict, declare: bool) -> None:
        if target[0] == "name":
            if target[1] != "_":
                scope[target[1]] = value
        elif target[0] == "sel":
            obj = self.eval(unit, target[1], scope)
            if isinstance(obj, dict):
                obj[target[2]] = value
        elif target[0] == "index":
            obj = self.eval(unit, target[1], scope)
            key = self.eval(unit, target[2], scope)
            if isinstance(obj, dict) and isinstance(key, (str, int)):
                obj[key] = value
        elif target[0] == "unary":
            self.assign(unit, target[2], value, scope, declare)

    def eval(self, unit: Unit, node, scope: dict, elem_type=None):
        kind = node[0]
        if kind == "lit":
            return node[1]
        if kind == "name":
            return self.lookup(unit, node[1], scope)
        if kind == "unary":
            value = self.eval(unit, node[2], scope)
            if node[1] == "-" and isinstance(value, (int, float)):
                return -value
            if node[1] == "!" and isinstance(value, bool):
                return not value
            return value
        if kind == "binary":
            a, b = self.eval(unit, node[2], scope), self.eval(unit, node[3], scope)
            op = node[1]
            if op == "+" and isinstance(a, str) and isinstance(b, str):
                return a + b
            if isinstance(a, (int, float)) and isinstance(b, (int, float)) and op in "+-*":
                return {"+": a + b, "-": a - b, "*": a * b}[op]
            return Opaque(f"binary {op}")
        if kind == "sel":
            base = node[1]
            if base[0] == "name" and base[1] not in scope and base[1] in unit.imports:
                return self.qualified(unit, base[1], node[2])
            value = self.eval(unit, base, scope)
            if isinstance(value, dict):
                return value.get(node[2])
            return Opaque(f"field {node[2]}")
        if kind == "index":
            value = self.eval(unit, node[1], scope)
            key = self.eval(unit, node[2], scope)
            if isinstance(value, dict) and isinstance(key, (str, int)):
                return value.get(key)
            if isinstance(value, list) and isinstance(key, int) and 0 <= key < len(value):
                return value[key]
            return Opaque("index")
        if kind == "call":
            return self.eval_call(unit, node, scope)
        if kind == "composite":
            return self.eval_composite(unit, node[1] or elem_type, node[2], scope)
        if kind == "func":
            return Closure(node[1], node[2], unit, scope)
        if kind == "type":
            return ("type", node[1])
        return Opaque(kind)

    def lookup(self, unit: Unit, name: str, scope: dict):
        if name in scope:
            return scope[name]
        if name in ("true", "false"):
            return name == "true"
        if name == "nil":
            return None
        package = unit.package
        if name in package.values:
            return self.package_value(package, name)
        if name in package.funcs:
            decl = package.funcs[name]
            return Closure(decl.params, decl.body, decl.unit, {}, name)
        return Opaque(name)

    def package_value(self, package: Package, name: str):
        key = (package.directory, name)
        if key not in self.value_cache:
            self.value_cache[key] = Opaque(f"cycle {name}")
            vunit, pos = package.values[name]
            p = Parser(vunit.toks, pos)
            node = p.parse_composite(None) if p.at("{") else p.parse_expr()
            self.value_cache[key] = self.eval(vunit, node, {})
        return self.value_cache[key]

    def qualified(self, unit: Unit, alias: str, name: str):
        import_path = unit.imports[alias]
        package = self.package_of_import(import_path)
        if package is not None:
            if name in package.values:
                return self.package_value(package, name)
            if name in package.funcs:
                decl = package.funcs[name]
                return Closure(decl.params, decl.body, decl.unit, {}, f"{alias}.{name}")
            return Opaque(f"{alias}.{name}")
        if "terraform-plugin-sdk" in import_path and import_path.endswith("helper/schema"):
            if name in TYPE_NAMES:
                return TYPE_NAMES[name]
            if name == "SchemaConfigModeAttr":
                return "attr"
            if name == "SchemaConfigModeBlock":
                return "block"
        if import_path == "time":
            return {"Nanosecond": 1e-9, "Millisecond": 1e-3, "Second": 1, "Minute": 60, "Hour": 3600}.get(name, Opaque(name))
        return Opaque(f"{import_path}.{name}")

    def external_name(self, unit: Unit, fnode) -> str | None:
        """`pkg.Func` of a package outside the provider → "<import path>.Func"; helpers of the
        provider modelled natively → "<package dir base>.Func"."""
        if fnode[0] == "sel" and fnode[1][0] == "name" and fnode[1][1] in unit.imports:
            import_path = unit.imports[fnode[1][1]]
            return f"{import_path.split('/')[-1] if self.package_of_import(import_path) else import_path}.{fnode[2]}"
        return None

    def eval_call(self, unit: Unit, node, scope: dict):
        fnode, arg_nodes, spread = node[1], node[2], node[3]
        qualified = self.external_name(unit, fnode)
        args = [self.eval(unit, a, scope) for a in arg_nodes]
        if spread and args and isinstance(args[-1], list):
            args = args[:-1] + args[-1]
        if qualified:
            builtin = self.builtin(qualified, args)
            if builtin is not NOT_BUILTIN:
                return builtin
        if fnode[0] == "name" and fnode[1] not in scope:
            name = fnode[1]
            if name == "make":
                return {} if isinstance(args[0], tuple) and args[0][1][0] == "map" else []
            if name == "append":
                base = args[0] if isinstance(args[0], list) else []
                return base + args[1:]
            if name in ("string", "int", "int64", "float64", "bool"):
                return args[0] if args else None
            if name == "len":
                return len(args[0]) if isinstance(args[0], (list, dict, str)) else Opaque("len")
            # A helper modelled natively, called from inside its own package (tpgresource.MergeSchemas).
            builtin = self.builtin(f"{unit.package.directory.split('/')[-1]}.{name}", args)
            if builtin is not NOT_BUILTIN:
                return builtin
        func = self.eval(unit, fnode, scope)
        if isinstance(func, Closure):
            return self.invoke(FuncDecl(func.unit, func.params, func.body, func.name), args, func.env)
        if fnode[0] == "sel":  # a method on a value: modelled only for struct fields holding closures
            return Opaque(f"call {fnode[2]}")
        return Opaque("call")

    def builtin(self, name: str, args: list):
        short = name.split("/")[-1]
        if short in ("verify.ValidateEnum",):
            return Enum([v for v in args[0] if isinstance(v, str)]) if isinstance(args[0], list) else Opaque(short)
        if short == "validation.StringInSlice":
            return Enum(list(args[0]), bool(args[1]) if len(args) > 1 and isinstance(args[1], bool) else False) \
                if isinstance(args[0], list) else Opaque(short)
        if short in ("validation.All", "validation.Any"):
            enums = [a for a in args if isinstance(a, Enum)]
            return enums[0] if enums else Opaque(short)
        if short in ("stringvalidator.OneOf", "stringvalidator.OneOfCaseInsensitive"):
            return Enum([a for a in args if isinstance(a, str)], short.endswith("CaseInsensitive"))
        if short in ("listvalidator.SizeAtMost", "setvalidator.SizeAtMost"):
            return ("max_items", args[0])
        if short in ("listvalidator.SizeAtLeast", "setvalidator.SizeAtLeast"):
            return ("min_items", args[0])
        if short in ("listvalidator.IsRequired", "setvalidator.IsRequired", "objectvalidator.IsRequired"):
            return ("min_items", 1)
        if short == "schema.DefaultTimeout":
            return args[0]
        if short == "tpgresource.MergeSchemas":
            merged = {}
            for a in args:
                if isinstance(a, dict):
                    merged.update(a)
            return merged
        if short == "tpgresource.DatasourceSchemaFromResourceSchema":
            return datasource_schema(args[0]) if isinstance(args[0], dict) else Opaque(short)
        if short in ("tpgresource.AddRequiredFieldsToSchema", "tpgresource.AddOptionalFieldsToSchema",
                     "tpgresource.FixDatasourceSchemaFlags"):
            target = args[0]
            if short == "tpgresource.FixDatasourceSchemaFlags":
                required, keys = bool(args[1]), args[2:]
            else:
                required, keys = short.endswith("RequiredFieldsToSchema"), args[1:]
            for key in keys:
                if isinstance(target, dict) and key in target:
                    target[key] = Struct(target[key].type_name, dict(target[key]))
                    target[key].update(Computed=False, Optional=not required, Required=required)
            return None
        if short == "tpgresource.DeleteFieldsFromSchema":
            for key in args[1:]:
                if isinstance(args[0], dict):
                    args[0].pop(key, None)
            return None
        return NOT_BUILTIN

    def eval_composite(self, unit: Unit, typ, elements, scope: dict):
        resolved = typ
        if resolved and resolved[0] == "ptr":
            resolved = resolved[1]
        if resolved and resolved[0] == "expr":
            node = resolved[1]
            if node[0] == "sel" and node[1][0] == "name" and node[1][1] in unit.imports:
                import_path = unit.imports[node[1][1]]
                prefix = "sdk:" if "terraform-plugin-sdk" in import_path else \
                    "fw:" if "terraform-plugin-framework" in import_path else ""
                resolved = ("tname", f"{prefix}{node[1][1] if prefix else import_path.split('/')[-1]}.{node[2]}")
            elif node[0] == "name":
                resolved = ("tname", node[1])
            else:
                resolved = ("tname", "?")
        if resolved and resolved[0] == "tname" and resolved[1].count(".") == 1 and ":" not in resolved[1]:
            alias, _, tname = resolved[1].partition(".")
            if alias in unit.imports:
                import_path = unit.imports[alias]
                prefix = "sdk:" if "terraform-plugin-sdk" in import_path else \
                    "fw:" if "terraform-plugin-framework" in import_path else ""
                resolved = ("tname", f"{prefix}{alias}.{tname}")
        if resolved and resolved[0] == "map":
            value_type = resolved[2]
            out = {}
            for key, value in elements:
                k = self.eval(unit, key, scope) if key is not None else None
                if isinstance(k, (str, int)):
                    out[k] = self.eval(unit, value, scope, elem_type=value_type)
            return out
        if resolved and resolved[0] == "slice":
            return [self.eval(unit, value, scope, elem_type=resolved[1]) for _, value in elements]
        struct = Struct(resolved[1] if resolved and resolved[0] == "tname" else "?")
        for key, value in elements:
            if key is not None and key[0] == "name":
                struct[key[1]] = self.eval(unit, value, scope)
        return struct


NOT_BUILTIN = object()


def datasource_schema(resource_schema: dict) -> dict:
    """tpgresource.DatasourceSchemaFromResourceSchema: every field computed, none required, no
    validation (mirrors the Go helper)."""
    out = {}
    for name, s in resource_schema.items():
        if not isinstance(s, Struct):
            continue
        d = Struct(s.type_name, {"Computed": True, "Type": s.get("Type"), "Description": s.get("Description")})
        elem = s.get("Elem")
        if isinstance(elem, Struct) and elem.type_name == "sdk:schema.Resource" and isinstance(elem.get("Schema"), dict):
            d["Elem"] = Struct(elem.type_name, {"Schema": datasource_schema(elem["Schema"])})
        else:
            d["Elem"] = elem
        out[name] = d
    return out


# --- normalised schema -----------------------------------------------------------------------------

def _deprecated(s: dict, key: str = "Deprecated") -> str | None:
    value = s.get(key)
    return value if isinstance(value, str) and value else None


def sdk_resource(resource: Struct) -> dict:
    schema_map = resource.get("Schema")
    if not isinstance(schema_map, dict):
        raise ValueError(f"no schema map in the resource ({schema_map!r})")
    out = sdk_block_body(schema_map)
    out["attributes"].setdefault("id", {"type": "string", "computed": True})
    timeouts = resource.get("Timeouts")
    if isinstance(timeouts, Struct):
        out["blocks"]["timeouts"] = {
            "nesting": "single", "optional": True,
            "attributes": {k.lower(): {"type": "string", "optional": True}
                           for k in ("Create", "Read", "Update", "Delete", "Default") if timeouts.get(k) is not None},
            "blocks": {}}
    if _deprecated(resource, "DeprecationMessage"):
        out["deprecated"] = resource["DeprecationMessage"]
    return out


def sdk_block_body(schema_map: dict) -> dict:
    attributes, blocks = {}, {}
    for name, s in sorted(schema_map.items()):
        if not isinstance(s, dict):
            raise ValueError(f"{name}: not a schema literal ({s!r})")
        typ = s.get("Type")
        elem = s.get("Elem")
        required, optional, computed = bool(s.get("Required")), bool(s.get("Optional")), bool(s.get("Computed"))
        nested = isinstance(elem, Struct) and elem.type_name == "sdk:schema.Resource"
        mode = s.get("ConfigMode")
        as_block = nested and typ in ("list", "set") and mode != "attr" and (mode == "block" or not (computed and not optional))
        info: dict[str, Any] = {}
        if required:
            info["required"] = True
        if optional:
            info["optional"] = True
        if computed:
            info["computed"] = True
        if _deprecated(s):
            info["deprecated"] = s["Deprecated"]
        if s.get("ForceNew") is True:
            info["force_new"] = True
        if as_block:
            body = sdk_block_body(elem.get("Schema") or {})
            min_items = s.get("MinItems") if isinstance(s.get("MinItems"), int) else 0
            if required and not min_items:
                min_items = 1
            block = {"nesting": typ, **info, **body}
            if min_items:
                block["min_items"] = min_items
            if isinstance(s.get("MaxItems"), int) and s["MaxItems"]:
                block["max_items"] = s["MaxItems"]
            blocks[name] = block
            continue
        if typ in ("list", "set", "map"):
            if nested:
                inner = sdk_block_body(elem.get("Schema") or {})
                element = {"object": sorted([*inner["attributes"], *inner["blocks"]])}
                info["type"] = f"{typ}(object)"
                info["element"] = element
            else:
                element_type = elem.get("Type") if isinstance(elem, dict) else "string"
                info["type"] = f"{typ}({element_type or 'string'})"
                if isinstance(elem, dict) and isinstance(elem.get("ValidateFunc"), Enum):
                    info["element_enum"] = elem["ValidateFunc"].values
        else:
            info["type"] = typ or "string"
        validate = s.get("ValidateFunc")
        if isinstance(validate, Enum):
            info["enum"] = validate.values
            if validate.ignore_case:
                info["enum_ignore_case"] = True
        if s.get("Sensitive") is True:
            info["sensitive"] = True
        default = s.get("Default")
        if isinstance(default, (str, int, float, bool)) and not isinstance(default, Opaque):
            info["default"] = default
        for go_name, key in (("ConflictsWith", "conflicts_with"), ("ExactlyOneOf", "exactly_one_of"),
                             ("AtLeastOneOf", "at_least_one_of")):
            if isinstance(s.get(go_name), list) and all(isinstance(v, str) for v in s[go_name]):
                info[key] = s[go_name]
        attributes[name] = dict(sorted(info.items(), key=lambda kv: kv[0] != "type"))
    return {"attributes": attributes, "blocks": blocks}


FW_ATTR_TYPES = {"StringAttribute": "string", "BoolAttribute": "bool", "Int64Attribute": "number",
                 "Int32Attribute": "number", "Float64Attribute": "number", "Float32Attribute": "number",
                 "NumberAttribute": "number", "DynamicAttribute": "dynamic", "MapAttribute": "map",
                 "ListAttribute": "list", "SetAttribute": "set", "ObjectAttribute": "object",
                 "ListNestedAttribute": "list(object)", "SetNestedAttribute": "set(object)",
                 "MapNestedAttribute": "map(object)", "SingleNestedAttribute": "object"}
FW_BLOCK_NESTING = {"ListNestedBlock": "list", "SetNestedBlock": "set", "SingleNestedBlock": "single"}


def framework_body(struct: dict) -> dict:
    attributes, blocks = {}, {}
    for name, a in sorted((struct.get("Attributes") or {}).items()):
        kind = a.type_name.split(".")[-1]
        info: dict[str, Any] = {"type": FW_ATTR_TYPES.get(kind, kind)}
        if info["type"] in ("map", "list", "set"):
            elem_type = a.get("ElementType")
            elem_name = elem_type.what.split(".")[-1] if isinstance(elem_type, Opaque) else "string"
            info["type"] += f"({ {'StringType': 'string', 'BoolType': 'bool', 'Int64Type': 'number'}.get(elem_name, 'string') })"
        for flag in ("Required", "Optional", "Computed", "Sensitive"):
            if a.get(flag) is True:
                info[flag.lower()] = True
        if _deprecated(a, "DeprecationMessage"):
            info["deprecated"] = a["DeprecationMessage"]
        for v in a.get("Validators") or []:
            if isinstance(v, Enum):
                info["enum"] = v.values
                if v.ignore_case:
                    info["enum_ignore_case"] = True
        attributes[name] = info
    for name, b in sorted((struct.get("Blocks") or {}).items()):
        kind = b.type_name.split(".")[-1]
        nesting = FW_BLOCK_NESTING.get(kind, "list")
        inner = b if nesting == "single" else (b.get("NestedObject") or {})
        block: dict[str, Any] = {"nesting": nesting, "optional": True, **framework_body(inner)}
        for v in b.get("Validators") or []:
            if isinstance(v, tuple) and v[0] in ("max_items", "min_items") and isinstance(v[1], int):
                block[v[0]] = v[1]
        if block.get("min_items"):
            block.pop("optional")
            block["required"] = True
        if _deprecated(b, "DeprecationMessage"):
            block["deprecated"] = b["DeprecationMessage"]
        blocks[name] = block
    return {"attributes": attributes, "blocks": blocks}


# --- finding a type's schema -----------------------------------------------------------------------

REGISTRY_TYPES = {"resource": ("registry.SchemaTypeResource", "registry.SchemaTypeIAMResource"),
                  "data": ("registry.SchemaTypeDataSource", "registry.SchemaTypeIAMDataSource")}


def sdk_registered_schema(tree: SourceTree, interp: Interpreter, services_dir: str, kind: str, type_name: str) -> tuple[dict, str]:
    """The schema of a google provider type registered with `registry.Schema{Name: ..., Type: ...,
    Schema: <expr>}.Register()` in a services/<product>/ file."""
    candidates = [f for f in tree.files if f.startswith(services_dir + "/") and f.endswith(".go")
                  and not f.endswith("_test.go")]
    tree.read_many(candidates)
    needle = f'"{type_name}"'
    for path in candidates:
        src = tree.read(path)
        if needle not in src or "registry.Schema{" not in src:
            continue
        package = interp.package(path.rsplit("/", 1)[0])
        unit = next(u for u in package.units if u.path == path)
        toks = unit.toks
        for i, tok in enumerate(toks):
            if tok.text == "registry" and toks[i + 1].text == "." and toks[i + 2].text == "Schema" and toks[i + 3].text == "{":
                p = Parser(toks, i + 3)
                literal = p.parse_composite(("tname", "registry.Schema"))
                fields = {k[1]: v for k, v in literal[2] if k and k[0] == "name"}
                if fields.get("Name") != ("lit", type_name):
                    continue
                reg_type = fields.get("Type")
                reg_type_name = f"{reg_type[1][1]}.{reg_type[2]}" if reg_type and reg_type[0] == "sel" else ""
                if reg_type_name not in REGISTRY_TYPES[kind]:
                    continue
                resource = interp.eval(unit, fields["Schema"], {})
                if not isinstance(resource, Struct):
                    raise ValueError(f"{type_name}: the registered schema did not evaluate ({resource!r})")
                return sdk_resource(resource), path
    raise KeyError(f"{kind} {type_name} is not registered in {services_dir}")


def framework_schema(tree: SourceTree, interp: Interpreter, directory: str, kind: str, type_name: str) -> tuple[dict, str]:
    """A plugin-framework type: the receiver whose Metadata sets TypeName to `<provider>_<suffix>`,
    then its Schema method's `resp.Schema = schema.Schema{...}`."""
    suffix = "_" + type_name.split("_", 1)[1]
    request_package = "datasource" if kind == "data" else "resource"
    package = interp.package(directory)
    for (receiver, method), decl in package.methods.items():
        if method != "Metadata":
            continue
        if not any(t.kind == "str" and t.text == suffix for t in decl.unit.toks[decl.body[0]:decl.body[1]]):
            continue
        source = decl.unit
        signature = " ".join(t.text for t in source.toks[max(0, decl.body[0] - 20):decl.body[0]])
        if f"{request_package} . MetadataRequest" not in signature:
            continue
        schema_decl = package.methods[(receiver, "Schema")]
        resp = Struct("response")
        params = [(name, False) for name in ("ctx", "req", "resp")]
        interp.invoke(FuncDecl(schema_decl.unit, params, schema_decl.body, "Schema"), [None, None, resp], {})
        schema_struct = resp.get("Schema")
        if not isinstance(schema_struct, Struct):
            raise ValueError(f"{type_name}: Schema did not set resp.Schema")
        out = framework_body(schema_struct)
        if _deprecated(schema_struct, "DeprecationMessage"):
            out["deprecated"] = schema_struct["DeprecationMessage"]
        return out, schema_decl.unit.path
    raise KeyError(f"{kind} {type_name} not found in {directory}")


# Terraform's built-in resource (no provider): terraform.io/docs/language/resources/terraform-data.
TERRAFORM_DATA = {
    "attributes": {
        "id": {"type": "string", "computed": True},
        "input": {"type": "dynamic", "optional": True},
        "output": {"type": "dynamic", "computed": True},
        "triggers_replace": {"type": "dynamic", "optional": True},
    },
    "blocks": {},
}


# --- which types the project uses --------------------------------------------------------------------

def used_types(tf_dir: Path) -> set[tuple[str, str, str]]:
    """(provider local name, resource|data, type) of every resource and data block under tf_dir."""
    sys.path.insert(0, str(REPO / "tests" / "terraform"))
    found = set()
    for path in sorted(tf_dir.rglob("*.tf")):
        if ".terraform" in path.parts:
            continue
        text = path.read_text()
        for match in re.finditer(r'^\s*(resource|data)\s+"([\w-]+)"\s+"[\w-]+"\s*\{', text, re.M):
            kind, rtype = match.group(1), match.group(2)
            block_start = match.end()
            depth, i = 1, block_start
            while depth and i < len(text):
                depth += {"{": 1, "}": -1}.get(text[i], 0)
                i += 1
            provider = re.search(r'^\s*provider\s*=\s*([\w-]+)', text[block_start:i], re.M)
            local = provider.group(1) if provider else ("terraform" if rtype == "terraform_data" else rtype.split("_")[0])
            found.add((local, kind, rtype))
    return found


def extract(sources: dict[str, SourceTree], tf_dir: Path, commits: dict[str, str | None], versions: dict[str, str | None]) -> dict:
    types = used_types(tf_dir)
    out: dict[str, Any] = {
        "generated_by": "scripts/tf_schema.py",
        "providers": {},
        "resource_schemas": {},
        "data_source_schemas": {},
    }
    interps = {name: Interpreter(tree) for name, tree in sources.items()}
    for local in sorted({t[0] for t in types} | {"terraform"}):
        if local == "terraform":
            out["providers"]["terraform"] = {"source": "built in (terraform_data)"}
            out["resource_schemas"].setdefault("terraform", {})["terraform_data"] = {**TERRAFORM_DATA, "source_file": "built in"}
            continue
        if local not in sources:
            raise SystemExit(f"the .tf files use provider {local}: give its source with --{local}")
        tree = sources[local]
        out["providers"][local] = {
            "source": f"hashicorp/terraform-provider-{local}",
            "version": versions.get(local) or tree.version(),
            "commit": commits.get(local) or tree.commit,
        }
    for local, kind, rtype in sorted(types):
        if local == "terraform":
            continue
        tree, interp = sources[local], interps[local]
        if local in ("google", "google-beta"):
            services = "google-beta/services" if local == "google-beta" else "google/services"
            schema, path = sdk_registered_schema(tree, interp, services, kind, rtype)
        else:
            schema, path = framework_schema(tree, interp, "internal/provider", kind, rtype)
        schema["source_file"] = path
        bucket = out["resource_schemas" if kind == "resource" else "data_source_schemas"]
        bucket.setdefault(local, {})[rtype] = schema
        print(f"{local:12} {kind:8} {rtype:48} {len(schema['attributes']):3} attributes "
              f"{len(schema['blocks']):2} blocks  ({path})", file=sys.stderr)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    for name in PROVIDERS:
        parser.add_argument(f"--{name}", metavar="PATH[@REV]", help=f"terraform-provider-{name} source")
        parser.add_argument(f"--commit-{name}", help="commit to record when PATH is not a git work tree")
        parser.add_argument(f"--version-{name}", help="version to record when REV is not a vX.Y.Z tag")
    parser.add_argument("--terraform-dir", type=Path, default=TF_DIR)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args(argv)
    sources = {name: SourceTree(getattr(args, name.replace("-", "_")))
               for name in PROVIDERS if getattr(args, name.replace("-", "_"))}
    commits = {name: getattr(args, f"commit_{name.replace('-', '_')}") for name in PROVIDERS}
    versions = {name: getattr(args, f"version_{name.replace('-', '_')}") for name in PROVIDERS}
    result = extract(sources, args.terraform_dir, commits, versions)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1, sort_keys=False) + "\n")
    print(f"wrote {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
