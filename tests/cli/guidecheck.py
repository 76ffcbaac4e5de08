#!/usr/bin/python3
"""guidecheck.py - read the documentation the way tests/cli/test-guides.sh checks it.

  guidecheck.py yaml DOC OUTDIR ROOT     write DOC's ```yaml blocks to OUTDIR and print one line
                                         per block: INDEX LINE whole PATH, or INDEX LINE fragment.
                                         A block whose first line is "# /absolute/path.yaml" is a
                                         whole file: it is written to ROOT/absolute/path.yaml, with
                                         every path under /etc, /var, /run and /usr/share/dns moved
                                         under ROOT. Other blocks are fragments (OUTDIR/INDEX.yaml).
  guidecheck.py dropins DOC OUTDIR        write DOC's systemd drop-ins (```ini blocks that start with
                                         "# /etc/systemd/system/UNIT.service.d/NAME.conf") to
                                         OUTDIR/UNIT.service.d/NAME.conf; print each UNIT once
  guidecheck.py needs FILE...            what the (mapped) whole files refer to, one per line:
                                         "path P", "include P" (an included file, relative paths
                                         resolved), "p11 TOKEN OBJECT PIN CERT" (a key in a token),
                                         "pg HOST DB USER" (a postgresql:// store)
  guidecheck.py pgmap FILE PORT          point the postgresql:// URIs of FILE at 127.0.0.1:PORT
                                         (hostaddr and port added; the host name stays, for TLS)
  guidecheck.py cli DOC HELPFILE         every sealctl, sealmilter and sealview command line in
                                         DOC's sh/bash/console/ini blocks uses a subcommand and
                                         options that HELPFILE (the three programs' usage) lists
  guidecheck.py keys DOC REFERENCE       every `section.key` written in DOC is a key of REFERENCE
                                         (docs/config-reference.md)
  guidecheck.py links DOC SRCDIR         every contrib/, tests/, man/ or docs/ path and every
                                         relative link in DOC exists in SRCDIR
  guidecheck.py logs DOC SRCDIR          every log message the daemons write (seal_info, seal_warn,
                                         seal_err, seal_log in common, engine, seal, dkim, milter,
                                         web, viewer) is quoted in DOC, its fixed text at least
  guidecheck.py examples REFERENCE       print one configuration made of every key's example

Problems go to stdout as "DOC:LINE: what", and the exit status is 1 when there is any.
Input: the project's own documentation and sources (trusted); nothing is executed.
"""
import os
import re
import shlex
import sys

SECTIONS = ("organization", "milter", "limits", "dns", "dkim", "smime", "viewer", "sealview")
MAPPED = r"(?<![\w./])/((?:etc|var|run|usr/share/dns)/)"


def fenced(path):
    """(language, first line number of the body, body) for every fenced block."""
    out, lang, start, body = [], None, 0, []
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            m = re.match(r"^\s*```\s*([\w+-]*)\s*$", line)
            if m and lang is None:
                lang, start, body = m.group(1) or "", n + 1, []
            elif re.match(r"^\s*```\s*$", line) and lang is not None:
                out.append((lang, start, "".join(body)))
                lang = None
            elif lang is not None:
                body.append(line)
    return out


def map_paths(text, root):
    return re.sub(MAPPED, root + r"/\1", text)


def cmd_yaml(doc, outdir, root):
    for i, (lang, line, body) in enumerate(fenced(doc)):
        if lang != "yaml":
            continue
        m = re.match(r"#\s*(/\S+\.ya?ml)\b", body)
        if m:
            dest = root + m.group(1)
            os.makedirs(os.path.dirname(dest), exist_ok=True)
            with open(dest, "w", encoding="utf-8") as f:
                f.write(map_paths(body, root))
            print(i, line, "whole", dest)
        else:
            with open(os.path.join(outdir, "%d.yaml" % i), "w", encoding="utf-8") as f:
                f.write(body)
            print(i, line, "fragment")
    return 0


