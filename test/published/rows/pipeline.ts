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

export const rows: PublishedRow[] = [
  {
    id: 'zb-1.5b-1f1b',
    recipe:
      'GPT-3-like 1.5B (22 layers, h 2304), 8 A100-80G, 1F1B, stages 2,3,3,3,3,3,3,2 (first and last one layer short), micro 6, 24 microbatches, seq 1024, fp16',
    source,
    plan: `model zb_1_5B {
  arch = gpt2  layers = 22  hidden = 2304  heads = 24  ffn = 9216  vocab = 32000  max_seq = 2048  dtype = fp16
}
cluster a100 {
  gpu = A100_80GB  gpus = 8
}
plan f1b {
  model = zb_1_5B  cluster = a100  mode = train  pipeline = 8
  precision = fp16  grad_dtype = fp16  attention = standard
  stages = [0..1, 2..4, 5..7, 8..10, 11..13, 14..16, 17..19, 20..21]
  batch { global = 144  micro = 6  seq = 1024 }
}
`,
    publishedGiB: 30,
    note,
  },
  {
    id: 'zb-1.5b-1f1b-i',
    recipe:
      'GPT-3-like 1.5B, 8 A100-80G, interleaved 1F1B with one layer per chunk (layout E|(t|)*22L: the first and last rank one chunk short), micro 6, 24 microbatches, seq 1024, fp16',
    source,
    plan: `model zb_1_5B {
  arch = gpt2  layers = 22  hidden = 2304  heads = 24  ffn = 9216  vocab = 32000  max_seq = 2048  dtype = fp16
}
cluster a100 {
  gpu = A100_80GB  gpus = 8
}
plan f1bi {
  model = zb_1_5B  cluster = a100  mode = train  pipeline = 8
  precision = fp16  grad_dtype = fp16  attention = standard
  schedule = interleaved  layout = "E|(t|)*22L"
  batch { global = 144  micro = 6  seq = 1024 }
}
`,
    publishedGiB: 40,
    note,
  },
  {
    id: 'zb-6.2b-1f1b',
    recipe:
      'GPT-3-like 6.2B (30 layers, h 4096), 8 A100-80G, 1F1B, stages 3,4,4,4,4,4,4,3 (first and last one layer short), micro 3, 24 microbatches, seq 1024, fp16',
    source,
    plan: `model zb_6_2B {
  arch = gpt2  layers = 30  hidden = 4096  heads = 32  ffn = 16384  vocab = 32000  max_seq = 2048  dtype = fp16
}
cluster a100 {
  gpu = A100_80GB  gpus = 8
}
plan f1b {
  model = zb_6_2B  cluster = a100  mode = train  pipeline = 8
  precision = fp16  grad_dtype = fp16  attention = standard
  stages = [0..2, 3..6, 7..10, 11..14, 15..18, 19..22, 23..26, 27..29]
  batch { global = 72  micro = 3  seq = 1024 }
}
`,
    publishedGiB: 39,
    note,
  },
  {
    id: 'zb-6.2b-1f1b-i',
    recipe:
      'GPT-3-like 6.2B, 8 A100-80G, interleaved 1F1B with one layer per chunk (layout E|(t|)*30L: the first and last rank one chunk short), micro 3, 24 microbatches, seq 1024, fp16',
    source,
    plan: `model zb_6_2B {
  arch = gpt2  layers = 30  hidden = 4096  heads = 32  ffn = 16384  vocab = 32000  max_seq = 2048  dtype = fp16
}
cluster a100 {
  gpu = A100_80GB  gpus = 8
}
plan f1bi {
  model = zb_6_2B  cluster = a100  mode = train  pipeline = 8
  precision = fp16  grad_dtype = fp16  attention = standard
  schedule = interleaved  layout = "E|(t|)*30L"
  batch { global = 72  micro = 3  seq = 1024 }
}
`,
    publishedGiB: 48,
    note,
  },
  {
    id: 'zb-14.6b-1f1b',
    recipe:
      'GPT-3-like 14.6B (46 layers, h 5120), 16 A100-80G, 1F1B, stages 2,3,3,3,3,3,3,3,3,3,3,3,3,3,3,2 (first and last one layer short), micro 1, 48 microbatches, seq 1024, fp16',
    source,
    plan: `model zb_14_6B {
  arch = gpt2  layers = 46  hidden = 5120  heads = 40  ffn = 20480  vocab = 32000  max_seq = 2048  dtype = fp16
}
cluster a100 {
  gpu = A100_80GB  nodes = 2  gpus_per_node = 8
}
plan f1b {
  model = zb_14_6B  cluster = a100  mode = train  pipeline = 16
  precision = fp16  grad_dtype = fp16  attention = standard
  stages = [0..1, 2..4, 5..7, 8..10, 11..13, 14..16, 17..19, 20..22, 23..25, 26..28, 29..31, 32..34, 35..37, 38..40, 41..43, 44..45]
  batch { global = 48  micro = 1  seq = 1024 }
}
`,
    publishedGiB: 32,
    note,
  },
  {
    id: 'zb-14.6b-1f1b-i',
    recipe:
      'GPT-3-like 14.6B, 16 A100-80G, interleaved 1F1B with one layer per chunk (layout E|(t|)*46L: the first and last rank one chunk short), micro 1, 48 microbatches, seq 1024, fp16',
    source,
    plan: `model zb_14_6B {
  arch = gpt2  layers = 46  hidden = 5120  heads = 40  ffn = 20480  vocab = 32000  max_seq = 2048  dtype = fp16
}
cluster a100 {
  gpu = A100_80GB  nodes = 2  gpus_per_node = 8
}
plan f1bi {
  model = zb_14_6B  cluster = a100  mode = train  pipeline = 16
  precision = fp16  grad_dtype = fp16  attention = standard
  schedule = interleaved  layout = "E|(t|)*46L"
  batch { global = 48  micro = 1  seq = 1024 }
}
`,
    publishedGiB: 39,
    note,
  },
  {
    id: 'zb-28.3b-1f1b',
    recipe:
      'GPT-3-like 28.3B (62 layers, h 6144), 32 A100-80G, 1F1B, stages 1,2,2,2,2,2,2,2,2,2,2,2,2,2,2,2,2,2,2,2,2,2,2,2,2,2,2,2,2,2,2,1 (first and last one layer short), micro 1, 96 microbatches, seq 1024, fp16',
    source,
    plan: `model zb_28_3B {
  arch = gpt2  layers = 62  hidden = 6144  heads = 48  ffn = 24576  vocab = 32000  max_seq = 2048  dtype = fp16
}
cluster a100 {
  gpu = A100_80GB  nodes = 4  gpus_per_node = 8
}
plan f1b {
  model = zb_28_3B  cluster = a100  mode = train  pipeline = 32
  precision = fp16  grad_dtype = fp16  attention = standard
  stages = [0..0, 1..2, 3..4, 5..6, 7..8, 9..10, 11..12, 13..14, 15..16, 17..18, 19..20, 21..22, 23..24, 25..26, 27..28, 29..30, 31..32, 33..34, 35..36, 37..38, 39..40, 41..42, 43..44, 45..46, 47..48, 49..50, 51..52, 53..54, 55..56, 57..58, 59..60, 61..61]
  batch { global = 96  micro = 1  seq = 1024 }
}
`,
    publishedGiB: 43,
    note,
  },
  {
    id: 'zb-28.3b-1f1b-i',
    recipe:
      'GPT-3-like 28.3B, 32 A100-80G, interleaved 1F1B with one layer per chunk (layout E|(t|)*62L: the first and last rank one chunk short), micro 1, 96 microbatches, seq 1024, fp16',
    source,
    plan: `model zb_28_3B {
  arch = gpt2  layers = 62  hidden = 6144  heads = 48  ffn = 24576  vocab = 32000  max_seq = 2048  dtype = fp16
}
cluster a100 {
  gpu = A100_80GB  nodes = 4  gpus_per_node = 8
}
plan f1bi {
  model = zb_28_3B  cluster = a100  mode = train  pipeline = 32
  precision = fp16  grad_dtype = fp16  attention = standard
  schedule = interleaved  layout = "E|(t|)*62L"
  batch { global = 96  micro = 1  seq = 1024 }
}
`,
    publishedGiB: 58,
    note,
  },
];
