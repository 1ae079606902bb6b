#!/usr/bin/env python3
"""Fails when a C++ function in the tree is longer than a limit.

  tools/function_length.py [--max 80]

Functions are found by brace matching on the source with comments and
literals removed: a brace opened at namespace or class level after a ')'
opens a function (lambdas count toward the function holding them). The
type switches of the BSON validator and the JSON renderer are allowed to be
longer: one case per BSON type reads better than a split.
"""
import argparse, re, subprocess, sys

ALLOWED = {
    ('client/format/bson_validate.cc', 'bool Run()'),
    ('client/reader/json.cc',
     'const char* Element(BsonType type, const char* p, int depth)'),
}

def strip(src):
    # Remove comments, strings and char literals, keep newlines.
    out, i, n = [], 0, len(src)
    while i < n:
        c = src[i]
        if src.startswith('//', i):
            j = src.find('\n', i); j = n if j < 0 else j
            i = j
        elif src.startswith('/*', i):
            j = src.find('*/', i + 2); j = n if j < 0 else j + 2
            out.append('\n' * src.count('\n', i, j)); i = j
        elif src.startswith('R"', i):
            m = re.match(r'R"([^(]*)\(', src[i:])
            end = src.find(')' + m.group(1) + '"', i) + len(m.group(1)) + 2
            out.append('""' + '\n' * src.count('\n', i, end)); i = end
        elif c in '"\'':
            j = i + 1
            while j < n and src[j] != c:
                j += 2 if src[j] == '\\' else 1
            out.append(c + c); i = j + 1
        else:
            out.append(c); i += 1
    return ''.join(out)

def functions(path):
    text = strip(open(path).read())
    stack, start, line, last = [], 0, 1, 0
    for i, c in enumerate(text):
        if c == '\n':
            line += 1
        elif c == '{':
            head = text[last:i]
            top = stack[-1][0] if stack else 'ns'
            if re.search(r'\bnamespace\b', head):
                kind = 'ns'
            elif re.search(r'\b(class|struct|union|enum)\b[^()]*$', head):
                kind = 'class'
            elif top in ('ns', 'class') and ')' in head and not re.search(r'=\s*$', head.strip()):
                kind = 'func'
            else:
                kind = 'block'
            name = ' '.join(head.split())[-70:]
            stack.append((kind, line, name))
            last = i + 1
        elif c == '}':
            if stack:
                kind, begin, name = stack.pop()
                if kind == 'func':
                    yield name, begin, line - begin + 1
            last = i + 1
        elif c == ';':
            last = i + 1

def main():
    parser = argparse.ArgumentParser()
    parser.add_argument('--max', type=int, default=80)
    limit = parser.parse_args().max
    files = subprocess.check_output(
        ['git', 'ls-files', '*.cc', '*.h'], text=True).split()
    long = [(path, begin, length, name) for path in files
            for name, begin, length in functions(path)
            if length > limit and (path, name) not in ALLOWED]
    for path, begin, length, name in long:
        print(f'{path}:{begin}: {length} lines (max {limit}): {name}')
    return 1 if long else 0


if __name__ == '__main__':
    sys.exit(main())