def cmd_dropins(doc, outdir):
    units = []
    for lang, line, body in fenced(doc):
        m = re.match(r"#\s*/etc/systemd/system/([\w@-]+)\.service\.d/([\w.-]+\.conf)\s*\n", body)
        if lang != "ini" or not m:
            continue
        d = os.path.join(outdir, m.group(1) + ".service.d")
        os.makedirs(d, exist_ok=True)
        with open(os.path.join(d, m.group(2)), "w", encoding="utf-8") as f:
            f.write(body[m.end():])
        if m.group(1) not in units:
            units.append(m.group(1))
    for u in units:
        print(u)
    return 0


def cmd_needs(files):
    seen = set()

    def emit(s):
        if s not in seen:
            seen.add(s)
            print(s)
    for path in files:
        text = open(path, encoding="utf-8").read()
        for p in re.findall(r"(?<![\w.])(/[\w./@+-]*[\w])", text):
            emit("path " + p)
        for m in re.finditer(r"^include:\s*(.+)$", text, re.M):
            for name in re.findall(r"[\w./-]+\.ya?ml", m.group(1)):
                emit("include " + os.path.join(os.path.dirname(path), name))
        for line in text.splitlines():
            u = re.search(r"pkcs11:token=([^;\"]+);object=([^;\"]+);type=private\?pin-value=([^\"&\s]+)", line)
            if u:
                c = re.search(r"cert:\s*(/[\w./-]+)", line)
                emit("p11 %s %s %s %s" % (u.group(1), u.group(2), u.group(3), c.group(1) if c else "-"))
            g = re.search(r"postgres(?:ql)?://([\w.-]+)@([\w.-]+)(?::\d+)?/(\w+)", line)
            if g:
                emit("pg %s %s %s" % (g.group(2), g.group(3), g.group(1)))
    return 0


def cmd_pgmap(path, port):
    text = open(path, encoding="utf-8").read()

    def fix(m):
        uri = m.group(0)
        return uri + ("&" if "?" in uri else "?") + "hostaddr=127.0.0.1&port=" + port
    text = re.sub(r"postgres(?:ql)?://[^\s\"'}]+", fix, text)
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)
    return 0


def usage_of(helpfile):
    """The usage lines of the three programs: {program: [(words, options)]}."""
    progs = {"sealctl": [], "sealmilter": [], "sealview": []}
    for line in open(helpfile, encoding="utf-8"):
        words = re.findall(r"[\w.|-]+", line.replace("usage:", ""))
        if words and words[0] in progs:
            progs[words[0]].append(words[1:])
    flags = {p: set() for p in progs}
    for p, lines in progs.items():
        for w in lines:
            flags[p].update(x for x in w if x.startswith("-"))
    return progs, flags


def cmd_cli(doc, helpfile):
    progs, flags = usage_of(helpfile)
    text = open(helpfile, encoding="utf-8").read()
    # sealmilter and sealview print their options one per line ("  -c FILE  ...").
    for p in ("sealmilter", "sealview"):
        block = text.split("== " + p + "\n", 1)[1].split("== ", 1)[0]
        flags[p].update(re.findall(r"^\s+(-\w)\b", block, re.M))
        flags[p].update(re.findall(r"\[(-\w)", block))
    bad = 0
    # Command lines: those of sh, bash, console and ini blocks, and inline code that starts
    # with a program's name ("`sealctl -c FILE keys check`").
    lines = []
    for lang, start, body in fenced(doc):
        if lang in ("sh", "bash", "console", "ini"):
            lines += [(start + n, l) for n, l in enumerate(body.splitlines())]
    infence = False
    for n, l in enumerate(open(doc, encoding="utf-8"), 1):
        if re.match(r"^\s*```", l):
            infence = not infence
        elif not infence:
            lines += [(n, c) for c in re.findall(r"`((?:sealctl|sealmilter|sealview) [^`]*)`", l)]
    for lineno, line in lines:
        line = re.sub(r"^\$ ", "", line.strip())
        try:
            toks = shlex.split(line, comments=True)
        except ValueError:
            continue
        for i, t in enumerate(toks):
            assign = "=" in t and not t.startswith("-")
            prog = os.path.basename(t.split("=", 1)[1] if assign else t)      # ExecStart=/usr/sbin/sealview
            prev = toks[i - 1] if i else ""
            # A command: first, or after sudo, env, runuser ... --, &&, ;, |, or VAR=value.
            if prog not in progs or not (i == 0 or prev in ("sudo", "--", "exec", "env", "nohup", "time", "&&",
                                                            "||", ";", "|") or ("=" in prev and not prev.startswith("-"))
                                         or (i > 1 and toks[i - 2] == "-u")):
                continue
            rest = []
            for x in toks[i + 1:]:
                if x in ("|", "||", "&&", ";", ">", ">>", "<", "2>", "2>&1") or x.startswith((">", "<", "|")):
                    break
                rest.append(x)
            where = "%s:%d" % (doc, lineno)
            if prog == "sealctl":
                bad += check_sealctl(where, rest, progs["sealctl"], flags["sealctl"])
            else:
                for x in rest:
                    if x.startswith("-") and x not in flags[prog]:
                        print("%s: %s has no option %s (%s -h)" % (where, prog, x, prog))
                        bad += 1
            break
    return 1 if bad else 0


