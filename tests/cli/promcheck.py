#!/usr/bin/python3
"""Check a Prometheus text exposition (format 0.0.4) strictly, and the values of series in it.

Usage: promcheck.py FILE [SERIES=VALUE]...
  SERIES is name or name{label="value",...} (labels in any order); the series
  must be in FILE with exactly that value. SERIES!=absent: it must not be there.

Two readers must agree: a strict one here (every line a HELP, TYPE or sample;
TYPE before a family's samples, families not interleaved, no series twice,
escapes only \\\\ \\" \\n, counters named _total and never negative, a
histogram's buckets ascending and cumulative up to le="+Inf" which equals
its _count, with a _sum), and prometheus_client's own parser (Debian's
python3-prometheus-client), an independent one. Prints every problem and
exits 1; prints "ok N samples" and exits 0 otherwise.
"""

import math
import re
import sys

NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
LABEL = r"[a-zA-Z_][a-zA-Z0-9_]*"
SAMPLE = re.compile(r"^(" + NAME + r")(\{.*\})? (\S+)( -?[0-9]+)?$")
TYPES = ("counter", "gauge", "histogram", "summary", "untyped")


def parse_labels(text, where, problems):
    """{a="x",b="y"} -> tuple of sorted (name, value); None on a syntax error."""
    out, i = [], 1
    if text == "{}":
        return ()
    while True:
        m = re.compile(LABEL).match(text, i)
        if not m or text[m.end():m.end() + 2] != '="':
            problems.append("%s: bad label at %r" % (where, text[i:i + 20]))
            return None
        name, i, value = m.group(0), m.end() + 2, []
        while True:
            if i >= len(text):
                problems.append("%s: unterminated label value" % where)
                return None
            c = text[i]
            if c == "\\":
                nxt = text[i + 1:i + 2]
                if nxt not in ("\\", '"', "n"):
                    problems.append("%s: bad escape \\%s" % (where, nxt))
                    return None
                value.append("\n" if nxt == "n" else nxt)
                i += 2
            elif c == '"':
                i += 1
                break
            elif c == "\n":
                problems.append("%s: raw line feed in a label value" % where)
                return None
            else:
                value.append(c)
                i += 1
        if name in [n for n, _ in out]:
            problems.append("%s: label %s twice" % (where, name))
        out.append((name, "".join(value)))
        if text[i:i + 1] == ",":
            i += 1
            continue
        if text[i:] == "}":
            return tuple(sorted(out))
        problems.append("%s: junk after label %s: %r" % (where, name, text[i:i + 20]))
        return None


def parse_value(s):
    if s in ("+Inf", "Inf"):
        return math.inf
    if s == "-Inf":
        return -math.inf
    if s == "NaN":
        return math.nan
    if not re.fullmatch(r"[-+]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][-+]?[0-9]+)?", s):
        raise ValueError(s)
    return float(s)


