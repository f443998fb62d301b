#!/usr/bin/env bats
# test/ops.bats -- the operations side: make install / uninstall / dist,
# the man pages, shell completion, the systemd unit and its notify
# datagrams, $STATE_DIRECTORY, and the /metrics, /ready and /version
# endpoints (the metrics text is read back line by line against the
# Prometheus exposition format by a checker embedded below).
#
# Tools that may be missing (groff, man, zsh, systemd-analyze) make their
# tests skip, never fail.  OPS_MAKEFILE names another Makefile to test the
# install rules with (default: the repository's).

load helpers
bats_require_minimum_version 1.5.0
CURL_MAX_TIME=10	# c and code (helpers.bash)

# A hang guard: the make dist test builds kvd from the tarball, bounded
# by its own `timeout 300`, which a loaded machine (two test files at once,
# test/run.sh) can take more than 90 s of.
BATS_TEST_TIMEOUT=${BATS_TEST_TIMEOUT:-330}

setup() {
	setup_tmp
}

MK() {
	make -C "$ROOT" -f "${OPS_MAKEFILE:-$ROOT/Makefile}" "$@"
}

# json_get FILE KEY: one top-level member of a JSON object, as JSON.
json_get() {
	python3 -c 'import json, sys
print(json.dumps(json.load(open(sys.argv[1]))[sys.argv[2]]))' "$1" "$2"
}

# version_of BINARY: the version word of "BINARY --version".
version_of() {
	"$1" --version | awk '{print $NF}'
}

# ---- the exposition format checker -------------------------------------
#
# promcheck check FILE       every line by the text format 0.0.4 rules
# promcheck get FILE NAME [LABEL=VALUE | LABEL~SUBSTRING ...]
#                            sum of the matching series; exit 1 if none
# promcheck types FILE       every family that stdin lists, one "NAME TYPE"
#                            a line, is in FILE with that TYPE; prints
#                            each that is not, exit 1 if any (or none listed)

promcheck() {
	[ -e "$TMP/promcheck.py" ] || cat >"$TMP/promcheck.py" <<'PY'
import math, re, sys

NAME = re.compile(r'[a-zA-Z_:][a-zA-Z0-9_:]*$')
LABEL = re.compile(r'[a-zA-Z_][a-zA-Z0-9_]*$')
FLOAT = re.compile(r'[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$')
TYPES = ('counter', 'gauge', 'histogram', 'summary', 'untyped')

class Bad(Exception):
    pass

def value(s, where):
    if s in ('+Inf', '-Inf', 'NaN'):
        return float(s.replace('Inf', 'inf').replace('NaN', 'nan'))
    if not FLOAT.match(s):
        raise Bad('%s: bad value %r' % (where, s))
    return float(s)

def unescape(s, allowed, where):
    out, i = [], 0
    while i < len(s):
        ch = s[i]
        if ch == '\\':
            if i + 1 >= len(s) or s[i + 1] not in allowed:
                raise Bad('%s: bad escape in %r' % (where, s))
            out.append('\n' if s[i + 1] == 'n' else s[i + 1])
            i += 2
            continue
        out.append(ch)
        i += 1
    return ''.join(out)

def parse_sample(line, where):
    m = re.match(r'([^{ ]+)', line)
    if not m or not NAME.match(m.group(1)):
        raise Bad('%s: bad metric name in %r' % (where, line))
    name, rest, labels = m.group(1), line[m.end():], {}
    if rest.startswith('{'):
        i = 1
        while True:
            if rest[i:i + 1] == '}':
                i += 1
                break
            lm = re.match(r'([^=]*)="', rest[i:])
            if not lm or not LABEL.match(lm.group(1)) or lm.group(1).startswith('__'):
                raise Bad('%s: bad label name in %r' % (where, line))
            j = i + lm.end()
            raw = []
            while j < len(rest) and rest[j] != '"':
                if rest[j] == '\\':
                    raw.append(rest[j:j + 2])
                    j += 2
                else:
                    raw.append(rest[j])
                    j += 1
            if j >= len(rest):
                raise Bad('%s: unterminated label value in %r' % (where, line))
            lname = lm.group(1)
            if lname in labels:
                raise Bad('%s: duplicate label %s' % (where, lname))
            labels[lname] = unescape(''.join(raw), '\\"n', where)
            i = j + 1
            if rest[i:i + 1] == ',':
                i += 1
            elif rest[i:i + 1] != '}':
                raise Bad('%s: expected , or } in %r' % (where, line))
        rest = rest[i:]
    if not rest.startswith(' '):
        raise Bad('%s: no space before the value in %r' % (where, line))
    parts = rest[1:].split(' ')
    if len(parts) not in (1, 2) or (len(parts) == 2 and not re.match(r'-?\d+$', parts[1])):
        raise Bad('%s: bad value/timestamp in %r' % (where, line))
    return name, labels, value(parts[0], where)

def check(text):
    """Returns {family: type} and [(name, labels, value)]; raises Bad."""
    if text and not text.endswith('\n'):
        raise Bad('no newline at the end')
    types, helps, samples, done = {}, set(), [], set()
    current = None      # the family whose lines we are in
    seen = set()
    for n, line in enumerate(text.split('\n')[:-1], 1):
        where = 'line %d' % n
        if line == '':
            raise Bad('%s: empty line' % where)
        if line.startswith('#'):
            m = re.match(r'# (HELP|TYPE) (\S+) ?(.*)$', line)
            if not m:
                raise Bad('%s: stray comment %r' % (where, line))
            kind, fam, rest = m.groups()
            if not NAME.match(fam):
                raise Bad('%s: bad family name %r' % (where, fam))
            if fam != current:
                if fam in done:
                    raise Bad('%s: family %s appears twice' % (where, fam))
                if current is not None:
                    done.add(current)
                current = fam
            if kind == 'HELP':
                if fam in helps:
                    raise Bad('%s: second HELP for %s' % (where, fam))
                unescape(rest, '\\n', where)
                helps.add(fam)
            else:
                if fam in types:
                    raise Bad('%s: second TYPE for %s' % (where, fam))
                if rest not in TYPES:
                    raise Bad('%s: bad type %r' % (where, rest))
                if any(s[3] == fam for s in samples):
                    raise Bad('%s: TYPE after samples of %s' % (where, fam))
                types[fam] = rest
            continue
        name, labels, v = parse_sample(line, where)
        fam = name
        for suffix in ('_bucket', '_sum', '_count'):
            base = name[:-len(suffix)]
            if name.endswith(suffix) and types.get(base) == 'histogram':
                fam = base
        if fam not in types:
            raise Bad('%s: sample %s has no TYPE line' % (where, name))
        if fam != current:
            raise Bad('%s: sample %s outside its family group' % (where, name))
        if name == fam and types[fam] == 'histogram':
            raise Bad('%s: bare sample in histogram %s' % (where, fam))
        if 'le' in labels and not name.endswith('_bucket'):
            raise Bad('%s: le label outside _bucket' % where)
        if types[fam] == 'counter' and not (v >= 0):
            raise Bad('%s: counter %s is %r' % (where, name, v))
        key = (name, tuple(sorted(labels.items())))
        if key in seen:
            raise Bad('%s: duplicate series %s%s' % (where, name, labels))
        seen.add(key)
        samples.append((name, labels, v, fam))
    for fam, t in types.items():
        if fam not in helps:
            raise Bad('family %s has no HELP' % fam)
        if t != 'histogram':
            continue
        series = {}
        for name, labels, v, f in samples:
            if f != fam:
                continue
            rest = tuple(sorted((k, x) for k, x in labels.items() if k != 'le'))
            s = series.setdefault(rest, {'buckets': [], 'sum': None, 'count': None})
            if name == fam + '_bucket':
                if 'le' not in labels:
                    raise Bad('%s: bucket without le' % fam)
                s['buckets'].append((value(labels['le'], fam), v))
            elif name == fam + '_sum':
                s['sum'] = v
            else:
                s['count'] = v
        for rest, s in series.items():
            b = s['buckets']
            if not b or b[-1][0] != math.inf:
                raise Bad('%s%s: no +Inf bucket last' % (fam, rest))
            for (le0, c0), (le1, c1) in zip(b, b[1:]):
                if not le1 > le0:
                    raise Bad('%s%s: le not increasing' % (fam, rest))
                if c1 < c0:
                    raise Bad('%s%s: buckets not cumulative' % (fam, rest))
            if s['sum'] is None or s['count'] is None:
                raise Bad('%s%s: _sum or _count missing' % (fam, rest))
            if s['count'] != b[-1][1]:
                raise Bad('%s%s: _count %r != +Inf bucket %r' % (fam, rest, s['count'], b[-1][1]))
    return types, samples

def main():
    cmd, path = sys.argv[1], sys.argv[2]
    text = open(path, encoding='utf-8').read()
    try:
        types, samples = check(text)
    except Bad as e:
        print('exposition format: %s' % e, file=sys.stderr)
        return 1
    if cmd == 'check':
        return 0
    if cmd == 'types':
        want = [line.split() for line in sys.stdin if line.strip()]
        bad = ['%s: want %s, got %s' % (w[0], w[1], types.get(w[0], 'none'))
               for w in want if len(w) != 2 or types.get(w[0]) != w[1]]
        for b in bad:
            print(b, file=sys.stderr)
        if not want:
            print('no family listed', file=sys.stderr)
        return 1 if bad or not want else 0
    name, conds, total, hit = sys.argv[3], sys.argv[4:], 0.0, False
    for n, labels, v, f in samples:
        if n != name:
            continue
        ok = True
        for cond in conds:
            if '~' in cond:
                k, sub = cond.split('~', 1)
                ok = ok and sub in labels.get(k, '')
            else:
                k, want = cond.split('=', 1)
                ok = ok and labels.get(k) == want
        if ok:
            total += v
            hit = True
    if not hit:
        print('no series %s %s' % (name, ' '.join(conds)), file=sys.stderr)
        return 1
    print(int(total) if total == int(total) else total)
    return 0

sys.exit(main())
PY
	python3 "$TMP/promcheck.py" "$@"
}

