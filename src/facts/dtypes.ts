/** The number formats a plan can name: one source of truth for their sizes. */
export const DTYPES = {
  fp32: { bits: 32, doc: 'IEEE 754 single precision' },
  fp16: { bits: 16, doc: 'IEEE 754 half precision' },
  bf16: { bits: 16, doc: 'bfloat16 (8-bit exponent, 7-bit mantissa)' },
  fp8: { bits: 8, doc: '8-bit float (E4M3/E5M2); scales are not counted' },
  int8: { bits: 8, doc: '8-bit integer weights; per-channel scales are not counted' },
  int4: { bits: 4, doc: '4-bit integer weights, two per byte; group scales are not counted' },
} as const;

export type Dtype = keyof typeof DTYPES;
export const DTYPE_NAMES = Object.keys(DTYPES) as Dtype[];

/** Bytes needed to store `count` elements of `dtype` (int4 packs two per byte, rounded up). */
export function dtypeBytes(count: number, dtype: Dtype): number {
  return Math.ceil((count * DTYPES[dtype].bits) / 8);
}

/** Bytes per element (0.5 for int4). */
export function bytesPerElement(dtype: Dtype): number {
  return DTYPES[dtype].bits / 8;
}