def strict(text):
    problems, samples = [], {}
    types, helps, seen_families, current = {}, set(), [], None
    if text and not text.endswith("\n"):
        problems.append("the text does not end with a line feed")
    for n, line in enumerate(text.split("\n")[:-1] if text.endswith("\n") else text.split("\n"), 1):
        where = "line %d" % n
        if line.startswith("# HELP ") or line.startswith("# TYPE "):
            parts = line.split(" ", 3)
            if len(parts) < 4 or not re.fullmatch(NAME, parts[2]):
                problems.append("%s: malformed %s" % (where, parts[1] if len(parts) > 1 else "comment"))
                continue
            fam = parts[2]
            if fam != current and fam in seen_families:
                problems.append("%s: family %s comes back after another (interleaved)" % (where, fam))
            if fam != current:
                seen_families.append(fam)
                current = fam
            if parts[1] == "HELP":
                if fam in helps:
                    problems.append("%s: a second HELP for %s" % (where, fam))
                helps.add(fam)
                if re.search(r"\\[^\\n]", parts[3].replace("\\\\", "")):
                    problems.append("%s: bad escape in HELP" % where)
            else:
                if fam in types:
                    problems.append("%s: a second TYPE for %s" % (where, fam))
                if any(s[0] == fam or s[0].startswith(fam + "_") for s in samples):
                    problems.append("%s: TYPE for %s after its samples" % (where, fam))
                if parts[3] not in TYPES:
                    problems.append("%s: unknown type %r" % (where, parts[3]))
                types[fam] = parts[3]
            continue
        if line.startswith("#"):
            continue
        if line == "":
            problems.append("%s: an empty line" % where)
            continue
        m = SAMPLE.match(line)
        if not m:
            problems.append("%s: not a sample: %r" % (where, line[:80]))
            continue
        name, ltext, vtext = m.group(1), m.group(2) or "{}", m.group(3)
        labels = parse_labels(ltext, where, problems)
        if labels is None:
            continue
        try:
            value = parse_value(vtext)
        except ValueError:
            problems.append("%s: bad value %r" % (where, vtext))
            continue
        fam = None
        for f, t in types.items():
            if name == f or (t == "histogram" and name in (f + "_bucket", f + "_sum", f + "_count")):
                fam = f
        if fam is None:
            problems.append("%s: sample %s has no TYPE before it" % (where, name))
            continue
        if fam != current:
            problems.append("%s: sample %s outside its family's block" % (where, name))
        if types[fam] == "counter":
            if not fam.endswith("_total"):
                problems.append("%s: counter %s is not named _total" % (where, fam))
            if not value >= 0:
                problems.append("%s: counter %s is %s" % (where, name, vtext))
        key = (name, labels)
        if key in samples:
            problems.append("%s: series %s%s twice" % (where, name, ltext))
        samples[key] = value
    # Histograms: per label set, buckets ascending and cumulative, +Inf last and equal to _count.
    for fam, t in types.items():
        if t != "histogram":
            continue
        groups = {}
        for (name, labels), v in samples.items():
            if name == fam + "_bucket":
                le = dict(labels).get("le")
                rest = tuple(l for l in labels if l[0] != "le")
                if le is None:
                    problems.append("%s: a bucket without le" % fam)
                    continue
                groups.setdefault(rest, []).append((parse_value(le), v))
        for rest, buckets in groups.items():
            buckets.sort()
            counts = [c for _, c in buckets]
            if counts != sorted(counts):
                problems.append("%s%s: buckets are not cumulative: %s" % (fam, dict(rest), buckets))
            if buckets[-1][0] != math.inf:
                problems.append("%s%s: no le=\"+Inf\" bucket" % (fam, dict(rest)))
            if samples.get((fam + "_count", rest)) != buckets[-1][1]:
                problems.append("%s%s: _count %s is not the +Inf bucket %s" % (fam, dict(rest),
                                samples.get((fam + "_count", rest)), buckets[-1][1]))
            if (fam + "_sum", rest) not in samples:
                problems.append("%s%s: no _sum" % (fam, dict(rest)))
    return problems, samples


def independent(text):
    """The same samples through prometheus_client's parser."""
    from prometheus_client.parser import text_string_to_metric_families
    out = {}
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def same(a, b):
    return a == b or (math.isnan(a) and math.isnan(b))


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    text = open(sys.argv[1], encoding="utf-8").read()
    problems, samples = strict(text)
    try:
        other = independent(text)
    except Exception as e:  # the independent parser refused the text
        problems.append("prometheus_client refuses it: %s" % e)
        other = None
    if other is not None and not problems:
        for k in set(samples) | set(other):
            if k not in other or k not in samples or not same(samples[k], other[k]):
                problems.append("the two parsers disagree on %s: %s vs %s" % (k, samples.get(k), other.get(k)))
    for arg in sys.argv[2:]:
        absent = "!=absent" in arg
        series, _, want = arg.replace("!=absent", "=").rpartition("=")
        m = re.fullmatch("(" + NAME + r")(\{.*\})?", series)
        if not m:
            problems.append("bad argument %r" % arg)
            continue
        labels = parse_labels(m.group(2) or "{}", arg, problems)
        got = samples.get((m.group(1), labels))
        if absent:
            if got is not None:
                problems.append("%s: got %s, want no such series" % (series, got))
        elif got is None:
            problems.append("%s: no such series, want %s" % (series, want))
        elif not same(got, parse_value(want)):
            problems.append("%s: got %s, want %s" % (series, got, want))
    for p in problems:
        print("promcheck: " + p)
    if problems:
        sys.exit(1)
    print("ok %d samples" % len(samples))


if __name__ == "__main__":
    main()