# scrape URL FILE: GET URL/metrics into FILE; fails unless 200.
scrape() {
	[ "$(curl -s --max-time 10 -o "$2" -w '%{http_code}' "$1/metrics")" = 200 ]
}

# status_is URL CODE: true when GET URL answers with status CODE.
status_is() {
	[ "$(code "$1")" = "$2" ]
}

# ---- install, uninstall, dist, --version ---------------------------------

@test "kvd --version and kvctl --version print the same version" {
	local v1 v2
	v1=$(version_of "$KVD")
	v2=$(version_of "$KVCTL")
	[ -n "$v1" ]
	[[ $v1 =~ ^[0-9]+\.[0-9]+\.[0-9]+ ]]
	[ "$v1" = "$v2" ]
}

@test "make install into a DESTDIR puts every file in place; make uninstall removes them all" {
	local d="$TMP/dest" f
	run MK -s install DESTDIR="$d" PREFIX=/usr
	[ "$status" -eq 0 ]
	for f in usr/bin/kvd usr/bin/kvctl; do
		[ -x "$d/$f" ]
		[ "$(stat -c %a "$d/$f")" = 755 ]
	done
	cmp "$d/usr/bin/kvd" "$ROOT/kvd"
	cmp "$d/usr/bin/kvctl" "$ROOT/kvctl"
	[ "$("$d/usr/bin/kvctl" --version)" = "$("$KVCTL" --version)" ]
	cmp "$d/usr/share/man/man1/kvctl.1" "$ROOT/contrib/man/kvctl.1"
	cmp "$d/usr/share/man/man8/kvd.8" "$ROOT/contrib/man/kvd.8"
	cmp "$d/usr/share/bash-completion/completions/kvctl" \
	    "$ROOT/contrib/completion/kvctl.bash"
	cmp "$d/usr/share/zsh/site-functions/_kvctl" "$ROOT/contrib/completion/_kvctl"
	for f in usr/share/man/man1/kvctl.1 usr/share/man/man8/kvd.8 \
	    usr/share/bash-completion/completions/kvctl \
	    usr/share/zsh/site-functions/_kvctl; do
		[ "$(stat -c %a "$d/$f")" = 644 ]
	done
	# Nothing else was installed.
	[ "$(find "$d" -type f | wc -l)" -eq 6 ]
	# The installed man pages are found by man through the tree.
	if command -v man >/dev/null 2>&1; then
		MANPATH="$d/usr/share/man" man -w kvd | grep -q 'man8/kvd.8'
		MANPATH="$d/usr/share/man" man -w kvctl | grep -q 'man1/kvctl.1'
	fi

	run MK -s uninstall DESTDIR="$d" PREFIX=/usr
	[ "$status" -eq 0 ]
	[ "$(find "$d" -type f | wc -l)" -eq 0 ]
	# Uninstalling twice is not an error.
	run MK -s uninstall DESTDIR="$d" PREFIX=/usr
	[ "$status" -eq 0 ]
}

@test "make install honours PREFIX (default /usr/local) and MANDIR" {
	local d="$TMP/dest2"
	run MK -s install DESTDIR="$d"
	[ "$status" -eq 0 ]
	[ -x "$d/usr/local/bin/kvd" ]
	[ -f "$d/usr/local/share/man/man8/kvd.8" ]
	run MK -s install DESTDIR="$d" PREFIX=/opt/kvd MANDIR=/opt/man
	[ "$status" -eq 0 ]
	[ -x "$d/opt/kvd/bin/kvctl" ]
	[ -f "$d/opt/man/man1/kvctl.1" ]
	[ -f "$d/opt/kvd/share/zsh/site-functions/_kvctl" ]
}

