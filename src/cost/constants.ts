/**
 * Every assumed constant of the cost model, in one place (docs/cost.md, "Constants", says
 * where each comes from). The catalog's figures are datasheet peaks; these factors turn
 * them into what real kernels and collectives reach.
 */

/** Fractions of a peak rate that the cost model assumes is reached. */
export interface Efficiency {
  /**
   * Of peak tensor throughput, for matmul-heavy work: 0.5. Megatron-LM reaches 44–52% of
   * peak on A100s (Narayanan et al. 2021, Table 1: 140–163 TFLOP/s of 312); Korthikanti et
   * al. 2022 report 41–56% MFU; PaLM 46%.
   */
  compute: number;
  /** Of peak memory bandwidth, for weight and KV-cache reads in decode: 0.8 (STREAM-like kernels reach 75–90%). */
  memory: number;
  /** Of peak link and network bandwidth, for collectives and sends: 0.8 (NCCL's bus bandwidth reaches ~80% of NVLink and InfiniBand peaks). */
  link: number;
}

export const EFFICIENCY: Readonly<Efficiency> = Object.freeze({ compute: 0.5, memory: 0.8, link: 0.8 });

/**
 * Fixed time per collective or send (the α of the α–β model), seconds. Order of magnitude of
 * nccl-tests' small-message latency: ~10 µs within a node, ~20 µs across nodes. It matters
 * only for decode, whose messages are small.
 */
export const LATENCY_S: Readonly<{ intraNode: number; network: number }> = Object.freeze({ intraNode: 10e-6, network: 20e-6 });

/**
 * Average context of a decoding sequence, as a fraction of `batch.seq`: 0.5. A batch holds
 * requests at every point of their generation, from a short prompt to `seq` tokens.
 */
export const AVERAGE_CONTEXT_FRACTION = 0.5;