def check_sealctl(where, args, lines, flags):
    bad, i, words = 0, 0, []
    while i < len(args):
        a = args[i]
        if a in ("-c", "--config"):
            i += 2
            continue
        if a.startswith("-"):
            if a.split("=")[0] not in flags and a not in ("-h", "--help", "-v"):
                print("%s: sealctl has no option %s (sealctl --help)" % (where, a))
                bad += 1
        elif len(words) < 3:
            words.append(a)
        i += 1
    if not words:
        return bad
    # The usage lines after -c FILE: "check", "keys rotate", "keys generate marker|tenant|issuer".
    # A doc may write alternatives the same way ("keys generate tenant|issuer"): each must exist.
    known = [[w for w in l if not w.startswith("-") and w not in ("FILE", "c")] for l in lines]

    def exists(ws):
        for k in known:
            if not k or k[0] != ws[0]:
                continue
            if ws[0] != "keys":
                return True
            if len(ws) > 1 and len(k) > 1 and k[1] == ws[1]:
                if ws[1] != "generate" or (len(ws) > 2 and len(k) > 2 and ws[2] in k[2].split("|")):
                    return True
        return False
    last = words[2].split("|") if len(words) > 2 and words[:2] == ["keys", "generate"] else [None]
    ok = all(exists(words[:2] + [w] if w else words) for w in last)
    if not ok:
        print("%s: sealctl has no command '%s' (sealctl --help)" % (where, " ".join(words)))
        bad += 1
    return bad


def reference_keys(reference):
    keys = set()
    for line in open(reference, encoding="utf-8"):
        m = re.match(r"^\| `([\w.]+)` \|", line)
        if m:
            keys.add(m.group(1))
    return keys


def cmd_keys(doc, reference):
    keys, bad = reference_keys(reference), 0
    for n, line in enumerate(open(doc, encoding="utf-8"), 1):
        for k in re.findall(r"`((?:%s)\.[a-z_]+)`" % "|".join(SECTIONS), line):
            if k not in keys and not k.endswith(".service"):
                print("%s:%d: `%s` is not a configuration key (docs/config-reference.md)" % (doc, n, k))
                bad += 1
    return 1 if bad else 0


def anchors(path):
    """The GitHub anchors of a markdown file's headings."""
    out = set()
    for line in open(path, encoding="utf-8"):
        m = re.match(r"^#+\s+(.*?)\s*$", line)
        if m:
            out.add(re.sub(r"[^\w\- ]", "", m.group(1).lower()).replace(" ", "-"))
    return out


