/** A `model` declaration → ModelSpec: architecture presets, defaults, head arithmetic. */
import type { Declaration } from '../ast.js';
import { diag, hasErrors, type Diagnostic } from '../diagnostics/diagnostic.js';
import type { Dtype } from '../facts/dtypes.js';
import type { Arch } from '../facts/keys.js';
import { buildModel, defaultFfn, type Activation, type Norm, type Positions } from '../model.js';
import type { ModelSpec } from '../plan.js';
import { readBlock } from './values.js';

export function checkModel(decl: Declaration, out: Diagnostic[]): ModelSpec | undefined {
  const where = `model '${decl.name}'`;
  const before = out.length;
  const f = readBlock(decl.body, 'model', { where, anchor: decl.nameSpan, out });
  const arch = f.value<Arch>('arch');
  const layers = f.value<number>('layers');
  const hidden = f.value<number>('hidden');
  const heads = f.value<number>('heads');
  const vocab = f.value<number>('vocab');
  const maxSeq = f.value<number>('max_seq');
  if (
    arch === undefined ||
    layers === undefined ||
    hidden === undefined ||
    heads === undefined ||
    vocab === undefined ||
    maxSeq === undefined
  ) {
    return undefined;
  }
  const kvHeads = f.value<number>('kv_heads') ?? heads;
  let ffn = f.value<number>('ffn');
  if (ffn === undefined) ffn = defaultFfn(arch, hidden);
  if (ffn === undefined) {
    if (!f.sets('ffn')) {
      out.push(
        diag(
          'PP2003',
          decl.nameSpan,
          { where, key: 'ffn' },
          { help: `llama models have no default MLP size; add e.g. \`ffn = ${Math.round((hidden * 8) / 3 / 256) * 256}\`` },
        ),
      );
      return undefined;
    } else return undefined;
  }
  let headDim = f.value<number>('head_dim');
  if (headDim === undefined) {
    if (hidden % heads !== 0) {
      const hs = f.get('heads')!.span;
      out.push(
        diag(
          'PP3021',
          hs,
          { hidden, heads },
          { help: `add \`head_dim = ${Math.floor(hidden / heads)}\`, or use heads that divide ${hidden}` },
        ),
      );
      return undefined;
    }
    headDim = hidden / heads;
  }
  const kvField = f.get('kv_heads');
  if (kvField && (kvHeads > heads || heads % kvHeads !== 0)) {
    const divs = divisors(heads).filter((d) => d <= heads);
    out.push(
      diag('PP3016', kvField.span, { kvHeads, heads }, { help: `kv_heads must divide heads; e.g. ${nearest(divs, kvHeads).join(' or ')}` }),
    );
  }
  if (hasErrors(out.slice(before))) return undefined;
  const model = buildModel(arch, {
    name: decl.name,
    layers,
    hidden,
    heads,
    kvHeads,
    headDim,
    ffn,
    vocab,
    maxSeq,
    tiedEmbeddings: f.valueOrDefault<boolean>('tied_embeddings', arch),
    dtype: f.valueOrDefault<Dtype>('dtype'),
    norm: f.valueOrDefault<Norm>('norm', arch),
    activation: f.valueOrDefault<Activation>('activation', arch),
    bias: f.valueOrDefault<boolean>('bias', arch),
    positions: f.valueOrDefault<Positions>('positions', arch),
  });
  return { ...model, span: decl.nameSpan };
}

export function divisors(n: number): number[] {
  const out: number[] = [];
  for (let d = 1; d <= n; d++) if (n % d === 0) out.push(d);
  return out;
}

/** Up to two values of `xs` closest to `x` (below and above), in ascending order. */
export function nearest(xs: number[], x: number): number[] {
  const below = xs.filter((v) => v < x).pop();
  const above = xs.find((v) => v > x);
  return [below, above].filter((v): v is number => v !== undefined);
}
