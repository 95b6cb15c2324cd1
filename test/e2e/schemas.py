"""Validation of JSON bodies against the 3GPP OpenAPI descriptions (Rel-18) in
shared/3gpp-openapi, with Debian's python3-jsonschema.

    validate(body, "TS24558_Eecs_ServiceProvisioning.yaml", "ECSServProvResp")
    validate_request("TS29558_Eecs_EESRegistration.yaml", "/registrations", "POST", body)
    validate_response("TS29558_Eecs_EESRegistration.yaml", "/registrations", "POST", 201, body)

Each raises AssertionError naming the file, the schema, the JSON path of the error and the
rule broken, and returns the body parsed (bytes and str are read as JSON).

The files are OpenAPI 3.0, whose schema dialect is JSON Schema draft 4 plus a few words of
its own; each file is loaded and converted once per process:
- `nullable: true` becomes a "null" in `type` (or `anyOf [..., {type: null}]` without one);
- `discriminator`, `readOnly`, `writeOnly`, `example`, `x-*` are ignored;
- `$ref` across files ('TS29571_CommonData.yaml#/components/schemas/Uri') resolves through
  a RefResolver whose handler serves the converted files from the directory;
- formats: only the cheap ones are checked (date-time, date, int32, int64, uuid);
- 3GPP's extensible enumerations (anyOf [{type: string, enum: [...]}, {type: string}]) are
  closed by default (strict_enums=True): a value outside the enumeration of this release
  is an error, so a typo in a value edgegw sends is caught. strict_enums=False validates
  exactly what the published schema allows.

The directory comes from EDGEGW_OPENAPI_DIR, else <repo>/../shared/3gpp-openapi, else
/work/shared/3gpp-openapi; none of them existing is an error (never a skip): the tests
that use this module cannot say anything without the files. The files are not copied
into the repository.
"""

import datetime
import functools
import json
import os
import pathlib
import re
import urllib.parse
import warnings

import yaml

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    from jsonschema import Draft4Validator, FormatChecker
    from jsonschema.exceptions import best_match

    try:  # newer jsonschema deprecates (but keeps) RefResolver; Debian 12 has 4.10
        from jsonschema.validators import _RefResolver as RefResolver
    except ImportError:
        from jsonschema import RefResolver

REPO = pathlib.Path(__file__).resolve().parents[2]
ENV = "EDGEGW_OPENAPI_DIR"
METHODS = ("get", "put", "post", "delete", "patch", "head", "options")


@functools.lru_cache(maxsize=1)
def openapi_dir():
    """The directory of the 3GPP OpenAPI files (see the module comment)."""
    env = os.environ.get(ENV)
    if env:
        d = pathlib.Path(env)
        if not (d / "TS29571_CommonData.yaml").is_file():
            raise AssertionError(f"{ENV}={env}: no 3GPP OpenAPI files there "
                                 "(TS29571_CommonData.yaml missing)")
        return d.resolve()
    tried = [REPO.parent / "shared" / "3gpp-openapi", pathlib.Path("/work/shared/3gpp-openapi")]
    for d in tried:
        if (d / "TS29571_CommonData.yaml").is_file():
            return d.resolve()
    raise AssertionError("3GPP OpenAPI files not found: set " + ENV + " or provide one of "
                         + ", ".join(str(d) for d in tried)
                         + " (shared/3gpp-openapi beside the repository)")


# ---- loading and conversion -----------------------------------------------------------

class _Loader(yaml.CSafeLoader if hasattr(yaml, "CSafeLoader") else yaml.SafeLoader):
    """YAML 1.1 without its surprises: only true/false are booleans and dates stay
    strings (a 3GPP enum value ON or NO, or an example date, must stay text)."""


_Loader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers
            if tag not in ("tag:yaml.org,2002:bool", "tag:yaml.org,2002:timestamp")]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Loader.add_implicit_resolver("tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"),
                              list("tTfF"))


@functools.lru_cache(maxsize=None)
def spec(name):
    """The OpenAPI document |name| as published (parsed once; do not modify it)."""
    path = openapi_dir() / name
    if not path.is_file():
        raise AssertionError(f"{path}: no such 3GPP OpenAPI file")
    with open(path, encoding="utf-8") as f:
        return yaml.load(f, Loader=_Loader)


def _closed_enum(node):
    """anyOf [{type: T, enum: [...]}, {type: T}] (3GPP's extensible enumeration) as the
    closed {type: T, enum: [...]}, or None when |node| is not that pattern."""
    alts = node.get("anyOf")
    if not isinstance(alts, list) or len(alts) != 2 or not all(isinstance(a, dict) for a in alts):
        return None
    closed = [a for a in alts if "enum" in a]
    free = [a for a in alts if "enum" not in a and set(a) <= {"type", "description"}]
    if len(closed) != 1 or len(free) != 1 or closed[0].get("type") != free[0].get("type"):
        return None
    out = {k: v for k, v in node.items() if k != "anyOf"}
    out.update(closed[0])
    return out


