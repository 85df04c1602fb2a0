#!/usr/bin/env python3
"""Turn postfix_defaults.cf ("name = value" lines, as postconf -d prints
them) into the C initializer rows of config_postfix_names.c, sorted by
strcmp() order for bsearch. Values are written as C string literals; '?' is
escaped so that no trigraph can form."""
import sys


def c_string(s):
    out = []
    for ch in s:
        if ch in '\\"':
            out.append('\\' + ch)
        elif ch == '?':
            out.append('\\?')
        elif ' ' <= ch <= '~':
            out.append(ch)
        else:
            out.append('\\%03o' % ord(ch))
    return '"' + ''.join(out) + '"'


def main():
    src, dst = sys.argv[1], sys.argv[2]
    rows = {}
    with open(src, encoding='utf-8') as f:
        for n, line in enumerate(f, 1):
            line = line.rstrip('\n')
            if not line or line.startswith('#'):
                continue
            name, sep, value = line.partition(' = ')
            if not sep:
                if line.endswith(' ='):
                    name, value = line[:-2], ''
                else:
                    sys.exit(f'{src}, line {n}: expected "name = value"')
            if name in rows:
                sys.exit(f'{src}, line {n}: duplicate name {name}')
            rows[name] = value
    with open(dst, 'w', encoding='utf-8') as f:
        f.write('/* Generated from postfix_defaults.cf by gen_postfix_names.py. */\n')
        for name in sorted(rows, key=lambda s: s.encode()):
            f.write(f'    {{{c_string(name)}, {c_string(rows[name])}}},\n')


main()
