#!/usr/bin/env python3
"""DeepSpeed's config keys and launcher flags at one tag, as JSON.

Reads the source (never imports or runs it) from a local git directory, e.g. the one the
`fetch` tool gives (/work/.mirror/deepspeedai+DeepSpeed/repo):

    python3 scripts/extract-deepspeed-options.py GITDIR v0.19.5 > src/export/options/deepspeed.v0.19.5.json

- `keys`: the top-level config keys, the string constants of deepspeed/runtime/constants.py
  (DeepSpeedConfig reads top-level keys through them, and ignores others);
- `sections`: the config sections DeepSpeed parses with a pydantic model that forbids unknown
  fields (DeepSpeedConfigModel, extra="forbid"): each field and its aliases, and the members of
  an Enum-typed field;
- `optimizers`: DEEPSPEED_OPTIMIZERS in deepspeed/runtime/config.py (optimizer.type, lowered;
  any other name must be a torch.optim class);
- `launcher`: the `deepspeed` command's flags (deepspeed/launcher/runner.py parse_args);
- `script`: the flags deepspeed.add_config_arguments adds to the training script's parser.
"""
import ast
import json
import subprocess
import sys

GIT, TAG = sys.argv[1], sys.argv[2]


def git(*args):
    return subprocess.run(['git', '-C', GIT, *args], check=True, capture_output=True, text=True).stdout


COMMIT = git('rev-parse', f'{TAG}^{{commit}}').strip()


def parse(path):
    return ast.parse(git('show', f'{COMMIT}:{path}'))


def module_strings(tree):
    out = {}
    for n in tree.body:
        if isinstance(n, ast.Assign) and isinstance(n.value, ast.Constant) and isinstance(n.value.value, str):
            for t in n.targets:
                if isinstance(t, ast.Name):
                    out[t.id] = n.value.value
    return out


def add_argument_flags(tree):
    flags = {}
    for call in ast.walk(tree):
        if isinstance(call, ast.Call) and ast.unparse(call.func).endswith('add_argument'):
            names = [a.value for a in call.args if isinstance(a, ast.Constant) and isinstance(a.value, str) and a.value.startswith('-')]
            action = next((ast.literal_eval(k.value) for k in call.keywords if k.arg == 'action' and isinstance(k.value, ast.Constant)), None)
            typ = next((ast.unparse(k.value) for k in call.keywords if k.arg == 'type'), None)
            for n in names:
                flags[n] = {'action': action} if action else {'type': typ or 'str'}
    return flags


def model_fields(path, cls_name):
    tree = parse(path)
    cls = next(n for n in ast.walk(tree) if isinstance(n, ast.ClassDef) and n.name == cls_name)
    enums = {n.name: n for n in ast.walk(tree) if isinstance(n, ast.ClassDef)}
    fields = {}
    for s in cls.body:
        if not (isinstance(s, ast.AnnAssign) and isinstance(s.target, ast.Name)):
            continue
        ann = ast.unparse(s.annotation)
        if ann.startswith('ClassVar'):
            continue
        spec = {'type': ann}
        if isinstance(s.value, ast.Call) and ast.unparse(s.value.func) == 'Field':
            for k in s.value.keywords:
                if k.arg == 'alias' and isinstance(k.value, ast.Constant):
                    spec['alias'] = k.value.value
        enum = enums.get(ann)
        if enum is not None and any('Enum' in ast.unparse(b) for b in enum.bases):
            spec['choices'] = [ast.literal_eval(a.value) for a in enum.body if isinstance(a, ast.Assign)]
        fields[s.target.id] = spec
        if 'alias' in spec:
            fields[spec['alias']] = {**spec, 'alias_of': s.target.id}
    return fields


constants = module_strings(parse('deepspeed/runtime/constants.py'))
config_tree = parse('deepspeed/runtime/config.py')
config_strings = module_strings(config_tree)
optimizers = next(
    [config_strings[e.id] for e in n.value.elts]
    for n in config_tree.body
    if isinstance(n, ast.Assign) and any(isinstance(t, ast.Name) and t.id == 'DEEPSPEED_OPTIMIZERS' for t in n.targets)
)
sections = {
    'zero_optimization': model_fields('deepspeed/runtime/zero/config.py', 'DeepSpeedZeroConfig'),
    'bf16': model_fields('deepspeed/runtime/precision_config.py', 'DeepSpeedBF16Config'),
    'fp16': model_fields('deepspeed/runtime/precision_config.py', 'DeepSpeedFP16Config'),
    'tensor_parallel': model_fields('deepspeed/runtime/tensor_parallel/config.py', 'TPTrainingConfig'),
}
json.dump(
    {
        'engine': 'DeepSpeed',
        'repo': 'deepspeedai/DeepSpeed',
        'tag': TAG,
        'commit': COMMIT,
        'how': 'scripts/extract-deepspeed-options.py: constants.py string constants, the pydantic section models, DEEPSPEED_OPTIMIZERS, and add_argument calls of launcher/runner.py and __init__.py, read with ast',
        'keys': sorted(set(constants.values())),
        'sections': sections,
        'optimizers': optimizers,
        'launcher': add_argument_flags(parse('deepspeed/launcher/runner.py')),
        'script': add_argument_flags(parse('deepspeed/__init__.py')),
    },
    sys.stdout,
    indent=1,
)
sys.stdout.write('\n')