def _convert(node, strict_enums):
    if isinstance(node, list):
        return [_convert(v, strict_enums) for v in node]
    if not isinstance(node, dict):
        return node
    node = {k: _convert(v, strict_enums) for k, v in node.items()}
    if strict_enums:
        node = _closed_enum(node) or node
    nullable = node.pop("nullable", None) if isinstance(node.get("nullable"), bool) else None
    if nullable:
        t = node.get("type")
        if isinstance(t, str):
            node["type"] = [t, "null"]
            if isinstance(node.get("enum"), list) and None not in node["enum"]:
                node["enum"] = node["enum"] + [None]
        else:
            node = {"anyOf": [node, {"type": "null"}]}
    return node


@functools.lru_cache(maxsize=None)
def _converted(name, strict_enums):
    return _convert(spec(name), strict_enums)


def _uri(name):
    return (openapi_dir() / name).as_uri()


def _fetch(strict_enums, uri):
    return _converted(pathlib.PurePosixPath(urllib.parse.urlsplit(uri).path).name, strict_enums)


_formats = FormatChecker(())
_DATE_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$")
_UUID = re.compile(r"^[0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$")


@_formats.checks("date-time", raises=ValueError)
def _date_time(value):
    if not isinstance(value, str):
        return True
    if not _DATE_TIME.match(value):
        return False
    datetime.datetime.fromisoformat(value[:19])  # month 13, hour 25: ValueError
    return True


@_formats.checks("date", raises=ValueError)
def _date(value):
    if not isinstance(value, str):
        return True
    return bool(re.match(r"^\d{4}-\d{2}-\d{2}$", value)) and bool(datetime.date.fromisoformat(value))


@_formats.checks("int32")
def _int32(value):
    return not isinstance(value, int) or isinstance(value, bool) or -2**31 <= value < 2**31


@_formats.checks("int64")
def _int64(value):
    return not isinstance(value, int) or isinstance(value, bool) or -2**63 <= value < 2**63


@_formats.checks("uuid")
def _uuid(value):
    return not isinstance(value, str) or bool(_UUID.match(value))


def _pointer_get(doc, pointer):
    node = doc
    for part in pointer.lstrip("/").split("/") if pointer.strip("/") else []:
        part = part.replace("~1", "/").replace("~0", "~")
        node = node[int(part)] if isinstance(node, list) else node[part]
    return node


@functools.lru_cache(maxsize=None)
def _validator(name, pointer, strict_enums):
    doc = _converted(name, strict_enums)
    try:
        node = _pointer_get(doc, pointer)
    except (KeyError, IndexError, ValueError):
        raise AssertionError(f"{name}: no schema at #{pointer}") from None
    resolver = RefResolver(base_uri=_uri(name), referrer=doc,
                           handlers={"file": functools.partial(_fetch, strict_enums)})
    return Draft4Validator(node, resolver=resolver, format_checker=_formats)


# ---- validation -----------------------------------------------------------------------

def _json_path(path):
    out = "$"
    for p in path:
        out += f"[{p}]" if isinstance(p, int) else f".{p}"
    return out


def _parse(body, label):
    if isinstance(body, (bytes, bytearray)):
        body = body.decode("utf-8")
    if isinstance(body, str):
        try:
            return json.loads(body)
        except ValueError as e:
            raise AssertionError(f"{label}: body is not JSON ({e}): {body[:200]!r}") from None
    return body


def _check(body, name, pointer, label, strict_enums):
    body = _parse(body, label)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        errors = list(_validator(name, pointer, strict_enums).iter_errors(body))
    if errors:
        e = best_match(errors)
        msg = e.message if len(e.message) <= 300 else e.message[:300] + "..."
        where = "/".join(str(p) for p in e.absolute_schema_path)
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        raise AssertionError(f"{label}: {_json_path(e.absolute_path)}: {msg} "
                             f"[schema: {where}]{more}\nbody: {json.dumps(body)[:2000]}")
    return body


def validate(body, name, schema, strict_enums=True):
    """Checks |body| (a parsed JSON value, or bytes/str holding one) against
    components/schemas/|schema| of the OpenAPI file |name|. Returns the parsed body;
    raises AssertionError naming the JSON path of the error."""
    return _check(body, name, f"/components/schemas/{schema}", f"{name}#{schema}", strict_enums)


def _api_base(doc):
    """The path part of the file's server URL: '/eecs-serviceprovisioning/v1'."""
    for server in doc.get("servers") or []:
        url = server.get("url", "")
        path = urllib.parse.urlsplit(url.replace("{apiRoot}", "https://api-root")).path
        return path.rstrip("/")
    return ""


