/** Shared by the export tests: analyze plan text or files, export, and show diagnostics compactly. */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { analyze } from '../../src/analyze.js';
import { checkProgram } from '../../src/check/index.js';
import { cachedHost, loadProgram, nodeHost, type CachedFile } from '../../src/load.js';
import type { CheckedPlan } from '../../src/plan.js';
import type { Diagnostic } from '../../src/diagnostics/diagnostic.js';
import { exportPlan, type Engine, type ExportOptions, type ExportResult } from '../../src/export/index.js';

/** `severity[CODE] line:col: message`. */
export function show(ds: readonly Diagnostic[]): string[] {
  return ds.map((d) => `${d.severity}[${d.code}] ${d.span ? `${d.span.line}:${d.span.column}` : ''}: ${d.message}`);
}

/** Writes `text` to a fresh file and exports its only plan. */
export function exportText(engine: Engine, text: string, opts: ExportOptions = {}): ExportResult & { file: string } {
  const file = join(mkdtempSync(join(tmpdir(), 'parplan-export-')), 'p.plan');
  writeFileSync(file, text);
  const a = analyze([file]);
  const errors = a.diagnostics.filter((d) => d.severity === 'error');
  if (errors.length > 0 || a.results.length !== 1) throw new Error(`test plan does not check:\n${show(a.diagnostics).join('\n')}`);
  return { ...exportPlan(engine, a.results[0]!.plan, opts), file };
}

export const MODELS = `
model llama { arch = llama  layers = 32  hidden = 4096  heads = 32  kv_heads = 8  ffn = 14336  vocab = 128256  max_seq = 8192 }
model small { arch = llama  layers = 32  hidden = 1024  heads = 16  kv_heads = 4  ffn = 2816  vocab = 32000  max_seq = 4096 }
model gpt { arch = gpt2  layers = 12  hidden = 768  heads = 12  vocab = 50257  max_seq = 1024  dtype = fp16 }
cluster node { gpu = H100_SXM_80GB  gpus = 8 }
cluster two { gpu = H100_SXM_80GB  nodes = 2  gpus_per_node = 8 }
`;

/** A training plan on one 8-GPU node; `extra` adds or overrides keys. */
export function trainPlan(extra: string, batch = 'global = 64  micro = 1  seq = 2048'): string {
  return `${MODELS}\nplan t {\n  model = small  cluster = node  mode = train\n  ${extra}\n  batch { ${batch} }\n}\n`;
}

export function servePlan(extra: string, batch = 'max_batch = 16  seq = 4096'): string {
  return `${MODELS}\nplan s {\n  model = llama  cluster = node  mode = serve\n  ${extra}\n  batch { ${batch} }\n}\n`;
}

/** Export fixtures: plans of the newer model kinds (MoE, MLA, windows, rope scaling), one file per model. */
export const FIXTURES = join('test', 'export', 'fixtures'); // relative: the path appears in the exported headers

/**
 * The checked plans of a file, through the checker only (no memory model): exporters read the
 * checked plan, and the fixtures' models need not fit for their exports to be compared.
 */
export function checkedPlans(file: string): CheckedPlan[] {
  const out: Diagnostic[] = [];
  const program = loadProgram(file, cachedHost(nodeHost), new Map<string, CachedFile>(), out);
  if (!program) throw new Error(`${file} does not load:\n${show(out).join('\n')}`);
  const checked = checkProgram(program.files, program.root);
  const errors = [...out, ...checked.diagnostics].filter((d) => d.severity === 'error');
  if (errors.length > 0) throw new Error(`${file} does not check:\n${show(errors).join('\n')}`);
  return checked.plans;
}

/** Writes `text` to a fresh file and exports its only plan, checked without the memory model (as checkedPlans). */
export function exportChecked(engine: Engine, text: string, opts: ExportOptions = {}): ExportResult {
  const file = join(mkdtempSync(join(tmpdir(), 'parplan-export-')), 'p.plan');
  writeFileSync(file, text);
  const plans = checkedPlans(file);
  if (plans.length !== 1) throw new Error(`test plan has ${plans.length} plans`);
  return exportPlan(engine, plans[0]!, opts);
}

export const MOE_MODELS = `
model mixtral { arch = llama  layers = 32  hidden = 4096  heads = 32  kv_heads = 8  ffn = 14336  vocab = 32000  max_seq = 32768
  experts = 8  experts_per_token = 2 }
model dsv3 { arch = llama  layers = 61  hidden = 7168  heads = 128  ffn = 18432  vocab = 129280  max_seq = 163840
  experts = 256  experts_per_token = 8  expert_ffn = 2048  shared_experts = 1  router_bias = true  dense_layers = 3
  kv_lora_rank = 512  q_lora_rank = 1536  qk_nope_head_dim = 128  qk_rope_head_dim = 64  v_head_dim = 128 }
model qwen_moe { arch = llama  layers = 24  hidden = 2048  heads = 16  ffn = 5632  vocab = 151936  max_seq = 8192
  experts = 60  experts_per_token = 4  expert_ffn = 1408  norm_topk = false }
model gemma2 { arch = llama  layers = 42  hidden = 3584  heads = 16  kv_heads = 8  head_dim = 256  ffn = 14336  vocab = 256000  max_seq = 8192
  sliding_window = 4096  sliding_window_pattern = 2 }
cluster node { gpu = H100_SXM_80GB  gpus = 8 }
cluster two { gpu = H100_SXM_80GB  nodes = 2  gpus_per_node = 8 }
`;

/** A plan of MOE_MODELS: `head` holds model, cluster, mode and the mesh. */
export function moePlan(head: string, batch: string): string {
  return `${MOE_MODELS}\nplan p {\n  ${head}\n  batch { ${batch} }\n}\n`;
}
