/**
 * LoRA (`adapter { rank, alpha, targets, dropout }` in a training plan): every target must reach
 * a linear of the model (PEFT raises "Target modules … not found in the base model"), ranks should
 * stay below each adapted module's smaller side, and a quantized model trains only with adapters.
 */
import type { StringValue } from '../ast.js';
import { ALL_LINEAR, DEFAULT_TARGETS, adaptedModules, layerModules, routedExpertModules, targetMatches } from '../adapter.js';
import { diag } from '../diagnostics/diagnostic.js';
import { layerRuns } from '../model.js';
import type { Adapter } from '../plan.js';
import type { PlanContext } from './context.js';
import type { Fields } from './values.js';

/** The adapter of a training plan: undefined without one, false when it has errors (reported). */
export function checkAdapter(ctx: PlanContext, block: Fields | undefined): Adapter | undefined | false {
  const { model } = ctx;
  if (!block) {
    if (ctx.mode === 'train' && model.quant) {
      ctx.out.push(
        diag(
          'PP3060',
          ctx.decl.nameSpan,
          { model: model.name, method: model.quant.method },
          {
            help: 'add `adapter { rank = 16 }` to train LoRA adapters on the frozen quantized base (QLoRA), or remove quantization to train every weight',
            related: [{ span: model.span, message: `model '${model.name}' declared here` }],
          },
        ),
      );
      return false;
    }
    return undefined;
  }
  const written = block.get<{ strings: StringValue[] }>('targets');
  if (block.sets('targets') && !written) return false;
  const strings = written?.value.strings;
  if (strings && strings.length === 0) {
    ctx.out.push(
      diag(
        'PP2008',
        written.span,
        { key: 'targets', value: '[]', range: 'at least one target' },
        { help: `e.g. targets = [${DEFAULT_TARGETS[model.arch].map((t) => `"${t}"`).join(', ')}]` },
      ),
    );
    return false;
  }
  const targets = strings ? strings.map((s) => s.value) : DEFAULT_TARGETS[model.arch];
  const runs = layerRuns(model);
  const names = [...new Set(runs.flatMap((r) => layerModules(model, r.layer).map((m) => m.name)))];
  const routed = [...new Set(runs.flatMap((r) => routedExpertModules(r.layer)))];
  let ok = true;
  for (const [i, t] of targets.entries()) {
    if (names.some((n) => targetMatches(t, n))) continue;
    ok = false;
    const span = strings?.[i]?.span ?? block.get('targets')?.span ?? ctx.fields.get('adapter')!.entry.keySpan;
    const onlyRouted = routed.some((n) => targetMatches(t, n));
    const detail = onlyRouted
      ? ' outside the routed experts: parplan does not adapt routed experts (fused expert weights in transformers, not the nn.Linear modules LoRA targets)'
      : '';
    const short = [...new Set(names.map((n) => n.slice(n.lastIndexOf('.') + 1)))];
    ctx.out.push(
      diag(
        'PP3061',
        span,
        { target: t, model: model.name, detail },
        { help: `targets name the model's linears: ${[...short, ALL_LINEAR].map((n) => `"${n}"`).join(', ')}` },
      ),
    );
  }
  if (!ok) return false;
  const rank = block.valueOrDefault<number>('rank');
  // A rank at or above a module's smaller side adds as many parameters as the module's own update.
  for (const r of runs) {
    const full = adaptedModules(model, r.layer, targets).find((m) => rank >= Math.min(m.in, m.out));
    if (!full) continue;
    ctx.out.push(
      diag(
        'PP3062',
        block.get('rank')?.span ?? ctx.fields.get('adapter')!.entry.keySpan,
        { rank, module: full.name, dims: `(${full.in} → ${full.out})` },
        { help: `a rank below ${Math.min(full.in, full.out)}; LoRA ranks are usually 4 to 256` },
      ),
    );
    break;
  }
  return { rank, alpha: block.valueOrDefault<number>('alpha'), dropout: block.valueOrDefault<number>('dropout'), targets };
}
