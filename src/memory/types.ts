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

/** What a node's CPU memory holds for the plan (offload): the GPUs' ZeRO partitions and DeepSpeed's buffer allowance. */
export const HOST_CATEGORIES = ['weights', 'gradients', 'optimizer', 'buffers'] as const;
export type HostCategory = (typeof HOST_CATEGORIES)[number];

export interface HostMemory {
  node: number;
  /** GPUs of the plan on this node. */
  gpus: number;
  /** The cluster's host_memory per node; undefined when the cluster does not give it (the host check is skipped). */
  capacityBytes: number | undefined;
  /** Sum of the breakdown. */
  totalBytes: number;
  breakdown: Record<HostCategory, number>;
  /** One line per category: the formula with this node's numbers. */
  why: Record<HostCategory, string>;
}

export interface MemoryPlan {
  plan: string;
  /** Total parameters of the model, counted as Hugging Face does (unpadded vocab, tied weights once). */
  params: number;
  /** Every device, in rank order. */
  devices: DeviceMemory[];
  /** CPU memory per node, in node order: one per node the plan uses when it offloads (offload), else empty. */
  hosts: HostMemory[];
}
