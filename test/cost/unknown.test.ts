import { describe, expect, it } from 'vitest';
import { planCost } from '../../src/cost/index.js';
import { memoryPlan } from '../../src/memory/index.js';
import { llama2_7b, servePlan, trainPlan } from '../memory/fixtures.js';
import { customGpu, toy } from './fixtures.js';

describe('unknown rates give null times with a reason, never a division by zero', () => {
  it('a custom GPU without tflops: training times are null; FLOPs and bytes are still counted', () => {
    const plan = trainPlan(toy, { seq: 128, micro: 2, microbatches: 4, gpu: customGpu() });
    const c = planCost(plan, memoryPlan(plan));
    expect(c.known).toBe(false);
    expect(c.reason).toBe("GPU 'mystery' has no throughput: give tflops in its gpu block");
    const t = c.train!;
    for (const v of [
      t.stepSeconds,
      t.computeSeconds,
      t.commSeconds,
      t.bubbleSeconds,
      t.tokensPerSecond,
      t.mfu,
      t.tflopsPerGpu,
      t.slowestStage,
    ]) {
      expect(v).toBeNull();
    }
    expect(t.stages[0]!.flops).toBe(1_401_421_824);
    expect(t.bubbleFraction).toBe(0);
    expect(JSON.stringify(c)).not.toMatch(/NaN|Infinity/);
  });

  it('a custom GPU without tflops or bandwidth: serving times are null, with both reasons', () => {
    const plan = servePlan(toy, { maxBatch: 4, seq: 1024, gpu: customGpu() });
    const c = planCost(plan, memoryPlan(plan));
    expect(c.known).toBe(false);
    expect(c.reason).toBe(
      "GPU 'mystery' has no throughput: give tflops in its gpu block; GPU 'mystery' has no memory bandwidth: give bandwidth in its gpu block",
    );
    expect(c.serve).toMatchObject({
      prefillSeconds: null,
      tpotSeconds: null,
      decodeTokensPerSecond: null,
      batchingGain: null,
      decodeBound: null,
    });
    expect(c.serve!.stages[0]!.decodeBytes).toBeGreaterThan(0);
  });

  it('a custom GPU with tflops and bandwidth on one device is fully known', () => {
    const plan = servePlan(toy, { maxBatch: 4, seq: 1024, gpu: customGpu(165, 1008) });
    const c = planCost(plan, memoryPlan(plan));
    expect(c.known).toBe(true);
    expect(c.serve!.tpotSeconds).toBeGreaterThan(0);
  });

  it('fp32 on a custom GPU has no fp32 throughput; intra-node traffic on one has no link bandwidth', () => {
    const fp32 = trainPlan(toy, { seq: 128, microbatches: 2, precision: 'fp32', gpu: customGpu(165, 1008) });
    expect(planCost(fp32, memoryPlan(fp32)).reason).toBe("GPU 'mystery' has no fp32 throughput (a custom GPU's tflops is 16-bit)");
    const tp = servePlan(toy, { tensor: 2, maxBatch: 4, seq: 1024, gpu: customGpu(165, 1008) });
    const c = planCost(tp, memoryPlan(tp));
    expect(c.reason).toBe("GPU 'mystery' has no GPU-to-GPU link bandwidth: give link in its gpu block");
    expect(c.serve!.tpotSeconds).toBeNull();
  });

  it('network = 0 makes inter-node traffic unknown, and only that', () => {
    const plan = trainPlan(llama2_7b, { tensor: 4, pipeline: 2, data: 2, microbatches: 4, gpusPerNode: 8 });
    const cut = { ...plan, cluster: { ...plan.cluster, networkGBs: 0 } };
    const c = planCost(cut, memoryPlan(cut));
    expect(c.reason).toBe("cluster 'c' has network = 0");
    const data = c.train!.stages[0]!.traffic.find((r) => r.group === 'data')!;
    expect(data.seconds).toBeNull();
    expect(c.train!.stages[0]!.traffic.find((r) => r.group === 'tensor')!.seconds).toBeGreaterThan(0);
    const single = trainPlan(llama2_7b, { tensor: 8, microbatches: 4 });
    const alone = { ...single, cluster: { ...single.cluster, networkGBs: 0 } };
    expect(planCost(alone, memoryPlan(alone)).known).toBe(true);
  });
});