def find_operation(name, path, method):
    """(path template, operation object) of |method| on |path| in file |name|. |path| may
    be a template ('/registrations/{registrationId}'), a concrete path ('/registrations/7')
    or carry the API root and a query ('/eecs-eesregistration/v1/registrations/7?x=1')."""
    doc = spec(name)
    path = urllib.parse.urlsplit(path).path
    base = _api_base(doc)
    if base and path.startswith(base + "/"):
        path = path[len(base):]
    for tpl, item in (doc.get("paths") or {}).items():
        rx = "^" + re.sub(r"\\\{[^}]*\\\}", "[^/]+", re.escape(tpl)) + "$"
        if tpl == path or re.match(rx, path):
            op = item.get(method.lower())
            if op is None:
                allowed = sorted(m.upper() for m in item if m in METHODS)
                raise AssertionError(f"{name}: {method.upper()} {tpl} is not in the API "
                                     f"(it has {', '.join(allowed)})")
            return tpl, op
    raise AssertionError(f"{name}: no path matches {path} (paths: {', '.join(doc.get('paths') or [])})")


def _follow(name, obj):
    """Follows a $ref of a response or request body object: (file, pointer, object)."""
    pointer = None
    while isinstance(obj, dict) and "$ref" in obj:
        target, _, frag = obj["$ref"].partition("#")
        name = target or name
        pointer = frag
        obj = _pointer_get(spec(name), frag)
    return name, pointer, obj


def _media(content, content_type, label):
    if content_type:
        base = content_type.split(";")[0].strip().lower()
        if base not in content:
            raise AssertionError(f"{label}: content type {base} is not one of {', '.join(content)}")
        return base
    return next((m for m in ("application/json", "application/problem+json",
                             "application/merge-patch+json") if m in content), next(iter(content)))


def _empty(body):
    return body is None or body in (b"", "")


def _esc(part):
    return str(part).replace("~", "~0").replace("/", "~1")


def _content_pointer(tpl, method, section, ref_ptr, mt):
    """JSON pointer of the schema of media type |mt| in a request body or response:
    under |ref_ptr| when the object was a $ref, else under paths/<tpl>/<method>/<section>."""
    head = ref_ptr if ref_ptr is not None else \
        "/" + "/".join(_esc(p) for p in ["paths", tpl, method.lower()] + section)
    return f"{head}/content/{_esc(mt)}/schema"


def validate_request(name, path, method, body, content_type=None, strict_enums=True):
    """Checks a request body against the requestBody of |method| |path| in file |name|
    (see find_operation for |path|). Returns the parsed body."""
    tpl, op = find_operation(name, path, method)
    label = f"{name} {method.upper()} {tpl} request"
    req = op.get("requestBody")
    if req is None:
        assert _empty(body), f"{label}: the API has no request body, got {body!r:.200}"
        return None
    owner, ref_ptr, req = _follow(name, req)
    if _empty(body):
        assert not req.get("required"), f"{label}: a body is required"
        return None
    mt = _media(req.get("content") or {}, content_type, label)
    return _check(body, owner, _content_pointer(tpl, method, ["requestBody"], ref_ptr, mt),
                  label, strict_enums)


def validate_response(name, path, method, status, body, content_type=None, strict_enums=True):
    """Checks a response against the API: |status| must be listed for |method| |path| in
    file |name| (or fall under "default"); a response the API describes without content
    must have no body; otherwise the body must match the schema of its content type
    (|content_type| as received, or the API's first). An error status answered under
    "default" (which 3GPP describes without content) with a body must be
    application/problem+json and a valid ProblemDetails (TS 29.122). Returns the parsed
    body (None when empty)."""
    tpl, op = find_operation(name, path, method)
    label = f"{name} {method.upper()} {tpl} {status}"
    responses = {str(k): v for k, v in (op.get("responses") or {}).items()}
    key = str(status) if str(status) in responses else "default" if "default" in responses else None
    if key is None:
        raise AssertionError(f"{label}: status {status} is not an answer of this operation "
                             f"(it lists {', '.join(responses)})")
    owner, ref_ptr, resp = _follow(name, responses[key])
    content = resp.get("content")
    if not content:
        if key == "default" and not _empty(body) and int(status) >= 400:
            if content_type:
                assert content_type.split(";")[0].strip().lower() == "application/problem+json", \
                    f"{label}: error body as {content_type}, not application/problem+json"
            return _check(body, "TS29122_CommonData.yaml", "/components/schemas/ProblemDetails",
                          label + " (default: ProblemDetails)", strict_enums)
        assert _empty(body), f"{label}: the API describes no body for this answer, got {body!r:.300}"
        return None
    assert not _empty(body), f"{label}: the API describes a body for this answer, got none"
    mt = _media(content, content_type, label)
    return _check(body, owner, _content_pointer(tpl, method, ["responses", key], ref_ptr, mt),
                  label, strict_enums)
