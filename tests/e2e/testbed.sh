# shellcheck shell=bash
# testbed.sh - end-to-end test bed for sealmilter: an SMTP sink, a private
# Postfix and an unpacked Sendmail, all on 127.0.0.1, all inside one
# private temp dir that is removed (and every server stopped) at exit.
#
# Source it from a bash test script that runs with `set -euo pipefail`:
#
#   . "$(dirname "$0")/testbed.sh"
#   tb_init
#   tb_start_sink
#   tb_start_postfix "inet:127.0.0.1:$MILTER_PORT"
#   tb_smtp_send "$PF_PORT" alice@example.com bob@remote.test < msg.eml
#   tb_wait_files "$SINK_DIR" 1 20
#
# Functions (see the comment above each for details):
#   tb_init                      make $TB, EXIT trap -> tb_cleanup
#   tb_cleanup                   stop all servers, rm -rf $TB unless TB_KEEP=1
#   tb_on_cleanup CMD            run shell command CMD at cleanup
#   tb_register_pid PID          stop PID (its group if it leads one) at cleanup
#   tb_free_port                 print a free port, never twice in a run
#   tb_port_listening PORT       true if 127.0.0.1:PORT listens
#   tb_wait_port PORT [TIMEOUT]  wait until 127.0.0.1:PORT listens
#   tb_wait_for TIMEOUT CMD...   poll CMD every 0.1 s until true or timeout
#   tb_start_sink / tb_stop_sink SINK_PORT SINK_DIR SINK_PID SINK_LOG
#   tb_wait_files DIR COUNT TIMEOUT   wait for COUNT .eml files in DIR
#   tb_count_eml DIR             print the number of .eml files in DIR
#   tb_body FILE                 print the body of a message file
#   tb_smtp_send PORT FROM RCPT... < msg   prints "CODE TEXT"; exit 0/4/5/1
#   tb_start_postfix MILTER      PF_PORT PF_DIR PF_CONF PF_LOG
#   tb_postfix_sendmail FROM RCPT... < msg
#   tb_postfix_flush / tb_postfix_queue_count / tb_stop_postfix
#   tb_start_sendmail MILTER_PORT     SM_PORT SM_DIR SM_LOG SM_SYSLOG SM_ROOT SM_PID
#   tb_sendmail_cmd ARG... / tb_sendmail_flush / tb_sendmail_queue_count
#   tb_sendmail_root             print (fetch once) the unpacked Sendmail tree
#   tb_stop_sendmail
#   tb_fail MSG                  "FAIL: MSG" + running servers' log tails, exit 1
#   tb_assert_grep PATTERN FILE / tb_assert_not_grep PATTERN FILE   (ERE)
#
# Call the tb_start_* / tb_stop_* functions directly, not inside $(...) or a
# pipeline: they set shell variables (PF_PORT, SINK_DIR, ...) in the calling
# shell.  Servers are also recorded in $TB/.servers, so tb_cleanup stops
# them even when they were started from a subshell.  tb_fail and the
# assertions exit the (sub)shell they run in: call them from the test's
# main shell.  Do not set your own EXIT trap after tb_init: use
# tb_on_cleanup / tb_register_pid (e.g. for the milter under test).
#
# Environment knobs:
#   TB_KEEP=1          keep $TB after the run (its path is printed)
#   TB_TMPDIR          parent of $TB (default /tmp; must be searchable by the
#                      postfix user)
#   TB_PYTHON          python with aiosmtpd (default /usr/bin/python3)
#   TB_CACHE           where Sendmail is unpacked (/var/cache/sealmilter-testbed)
#   TB_START_TIMEOUT   seconds to wait for a server to listen (default 30)
#   PF_EXTRA_MAINCF    extra main.cf lines: appended, and a parameter set
#                      there replaces the test bed's own setting
#   SM_EXTRA_MC        extra lines inserted into the private Sendmail .mc
#                      before MAILER(...)
#   SM_MILTER_OPTS     flags of INPUT_MAIL_FILTER after S=... (default
#                      "F=T, T=C:10s;S:30s;R:30s;E:2m")
#
# Requires: bash >= 5 (EPOCHREALTIME), iproute2 (ss), procps (ps), util-linux
# (setsid, unshare, flock); postfix for the Postfix part; python3-aiosmtpd;
# m4, libwrap0, liblockfile1 and apt-get access for the Sendmail part.

TB_LIBDIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# postfix, postconf, postqueue live in /usr/sbin.
case ":$PATH:" in *:/usr/sbin:*) ;; *) PATH=$PATH:/usr/sbin:/sbin ;; esac
TB_PYTHON=${TB_PYTHON:-/usr/bin/python3}
TB_CACHE=${TB_CACHE:-/var/cache/sealmilter-testbed}
TB_START_TIMEOUT=${TB_START_TIMEOUT:-30}
TB_HOST=127.0.0.1
TB_PF_HOSTNAME=mta.example.test
TB_SM_HOSTNAME=smta.example.test

# ---------------------------------------------------------------- internals

tb__err() { printf '%s\n' "$*" >&2; }

tb__need_init() {
    if [ -z "${TB:-}" ] || [ ! -f "$TB/.testbed" ]; then
        tb__err "testbed: call tb_init first"
        return 1
    fi
}

# Microseconds since the epoch.
tb__now_us() { local t=$EPOCHREALTIME; echo "${t/[.,]/}"; }

