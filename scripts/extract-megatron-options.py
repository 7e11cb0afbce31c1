#!/usr/bin/env python3
"""Megatron-LM's command-line options at one tag, as JSON: name -> type, choices, action, nargs.

Reads the source (never imports or runs it) from a local git directory, e.g. the one the
`fetch` tool gives (/work/.mirror/NVIDIA+Megatron-LM/repo):

    python3 scripts/extract-megatron-options.py GITDIR core_v0.19.0 > src/export/options/megatron.core_v0.19.0.json

Two kinds of options, as megatron/training/arguments.py builds its parser:
- `add_argument('--name', type=..., choices=[...], action=..., nargs=...)` calls, read from the
  call's keywords (a choices list that is not a literal is recorded as "dynamic");
- `ArgumentGroupFactory(Config, exclude=[...]).build_group(...)`: one option per dataclass field
  of Config and its bases (megatron/training/argument_utils.py): `--` + the field name with `_` as
  `-`; a bool field is a store_true flag when its default is False, else store_false as
  `--no-NAME` / `--disable-NAME`; Literal[...] and Enum types give choices; list[T] takes nargs +;
  a field's metadata `argparse_meta` overrides all of it (arg_names, type, choices, action, nargs).
  Fields with init=False and excluded fields give none.
"""
import ast
import json
import subprocess
import sys

GIT, TAG = sys.argv[1], sys.argv[2]


def git(*args):
    return subprocess.run(['git', '-C', GIT, *args], check=True, capture_output=True, text=True).stdout


COMMIT = git('rev-parse', f'{TAG}^{{commit}}').strip()
FILES = [f for f in git('ls-tree', '-r', '--name-only', COMMIT, 'megatron/').split('\n') if f.endswith('.py')]
_trees = {}


def tree(path):
    if path not in _trees:
        _trees[path] = ast.parse(git('show', f'{COMMIT}:{path}'))
    return _trees[path]


def module_file(module):
    base = module.replace('.', '/')
    for cand in (base + '.py', base + '/__init__.py'):
        if cand in FILES:
            return cand
    return None


# Every class defined under megatron/, by name (a name may be defined more than once).
CLASSES = {}
for f in FILES:
    try:
        t = tree(f)
    except SyntaxError:
        continue
    for node in ast.walk(t):
        if isinstance(node, ast.ClassDef):
            CLASSES.setdefault(node.name, []).append((f, node))


def resolve_class(name, from_file, seen=None):
    """The class `name` as `from_file` sees it: through its imports (and re-exports), else the only definition."""
    seen = seen or set()
    if (name, from_file) in seen:
        return None
    seen.add((name, from_file))
    t = tree(from_file)
    for node in ast.walk(t):
        if isinstance(node, ast.ClassDef) and node.name == name and (from_file, node) in CLASSES.get(name, []):
            return from_file, node
        if isinstance(node, ast.ImportFrom) and any((a.asname or a.name) == name for a in node.names):
            real = next(a.name for a in node.names if (a.asname or a.name) == name)
            mod = node.module or ''
            if node.level:
                pkg = from_file.rsplit('/', node.level)[0].replace('/', '.')
                mod = f'{pkg}.{mod}' if mod else pkg
            target = module_file(mod)
            if target:
                found = resolve_class(real, target, seen)
                if found:
                    return found
    defs = CLASSES.get(name, [])
    return defs[0] if len(defs) == 1 else None


def literal(node):
    try:
        return ast.literal_eval(node)
    except Exception:
        return None


def kw(call, name):
    return next((k.value for k in call.keywords if k.arg == name), None)


def type_name(node):
    if node is None:
        return None
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return ast.unparse(node)
    return ast.unparse(node)


def enum_members(name, from_file):
    found = resolve_class(name, from_file)
    if not found:
        return None
    f, node = found
    bases = [ast.unparse(b) for b in node.bases]
    if not any('Enum' in b for b in bases):
        return None
    return [t.id for s in node.body if isinstance(s, ast.Assign) for t in s.targets if isinstance(t, ast.Name)]


def field_kwargs(ann, from_file):
    """argparse kwargs inferred from a field annotation, as ArgumentGroupFactory._extract_type does."""
    if isinstance(ann, ast.Constant) and isinstance(ann.value, str):
        ann = ast.parse(ann.value, mode='eval').body
    if isinstance(ann, ast.BinOp) and isinstance(ann.op, ast.BitOr):
        # X | None
        parts = [ann.left, ann.right]
        non_none = [p for p in parts if not (isinstance(p, ast.Constant) and p.value is None)]
        if len(non_none) == 1:
            return field_kwargs(non_none[0], from_file)
        return {'type': 'union'}
    if isinstance(ann, ast.Subscript):
        head = ast.unparse(ann.value)
        args = ann.slice.elts if isinstance(ann.slice, ast.Tuple) else [ann.slice]
        if head in ('Optional', 'typing.Optional'):
            return field_kwargs(args[0], from_file)
        if head in ('Union', 'typing.Union'):
            non_none = [a for a in args if not (isinstance(a, ast.Constant) and a.value is None)]
            return field_kwargs(non_none[0], from_file) if len(non_none) == 1 else {'type': 'union'}
        if head in ('list', 'List', 'typing.List'):
            k = field_kwargs(args[0], from_file)
            k['nargs'] = '+'
            return k
        if head in ('Literal', 'typing.Literal'):
            values = [a.value for a in args]
            return {'type': type(values[0]).__name__, 'choices': values}
        return {'type': head}
    name = ast.unparse(ann)
    if name in ('int', 'float', 'str', 'bool'):
        return {'type': name}
    members = enum_members(name, from_file)
    if members is not None:
        return {'type': 'enum', 'choices': members}
    return {'type': name}


