#!/usr/bin/env python3
"""torchtitan's job-config fields at one tag, as JSON: `section.field` -> type and Literal choices.

Reads the source (never imports or runs it) from a local git directory, e.g. the one the
`fetch` tool gives (/work/.mirror/pytorch+torchtitan/repo):

    python3 scripts/extract-torchtitan-options.py GITDIR v0.2.2 > src/export/options/torchtitan.v0.2.2.json

JobConfig (torchtitan/config/job_config.py) holds one dataclass per TOML section; each of its
annotated fields is a key of that section, which ConfigManager also takes on the command line
as --section.field. Unknown keys are refused ("Invalid field names", ConfigManager._dict_to_dataclass
in torchtitan/config/manager.py). Literal[...] annotations give the choices. The model names are
the registry's _supported_models (torchtitan/models/__init__.py), and each model's flavors the
keys of its `<model>_args` dict.
"""
import ast
import json
import subprocess
import sys

GIT, TAG = sys.argv[1], sys.argv[2]


def git(*args):
    return subprocess.run(['git', '-C', GIT, *args], check=True, capture_output=True, text=True).stdout


COMMIT = git('rev-parse', f'{TAG}^{{commit}}').strip()
PATH = 'torchtitan/config/job_config.py'
tree = ast.parse(git('show', f'{COMMIT}:{PATH}'))
classes = {n.name: n for n in tree.body if isinstance(n, ast.ClassDef)}


def fields(cls):
    return [s for s in cls.body if isinstance(s, ast.AnnAssign) and isinstance(s.target, ast.Name)]


def spec(ann):
    text = ast.unparse(ann)
    out = {'type': text}
    node = ann
    if isinstance(node, ast.BinOp):  # X | None
        parts = [p for p in (node.left, node.right) if not (isinstance(p, ast.Constant) and p.value is None)]
        if len(parts) == 1:
            node = parts[0]
    if isinstance(node, ast.Subscript) and ast.unparse(node.value) in ('Literal', 'typing.Literal'):
        elts = node.slice.elts if isinstance(node.slice, ast.Tuple) else [node.slice]
        out['choices'] = [e.value for e in elts]
    return out


options = {}


def walk(prefix, cls):
    # A field typed by another dataclass of the file is a nested table (quantize.linear.float8).
    for g in fields(cls):
        inner = classes.get(ast.unparse(g.annotation))
        if inner is not None and fields(inner):
            walk(f'{prefix}.{g.target.id}', inner)
        else:
            options[f'{prefix}.{g.target.id}'] = spec(g.annotation)


for f in fields(classes['JobConfig']):
    walk(f.target.id, classes[ast.unparse(f.annotation)])

models_init = ast.parse(git('show', f'{COMMIT}:torchtitan/models/__init__.py'))
supported = next(
    ast.literal_eval(n.value.args[0])
    for n in ast.walk(models_init)
    if isinstance(n, ast.Assign) and any(isinstance(t, ast.Name) and t.id == '_supported_models' for t in n.targets)
)
flavors = {}
for model in sorted(supported):
    try:
        src = ast.parse(git('show', f'{COMMIT}:torchtitan/models/{model}/__init__.py'))
    except subprocess.CalledProcessError:
        continue
    for n in ast.walk(src):
        target = n.target if isinstance(n, ast.AnnAssign) else (n.targets[0] if isinstance(n, ast.Assign) else None)
        if isinstance(target, ast.Name) and target.id.endswith('_args') and isinstance(n.value, ast.Dict):
            flavors[model] = [ast.literal_eval(k) for k in n.value.keys]

json.dump(
    {
        'engine': 'torchtitan',
        'repo': 'pytorch/torchtitan',
        'tag': TAG,
        'commit': COMMIT,
        'how': 'scripts/extract-torchtitan-options.py: JobConfig sections and their dataclass fields in torchtitan/config/job_config.py, the model registry and flavors, read with ast',
        'options': dict(sorted(options.items())),
        'models': sorted(supported),
        'flavors': flavors,
    },
    sys.stdout,
    indent=1,
)
sys.stdout.write('\n')
