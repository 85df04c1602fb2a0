#!/bin/sh
# postconf_diff.sh - mxscreen-conf against Postfix postconf on the same main.cf.
#
# Usage: postconf_diff.sh MXSCREEN_CONF SOURCE_ROOT
# For the seed main.cf (tests/data/seed-main.cf) and a file exercising every
# $-expansion form, compares `postconf -c DIR -n` with `mxscreen-conf -c DIR -n`
# and `postconf -c DIR -x NAME` with `mxscreen-conf -c DIR -x NAME`. Prints
# every difference and exits 1 on any; exits 77 (skipped) without postconf.
#
# Deliberate differences (filtered out below, with the reason):
#  - program_directory, smtpd_sasl_application_name: obsolete Postfix names
#    that Postfix 3.7 no longer knows ("unused parameter", omitted from -n);
#    the seed uses them, so mxscreen accepts them silently and shows them.
#  - -x on a Postfix-only name that Postfix keeps "raw" (expanded per
#    delivery, e.g. mailbox_command = procmail -a "$EXTENSION"): mxscreen does
#    not record which Postfix-only names are raw and expands them; such names
#    mean nothing here, so they are left out of the -x list. Our own raw
#    parameters (smtpd_reject_footer, default_rbl_reply...) are compared.
# mxscreen-conf runs with -M: the seed's maps (hash:/etc/postfix/...) do not
# exist on a test machine; opening maps is tested elsewhere.
set -u
CONF=$(cd "$(dirname "$1")" && pwd)/$(basename "$1") # we cd below
ROOT=$2
command -v postconf >/dev/null 2>&1 || { echo "postconf not installed: skipped"; exit 77; }

T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
fail=0
DELIBERATE='^(program_directory|smtpd_sasl_application_name) ='

compare() { # label, expected file, actual file
    if ! diff -u "$2" "$3" > "$T/diff"; then
        echo "DIFFERENCE in $1:"
        cat "$T/diff"
        fail=1
    fi
}

run_case() { # name, main.cf source, names for -x...
    name=$1; src=$2; shift 2
    d="$T/$name"
    mkdir -p "$d"
    cp "$src" "$d/main.cf"
    : > "$d/master.cf"
    (cd "$d" && postconf -c . -n 2>/dev/null) | grep -Ev "$DELIBERATE" > "$T/pf.n"
    (cd "$d" && "$CONF" -M -c . -n 2>/dev/null) | grep -Ev "$DELIBERATE" > "$T/mx.n"
    compare "$name: -n" "$T/pf.n" "$T/mx.n"
    for p in "$@"; do
        (cd "$d" && postconf -c . -x "$p" 2>/dev/null) > "$T/pf.x"
        (cd "$d" && "$CONF" -M -c . -x "$p" 2>/dev/null) > "$T/mx.x"
        compare "$name: -x $p" "$T/pf.x" "$T/mx.x"
    done
}

run_case seed "$ROOT/tests/data/seed-main.cf" \
    smtpd_banner myorigin mydestination smtpd_helo_restrictions relayhost \
    smtpd_sasl_local_domain bounce_queue_lifetime unknown_client_reject_code \
    smtp_sasl_password_maps mail_name message_size_limit biff

cat > "$T/expand.cf" <<'CF'
# every $-expansion form, checked against postconf -x
compatibility_level = 3.6
a = one
empty =
myhostname = h.$a.example
mydomain = ${a}x$(a)y
myorigin = ${a?set}:${zz?set}:${a:unset}:${zz:unset}
mail_name = ${a?{braced, val}}|${zz:{un, set}}|${a ? { sp } : {no}}|${zz?{y}:{n}}
smtpd_banner = $$lit $undefinedname end $$$a
  continued	with tab
relayhost = ${{$a} == {one} ? {eq} : {ne}} ${{10} < {9}?{lt}:{ge}} ${{abc} < {abd}?{lt}:{ge}}
queue_directory = ${empty?set}:${empty:unset}
mydestination = $myhostname, localhost.$mydomain,
# a comment between continuation lines
   localhost
smtpd_reject_footer = $myhostname is not expanded (raw)
data_directory = /var/lib/x
address_verify_map = proxy:btree:$data_directory/verify_cache
a = last
CF
run_case expand "$T/expand.cf" \
    myhostname mydomain myorigin mail_name smtpd_banner relayhost queue_directory \
    mydestination smtpd_reject_footer address_verify_map

[ $fail = 0 ] && echo "postconf and mxscreen-conf agree"
exit $fail
