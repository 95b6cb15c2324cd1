"""A small strict parser of the Prometheus text exposition format (0.0.4), enough to
check what edgegw's /metrics serves: every sample belongs to a family announced by one
HELP and one TYPE line before it, names and label names are well formed, label values
use only the three escapes, values are numbers."""

import re

NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
LABEL = r"[a-zA-Z_][a-zA-Z0-9_]*"
SAMPLE = re.compile(rf"^({NAME})(?:\{{(.*)\}})? (\S+)$")
TYPES = {"counter", "gauge", "histogram", "summary", "untyped"}


def _labels(text):
    out, i = {}, 0
    while i < len(text):
        m = re.match(rf"({LABEL})=\"", text[i:])
        assert m, f"bad label at {text[i:]!r}"
        name, i = m.group(1), i + m.end()
        value = ""
        while text[i] != '"':
            if text[i] == "\\":
                esc = text[i + 1]
                assert esc in '\\"n', f"bad escape \\{esc}"
                value += {"\\": "\\", '"': '"', "n": "\n"}[esc]
                i += 2
            else:
                value += text[i]
                i += 1
        i += 1
        assert name not in out, f"label {name} twice"
        out[name] = value
        if i < len(text):
            assert text[i] == ",", f"expected ',' at {text[i:]!r}"
            i += 1
    return out


def parse(text):
    """Returns {(name, frozenset(labels.items())): value} and {family: type}."""
    assert text.endswith("\n"), "the exposition ends with a line feed"
    samples, types, helps = {}, {}, set()
    for line in text.splitlines():
        if line.startswith("# HELP "):
            name = line.split(" ", 3)[2]
            assert re.fullmatch(NAME, name) and name not in helps, line
            helps.add(name)
        elif line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ")
            assert kind in TYPES and name not in types and name in helps, line
            types[name] = kind
        else:
            m = SAMPLE.match(line)
            assert m, f"not a sample line: {line!r}"
            name, labels, value = m.group(1), _labels(m.group(2) or ""), float(m.group(3))
            family = name
            if family not in types:
                family = re.sub(r"_(bucket|sum|count)$", "", name)
                assert types.get(family) == "histogram", f"sample {name} before its TYPE"
            key = (name, frozenset(labels.items()))
            assert key not in samples, f"duplicate sample {line}"
            samples[key] = value
    return samples, types


def value(samples, name, **labels):
    return samples.get((name, frozenset(labels.items())), 0.0)