@test "make dist makes kvd-VERSION.tar.gz with the sources, docs and contrib, and it builds" {
	command -v git >/dev/null 2>&1 && [ -d "$ROOT/.git" ] ||
	    skip "make dist needs a git checkout"
	local v
	v=$(sed -n 's/^VERSION[[:space:]]*=[[:space:]]*//p' \
	    "${OPS_MAKEFILE:-$ROOT/Makefile}")
	[ -n "$v" ]
	[ "$v" = "$(version_of "$KVD")" ]
	run MK -s dist
	[ "$status" -eq 0 ]
	[ -f "$ROOT/kvd-$v.tar.gz" ]
	mv "$ROOT/kvd-$v.tar.gz" "$TMP/"
	mkdir "$TMP/x"
	tar -xzf "$TMP/kvd-$v.tar.gz" -C "$TMP/x"
	[ "$(ls "$TMP/x")" = "kvd-$v" ]
	local t="$TMP/x/kvd-$v" f
	for f in README.md Makefile kvd.c kvctl.c lib/metrics.c lib/notify.h \
	    contrib/man/kvd.8 contrib/man/kvctl.1 contrib/completion/kvctl.bash \
	    contrib/completion/_kvctl contrib/systemd/kvd.service test/ops.bats \
	    test/unit/test_metrics.c; do
		[ -f "$t/$f" ] || { echo "missing from the tarball: $f"; false; }
	done
	# No build products in it.
	[ -z "$(find "$t" -name '*.o' -o -name '*.a' -o -name kvd -type f)" ]
	run timeout 300 make -C "$t" -j2 kvd kvctl
	[ "$status" -eq 0 ]
	[ "$("$t/kvd" --version)" = "$("$KVD" --version)" ]
}

# ---- man pages -----------------------------------------------------------

@test "man pages render with groff -ww without a warning" {
	command -v groff >/dev/null 2>&1 || skip "groff is not installed"
	local p
	for p in "$ROOT/contrib/man/kvd.8" "$ROOT/contrib/man/kvctl.1"; do
		run --separate-stderr groff -ww -man -Tutf8 -z "$p"
		[ "$status" -eq 0 ]
		[ -z "$stderr" ] || { echo "$p: $stderr"; false; }
	done
}

@test "man pages render with man --warnings -l, at 80 columns, without a warning" {
	command -v man >/dev/null 2>&1 || skip "man is not installed"
	command -v groff >/dev/null 2>&1 || skip "groff is not installed"
	local p
	for p in "$ROOT/contrib/man/kvd.8" "$ROOT/contrib/man/kvctl.1"; do
		run --separate-stderr env MANWIDTH=80 man --warnings -l "$p"
		[ "$status" -eq 0 ]
		[ -z "$stderr" ] || { echo "$p: $stderr"; false; }
		echo "$output" | grep -q '^NAME'
		echo "$output" | grep -q '^SYNOPSIS'
	done
	run env MANWIDTH=80 man -l "$ROOT/contrib/man/kvd.8"
	for s in OPTIONS ENVIRONMENT FILES SIGNALS 'HTTP API' CONSISTENCY \
	    DURABILITY 'EXIT STATUS'; do
		echo "$output" | grep -qx "$s" || { echo "kvd.8: no $s"; false; }
	done
	run env MANWIDTH=80 man -l "$ROOT/contrib/man/kvctl.1"
	for s in COMMANDS OPTIONS ENVIRONMENT 'OUTPUT FORMAT' 'EXIT STATUS'; do
		echo "$output" | grep -qx "$s" || { echo "kvctl.1: no $s"; false; }
	done
}

# The flags "kvd --help" lists, one per line, without the dashes.
kvd_help_flags() {
	"$KVD" --help | sed -n 's/^  --\([a-z0-9-]*\).*/\1/p' |
	    grep -vx 'help\|version'
}

@test "kvd.8 documents every flag of kvd --help, with its KVD_ variable" {
	local f env
	[ "$(kvd_help_flags | wc -l)" -gt 20 ]
	for f in $(kvd_help_flags); do
		grep -q "^\.BI\? \\\\-\\\\-${f//-/\\\\-}\( \|$\)" \
		    "$ROOT/contrib/man/kvd.8" ||
		    { echo "kvd.8 lacks --$f"; false; }
		env=KVD_$(echo "$f" | tr 'a-z-' 'A-Z_')
		grep -q "${env}\b" "$ROOT/contrib/man/kvd.8" ||
		    { echo "kvd.8 lacks $env"; false; }
	done
	grep -q STATE_DIRECTORY "$ROOT/contrib/man/kvd.8"
	grep -q NOTIFY_SOCKET "$ROOT/contrib/man/kvd.8"
}

@test "every flag kvd.8 documents is a flag of kvd" {
	local f
	for f in $(sed -n 's/^\.BI\? \\-\\-\([a-z0-9\\-]*\).*/\1/p' \
	    "$ROOT/contrib/man/kvd.8" | sed 's/\\-/-/g' | sort -u); do
		case $f in help | version) continue ;; esac
		kvd_help_flags | grep -qx -- "$f" ||
		    { echo "kvd.8 documents --$f, which kvd --help does not know"; false; }
	done
}

@test "kvctl.1 documents every command, flag and KVCTL_ variable of kvctl --help, and exit statuses 0-5" {
	local m="$ROOT/contrib/man/kvctl.1" w help
	help=$("$KVCTL" --help)
	for w in $(echo "$help" | sed -n '/^Commands:/,/^$/s/^  \([a-z]*\).*/\1/p' | sort -u); do
		grep -q "^\.B[IR]\? \"\?$w\b" "$m" || { echo "kvctl.1 lacks $w"; false; }
	done
	for w in $(echo "$help" | grep -o -- '--[a-z][a-z-]*' | sort -u); do
		grep -q -- "${w//-/\\\\-}" "$m" || { echo "kvctl.1 lacks $w"; false; }
	done
	for w in $(echo "$help" | grep -o 'KVCTL_[A-Z_]*' | sort -u); do
		grep -q "^\.B $w$" "$m" || { echo "kvctl.1 lacks $w"; false; }
	done
	for w in 0 1 2 3 4 5; do
		sed -n '/^\.SH EXIT STATUS/,/^\.SH /p' "$m" | grep -qx "\.B $w" ||
		    { echo "kvctl.1 EXIT STATUS lacks $w"; false; }
	done
}

# ---- shell completion ----------------------------------------------------

