/** The GPU catalog table of docs/language.md, generated from the catalog. */
import { groupDigits } from '../format.js';
import { GPUS } from './gpus.js';

export function gpuReference(): string {
  const rows = [
    '| name | GPU | memory (bytes) | source | 16-bit TFLOP/s | fp8 TFLOP/s | memory GB/s | link (each way) |',
    '|---|---|---|---|---|---|---|---|',
  ];
  for (const g of Object.values(GPUS)) {
    rows.push(
      `| \`${g.id}\` | ${g.name} | ${groupDigits(g.memoryBytes)} | ${g.memorySource} | ${g.tflops16} | ${g.tflops8 ?? '–'} | ${g.memoryBandwidthGBs} | ${g.link.kind} ${g.link.bandwidthGBs} GB/s |`,
    );
  }
  return rows.join('\n') + '\n';
}
