/**
 * Issue 13 (front end, linear memory and time): parse + check of valid plan text scales
 * linearly with its size. 4× the input may cost at most FACTOR× the time and the peak
 * memory (linear is 4×; the slack absorbs noise on a shared machine). Measured in fresh
 * processes by bench/frontend.ts, which also reports 1, 10 and 100 MB.
 */
import { describe, expect, it } from 'vitest';
import { measureInChild } from '../../bench/frontend.js';

/** The stated bound on cost growth for 4× the input. */
const FACTOR = 8;

describe('the front end is linear in its input', () => {
  it(`0.25 MB → 1 MB of valid plans: at most ${FACTOR}× the time and peak memory`, () => {
    const small = measureInChild(0.25, 2048);
    const large = measureInChild(1, 2048);
    expect(large.declarations).toBeGreaterThan(3.5 * small.declarations);
    expect(large.plans).toBeGreaterThan(3.5 * small.plans);
    const time = (large.parseMs + large.checkMs) / (small.parseMs + small.checkMs);
    const memory = large.peakMB / Math.max(small.peakMB, 20);
    expect(time, `time ×${time.toFixed(1)}`).toBeLessThan(FACTOR);
    expect(memory, `peak memory ×${memory.toFixed(1)}`).toBeLessThan(FACTOR);
  }, 120_000);
});