# comp WORDS...: the bash completions kvctl.bash offers for the last word,
# typed as WORDS joined by blanks.  As bash does, COMP_WORDS cuts words at
# runs of ':', '=' and '@' too (COMP_WORDBREAKS), and COMPREPLY is what
# replaces the text after the last of those.
comp() {
	bash -c 'source "$1"; shift
		COMP_LINE="$*"; COMP_POINT=${#COMP_LINE}; COMP_WORDS=()
		for w in "$@"; do
			[ -z "$w" ] && COMP_WORDS+=("")
			while [ -n "$w" ]; do
				if [[ $w =~ ^([:=@]+|[^:=@]+)(.*)$ ]]; then
					COMP_WORDS+=("${BASH_REMATCH[1]}")
					w=${BASH_REMATCH[2]}
				fi
			done
		done
		COMP_CWORD=$((${#COMP_WORDS[@]} - 1)); COMPREPLY=()
		_kvctl
		printf "%s\n" "${COMPREPLY[@]}"' _ \
	    "$ROOT/contrib/completion/kvctl.bash" "$@"
}

@test "bash completion loads and registers _kvctl for kvctl" {
	run bash -c 'source "$1" && complete -p kvctl' _ \
	    "$ROOT/contrib/completion/kvctl.bash"
	[ "$status" -eq 0 ]
	[ "$output" = "complete -F _kvctl kvctl" ]
	# Also under set -u and with no bash-completion package loaded.
	run bash -uc 'source "$1"; COMP_WORDS=(kvctl ""); COMP_CWORD=1; _kvctl
		echo "${COMPREPLY[*]}"' _ "$ROOT/contrib/completion/kvctl.bash"
	[ "$status" -eq 0 ]
	[[ $output == *put* ]]
}

@test "bash completion completes commands, subcommands, flags anywhere and @FILE" {
	[ "$(comp kvctl "" | sort | tr '\n' ' ')" = \
	    "bench cluster delete dump get health help hints incr load ls mget mput put repair status verify watch " ]
	[ "$(comp kvctl g)" = get ]
	[ "$(comp kvctl --server http://h:1 --json c)" = cluster ]
	[ "$(comp kvctl cluster "" | tr '\n' ' ')" = "nodes join leave cleanup " ]
	[ "$(comp kvctl cluster j)" = join ]
	[ "$(comp kvctl hints "")" = drop ]
	[ "$(comp kvctl -o "")" = "$(printf 'table\njson')" ]
	[ "$(comp kvctl status --output j)" = json ]
	[ "$(comp kvctl hints drop node3 --y)" = --yes ]
	[ "$(comp kvctl st)" = status ]
	[ "$(comp kvctl help de)" = delete ]
	[ "$(comp kvctl get k --ti)" = --timeout ]
	[ "$(comp kvctl put k v --conn)" = --connect-timeout ]
	[ "$(comp kvctl --timeout 3 he)" = "$(printf 'health\nhelp')" ]
	[ "$(comp kvctl bench -t m)" = mix ]
	[ "$(comp kvctl bench --pre)" = --prefill ]
	[ "$(comp kvctl verify --mode "")" = "$(printf 'keys\nset')" ]
	[ -z "$(comp kvctl get k "")" ]
	mkdir "$TMP/files"
	touch "$TMP/files/value.bin" "$TMP/files/other"
	# Bash replaces what follows '@' (a word break): the offers are file
	# names; after a ':' of a URL, the rest of the URL.
	[ "$(cd "$TMP" && comp kvctl put k @files/va)" = "files/value.bin" ]
	[ "$(cd "$TMP" && comp kvctl put k @fil)" = "files/" ]
	(cd "$TMP" && comp kvctl put k @) | grep -qx files/
	[ "$(comp kvctl --server http://127.0.0.1:80)" = 8080 ]
	[ "$(comp kvctl --server http://127.0.0.1:8080 g)" = get ]
	[ "$(cd "$TMP" && comp kvctl --server http://h:1 put k @fil)" = files/ ]
	[ "$(comp kvctl --server http://h:1 put k @fil --js)" = --json ]
	# After --, words are arguments, never flags.
	[ -z "$(comp kvctl put -- --ser)" ]
}

@test "bash completion offers every command kvctl --help lists" {
	local w all
	all=$(comp kvctl "")
	for w in $("$KVCTL" --help | sed -n '/^Commands:/,/^$/s/^  \([a-z]*\).*/\1/p' | sort -u); do
		echo "$all" | grep -qx "$w" || { echo "completion lacks $w"; false; }
	done
	for w in $("$KVCTL" --help | grep -o -- '--[a-z][a-z-]*' | sort -u); do
		comp kvctl "$w" | grep -qx -- "$w" || { echo "completion lacks $w"; false; }
	done
}

@test "every option of kvctl verify --help and bench --help is in kvctl.1, README and both completions" {
	local w help cmd
	for cmd in verify bench; do
		help=$("$KVCTL" $cmd --help)
		for w in $(echo "$help" | sed -n 's/^  \(-[a-z-]*\).*/\1/p' | sort -u); do
			grep -q -- "${w//-/\\\\-}" "$ROOT/contrib/man/kvctl.1" ||
			    { echo "kvctl.1 lacks $cmd $w"; false; }
			grep -q -- "\`$w" "$ROOT/README.md" ||
			    { echo "README lacks $cmd $w"; false; }
			comp kvctl $cmd "$w" | grep -qx -- "$w" ||
			    { echo "bash completion lacks $cmd $w"; false; }
			grep -q -- "'$w\[" "$ROOT/contrib/completion/_kvctl" ||
			    { echo "zsh completion lacks $cmd $w"; false; }
		done
	done
}

@test "zsh completion parses (zsh -n) and declares #compdef kvctl" {
	head -1 "$ROOT/contrib/completion/_kvctl" | grep -qx '#compdef kvctl'
	command -v zsh >/dev/null 2>&1 || skip "zsh is not installed"
	run zsh -n "$ROOT/contrib/completion/_kvctl"
	[ "$status" -eq 0 ]
	[ -z "$output" ]
}

# ---- systemd -------------------------------------------------------------

@test "kvd.service: Type=notify, StateDirectory, a dedicated user, hardening" {
	local u="$ROOT/contrib/systemd/kvd.service" k
	for k in 'Type=notify' 'NotifyAccess=main' 'StateDirectory=kvd' \
	    'User=kvd' 'Group=kvd' 'NoNewPrivileges=yes' 'ProtectSystem=strict' \
	    'ProtectHome=yes' 'PrivateTmp=yes' 'PrivateDevices=yes' \
	    'CapabilityBoundingSet=' 'RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6' \
	    'SystemCallFilter=@system-service' 'Restart=on-failure' \
	    'WantedBy=multi-user.target'; do
		grep -qx "$k" "$u" || { echo "kvd.service lacks $k"; false; }
	done
	grep -q '^ExecStart=/usr/bin/kvd' "$u"
	# kvd finds its data directory through $STATE_DIRECTORY: no --data-dir.
	! grep -v '^#' "$u" | grep -q -- '--data-dir\|KVD_DATA_DIR=' || false
	if command -v systemd-analyze >/dev/null 2>&1; then
		mkdir -p "$TMP/unit" "$TMP/man/man1" "$TMP/man/man8"
		sed "s|^ExecStart=/usr/bin/kvd|ExecStart=$KVD|" "$u" >"$TMP/unit/kvd.service"
		cp "$ROOT/contrib/man/kvd.8" "$TMP/man/man8/"
		cp "$ROOT/contrib/man/kvctl.1" "$TMP/man/man1/"
		run env MANPATH="$TMP/man" timeout 30 systemd-analyze verify \
		    "$TMP/unit/kvd.service"
		echo "$output"
		[ "$status" -eq 0 ]
		! echo "$output" | grep -i 'kvd.service' || false
	fi
}

# notify_listen ADDRESS: a python3 listener on the AF_UNIX datagram socket
# ADDRESS ("/path" or "@abstract"); each datagram becomes one line of
# $TMP/notify.log (newlines shown as '|').  Waits until it is bound.
notify_listen() {
	rm -f "$TMP/notify.log" "$TMP/notify.bound"
	python3 -c '
import signal, socket, sys
signal.alarm(60)    # never outlive the test, even if teardown misses us
addr, log, bound = sys.argv[1], sys.argv[2], sys.argv[3]
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind("\0" + addr[1:] if addr.startswith("@") else addr)
open(bound, "w").close()
while True:
    data = s.recv(4096).decode()
    with open(log, "a") as f:
        f.write(data.replace("\n", "|") + "\n")
    if "STOPPING=1" in data.split("\n"):
        break
' "$1" "$TMP/notify.log" "$TMP/notify.bound" 3>&- &
	echo $! >"$TMP/notify.pid"
	wait_for 10 test -e "$TMP/notify.bound"
}

# notify_sequence: READY=1 once it serves, then STOPPING=1 after SIGTERM.
notify_sequence() {
	local pid
	NOTIFY_SOCKET=$1 start_node n1
	wait_for 10 grep -q 'READY=1' "$TMP/notify.log"
	# READY=1 comes once the node answers requests.
	[ "$(code "$(url n1)/health")" = 200 ]
	! grep -q 'STOPPING=1' "$TMP/notify.log" || false
	pid=$(pid_of n1)
	kill -TERM "$pid"
	wait_for 20 grep -q 'STOPPING=1' "$TMP/notify.log"
	wait_exit "$pid"
	# Exactly one READY=1, then one STOPPING=1, in that order.
	run grep -n -o 'READY=1\|STOPPING=1' "$TMP/notify.log"
	[ "${lines[0]#*:}" = READY=1 ]
	[ "${lines[1]#*:}" = STOPPING=1 ]
	[ "${#lines[@]}" -eq 2 ]
	# Every datagram is VAR=VALUE lines.
	! grep -v '^\([A-Z_]*=[^|]*|\?\)*$' "$TMP/notify.log" || false
}

@test "notify: kvd sends READY=1 to \$NOTIFY_SOCKET once serving and STOPPING=1 on SIGTERM" {
	notify_listen "$TMP/notify.sock"
	notify_sequence "$TMP/notify.sock"
}

@test "notify: an abstract \$NOTIFY_SOCKET (@name) works too" {
	[ "$(uname -s)" = Linux ] || skip "abstract sockets are Linux only"
	local name="@kvd-bats-notify-$$-$RANDOM"
	notify_listen "$name"
	notify_sequence "$name"
}

@test "notify: without NOTIFY_SOCKET, or with one nobody listens on, kvd still serves" {
	unset NOTIFY_SOCKET
	start_node n1
	[ "$(code "$(url n1)/health")" = 200 ]
	NOTIFY_SOCKET="$TMP/nobody.sock" start_node n2
	[ "$(code "$(url n2)/health")" = 200 ]
}

# ---- STATE_DIRECTORY -----------------------------------------------------

# start_state ID [ENV...]: kvd without --data-dir, with STATE_DIRECTORY
# and the given environment.
start_state() {
	local id=$1
	shift
	rm -f "$TMP/$id.port"
	env -u KVD_DATA_DIR "$@" "$KVD" --id "$id" --addr 127.0.0.1:0 \
	    --port-file "$TMP/$id.port" >>"$TMP/$id.log" 2>&1 3>&- &
	echo $! >"$TMP/$id.pid"
	wait_for 10 test -s "$TMP/$id.port" || { cat "$TMP/$id.log"; false; }
}

@test "STATE_DIRECTORY is the data directory when no --data-dir or KVD_DATA_DIR is given" {
	mkdir "$TMP/state"
	start_state s1 STATE_DIRECTORY="$TMP/state"
	[ -f "$TMP/state/s1/LOCK" ]
	[ -f "$TMP/state/s1/incarnation" ]
	local u="http://127.0.0.1:$(cat "$TMP/s1.port")"
	[ "$(code -X PUT -d '{"value":"v"}' "$u/kv/k")" = 201 ]
	kill_node s1 TERM
	[ -f "$TMP/state/s1/snapshot.json" ]
}

@test "--data-dir and KVD_DATA_DIR win over STATE_DIRECTORY; with none of them kvd exits 2" {
	mkdir "$TMP/state" "$TMP/flag" "$TMP/envdir"
	start_state s2 STATE_DIRECTORY="$TMP/state" KVD_DATA_DIR="$TMP/envdir"
	[ -f "$TMP/envdir/s2/LOCK" ]
	[ ! -e "$TMP/state/s2" ]
	kill_node s2 TERM
	rm -f "$TMP/s3.port"
	env STATE_DIRECTORY="$TMP/state" "$KVD" --id s3 --addr 127.0.0.1:0 \
	    --data-dir "$TMP/flag" --port-file "$TMP/s3.port" \
	    >>"$TMP/s3.log" 2>&1 3>&- &
	echo $! >"$TMP/s3.pid"
	wait_for 10 test -s "$TMP/s3.port"
	[ -f "$TMP/flag/s3/LOCK" ]
	[ ! -e "$TMP/state/s3" ]
	run env -u KVD_DATA_DIR -u STATE_DIRECTORY "$KVD" --id s4
	[ "$status" -eq 2 ]
	[[ $output == *data-dir* ]]
}

# ---- /metrics ------------------------------------------------------------

@test "/metrics: text/plain version 0.0.4, and every line follows the exposition format" {
	start_node n1
	local u
	u=$(url n1)
	c -D "$TMP/h" -o "$TMP/m" "$u/metrics"
	tr -d '\r' <"$TMP/h" | grep -qi '^content-type: text/plain; version=0.0.4'
	head -1 "$TMP/h" | grep -q ' 200 '
	run promcheck check "$TMP/m"
	echo "$output"
	[ "$status" -eq 0 ]
	# HEAD gives the headers only.
	[ "$(code -I "$u/metrics")" = 200 ]
}

@test "/metrics: every family is there with its type and labels" {
	start_node n1
	local u
	u=$(url n1)
	# One request of each kind so the labelled families have a series.
	c -X PUT -d '{"value":"v"}' "$u/kv/a" >/dev/null
	c "$u/kv/a" >/dev/null
	scrape "$u" "$TMP/m"
	# One run for every family (one a family took 90 s under load).
	promcheck types "$TMP/m" <<'EOF'
kvd_requests_total counter
kvd_request_duration_seconds histogram
kvd_keys gauge
kvd_tombstones gauge
kvd_wal_bytes_total counter
kvd_wal_fsyncs_total counter
kvd_wal_appends_total counter
kvd_group_commit_batch_size histogram
kvd_snapshot_age_seconds gauge
kvd_peer_up gauge
kvd_hints_pending gauge
kvd_hint_oldest_age_seconds gauge
kvd_antientropy_repairs_total counter
kvd_read_repairs_total counter
kvd_read_digest_retries_total counter
kvd_read_full_total counter
kvd_read_full_busy_total counter
kvd_connections gauge
kvd_build_info gauge
kvd_hints_memory_bytes gauge
kvd_hints_disk_bytes gauge
kvd_wal_disk_bytes gauge
kvd_paxos_disk_bytes gauge
kvd_antientropy_failures_total counter
kvd_transfer_running gauge
kvd_transfer_failures_total counter
process_resident_memory_bytes gauge
process_open_fds gauge
process_start_time_seconds gauge
EOF
	promcheck get "$TMP/m" kvd_requests_total 'route~kv' method=PUT status=201
	promcheck get "$TMP/m" kvd_request_duration_seconds_count 'route~kv'
	# The latency buckets.
	[ "$(grep -o 'kvd_request_duration_seconds_bucket{[^}]*route="[^"]*kv[^"]*"[^}]*le="[^"]*"' "$TMP/m" |
	    sed 's/.*le="\([^"]*\)"/\1/' | tr '\n' ' ')" = \
	    "0.0001 0.00025 0.0005 0.001 0.0025 0.005 0.01 0.025 0.05 0.1 0.25 0.5 1 2.5 +Inf " ]
	[ "$(grep -o 'kvd_group_commit_batch_size_bucket{le="[^"]*"' "$TMP/m" |
	    sed 's/.*le="\([^"]*\)"/\1/' | tr '\n' ' ')" = \
	    "1 2 4 8 16 32 64 128 256 +Inf " ]
}

@test "/metrics: counters and gauges move as requests are made" {
	start_node n1
	local u i
	u=$(url n1)
	scrape "$u" "$TMP/m0"
	for i in 1 2 3; do
		[ "$(code -X PUT -d '{"value":"v'$i'"}' "$u/kv/key$i")" = 201 ]
	done
	[ "$(code "$u/kv/key1")" = 200 ]
	[ "$(code "$u/kv/key2")" = 200 ]
	[ "$(code "$u/kv/missing")" = 404 ]
	[ "$(code -X DELETE "$u/kv/key3")" = 204 ]
	scrape "$u" "$TMP/m1"
	promcheck check "$TMP/m1"

	# d NAME [LABELS...]: the increase between the two scrapes.
	d() {
		local a b
		a=$(promcheck get "$TMP/m0" "$@" 2>/dev/null || echo 0)
		b=$(promcheck get "$TMP/m1" "$@")
		python3 -c 'import sys; print(int(float(sys.argv[2]) - float(sys.argv[1])))' "$a" "$b"
	}
	[ "$(d kvd_requests_total 'route~kv' method=PUT status=201)" -eq 3 ]
	[ "$(d kvd_requests_total 'route~kv' method=GET status=200)" -eq 2 ]
	[ "$(d kvd_requests_total 'route~kv' method=GET status=404)" -eq 1 ]
	[ "$(d kvd_requests_total 'route~kv' method=DELETE status=204)" -eq 1 ]
	[ "$(d kvd_request_duration_seconds_count 'route~kv')" -eq 7 ]
	[ "$(d kvd_wal_appends_total)" -ge 4 ]
	[ "$(d kvd_wal_fsyncs_total)" -ge 1 ]
	[ "$(d kvd_wal_bytes_total)" -gt 100 ]
	[ "$(d kvd_group_commit_batch_size_count)" -ge 1 ]
	[ "$(d kvd_group_commit_batch_size_sum)" -ge 4 ]
	[ "$(promcheck get "$TMP/m1" kvd_keys)" -eq 2 ]
	[ "$(promcheck get "$TMP/m1" kvd_tombstones)" -eq 1 ]
	# The scrape itself is counted too, under its own route.
	scrape "$u" "$TMP/m2"
	[ "$(promcheck get "$TMP/m2" kvd_requests_total 'route~metrics' method=GET status=200)" -ge 2 ]
	python3 -c 'import sys; assert 0 <= float(sys.argv[1]) < 3600' \
	    "$(promcheck get "$TMP/m2" kvd_snapshot_age_seconds)"
}

@test "/metrics: methods a client makes up do not add series (bounded labels)" {
	start_node n1
	local u i n0 n1
	u=$(url n1)
	scrape "$u" "$TMP/m0"
	for i in $(seq 1 40); do
		curl -s --max-time 60 -o /dev/null -X "BOGUS$i" "$u/kv/k" || true
		curl -s --max-time 60 -o /dev/null "$u/no/such/route/$i" || true
	done
	scrape "$u" "$TMP/m1"
	promcheck check "$TMP/m1"
	n0=$(grep -c '^kvd_requests_total{' "$TMP/m0" || true)
	n1=$(grep -c '^kvd_requests_total{' "$TMP/m1" || true)
	# A handful of new series (one "other" method, the 404s, the scrape),
	# not one per made-up method or path.
	[ $((n1 - n0)) -le 6 ] || { grep '^kvd_requests_total{' "$TMP/m1"; false; }
	! grep -q 'BOGUS\|no/such' "$TMP/m1" || false
}

@test "/metrics: kvd_build_info carries the version kvd --version prints" {
	start_node n1
	scrape "$(url n1)" "$TMP/m"
	[ "$(promcheck get "$TMP/m" kvd_build_info version="$(version_of "$KVD")")" = 1 ]
}

@test "/metrics: stays well-formed while requests run concurrently" {
	start_node n1
	local u i
	u=$(url n1)
	seq 1 200 | xargs -P 8 -I{} curl -s --max-time 10 -o /dev/null \
	    -X PUT -d '{"value":"x"}' "$u/kv/c{}" 3>&- &
	local load=$!
	for i in 1 2 3 4 5 6 7 8 9 10; do
		scrape "$u" "$TMP/m$i"
		promcheck check "$TMP/m$i"
	done
	wait "$load"
	scrape "$u" "$TMP/mz"
	[ "$(promcheck get "$TMP/mz" kvd_requests_total 'route~kv' method=PUT status=201)" -eq 200 ]
	[ "$(promcheck get "$TMP/mz" kvd_keys)" -eq 200 ]
}

@test "/metrics: kvd_peer_up is 1 for a peer that answers and 0 once it is gone" {
	local p1 p2
	read -r p1 p2 <<<"$(free_ports 2)"
	start_node n1 --addr "127.0.0.1:$p1" --peers "n2=127.0.0.1:$p2" \
	    --gossip-interval-ms 100 --peer-timeout-ms 300
	start_node n2 --addr "127.0.0.1:$p2" --peers "n1=127.0.0.1:$p1" \
	    --gossip-interval-ms 100 --peer-timeout-ms 300
	peer_is() {
		scrape "http://127.0.0.1:$p1" "$TMP/m" &&
		    [ "$(promcheck get "$TMP/m" kvd_peer_up peer=n2 2>/dev/null)" = "$1" ]
	}
	wait_for 15 peer_is 1
	kill_node n2
	wait_for 15 peer_is 0
	promcheck check "$TMP/m"
}

# sample FILE NAME: the value of the unlabelled sample NAME in scrape
# FILE; fails without one.  (awk, not promcheck: the polls below run it
# often on a loaded machine.)
sample() {
	awk -v n="$2" '$1 == n { print $2; found = 1 } END { exit !found }' "$1"
}

# gauge_cmp FILE NAME OP VALUE: sample NAME compared with VALUE by OP
# (> >= < <=, as numbers).
gauge_cmp() {
	local v
	v=$(sample "$1" "$2") || return 1
	awk -v a="$v" -v op="$3" -v b="$4" 'BEGIN {
		a += 0; b += 0
		if (op == ">") exit !(a > b)
		if (op == ">=") exit !(a >= b)
		if (op == "<") exit !(a < b)
		exit !(a <= b)
	}'
}

@test "/metrics: hints held grow on disk and in memory while a member is down, and go once delivered" {
	local p1 p2 i u
	read -r p1 p2 <<<"$(free_ports 2)"
	u=http://127.0.0.1:$p1
	start_node n1 --addr "127.0.0.1:$p1" --peers "n2=127.0.0.1:$p2" \
	    --gossip-interval-ms 100 --peer-timeout-ms 300 --n 2 --w 1 \
	    --anti-entropy-interval 1
	start_node n2 --addr "127.0.0.1:$p2" --peers "n1=127.0.0.1:$p1" \
	    --gossip-interval-ms 100 --peer-timeout-ms 300 --n 2 --w 1 \
	    --anti-entropy-interval 1
	peer_is() {
		scrape "$u" "$TMP/m" &&
		    grep -qx "kvd_peer_up{peer=\"n2\"} $1" "$TMP/m"
	}
	wait_for 15 peer_is 1
	scrape "$u" "$TMP/m0"
	[ "$(sample "$TMP/m0" kvd_hints_memory_bytes)" = 0 ]
	[ "$(sample "$TMP/m0" kvd_hints_disk_bytes)" = 0 ]

	kill_node n2
	wait_for 15 peer_is 0
	for i in $(seq 1 10); do
		[ "$(code -X PUT -d '{"value":"held-'$i'"}' "$u/kv/h$i")" = 201 ]
	done
	held() {
		scrape "$u" "$TMP/m1" &&
		    [ "$(sample "$TMP/m1" kvd_hints_pending)" = 10 ] &&
		    gauge_cmp "$TMP/m1" kvd_hints_memory_bytes '>' 200 &&
		    gauge_cmp "$TMP/m1" kvd_hints_disk_bytes '>=' \
		    "$(sample "$TMP/m1" kvd_hints_memory_bytes)"
	}
	wait_for 20 held

	# n2 back: the hints are delivered and leave memory and disk.
	start_node n2 --addr "127.0.0.1:$p2" --peers "n1=127.0.0.1:$p1" \
	    --gossip-interval-ms 100 --peer-timeout-ms 300 --n 2 --w 1 \
	    --anti-entropy-interval 1
	delivered() {
		scrape "$u" "$TMP/m3" &&
		    [ "$(sample "$TMP/m3" kvd_hints_memory_bytes)" = 0 ] &&
		    [ "$(sample "$TMP/m3" kvd_hints_disk_bytes)" = 0 ]
	}
	wait_for 30 delivered || { grep '^kvd_hint' "$TMP/m3"; false; }
	promcheck check "$TMP/m3"
}

@test "/metrics: kvd_wal_disk_bytes grows with writes and falls once a snapshot drops the WAL" {
	local u i w0 w1
	start_node n1 --snapshot-interval 0
	u=$(url n1)
	scrape "$u" "$TMP/m0"
	w0=$(sample "$TMP/m0" kvd_wal_disk_bytes)
	for i in $(seq 1 20); do
		[ "$(put n1 "w$i" "value-$i")" = 201 ]
	done
	scrape "$u" "$TMP/m1"
	w1=$(sample "$TMP/m1" kvd_wal_disk_bytes)
	echo "wal bytes: $w0, then $w1 after 20 writes"
	[ "$w1" -ge $((w0 + 20 * 30)) ]
	# Killed (no final snapshot), restarted with snapshots every second:
	# the WAL replays, the first snapshot covers it and drops it.
	kill_node n1
	start_node n1 --snapshot-interval 1
	u=$(url n1)
	wal_small() {
		scrape "$u" "$TMP/m2" && [ -s "$DATA/n1/snapshot.json" ] &&
		    gauge_cmp "$TMP/m2" kvd_wal_disk_bytes '<' "$w1"
	}
	wait_for 30 wal_small
	[ "$(c "$u/kv/w20")" = '{"key":"w20","value":"value-20"}' ]
}

@test "/metrics: kvd_paxos_disk_bytes grows with conditional writes and falls once a compaction drops the log, while kvd_wal_disk_bytes (the store's WAL) does not" {
	local u i p0 p1 w1
	# A 15 s window: the keys' consensus state is collected 15 s after
	# their last ballot, and that upkeep (every 3.75 s) compacts.
	start_node n1 --snapshot-interval 0 --cas-window 15 --peer-timeout-ms 1000
	u=$(url n1)
	scrape "$u" "$TMP/m0"
	p0=$(sample "$TMP/m0" kvd_paxos_disk_bytes)
	for i in $(seq 1 20); do
		[ "$(code -X PUT -H 'If-None-Match: *' -d '{"value":"v'$i'"}' \
		    "$u/kv/c$i")" = 201 ]
	done
	scrape "$u" "$TMP/m1"
	p1=$(sample "$TMP/m1" kvd_paxos_disk_bytes)
	w1=$(sample "$TMP/m1" kvd_wal_disk_bytes)
	echo "paxos log bytes: $p0, then $p1 after 20 conditional writes; store WAL $w1"
	# A promise, an accept with the version and a commit each.
	[ "$p1" -ge $((p0 + 20 * 100)) ]
	paxos_small() {
		scrape "$u" "$TMP/m2" &&
		    gauge_cmp "$TMP/m2" kvd_paxos_disk_bytes '<' "$p1"
	}
	wait_for 90 paxos_small
	# The store's WAL is not the Paxos log: it keeps its records.
	gauge_cmp "$TMP/m2" kvd_wal_disk_bytes '>=' "$w1"
	[ "$(c "$u/kv/c20")" = '{"key":"c20","value":"v20"}' ]
}

@test "/metrics: kvd_antientropy_failures_total counts the exchanges a stopped peer fails" {
	local dead u
	dead=$(closed_port)
	start_node n1 --peers "n2=127.0.0.1:$dead" --n 2 --peer-timeout-ms 300
	u=$(url n1)
	scrape "$u" "$TMP/m0"
	[ "$(sample "$TMP/m0" kvd_antientropy_failures_total)" = 0 ]
	# A repair asks every member it shares keys with, down or not (the
	# periodic rounds skip one marked down): n2's exchange fails.
	run "$KVCTL" --server "$u" repair
	echo "$output"
	[ "$status" -eq 5 ]
	scrape "$u" "$TMP/m1"
	gauge_cmp "$TMP/m1" kvd_antientropy_failures_total '>=' 1
	run "$KVCTL" --server "$u" repair
	[ "$status" -eq 5 ]
	scrape "$u" "$TMP/m2"
	gauge_cmp "$TMP/m2" kvd_antientropy_failures_total '>=' \
	    $(($(sample "$TMP/m1" kvd_antientropy_failures_total) + 1))
}

@test "/metrics: a handoff that cannot reach its receiver is running and its failed passes are counted" {
	local p1 p2 i u
	read -r p1 p2 <<<"$(free_ports 2)"
	u=http://127.0.0.1:$p1
	start_node n1 --addr "127.0.0.1:$p1" --peers "n2=127.0.0.1:$p2" \
	    --gossip-interval-ms 100 --peer-timeout-ms 300 --n 1
	start_node n2 --addr "127.0.0.1:$p2" --peers "n1=127.0.0.1:$p1" \
	    --gossip-interval-ms 100 --peer-timeout-ms 300 --n 1
	wait_for 15 status_is "$u/ready" 200
	for i in $(seq 1 20); do
		[ "$(code -X PUT -d '{"value":"v"}' "$u/kv/t$i")" = 201 ]
	done
	settled() {
		scrape "$u" "$TMP/m0" &&
		    [ "$(sample "$TMP/m0" kvd_transfer_running)" = 0 ]
	}
	wait_for 30 settled
	[ "$(sample "$TMP/m0" kvd_transfer_failures_total)" = 0 ]
	# n1 leaves while n2, which must take every key n1 holds, is stopped.
	kill_node n2
	[ "$(code -X POST -d '{"id":"n1"}' "$u/cluster/leave")" = 200 ]
	failing() {
		scrape "$u" "$TMP/m1" &&
		    [ "$(sample "$TMP/m1" kvd_transfer_running)" = 1 ] &&
		    gauge_cmp "$TMP/m1" kvd_transfer_failures_total '>=' 1
	}
	wait_for 30 failing
	# n2 back: the next pass places the keys, and the handoff ends.
	start_node n2 --addr "127.0.0.1:$p2" --peers "n1=127.0.0.1:$p1" \
	    --gossip-interval-ms 100 --peer-timeout-ms 300 --n 1
	done_now() {
		scrape "$u" "$TMP/m2" &&
		    [ "$(sample "$TMP/m2" kvd_transfer_running)" = 0 ]
	}
	wait_for 60 done_now || { grep transfer "$TMP/m2"; false; }
	[ "$(c "http://127.0.0.1:$p2/kv/t20")" = '{"key":"t20","value":"v"}' ]
	promcheck check "$TMP/m2"
}

@test "/metrics: process figures from /proc/self are plausible" {
	[ -r /proc/self/stat ] || skip "no /proc/self here: the figures are left out"
	start_node n1
	local u now
	u=$(url n1)
	scrape "$u" "$TMP/m"
	now=$(date +%s)
	gauge_cmp "$TMP/m" process_resident_memory_bytes '>' 100000
	gauge_cmp "$TMP/m" process_open_fds '>=' 4
	# Started within the last hour, not in the future.
	gauge_cmp "$TMP/m" process_start_time_seconds '>' $((now - 3600))
	gauge_cmp "$TMP/m" process_start_time_seconds '<=' $((now + 2))
	# Each client connection held open is a descriptor more.
	exec 7<>/dev/tcp/127.0.0.1/"$(port_of n1)" 8<>/dev/tcp/127.0.0.1/"$(port_of n1)"
	fds_above() {
		scrape "$u" "$TMP/m2" && gauge_cmp "$TMP/m2" process_open_fds \
		    '>=' "$(($(sample "$TMP/m" process_open_fds) + 2))"
	}
	wait_for 20 fds_above
	exec 7>&- 8>&-
}

# ---- /ready and /version -------------------------------------------------

@test "/ready: a single node is ready once it has recovered" {
	start_node n1
	local u
	u=$(url n1)
	wait_for 10 status_is "$u/ready" 200
	c -o "$TMP/r" "$u/ready"
	[ "$(json_get "$TMP/r" ready)" = true ]
	[ "$(code -I "$u/ready")" = 200 ]
}

@test "/ready: 503 with a reason while a peer has never answered, 200 after the bounded wait" {
	local dead t0 t1
	read -r dead <<<"$(free_ports 1)"
	t0=$(date +%s)
	start_node n1 --peers "dead=127.0.0.1:$dead" --peer-timeout-ms 200 \
	    --gossip-interval-ms 100
	local u
	u=$(url n1)
	curl -s --max-time 10 -o "$TMP/r" -w '%{http_code}' "$u/ready" >"$TMP/code"
	[ "$(cat "$TMP/code")" = 503 ]
	[ "$(json_get "$TMP/r" ready)" = false ]
	[ "$(json_get "$TMP/r" reason)" != '""' ]
	# Liveness is not readiness.
	[ "$(code "$u/health")" = 200 ]
	wait_for 20 status_is "$u/ready" 200
	t1=$(date +%s)
	# Not before most of the 10 s bound has passed.
	[ $((t1 - t0)) -ge 8 ]
}

@test "/ready: 503 building the key index while a restarted node indexes its keys, then 200" {
	local u
	start_node n1
	u=$(url n1)
	[ "$(put n1 k1 v1)" = 201 ]
	[ "$(put n1 k2 v2)" = 201 ]
	kill_node n1
	# The build waits 2 s before its first key (failpoint.c): without
	# it the build of a few keys ends before the first request.
	KVD_FAILPOINTS=index-build-delay start_node n1
	u=$(url n1)
	curl -s --max-time 60 -D "$TMP/h" -o "$TMP/r" -w '%{http_code}' \
	    "$u/ready" >"$TMP/code"
	cat "$TMP/code" "$TMP/r"
	[ "$(cat "$TMP/code")" = 503 ]
	[ "$(cat "$TMP/r")" = '{"ready":false,"reason":"building the key index"}' ]
	grep -qi '^content-type: application/json' "$TMP/h"
	# Alive meanwhile, and a key the map holds reads without the index.
	[ "$(code "$u/health")" = 200 ]
	[ "$(c "$u/kv/k1")" = '{"key":"k1","value":"v1"}' ]
	wait_for 10 status_is "$u/ready" 200
	[ "$(c "$u/ready")" = '{"ready":true}' ]
	grep -q 'point=index-build-delay hit=1 action=delay' "$TMP/n1.log"
}

@test "/ready: two nodes are ready once each has seen the other" {
	local p1 p2
	read -r p1 p2 <<<"$(free_ports 2)"
	start_node n1 --addr "127.0.0.1:$p1" --peers "n2=127.0.0.1:$p2" \
	    --gossip-interval-ms 100
	start_node n2 --addr "127.0.0.1:$p2" --peers "n1=127.0.0.1:$p1" \
	    --gossip-interval-ms 100
	wait_for 8 status_is "http://127.0.0.1:$p1/ready" 200
	wait_for 8 status_is "http://127.0.0.1:$p2/ready" 200
}

@test "/version: {\"version\":...,\"api\":1} matching kvd --version" {
	start_node n1
	c -D "$TMP/h" -o "$TMP/v" "$(url n1)/version"
	head -1 "$TMP/h" | grep -q ' 200 '
	tr -d '\r' <"$TMP/h" | grep -qi '^content-type: application/json'
	[ "$(json_get "$TMP/v" version)" = "\"$(version_of "$KVD")\"" ]
	[ "$(json_get "$TMP/v" api)" = 1 ]
}

@test "/metrics, /ready and /version refuse other methods with 405 and Allow" {
	start_node n1
	local u p
	u=$(url n1)
	for p in metrics ready version; do
		c -X POST -d x -D "$TMP/h" -o /dev/null "$u/$p"
		head -1 "$TMP/h" | grep -q ' 405 '
		tr -d '\r' <"$TMP/h" | grep -qi '^allow: GET, HEAD$'
	done
}

# ---- thread names ----------------------------------------------------------

@test "threads carry their roles' names (top -H, ps -L, /proc/PID/task/TID/comm)" {
	[ "$(uname -s)" = Linux ] || skip "thread names are Linux only"
	local i n names want
	pick_ports 3
	for n in 1 2 3; do
		start_peer "$n" 3 ""
	done
	wait_for 15 ready node1 node2 node3
	for i in $(seq 1 20); do
		[ "$(put node1 "k$i" "v$i")" = 201 ]
	done
	names=$(cat /proc/"$(pid_of node1)"/task/*/comm)
	echo "$names"
	for want in kvd-accept kvd-conn kvd-commit kvd-replica kvd-house \
	    kvd-gossip kvd-hints kvd-antientropy kvd-transfer; do
		grep -qx "$want" <<<"$names"
	done
	# Only the main thread is plain "kvd": a thread that did not name
	# itself would carry its creator's name.  ThreadSanitizer starts a
	# background thread of its own, which carries the process's name.
	[ "$(grep -cx kvd <<<"$names")" = \
	    "$([ "${KVD_SANITIZER:-}" = thread ] && echo 2 || echo 1)" ]
}
