"""Every answer the black-box tests receive, checked against etc/openapi.json
(the JSON written from etc/openapi.yaml, which the server also serves at
GET /openapi.json).

    check_answer(method, target, status, headers, raw)

raises AnswerMismatch when the answer's status is not documented for that
operation, or its body does not validate against the documented schema
(JSON Schema 2020-12, python3-jsonschema from Debian).  harness.Server's
request() calls it for every answer, so a test that exercises a path
checks the document too, and the document cannot drift from the server.

Paths the document does not have (the malformed-request tests send many)
must answer an error envelope.
"""

import json
import os
import re
import sys
import threading
import urllib.parse

try:
    import jsonschema
except ImportError:
    # Debian's python3-jsonschema lives in the system interpreter's
    # dist-packages; another python3 (pyenv, a venv) does not look there.
    sys.path.append("/usr/lib/python3/dist-packages")
    import jsonschema

HERE = os.path.dirname(os.path.abspath(__file__))
DOC_PATH = os.path.join(HERE, "..", "..", "etc", "openapi.json")
METHODS = ("get", "put", "post", "patch", "delete")


class AnswerMismatch(AssertionError):
    pass


class _Spec:
    def __init__(self, path):
        with open(path, encoding="utf-8") as f:
            self.doc = json.load(f)
        self.resolver = jsonschema.RefResolver.from_schema(self.doc)
        self.routes = []
        for template, item in self.doc["paths"].items():
            rx = "^" + "/".join(
                "[^/]+" if re.fullmatch(r"\{[^}]+\}", seg) else re.escape(seg)
                for seg in template.split("/")) + "$"
            self.routes.append((re.compile(rx), template, item))
        self._validators = {}
        self._lock = threading.Lock()

    def validator(self, schema):
        """A validator for schema (a node of the document), built once.
        The document's $refs are inlined first (it has no recursive ones):
        resolving them at every validation made a 100-item batch answer
        cost 12 ms to check."""
        with self._lock:
            v = self._validators.get(id(schema))
            if v is None:
                v = jsonschema.Draft202012Validator(
                    self.inline(schema), resolver=self.resolver,
                    format_checker=jsonschema.FormatChecker())
                self._validators[id(schema)] = v
            return v

    def inline(self, node):
        if isinstance(node, dict):
            if "$ref" in node:
                return self.inline(self.deref(node))
            return {k: self.inline(v) for k, v in node.items()}
        if isinstance(node, list):
            return [self.inline(v) for v in node]
        return node

    def deref(self, obj):
        while isinstance(obj, dict) and "$ref" in obj:
            ref = obj["$ref"]
            assert ref.startswith("#/"), ref
            node = self.doc
            for part in ref[2:].split("/"):
                node = node[part.replace("~1", "/").replace("~0", "~")]
            obj = node
        return obj

    def route(self, path):
        # Debug operations answer at /debug/... and /v1/debug/...; '$' may
        # come percent-encoded.
        if path.startswith("/debug/"):
            path = "/v1" + path
        path = path.replace("/%24batch", "/$batch")
        for rx, template, item in self.routes:
            if rx.match(path):
                return template, item
        return None, None


_SPEC = None
_SPEC_LOCK = threading.Lock()


def spec():
    global _SPEC
    with _SPEC_LOCK:
        if _SPEC is None:
            _SPEC = _Spec(DOC_PATH)
        return _SPEC


_ENVELOPE = {"$ref": "#/components/schemas/ErrorEnvelope"}


def check_answer(method, target, status, headers, raw):
    s = spec()
    path = urllib.parse.urlsplit(target).path if "://" in target \
        else target.split("?", 1)[0]
    method = method.upper()
    template, item = s.route(path)
    where = "%s %s -> %d" % (method, target[:120], status)
    if template is None:
        if status < 400:
            raise AnswerMismatch("%s: the path is not in etc/openapi.yaml"
                                 % where)
        schema, content_type = _ENVELOPE, "application/json"
    else:
        op = item.get("get" if method == "HEAD" else method.lower())
        if op is None:
            if status < 400:
                raise AnswerMismatch("%s: %s is not documented for %s"
                                     % (where, method, template))
            schema, content_type = _ENVELOPE, "application/json"
        else:
            responses = op["responses"]
            resp = responses.get(str(status)) or responses.get("default")
            if resp is None:
                raise AnswerMismatch("%s: status %d is not documented for "
                                     "%s %s" % (where, status, method,
                                                template))
            resp = s.deref(resp)
            content = resp.get("content") or {}
            if not content:
                if raw:
                    raise AnswerMismatch("%s: documented without a body, "
                                         "answered %r" % (where, raw[:200]))
                return
            content_type, media = next(iter(content.items()))
            schema = media.get("schema") or {}
    if method == "HEAD" or status in (204, 304):
        return
    got_type = (headers.get("Content-Type") or "").split(";")[0].strip()
    if got_type != content_type:
        raise AnswerMismatch("%s: Content-Type %r, documented %r"
                             % (where, got_type, content_type))
    if content_type != "application/json":
        return
    try:
        body = json.loads(raw.decode("utf-8"))
    except (ValueError, UnicodeDecodeError):
        raise AnswerMismatch("%s: body is not JSON: %r" % (where, raw[:200]))
    errors = sorted(s.validator(schema).iter_errors(body),
                    key=lambda e: list(e.absolute_path))
    if errors:
        e = errors[0]
        raise AnswerMismatch("%s: answer does not match etc/openapi.yaml at "
                             "%s: %s (%d error(s)); body %r"
                             % (where, "/".join(map(str, e.absolute_path)),
                                e.message[:300], len(errors), raw[:300]))
