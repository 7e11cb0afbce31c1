/**
 * Zero-bubble paper (Qi et al., ICLR 2024) Table 4: peak memory of Megatron-LM's 1F1B and interleaved 1F1B on uneven
 * pipeline stages (first and last stage one layer short). The interleaved rows need `layout` (uneven virtual stages).
 * Zero-bubble schedules (ZB-1p/ZB-2p) are automatically searched tables the paper does not print: not rows here.
 */
import type { PublishedRow } from '../types.js';

const source =
  "Qi et al., Zero Bubble Pipeline Parallelism, ICLR 2024 (arXiv 2401.10241), Table 4 'Memory (GB)', models from Table 3; paper.pdf in " +
  'sail-sg/zero-bubble-pipeline-parallelism @3a91d0c8. Peak per GPU, the most loaded rank. GB read as GiB: the training log of that ' +
  "repo's Megatron prints max_memory_allocated in MiB (report_memory, megatron/utils.py @3a91d0c8, called from training.py's " +
  'training_log); its zero-bubble scheduler alone uses decimal MB (zb_schedules.py, for its memory limit). Read as 10^9 B the ' +
  'estimates would be 0.98-1.03 of the figures instead of 0.91-0.96';
const note =
  "The runs are Megatron-LM (the paper's §5.1) launched by examples/pretrain_zero_bubble.sh @3a91d0c8: --fp16 without --accumulate-allreduce-grads-in-fp32 (fp16 weights and gradients, fp32 master and Adam states: 16 B/param), no distributed optimizer (data = 1), no --use-flash-attn and dropout on (standard attention keeps the 5as² scores). Table 3 gives no vocabulary: 32000 reproduces the stated parameter counts (6.18B, 14.65B, 28.30B); the repo's sample tokenizer was not read. Interleaved: 'each transformer layer serves as a chunk' with the first and last rank one layer short, so those ranks hold an empty virtual stage (E alone, L alone). Memory is the same for every microbatch count in Table 4; the fewest is used.";

/** One of Table 3's models on Table 4's cluster, with the run's batch and Table 4's two figures (GB). */
interface ZbRun {
  size: string;
  name: string;
  layers: number;
  hidden: number;
  heads: number;
  /** Pipeline stages = GPUs; `nodes` of 8 beyond one node. */
  pipeline: number;
  micro: number;
  microbatches: number;
  publishedGiB: { oneFOneB: number; interleaved: number };
}

const RUNS: ZbRun[] = [
  {
    size: '1.5B',
    name: 'zb_1_5B',
    layers: 22,
    hidden: 2304,
    heads: 24,
    pipeline: 8,
    micro: 6,
    microbatches: 24,
    publishedGiB: { oneFOneB: 30, interleaved: 40 },
  },
  {
    size: '6.2B',
    name: 'zb_6_2B',
    layers: 30,
    hidden: 4096,
    heads: 32,
    pipeline: 8,
    micro: 3,
    microbatches: 24,
    publishedGiB: { oneFOneB: 39, interleaved: 48 },
  },
  {
    size: '14.6B',
    name: 'zb_14_6B',
    layers: 46,
    hidden: 5120,
    heads: 40,
    pipeline: 16,
    micro: 1,
    microbatches: 48,
    publishedGiB: { oneFOneB: 32, interleaved: 39 },
  },
  {
    size: '28.3B',
    name: 'zb_28_3B',
    layers: 62,
    hidden: 6144,
    heads: 48,
    pipeline: 32,
    micro: 1,
    microbatches: 96,
    publishedGiB: { oneFOneB: 43, interleaved: 58 },
  },
];

/** The model and cluster blocks of a run (GPT-2 architecture, ffn 4h, A100-80G nodes of 8). */
function prelude(r: ZbRun): string {
  const gpus = r.pipeline > 8 ? `nodes = ${r.pipeline / 8}  gpus_per_node = 8` : `gpus = ${r.pipeline}`;
  return `model ${r.name} {
  arch = gpt2  layers = ${r.layers}  hidden = ${r.hidden}  heads = ${r.heads}  ffn = ${4 * r.hidden}  vocab = 32000  max_seq = 2048  dtype = fp16
}
cluster a100 {
  gpu = A100_80GB  ${gpus}
}
`;
}

/** The plan block: `schedule` its schedule lines, the rest shared. */
function planBlock(r: ZbRun, name: string, schedule: string): string {
  return `plan ${name} {
  model = ${r.name}  cluster = a100  mode = train  pipeline = ${r.pipeline}
  precision = fp16  grad_dtype = fp16  attention = standard
  ${schedule}
  batch { global = ${r.micro * r.microbatches}  micro = ${r.micro}  seq = 1024 }
}
`;
}

/** 1F1B stages with the first and last one layer short: (layers + 2) / pipeline each in between. */
function shortEnds(r: ZbRun): number[] {
  const middle = (r.layers + 2) / r.pipeline;
  return Array.from({ length: r.pipeline }, (_, i) => (i === 0 || i === r.pipeline - 1 ? middle - 1 : middle));
}

function oneFOneBRow(r: ZbRun): PublishedRow {
  const sizes = shortEnds(r);
  let first = 0;
  const ranges = sizes.map((n) => {
    const range = `${first}..${first + n - 1}`;
    first += n;
    return range;
  });
  return {
    id: `zb-${r.size.toLowerCase()}-1f1b`,
    recipe: `GPT-3-like ${r.size} (${r.layers} layers, h ${r.hidden}), ${r.pipeline} A100-80G, 1F1B, stages ${sizes.join(',')} (first and last one layer short), micro ${r.micro}, ${r.microbatches} microbatches, seq 1024, fp16`,
    source,
    plan: prelude(r) + planBlock(r, 'f1b', `stages = [${ranges.join(', ')}]`),
    publishedGiB: r.publishedGiB.oneFOneB,
    note,
  };
}

function interleavedRow(r: ZbRun): PublishedRow {
  const layout = `E|(t|)*${r.layers}L`;
  return {
    id: `zb-${r.size.toLowerCase()}-1f1b-i`,
    recipe: `GPT-3-like ${r.size}, ${r.pipeline} A100-80G, interleaved 1F1B with one layer per chunk (layout ${layout}: the first and last rank one chunk short), micro ${r.micro}, ${r.microbatches} microbatches, seq 1024, fp16`,
    source,
    plan: prelude(r) + planBlock(r, 'f1bi', `schedule = interleaved  layout = "${layout}"`),
    publishedGiB: r.publishedGiB.interleaved,
    note,
  };
}

export const rows: PublishedRow[] = RUNS.flatMap((r) => [oneFOneBRow(r), interleavedRow(r)]);