tb__register() {   # KIND ARG
    printf '%s %s\n' "$1" "$2" >> "$TB/.servers"
}

tb__unregister() { # KIND ARG
    [ -f "$TB/.servers" ] || return 0
    grep -vxF -- "$1 $2" "$TB/.servers" > "$TB/.servers.tmp" || true
    mv -f "$TB/.servers.tmp" "$TB/.servers"
}

tb__registered() { # KIND [ARG]  -> prints ARG of matching entries
    [ -f "${TB:-}/.servers" ] || return 0
    local kind arg
    while read -r kind arg; do
        if [ "$kind" = "$1" ] && { [ $# -lt 2 ] || [ "$arg" = "$2" ]; }; then
            printf '%s\n' "$arg"
        fi
    done < "$TB/.servers"
}

# Processes are recorded as ID = "PID/STARTTIME" (start time in clock ticks
# since boot, /proc/PID/stat field 22), so that a PID reused by another
# program (pid_max may be only 32768) is never signalled.
tb__starttime() {  # PID
    local stat
    stat=$(cat "/proc/$1/stat" 2> /dev/null) || return 1
    stat=${stat##*) }
    # shellcheck disable=SC2086 # split the fields
    set -- $stat
    printf '%s\n' "${20}"
}

tb__procid() {     # PID -> ID
    local st
    st=$(tb__starttime "$1") || st=
    printf '%s/%s\n' "$1" "$st"
}

# True while the process (PID or ID) exists, is not a zombie and, for an ID,
# still has the recorded start time.
tb__pid_alive() {
    local pid=${1%%/*} want='' stat
    case $1 in */*) want=${1#*/} ;; esac
    [ -n "$pid" ] && [ -r "/proc/$pid/stat" ] || return 1
    stat=$(cat "/proc/$pid/stat" 2> /dev/null) || return 1
    stat=${stat##*) }
    [ "${stat%% *}" != Z ] || return 1
    [ -z "$want" ] || [ "$(tb__starttime "$pid")" = "$want" ]
}

# True while process group PGID has a live (non-zombie) member.
tb__group_alive() {
    ps -e -o pgid=,stat= 2> /dev/null |
        awk -v g="$1" '$1 == g && $2 !~ /^Z/ { found = 1 } END { exit !found }'
}

tb__pid_dead() { ! tb__pid_alive "$1"; }
tb__group_dead() { ! tb__group_alive "$1"; }

# True once 127.0.0.1:PORT listens or process PID has died.
tb__listening_or_dead() { tb_port_listening "$1" || ! tb__pid_alive "$2"; }

# Stop process ID (or PID) and, when it leads its own process group, the
# whole group: SIGTERM, wait up to TIMEOUT seconds, then SIGKILL.
tb__kill() {       # ID [TIMEOUT]
    local id=$1 timeout=${2:-10} pid=${1%%/*} pgid
    [ -n "$pid" ] || return 0
    if tb__pid_alive "$id"; then
        pgid=$(ps -o pgid= -p "$pid" 2> /dev/null | tr -d ' ') || pgid=
        if [ "$pgid" = "$pid" ]; then
            kill -TERM -- "-$pid" 2> /dev/null || true
            tb_wait_for "$timeout" tb__group_dead "$pid" || {
                kill -KILL -- "-$pid" 2> /dev/null || true
                tb_wait_for 5 tb__group_dead "$pid" || true
            }
        else
            kill -TERM "$pid" 2> /dev/null || true
            tb_wait_for "$timeout" tb__pid_dead "$id" || {
                if tb__pid_alive "$id"; then kill -KILL "$pid" 2> /dev/null || true; fi
                tb_wait_for 5 tb__pid_dead "$id" || true
            }
        fi
    fi
    # Reap it if it is our child, so that no "Terminated" noise comes later.
    wait "$pid" 2> /dev/null || true
}

tb__stop_entry() { # KIND ARG
    case $1 in
        sink)     tb__kill "$2" 10 ;;
        postfix)  tb__stop_postfix_dir "$2" ;;
        sendmail) tb__stop_sendmail_dir "$2" ;;
        pid)      tb__kill "$2" 10 ;;
        cmd)      eval "$2" || true ;;
    esac
}

tb__tail() {       # FILE [LINES]
    [ -s "$1" ] || return 0
    printf -- '----- last %s lines of %s -----\n' "${2:-40}" "$1" >&2
    tail -n "${2:-40}" "$1" >&2
}

# Print the tail of the log of every running server to stderr.
tb__dump_logs() {
    [ -f "${TB:-}/.servers" ] || return 0
    local kind arg
    while read -r kind arg; do
        case $kind in
            postfix)  tb__tail "$arg/maillog" ;;
            sendmail) tb__tail "$arg/syslog.log"; tb__tail "$arg/stderr.log" 20
                      tb__tail "$arg/traffic.log" ;;
            sink)     tb__tail "$TB/sink.log" 10 ;;
        esac
    done < "$TB/.servers"
}

# A fresh directory $TB/NAME, or $TB/NAME-2, -3 ... if NAME was used before.
tb__fresh_dir() {  # NAME
    local d=$TB/$1 n=2
    while [ -e "$d" ]; do d=$TB/$1-$n; n=$((n + 1)); done
    mkdir -p "$d"
    printf '%s\n' "$d"
}

# ---------------------------------------------------------------- basics

# tb_init: create $TB, install the EXIT trap (and INT/TERM/HUP -> exit).
tb_init() {
    # A second call in the same shell keeps the test bed it has.
    if [ -n "${TB:-}" ] && [ -f "$TB/.testbed" ] && [ "${TB__OWNER:-}" = "$BASHPID" ]; then
        return 0
    fi
    local parent=${TB_TMPDIR:-/tmp}
    TB=$(mktemp -d "$parent/sealmilter-tb.XXXXXX")
    # Postfix daemons run as user postfix and must reach $TB/postfix*/queue.
    chmod 755 "$TB"
    : > "$TB/.servers"
    : > "$TB/.ports"
    : > "$TB/.testbed"
    TB__OWNER=$BASHPID
    trap tb_cleanup EXIT
    trap 'exit 129' HUP
    trap 'exit 130' INT
    trap 'exit 143' TERM
}

# tb_cleanup: stop every server (newest first), then remove $TB unless
# TB_KEEP=1.  Runs from the EXIT trap; safe to call more than once.
tb_cleanup() {
    local rc=$? had_e=0 kind arg
    case $- in *e*) had_e=1 ;; esac
    set +e
    if [ -n "${TB:-}" ] && [ -f "$TB/.servers" ]; then
        while read -r kind arg; do
            tb__stop_entry "$kind" "$arg"
        done < <(tac "$TB/.servers")
        : > "$TB/.servers"
        if [ "${TB_KEEP:-0}" = 1 ]; then
            tb__err "testbed: kept $TB"
        else
            rm -rf "$TB"
        fi
    fi
    [ $had_e = 1 ] && set -e
    return $rc
}

# tb_on_cleanup CMD: run the shell command CMD at cleanup (before the
# servers started earlier are stopped).
tb_on_cleanup() {
    tb__need_init || return 1
    tb__register cmd "$*"
}

# tb_register_pid PID: stop process PID (its group if it leads one) at
# cleanup, e.g. the milter under test started in the background.
tb_register_pid() {
    tb__need_init || return 1
    tb__register pid "$(tb__procid "$1")"
}

# tb_wait_for TIMEOUT CMD [ARG...]: run CMD every 0.1 s until it succeeds
# (return 0) or TIMEOUT seconds (may have a fraction: 0.5) have passed
# (return 1).  CMD runs at least once.
tb_wait_for() {
    local timeout=$1 deadline int frac=000000
    shift
    int=${timeout%%.*}
    if [ "$int" != "$timeout" ]; then
        frac=${timeout#*.}000000
        frac=${frac:0:6}
    fi
    deadline=$(( $(tb__now_us) + ${int:-0} * 1000000 + 10#$frac ))
    while :; do
        if "$@"; then return 0; fi
        [ "$(tb__now_us)" -lt "$deadline" ] || return 1
        sleep 0.1
    done
}

# tb_port_listening PORT: true if something listens on TCP 127.0.0.1:PORT.
tb_port_listening() {
    ss -Hltn "( sport = :$1 )" 2>/dev/null | grep -qF "$TB_HOST:$1 "
}

# tb_wait_port PORT [TIMEOUT]: wait until 127.0.0.1:PORT listens.
tb_wait_port() {
    if tb_wait_for "${2:-$TB_START_TIMEOUT}" tb_port_listening "$1"; then
        return 0
    fi
    tb__err "testbed: nothing listens on $TB_HOST:$1 after ${2:-$TB_START_TIMEOUT}s"
    return 1
}

# tb_free_port: print a free TCP port (none in use in any state on this
# machine, below the ephemeral range), never the same twice in one run.
tb_free_port() {
    tb__need_init || return 1
    local lo hi port i
    read -r lo hi < /proc/sys/net/ipv4/ip_local_port_range || { lo=32768; hi=60999; }
    for ((i = 0; i < 500; i++)); do
        port=$(( 15000 + (RANDOM * 32768 + RANDOM) % 17000 ))
        if [ "$port" -ge "$lo" ] && [ "$port" -le "$hi" ]; then continue; fi
        if grep -qx "$port" "$TB/.ports"; then continue; fi
        if [ -n "$(ss -Htan "( sport = :$port )" 2>/dev/null)" ]; then continue; fi
        printf '%s\n' "$port" >> "$TB/.ports"
        printf '%s\n' "$port"
        return 0
    done
    tb__err "testbed: no free port found"
    return 1
}

# tb_fail MSG: print "FAIL: MSG" and the tail of every running server's log
# to stderr, then exit 1 (cleanup runs from the EXIT trap).
tb_fail() {
    tb__err "FAIL: $*"
    tb__dump_logs
    exit 1
}

# tb_assert_grep PATTERN FILE: FILE must contain a line matching the
# extended regular expression PATTERN, else tb_fail with got/want.
tb_assert_grep() {
    local pat=$1 file=$2
    [ -f "$file" ] || tb_fail "tb_assert_grep: no file $file (want /$pat/)"
    if ! grep -Eq -- "$pat" "$file"; then
        tb__err "want: a line matching /$pat/ in $file"
        tb__err "got (first 40 lines):"
        head -n 40 "$file" | sed 's/^/  | /' >&2
        tb_fail "pattern /$pat/ not found in $file"
    fi
}

# tb_assert_not_grep PATTERN FILE: no line of FILE may match PATTERN (ERE).
# A missing FILE fails too (it is almost always a test mistake).
tb_assert_not_grep() {
    local pat=$1 file=$2
    [ -f "$file" ] || tb_fail "tb_assert_not_grep: no file $file"
    if grep -Eq -- "$pat" "$file"; then
        tb__err "want: no line matching /$pat/ in $file"
        tb__err "got:"
        grep -En -- "$pat" "$file" | head -n 20 | sed 's/^/  | /' >&2
        tb_fail "pattern /$pat/ found in $file"
    fi
}

# tb_body FILE: print the body of message FILE (bytes after the first empty
# line), byte for byte.
tb_body() {
    "$TB_PYTHON" - "$1" <<'EOF'
import re, sys
data = open(sys.argv[1], "rb").read()
m = re.search(rb"\r?\n\r?\n", data)
sys.stdout.buffer.write(data[m.end():] if m else b"")
EOF
}

# ---------------------------------------------------------------- sink

# tb_count_eml DIR: print the number of .eml files in DIR.
tb_count_eml() {
    local n=0 f
    for f in "$1"/*.eml; do [ -e "$f" ] && n=$((n + 1)); done
    echo "$n"
}

tb__sink_up() { [ -s "$TB/sink.pid" ] || ! tb__pid_alive "$TB__SINK_ID"; }

tb__has_files() { [ "$(tb_count_eml "$1")" -ge "$2" ]; }

# tb_start_sink: start the aiosmtpd sink on a free port.
# Sets SINK_PORT, SINK_DIR ($TB/sink), SINK_PID, SINK_LOG ($TB/sink.log).
tb_start_sink() {
    tb__need_init || return 1
    if [ -n "${TB__SINK_ID:-}" ]; then tb_stop_sink; fi
    SINK_PORT=$(tb_free_port)
    SINK_DIR=$TB/sink
    SINK_LOG=$TB/sink.log
    mkdir -p "$SINK_DIR"
    rm -f "$TB/sink.pid"
    "$TB_PYTHON" "$TB_LIBDIR/sink.py" --host "$TB_HOST" --port "$SINK_PORT" \
        --dir "$SINK_DIR" --pidfile "$TB/sink.pid" \
        < /dev/null >> "$SINK_LOG" 2>&1 &
    SINK_PID=$!
    TB__SINK_ID=$(tb__procid "$SINK_PID")
    tb__register sink "$TB__SINK_ID"
    if ! tb_wait_for "$TB_START_TIMEOUT" tb__sink_up ||
       ! tb__pid_alive "$TB__SINK_ID" || ! tb_port_listening "$SINK_PORT"; then
        tb__err "testbed: the SMTP sink did not start on port $SINK_PORT"
        tb__tail "$SINK_LOG"
        return 1
    fi
}

# tb_stop_sink: stop the sink (files in SINK_DIR stay).
tb_stop_sink() {
    [ -n "${TB__SINK_ID:-}" ] || return 0
    tb__kill "$TB__SINK_ID" 10
    tb__unregister sink "$TB__SINK_ID"
    TB__SINK_ID=
    SINK_PID=
}

# tb_wait_files DIR COUNT TIMEOUT: wait until DIR holds at least COUNT .eml
# files; on timeout print what is there and return 1.
tb_wait_files() {
    local dir=$1 count=$2 timeout=$3
    if tb_wait_for "$timeout" tb__has_files "$dir" "$count"; then
        return 0
    fi
    tb__err "testbed: timed out after ${timeout}s waiting for $count .eml files in $dir: found $(tb_count_eml "$dir")"
    tb__dump_logs
    return 1
}

# ---------------------------------------------------------------- SMTP client

# tb_smtp_send PORT FROM RCPT... < message: send stdin in one SMTP
# transaction to 127.0.0.1:PORT; print the final reply as "CODE TEXT".
# Exit status 0 for 2xx, 4 for 4xx, 5 for 5xx, 1 for connection failure
# (printed as "000 ...").  TB_SMTP_TIMEOUT (default 120) bounds each step.
tb_smtp_send() {
    local port=$1
    shift
    "$TB_PYTHON" "$TB_LIBDIR/smtpclient.py" --host "$TB_HOST" --port "$port" \
        --timeout "${TB_SMTP_TIMEOUT:-120}" -- "$@"
}

# ---------------------------------------------------------------- Postfix

tb__postfix_master_pid() { # DIR
    local f=$1/queue/pid/master.pid pid
    [ -r "$f" ] || return 1
    read -r pid < "$f" || return 1
    [ -n "$pid" ] && printf '%s\n' "$pid"
}

tb__stop_postfix_dir() {   # DIR
    local dir=$1 id
    if [ -s "$dir/master.id" ]; then
        read -r id < "$dir/master.id"
    else
        # Died during the start, before master.id was written.
        id=$(tb__postfix_master_pid "$dir") || return 0
    fi
    # The master is a session leader: SIGTERM to its group is "postfix
    # stop" without the 1 s sleep of postfix-script.
    tb__kill "$id" 10
}

# tb_start_postfix MILTER: start a private Postfix relaying to the sink with
# smtpd_milters = non_smtpd_milters = MILTER ("inet:127.0.0.1:PORT",
# "unix:/path", or "" for none).  Sets PF_PORT, PF_DIR, PF_LOG, PF_CONF.
tb_start_postfix() {
    tb__need_init || return 1
    if [ $# -lt 1 ]; then tb__err "usage: tb_start_postfix MILTER"; return 1; fi
    local milter=$1 out rc=0
    if [ -z "${SINK_PORT:-}" ]; then
        tb__err "testbed: tb_start_postfix needs a sink: call tb_start_sink first"
        return 1
    fi
    if [ -n "${PF_DIR:-}" ] && [ -n "$(tb__registered postfix "$PF_DIR")" ]; then
        tb__err "testbed: a Postfix is already running in $PF_DIR: tb_stop_postfix first"
        return 1
    fi
    if ! command -v postfix > /dev/null; then
        tb__err "testbed: postfix is not installed (apt-get install -y postfix)"
        return 1
    fi
    PF_DIR=$(tb__fresh_dir postfix)
    PF_CONF=$PF_DIR/etc
    PF_LOG=$PF_DIR/maillog
    PF_PORT=$(tb_free_port)
    mkdir -p "$PF_CONF" "$PF_DIR/queue" "$PF_DIR/data"
    chown postfix "$PF_DIR/data"
    # Create the queue directories the way post-install does and let
    # "postfix start" skip its integrity checks (quick-start): saves ~2.5 s.
    local q
    for q in active bounce corrupt defer deferred flush hold incoming \
             private saved trace maildrop public pid; do
        mkdir -p "$PF_DIR/queue/$q"
    done
    (
        cd "$PF_DIR/queue" &&
        chown postfix:root active bounce corrupt defer deferred flush hold \
            incoming private saved trace &&
        chmod 700 active bounce corrupt defer deferred flush hold incoming \
            private saved trace &&
        chown postfix:postdrop maildrop public &&
        chmod 730 maildrop && chmod 710 public &&
        chmod 755 pid
    ) || { tb__err "testbed: cannot set up the queue in $PF_DIR/queue"; return 1; }
    : > "$PF_DIR/queue/quick-start"
    : > "$PF_LOG"

    cat > "$PF_CONF/main.cf" <<EOF
# private Postfix of the sealmilter test bed
compatibility_level = 3.6
queue_directory = $PF_DIR/queue
data_directory = $PF_DIR/data
maillog_file = $PF_LOG
maillog_file_prefixes = $PF_DIR
syslog_name = postfix-tb
myhostname = $TB_PF_HOSTNAME
mydomain = example.test
myorigin = \$myhostname
mydestination =
local_recipient_maps =
local_transport = error:local delivery disabled
alias_maps =
alias_database =
biff = no
append_dot_mydomain = no
readme_directory = no
inet_interfaces = $TB_HOST
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
smtpd_relay_restrictions = permit_mynetworks, reject
relayhost = [$TB_HOST]:$SINK_PORT
smtp_bind_address = $TB_HOST
smtp_dns_support_level = disabled
smtp_tls_security_level = none
smtpd_tls_security_level = none
smtpd_milters = $milter
non_smtpd_milters = \$smtpd_milters
milter_default_action = tempfail
milter_protocol = 6
queue_run_delay = 2s
minimal_backoff_time = 2s
maximal_backoff_time = 10s
delay_warning_time = 0
EOF
    if [ -n "${PF_EXTRA_MAINCF:-}" ]; then
        # Drop the base lines of parameters that PF_EXTRA_MAINCF sets (else
        # every Postfix command warns "overriding earlier entry"), append it.
        printf '%s\n' "$PF_EXTRA_MAINCF" > "$PF_DIR/extra.cf"
        awk 'FNR == NR {
                 if (match($0, /^[A-Za-z0-9_]+[ \t]*=/)) {
                     name = substr($0, 1, RLENGTH - 1); sub(/[ \t]+$/, "", name)
                     set[name] = 1
                 }
                 next
             }
             match($0, /^[A-Za-z0-9_]+[ \t]*=/) {
                 name = substr($0, 1, RLENGTH - 1); sub(/[ \t]+$/, "", name)
                 if (name in set) next
             }
             { print }' "$PF_DIR/extra.cf" "$PF_CONF/main.cf" > "$PF_CONF/main.cf.new"
        printf '# PF_EXTRA_MAINCF\n' >> "$PF_CONF/main.cf.new"
        cat "$PF_DIR/extra.cf" >> "$PF_CONF/main.cf.new"
        mv -f "$PF_CONF/main.cf.new" "$PF_CONF/main.cf"
    fi

    cat > "$PF_CONF/master.cf" <<EOF
# service type  private unpriv  chroot  wakeup  maxproc command + args
$TB_HOST:$PF_PORT inet n - n - - smtpd
pickup    unix  n       -       n       10      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
proxywrite unix -       -       n       -       1       proxymap
smtp      unix  -       -       n       -       -       smtp
relay     unix  -       -       n       -       -       smtp
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
EOF

    # Postfix re-reads a main.cf/master.cf changed within the last second
    # until it is a second old (300 ms sleeps, ~2 s in all): back-date them.
    touch -d '-5 seconds' "$PF_CONF/main.cf" "$PF_CONF/master.cf"

    out=$PF_DIR/postfix-start.out
    # Registered before the start, so that cleanup stops the master even if
    # the test dies while we wait for it.
    tb__register postfix "$PF_DIR"
    postfix -c "$PF_CONF" start > "$out" 2>&1 || rc=$?
    local pid=
    if [ $rc = 0 ] &&
       tb_wait_for 10 tb__postfix_master_pid "$PF_DIR" > /dev/null; then
        pid=$(tb__postfix_master_pid "$PF_DIR")
        tb__procid "$pid" > "$PF_DIR/master.id"
    fi
    if [ -z "$pid" ] ||
       ! tb_wait_for "$TB_START_TIMEOUT" tb__listening_or_dead "$PF_PORT" "$pid" ||
       ! tb_port_listening "$PF_PORT"; then
        tb__err "testbed: Postfix did not start listening on $TB_HOST:$PF_PORT (postfix start: exit $rc)"
        tb__tail "$out"
        tb__tail "$PF_LOG" 60
        # Without a terminal Postfix reports a fatal configuration error
        # nowhere (not even in maillog_file): ask again with a pty.
        tb__err "----- postfix check (with a pty) -----"
        script -qec "postfix -c '$PF_CONF' check" /dev/null 2>&1 | tail -n 20 >&2 || true
        return 1
    fi
}

# tb_postfix_sendmail FROM RCPT... < message: submit stdin with Postfix's
# sendmail command (pickup -> cleanup -> non_smtpd_milters).
tb__need_pf() {
    if [ -z "${PF_CONF:-}" ]; then
        tb__err "testbed: no private Postfix: call tb_start_postfix first"
        return 1
    fi
}

tb_postfix_sendmail() {
    tb__need_pf || return 1
    local from=$1
    shift
    /usr/sbin/sendmail -C "$PF_CONF" -i -f "$from" -- "$@"
}

# tb_postfix_flush: attempt delivery of everything queued (also maildrop).
tb_postfix_flush() {
    tb__need_pf || return 1
    postqueue -c "$PF_CONF" -f
}

# tb_postfix_queue_count: print the number of messages in the private
# queue (maildrop, incoming, active, deferred, hold).
tb_postfix_queue_count() {
    tb__need_pf || return 1
    local json
    json=$(postqueue -c "$PF_CONF" -j) || return 1
    if [ -z "$json" ]; then echo 0; return 0; fi
    printf '%s\n' "$json" | grep -c '"queue_id"'
}

# tb_stop_postfix: stop the private Postfix (PF_DIR and its log stay).
tb_stop_postfix() {
    [ -n "${PF_DIR:-}" ] || return 0
    tb__stop_postfix_dir "$PF_DIR"
    tb__unregister postfix "$PF_DIR"
}

# ---------------------------------------------------------------- Sendmail

# tb_sendmail_root: print the root of the unpacked sendmail-bin/-cf/-base
# tree, downloading and unpacking it into $TB_CACHE/sendmail on first use.
tb_sendmail_root() {
    local base=$TB_CACHE/sendmail
    local root=$base/root
    tb__sm_complete() {
        [ -f "$base/.complete" ] &&
        [ -x "$root/usr/libexec/sendmail/sendmail" ] &&
        [ -f "$root/usr/share/sendmail/cf/m4/cf.m4" ]
    }
    if tb__sm_complete; then printf '%s\n' "$root"; return 0; fi
    mkdir -p "$TB_CACHE" || return 1
    (
        flock -w 300 9 || { tb__err "testbed: cannot lock $TB_CACHE/.lock"; exit 1; }
        tb__sm_complete && exit 0
        tmp=$(mktemp -d "$TB_CACHE/download.XXXXXX") || exit 1
        trap 'rm -rf "$tmp"' EXIT
        chmod 755 "$tmp"   # apt's _apt user writes the .deb files here
        cd "$tmp" || exit 1
        pkgs="sendmail-bin sendmail-cf sendmail-base"
        # shellcheck disable=SC2086
        if ! apt-get download $pkgs > apt.log 2>&1; then
            apt-get update >> apt.log 2>&1 || true
            # shellcheck disable=SC2086
            apt-get download $pkgs >> apt.log 2>&1 || {
                tb__err "testbed: apt-get download $pkgs failed:"
                tail -n 20 apt.log >&2
                exit 1
            }
        fi
        mkdir unpacked
        for deb in ./*.deb; do dpkg -x "$deb" unpacked || exit 1; done
        rm -rf "$base"
        mkdir -p "$base"
        mv unpacked "$root"
        ls ./*.deb > "$base/.complete"
    ) 9> "$TB_CACHE/.lock" || return 1
    tb__sm_complete || { tb__err "testbed: unpacked Sendmail is incomplete in $base"; return 1; }
    printf '%s\n' "$root"
}

# tb_sendmail_cmd ARG...: run the private Sendmail binary with the private
# configuration (e.g. -bp, -q, -bv addr) in its own UTS namespace.
tb_sendmail_cmd() {
    [ -n "${SM_DIR:-}" ] || { tb__err "testbed: no Sendmail configured"; return 1; }
    # shellcheck disable=SC2086 # SM_NS holds unshare's flags
    unshare $SM_NS "$SM_DIR/run.sh" "$@"
}

# tb_sendmail_flush: run the private Sendmail queue once.
tb_sendmail_flush() { tb_sendmail_cmd -q; }

# tb_sendmail_queue_count: print the number of queued messages.
tb_sendmail_queue_count() {
    [ -n "${SM_DIR:-}" ] || { tb__err "testbed: no Sendmail configured"; return 1; }
    local n=0 f
    for f in "$SM_DIR"/queue/qf*; do [ -e "$f" ] && n=$((n + 1)); done
    echo "$n"
}

tb__sendmail_pid() {       # DIR
    local pid
    [ -r "$1/daemon.pid" ] || return 1
    read -r pid < "$1/daemon.pid" || return 1
    [ -n "$pid" ] && printf '%s\n' "$pid"
}

tb__stop_sendmail_dir() {  # DIR
    local id pid
    if id=$(tb__sendmail_pid "$1"); then tb__kill "$id" 10; fi
    # If setsid had to fork, the daemon is only named in Sendmail's own pid
    # file (removed at a clean exit; checked to be our binary anyway).
    if [ -r "$1/sendmail.pid" ] && read -r pid < "$1/sendmail.pid" &&
       [ -n "$pid" ] &&
       [ "$(readlink "/proc/$pid/exe" 2> /dev/null)" = "$TB_CACHE/sendmail/root/usr/libexec/sendmail/sendmail" ]; then
        tb__kill "$(tb__procid "$pid")" 10
    fi
}

tb__file_or_dead() { [ -s "$1" ] || ! tb__pid_alive "$2"; }

# Write $SM_DIR/run.sh, run as "unshare $SM_NS run.sh ARGS": sets the host
# name, points /dev/log at the syslog receiver (with -m), execs Sendmail.
tb__sm_write_runner() {
    local run=$SM_DIR/run.sh
    {
        echo '#!/bin/sh'
        echo '# Private Sendmail of the sealmilter test bed (see testbed.sh).'
        printf 'hostname %q || exit 1\n' "$TB_SM_HOSTNAME"
        if [ "$SM_NS" = -um ]; then
            printf 'd=%q\n' "$SM_DIR/dev"
            cat <<'EOF'
ok=1
for n in null zero full random urandom tty; do
    mount --bind "/dev/$n" "$d/$n" 2> /dev/null || ok=0
done
if [ $ok = 0 ] || ! mount --rbind "$d" /dev 2> /dev/null; then
    echo "run.sh: cannot point /dev/log at the test bed: no syslog" >&2
fi
EOF
        fi
        printf 'exec %q -C %q "$@"\n' \
            "$SM_ROOT/usr/libexec/sendmail/sendmail" "$SM_DIR/sendmail.cf"
    } > "$run"
    chmod 755 "$run"
}

# tb_start_sendmail MILTER_PORT: start a private Sendmail relaying to the
# sink (SMART_HOST) with INPUT_MAIL_FILTER(sealmilter, S=inet:PORT@127.0.0.1,
# $SM_MILTER_OPTS).  MILTER_PORT may also be a full socket spec
# ("unix:/path", "inet:PORT@HOST") or "" for no milter at all.
# Sets SM_PORT, SM_DIR, SM_LOG (the -X SMTP traffic log), SM_SYSLOG (what
# Sendmail logs to syslog, when a mount namespace is available), SM_ROOT,
# SM_PID.
tb_start_sendmail() {
    tb__need_init || return 1
    if [ $# -lt 1 ]; then tb__err "usage: tb_start_sendmail MILTER_PORT"; return 1; fi
    local mport=$1 socket='' lib missing
    if [ -z "${SINK_PORT:-}" ]; then
        tb__err "testbed: tb_start_sendmail needs a sink: call tb_start_sink first"
        return 1
    fi
    if [ -n "${SM_DIR:-}" ] && [ -n "$(tb__registered sendmail "$SM_DIR")" ]; then
        tb__err "testbed: a Sendmail is already running in $SM_DIR: tb_stop_sendmail first"
        return 1
    fi
    for lib in m4 unshare setsid; do
        command -v "$lib" > /dev/null || { tb__err "testbed: $lib is missing"; return 1; }
    done
    SM_ROOT=$(tb_sendmail_root) || return 1
    missing=$(ldd "$SM_ROOT/usr/libexec/sendmail/sendmail" 2>&1 | awk '/not found/ { print $1 }')
    if [ -n "$missing" ]; then
        tb__err "testbed: Sendmail needs libraries that are missing: $missing" \
                "(apt-get install -y libwrap0 liblockfile1)"
        return 1
    fi
    case $mport in
        '') socket='' ;;
        *:*) socket=$mport ;;
        *) socket="inet:$mport@$TB_HOST" ;;
    esac
    SM_DIR=$(tb__fresh_dir sendmail)
    SM_PORT=$(tb_free_port)
    SM_LOG=$SM_DIR/traffic.log
    local cfdir=$SM_ROOT/usr/share/sendmail/cf
    mkdir -p "$SM_DIR/queue"
    chmod 700 "$SM_DIR/queue"
    echo "hosts files" > "$SM_DIR/service.switch"
    : > "$SM_DIR/aliases"
    : > "$SM_DIR/helpfile"
    : > "$SM_DIR/statistics"
    : > "$SM_LOG"
    {
        echo "divert(-1)"
        echo "# private Sendmail of the sealmilter test bed"
        echo "divert(0)dnl"
        echo "VERSIONID(\`sealmilter testbed')dnl"
        echo "OSTYPE(\`linux')dnl"
        echo "define(\`confDOMAIN_NAME', \`$TB_SM_HOSTNAME')dnl"
        echo "define(\`QUEUE_DIR', \`$SM_DIR/queue')dnl"
        echo "define(\`STATUS_FILE', \`$SM_DIR/statistics')dnl"
        echo "define(\`confPID_FILE', \`$SM_DIR/sendmail.pid')dnl"
        echo "define(\`confHOST_STATUS_DIRECTORY', \`')dnl"
        echo "define(\`confHELP_FILE', \`$SM_DIR/helpfile')dnl"
        echo "define(\`ALIAS_FILE', \`$SM_DIR/aliases')dnl"
        echo "define(\`confSERVICE_SWITCH_FILE', \`$SM_DIR/service.switch')dnl"
        echo "define(\`confDONT_PROBE_INTERFACES', \`True')dnl"
        echo "define(\`confTO_IDENT', \`0s')dnl"
        echo "define(\`confMILTER_LOG_LEVEL', \`14')dnl"
        echo "define(\`SMART_HOST', \`[$TB_HOST]')dnl"
        echo "define(\`RELAY_MAILER_ARGS', \`TCP \$h $SINK_PORT')dnl"
        echo "define(\`ESMTP_MAILER_ARGS', \`TCP \$h $SINK_PORT')dnl"
        echo "define(\`SMTP_MAILER_ARGS', \`TCP \$h $SINK_PORT')dnl"
        echo "FEATURE(\`nocanonify')dnl"
        echo "FEATURE(\`accept_unresolvable_domains')dnl"
        echo "FEATURE(\`no_default_msa')dnl"
        echo "DAEMON_OPTIONS(\`Port=$SM_PORT, Addr=$TB_HOST, Name=MTA')dnl"
        if [ -n "$socket" ]; then
            echo "INPUT_MAIL_FILTER(\`sealmilter', \`S=$socket, ${SM_MILTER_OPTS:-F=T, T=C:10s;S:30s;R:30s;E:2m}')dnl"
        fi
        if [ -n "${SM_EXTRA_MC:-}" ]; then printf '%s\n' "$SM_EXTRA_MC"; fi
        echo "MAILER(\`smtp')dnl"
    } > "$SM_DIR/sendmail.mc"
    if ! m4 -D_CF_DIR_="$cfdir/" "$cfdir/m4/cf.m4" "$SM_DIR/sendmail.mc" \
            > "$SM_DIR/sendmail.cf" 2> "$SM_DIR/m4.err"; then
        tb__err "testbed: m4 failed on $SM_DIR/sendmail.mc"
        tb__tail "$SM_DIR/m4.err"
        return 1
    fi

    # Sendmail logs only to syslog: where a mount namespace can be had,
    # its /dev/log is a socket of syslogd.py writing $SM_DIR/syslog.log.
    SM_SYSLOG=$SM_DIR/syslog.log
    : > "$SM_SYSLOG"
    SM_NS=-u
    if unshare -m true 2> /dev/null; then
        local dev=$SM_DIR/dev n
        mkdir -p "$dev"
        chmod 755 "$dev"
        for n in null zero full random urandom tty; do : > "$dev/$n"; done
        ln -s /proc/self/fd "$dev/fd"
        ln -s /proc/self/fd/0 "$dev/stdin"
        ln -s /proc/self/fd/1 "$dev/stdout"
        ln -s /proc/self/fd/2 "$dev/stderr"
        ln -s "$SM_DIR/syslog.sock" "$dev/log"
        "$TB_PYTHON" "$TB_LIBDIR/syslogd.py" --socket "$SM_DIR/syslog.sock" \
            --log "$SM_SYSLOG" --pidfile "$SM_DIR/syslogd.pid" \
            < /dev/null >> "$SM_DIR/stderr.log" 2>&1 &
        tb__register pid "$(tb__procid "$!")"
        if tb_wait_for 10 tb__file_or_dead "$SM_DIR/syslogd.pid" "$!" &&
           [ -S "$SM_DIR/syslog.sock" ]; then
            SM_NS=-um
        else
            tb__err "testbed: syslogd.py did not start; Sendmail runs without a log"
        fi
    fi
    tb__sm_write_runner

    # Own session (so tb_cleanup can stop the daemon and its children as one
    # process group; -w: if setsid must fork, $! still lives as long as the
    # daemon), own UTS namespace with a qualified host name (else
    # Sendmail sleeps 60 s at start), own mount namespace for /dev/log.
    # shellcheck disable=SC2086 # SM_NS holds unshare's flags
    setsid -w unshare $SM_NS "$SM_DIR/run.sh" -bD -q10s -X "$SM_LOG" \
        < /dev/null >> "$SM_DIR/stderr.log" 2>&1 &
    SM_PID=$!
    tb__procid "$SM_PID" > "$SM_DIR/daemon.pid"
    tb__register sendmail "$SM_DIR"
    if ! tb_wait_for "$TB_START_TIMEOUT" tb__listening_or_dead "$SM_PORT" "$SM_PID" ||
       ! tb_port_listening "$SM_PORT"; then
        tb__err "testbed: Sendmail did not start listening on $TB_HOST:$SM_PORT"
        tb__tail "$SM_DIR/stderr.log"
        tb__tail "$SM_SYSLOG"
        tb__tail "$SM_LOG"
        return 1
    fi
    # Sendmail's own pid file names the daemon even if setsid had to fork
    # (when the caller runs with job control, set -m).
    local real=''
    if [ -r "$SM_DIR/sendmail.pid" ]; then read -r real < "$SM_DIR/sendmail.pid" || real=''; fi
    if [ -n "$real" ] && [ "$real" != "$SM_PID" ] && tb__pid_alive "$real"; then
        SM_PID=$real
        tb__procid "$SM_PID" > "$SM_DIR/daemon.pid"
    fi
}

# tb_stop_sendmail: stop the private Sendmail (SM_DIR and its logs stay).
tb_stop_sendmail() {
    [ -n "${SM_DIR:-}" ] || return 0
    tb__stop_sendmail_dir "$SM_DIR"
    tb__unregister sendmail "$SM_DIR"
}
