/**
 * A custom `gpu { }` block's rates: tflops, bandwidth and link (GB/s per direction between
 * GPUs of a node). Each one it lacks leaves the times that need it unknown, with a reason.
 */
import { describe, expect, it } from 'vitest';
import { analyzeText } from '../fuzz/mutate.js';

const PATH = '/custom.plan';

const text = (gpu: string, tensor = 2) => `
model m { arch = llama  layers = 4  hidden = 512  heads = 8  ffn = 1024  vocab = 1000  max_seq = 1024 }
cluster c { ${gpu.startsWith('gpu {') ? gpu : `gpu = ${gpu}`}  gpus = ${tensor} }
plan p {
  model = m  cluster = c  mode = serve  tensor = ${tensor}
  batch { max_batch = 4  seq = 1024 }
}
`;

function check(gpu: string, tensor = 2) {
  const a = analyzeText(text(gpu, tensor), PATH);
  return { codes: a.diagnostics.filter((d) => d.severity === 'error').map((d) => d.code), result: a.results[0] };
}

const custom = (extra: string) => `gpu { name = "X"  memory = 80 GiB  tflops = 989  bandwidth = 3350  ${extra} }`;
const tensorRow = (r: NonNullable<ReturnType<typeof check>['result']>) =>
  r.cost.serve!.stages[0]!.traffic.find((t) => t.group === 'tensor')!;

describe('a custom GPU’s link', () => {
  it('is read from the gpu block; an all-reduce then takes bytes / (link × 0.8) + ops × 10 µs', () => {
    const { codes, result } = check(custom('link = 400'));
    expect(codes).toEqual([]);
    expect(result!.plan.cluster.gpu.link.bandwidthGBs).toBe(400);
    expect(result!.cost.known).toBe(true);
    const row = tensorRow(result!);
    expect(row.bytes).toBeGreaterThan(0);
    // docs/cost.md: link efficiency 0.8 (nccl-tests bus bandwidth), α = 10 µs within a node.
    expect(row.seconds!).toBeCloseTo(row.bytes / (400e9 * 0.8) + row.ops * 10e-6, 15);
  });

  it('costs the same traffic as a catalog GPU with that link (H100 SXM: NVLink 4, 450 GB/s each way)', () => {
    const mine = tensorRow(check(custom('link = 450')).result!);
    const h100 = tensorRow(check('H100_SXM_80GB').result!);
    expect(mine.bytes).toBe(h100.bytes);
    expect(mine.seconds).toBe(h100.seconds);
  });

  it('without it, traffic between GPUs of a node has no time, and the reason says which key to give', () => {
    const { codes, result } = check(custom(''));
    expect(codes).toEqual([]);
    expect(result!.cost.known).toBe(false);
    expect(result!.cost.reason).toBe("GPU 'X' has no GPU-to-GPU link bandwidth: give link in its gpu block");
    expect(tensorRow(result!).seconds).toBeNull();
    expect(tensorRow(result!).bytes).toBeGreaterThan(0);
    expect(result!.cost.serve!.tpotSeconds).toBeNull();
    // One GPU sends nothing: no link needed.
    expect(check(custom(''), 1).result!.cost.known).toBe(true);
  });

  it('tflops, bandwidth and link each name themselves when missing', () => {
    const reason = check('gpu { name = "X"  memory = 80 GiB }').result!.cost.reason!;
    expect(reason.split('; ')).toEqual([
      "GPU 'X' has no throughput: give tflops in its gpu block",
      "GPU 'X' has no memory bandwidth: give bandwidth in its gpu block",
      "GPU 'X' has no GPU-to-GPU link bandwidth: give link in its gpu block",
    ]);
  });

  it('rejects a negative link and a unit', () => {
    expect(check(custom('link = -1')).codes).toContain('PP2008');
    expect(check(custom('link = 400 GB')).codes).toContain('PP2007');
  });
});

describe('new catalog names', () => {
  it('check by name; a family name suggests its members', () => {
    for (const id of ['B200_180GB', 'GB200_186GB', 'H20_96GB', 'H100_NVL_94GB', 'H200_NVL_141GB', 'MI325X', 'MI355X']) {
      const { codes, result } = check(id);
      expect(codes, id).toEqual([]);
      expect(result!.cost.known, id).toBe(true);
    }
    const a = analyzeText(text('B200'), PATH);
    expect(a.diagnostics.map((d) => d.help).join('\n')).toContain("'B200_180GB'");
  });
});
