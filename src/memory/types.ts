/** MemoryPlan: the memory model's output, per device. Bytes are integers. */

export const CATEGORIES = ['weights', 'gradients', 'optimizer', 'activations', 'kvCache', 'workspace'] as const;
export type Category = (typeof CATEGORIES)[number];

export type Breakdown = Record<Category, number>;

export interface DeviceMemory {
  rank: number;
  stage: number;
  tensorRank: number;
  /** Context-parallel rank: present only when the plan has context > 1 (every context rank holds the same). */
  contextRank?: number;
  dataRank: number;
  /** Node index of the GPU (rank / gpus_per_node). */
  node: number;
  /** GPU catalog id or the custom GPU's name. */
  gpu: string;
  capacityBytes: number;
  /** floor(capacity × (1 − reserve)). */
  usableBytes: number;
  /** Sum of the breakdown. */
  totalBytes: number;
  breakdown: Breakdown;
  /** Parameters whose weights this device holds (before ZeRO-3 sharding). */
  params: number;
  /** One line per category: the formula with this device's numbers (formatted when first read; read by category). */
  why: Record<Category, string>;
}

export interface MemoryPlan {
  plan: string;
  /** Total parameters of the model, counted as Hugging Face does (unpadded vocab, tied weights once). */
  params: number;
  /** Every device, in rank order. */
  devices: DeviceMemory[];
}