def cmd_links(doc, srcdir):
    bad, here = 0, os.path.dirname(doc)
    for n, line in enumerate(open(doc, encoding="utf-8"), 1):
        for p in re.findall(r"(?<![\w./-])((?:contrib|tests/\w+|man|docs|scripts)/[\w.-]+\.?\w*)", line):
            p = p.rstrip(".")
            if not os.path.exists(os.path.join(srcdir, p)):
                print("%s:%d: %s does not exist" % (doc, n, p))
                bad += 1
        for p, a in re.findall(r"\]\(([^)#:\s]*)(?:#([^)]*))?\)", line):
            target = os.path.join(here, p) if p else doc
            if not os.path.exists(target):
                print("%s:%d: the link %s leads nowhere" % (doc, n, p))
                bad += 1
            elif a and a not in anchors(target):
                print("%s:%d: %s has no heading #%s" % (doc, n, p or "this page", a))
                bad += 1
    return 1 if bad else 0


def c_string(src, pos):
    """The concatenated C string literals starting at src[pos] (a quote)."""
    out = []
    while True:
        m = re.compile(r'\s*"((?:[^"\\]|\\.)*)"').match(src, pos)
        if not m:
            return "".join(out)
        out.append(m.group(1))
        pos = m.end()


def cmd_logs(doc, srcdir):
    text = open(doc, encoding="utf-8").read()
    flat = re.sub(r"\s+", " ", text)
    bad = 0
    for d in ("common", "engine", "seal", "dkim", "milter", "web", "viewer"):
        for name in sorted(os.listdir(os.path.join(srcdir, d))):
            if not name.endswith(".c") or (d, name) == ("common", "log.c"):
                continue
            src = open(os.path.join(srcdir, d, name), encoding="utf-8").read()
            for m in re.finditer(r"\bseal_(?:info|warn|err|debug)\s*\(\s*(?=\")|\bseal_log\s*\(\s*SEAL_LOG_\w+\s*,\s*(?=\")", src):
                fmt = c_string(src, m.end())
                fmt = fmt.replace('\\"', '"').replace("\\n", "")
                parts = [p.strip() for p in re.split(r"%[-.\d]*(?:z|ll|l)?[sdufx%]", fmt)]
                parts = [p for p in parts if len(re.sub(r"\W", "", p)) >= 3]
                line = src.count("\n", 0, m.start()) + 1
                gone = [p for p in parts if p not in flat]
                if gone:
                    print("%s: the log message of %s/%s:%d is not explained: \"%s\" (missing: %s)"
                          % (doc, d, name, line, fmt, " | ".join(gone)))
                    bad += 1
    return 1 if bad else 0


def cmd_examples(reference):
    settings, sections = {}, []
    for line in open(reference, encoding="utf-8"):
        m = re.match(r"^\| `([\w.]+)` \|.*\| `((?:[^`]|\\`)*)` \| [^|]", line)
        if m:
            sec, key = m.group(1).split(".", 1)
            settings.setdefault(sec, []).append((key, m.group(2).replace("\\|", "|")))
            continue
        m = re.match(r"^- `(\w+)`: .* Example: `(\w+: .*)`$", line)
        if m:
            sections.append(m.group(2))
    for sec, kv in settings.items():
        print(sec + ":")
        for k, v in kv:
            print("  %s: %s" % (k, v))
    for s in sections:
        print(s)
    return 0


def main(argv):
    cmds = {"yaml": (cmd_yaml, 3), "dropins": (cmd_dropins, 2), "needs": (cmd_needs, None), "pgmap": (cmd_pgmap, 2), "cli": (cmd_cli, 2),
            "keys": (cmd_keys, 2), "links": (cmd_links, 2), "logs": (cmd_logs, 2), "examples": (cmd_examples, 1)}
    if len(argv) < 2 or argv[1] not in cmds:
        sys.stderr.write(__doc__)
        return 2
    fn, n = cmds[argv[1]]
    if n is None:
        return fn(argv[2:])
    if len(argv) != n + 2:
        sys.stderr.write(__doc__)
        return 2
    return fn(*argv[2:])


if __name__ == "__main__":
    sys.exit(main(sys.argv))