def dataclass_fields(name, from_file):
    """(field name, annotation, default node, field() call, file) for a dataclass and its bases, bases first."""
    found = resolve_class(name, from_file)
    if not found:
        raise SystemExit(f'cannot resolve class {name} from {from_file}')
    f, node = found
    out = []
    for base in node.bases:
        b = ast.unparse(base)
        if b not in ('object',) and resolve_class(b, f):
            out += dataclass_fields(b, f)
    for s in node.body:
        if isinstance(s, ast.AnnAssign) and isinstance(s.target, ast.Name):
            if ast.unparse(s.annotation).startswith('ClassVar'):
                continue
            call = s.value if isinstance(s.value, ast.Call) and ast.unparse(s.value.func).endswith('field') else None
            default = kw(call, 'default') if call else s.value
            out = [o for o in out if o[0] != s.target.id]
            out.append((s.target.id, s.annotation, default, call, f))
    return out


def options_from_factory(cls, exclude, from_file):
    opts = {}
    for name, ann, default, call, f in dataclass_fields(cls, from_file):
        if name in exclude:
            continue
        if call is not None and literal(kw(call, 'init')) is False:
            continue
        meta = {}
        if call is not None and kw(call, 'metadata') is not None:
            m = kw(call, 'metadata')
            if isinstance(m, ast.Dict):
                for k, v in zip(m.keys, m.values):
                    if literal(k) == 'argparse_meta' and isinstance(v, ast.Dict):
                        for mk, mv in zip(v.keys, v.values):
                            meta[literal(mk)] = mv
        k = field_kwargs(ann, f)
        names = ['--' + name.replace('_', '-')]
        if k.get('type') == 'bool':
            k.pop('type')
            if literal(default) is False:
                k['action'] = 'store_true'
            else:
                k['action'] = 'store_false'
                names = ['--no-' + name.replace('_', '-'), '--disable-' + name.replace('_', '-')]
        if 'arg_names' in meta:
            names = literal(meta['arg_names'])
        for mk in ('type', 'action', 'nargs'):
            if mk in meta:
                v = literal(meta[mk])
                k[mk] = v if v is not None else type_name(meta[mk])
                if mk == 'action' and k.get('type') is not None and k[mk] in ('store_true', 'store_false'):
                    k.pop('type')
        if 'choices' in meta:
            c = literal(meta['choices'])
            k['choices'] = c if isinstance(c, (list, tuple)) else 'dynamic'
        for n in names:
            opts[n] = {**k, 'from': f'{f}:{cls}.{name}'}
    return opts


def exclude_list(node, func):
    """The exclude= list: a literal, or a name assigned a literal list in the same function."""
    v = literal(node)
    if v is not None:
        return v
    if isinstance(node, ast.Name):
        for s in ast.walk(func):
            if isinstance(s, ast.Assign) and any(isinstance(t, ast.Name) and t.id == node.id for t in s.targets):
                v = literal(s.value)
                if v is not None:
                    return v
    raise SystemExit(f'exclude list not literal: {ast.unparse(node)}')


def main():
    path = 'megatron/training/arguments.py'
    t = tree(path)
    options = {}
    for func in [n for n in t.body if isinstance(n, ast.FunctionDef)]:
        for call in ast.walk(func):
            if not isinstance(call, ast.Call):
                continue
            fn = ast.unparse(call.func)
            if fn.endswith('.add_argument'):
                names = [a.value for a in call.args if isinstance(a, ast.Constant) and isinstance(a.value, str) and a.value.startswith('-')]
                if not names:
                    continue
                entry = {}
                action = literal(kw(call, 'action'))
                if action is not None:
                    entry['action'] = action
                elif kw(call, 'action') is not None:
                    entry['action'] = ast.unparse(kw(call, 'action'))
                t_ = kw(call, 'type')
                if t_ is not None:
                    entry['type'] = type_name(t_)
                elif action is None:
                    entry['type'] = 'str'
                if kw(call, 'choices') is not None:
                    c = literal(kw(call, 'choices'))
                    entry['choices'] = list(c) if isinstance(c, (list, tuple)) else 'dynamic'
                if kw(call, 'nargs') is not None:
                    entry['nargs'] = literal(kw(call, 'nargs'))
                entry['from'] = f'{path}:{func.name}'
                for n in names:
                    options[n] = entry
            elif fn == 'ArgumentGroupFactory' or fn.endswith('.ArgumentGroupFactory'):
                cls = ast.unparse(call.args[0])
                ex = kw(call, 'exclude')
                exclude = exclude_list(ex, func) if ex is not None else []
                for n, e in options_from_factory(cls, exclude, path).items():
                    options[n] = e
    json.dump(
        {
            'engine': 'Megatron-LM',
            'repo': 'NVIDIA/Megatron-LM',
            'tag': TAG,
            'commit': COMMIT,
            'how': 'scripts/extract-megatron-options.py: add_argument calls and ArgumentGroupFactory dataclass fields of megatron/training/arguments.py, read with ast',
            'options': dict(sorted(options.items())),
        },
        sys.stdout,
        indent=1,
        default=str,
    )
    sys.stdout.write('\n')


main()
