/**
 * The number formats a plan can name: one source of truth for their sizes, and for how
 * parplan's WebGPU runtime stores them. `format` is the runtime's storage name (the short,
 * WGSL-facing name the kernels use: `f32`, `f16`, `bf16`) and `safetensors` the checkpoint
 * dtype it loads from; a dtype without them is one the runtime does not store (it is planned
 * for a generic engine only).
 */
export const DTYPES = {
  fp32: { bits: 32, format: 'f32', safetensors: 'F32', doc: 'IEEE 754 single precision' },
  fp16: { bits: 16, format: 'f16', safetensors: 'F16', doc: 'IEEE 754 half precision' },
  bf16: { bits: 16, format: 'bf16', safetensors: 'BF16', doc: 'bfloat16 (8-bit exponent, 7-bit mantissa)' },
  fp8: { bits: 8, doc: '8-bit float (E4M3/E5M2); scales are not counted' },
  int8: { bits: 8, doc: '8-bit integer weights; per-channel scales are not counted' },
  int4: { bits: 4, doc: '4-bit integer weights, two per byte; group scales are not counted' },
} as const;

export type Dtype = keyof typeof DTYPES;

/** The floating-point formats training computes in (precision, grad_dtype). */
export const FLOAT_DTYPES = ['fp32', 'fp16', 'bf16'] as const satisfies readonly Dtype[];
export type FloatDtype = (typeof FLOAT_DTYPES)[number];
export const DTYPE_NAMES = Object.keys(DTYPES) as Dtype[];

/** The dtypes the runtime stores (weights, KV cache): those with a storage format. */
export type StoredDtype = { [D in Dtype]: (typeof DTYPES)[D] extends { format: string } ? D : never }[Dtype];
/** The runtime's name of a stored dtype's format: `f32`, `f16` (two per 32-bit word) or `bf16` (likewise). */
export type TensorFormat = (typeof DTYPES)[StoredDtype]['format'];
/** The safetensors dtype names the runtime loads (and converts between). */
export type LoadableDtype = (typeof DTYPES)[StoredDtype]['safetensors'];

const stored = (d: Dtype): d is StoredDtype => 'format' in DTYPES[d];
export const STORED_DTYPES: readonly StoredDtype[] = DTYPE_NAMES.filter(stored);
export const TENSOR_FORMATS: readonly TensorFormat[] = STORED_DTYPES.map((d) => DTYPES[d].format);
export const LOADABLE_DTYPES: readonly LoadableDtype[] = STORED_DTYPES.map((d) => DTYPES[d].safetensors);

/** The dtype a storage format holds (`f16` → `fp16`). */
export function dtypeOfFormat(f: TensorFormat): StoredDtype {
  return STORED_DTYPES.find((d) => DTYPES[d].format === f)!;
}

/** The runtime's storage format of a plan dtype; undefined for fp8/int8/int4, which it does not store. */
export function tensorFormatOf(d: string): TensorFormat | undefined {
  return Object.hasOwn(DTYPES, d) && stored(d as Dtype) ? DTYPES[d as StoredDtype].format : undefined;
}

/** The storage format of a safetensors dtype; undefined for those the loader does not convert. */
export function tensorFormatOfSafetensors(name: string): TensorFormat | undefined {
  const d = STORED_DTYPES.find((x) => DTYPES[x].safetensors === name);
  return d === undefined ? undefined : DTYPES[d].format;
}

export function isTensorFormat(s: string): s is TensorFormat {
  return (TENSOR_FORMATS as readonly string[]).includes(s);
}

/** Bytes needed to store `count` elements of `dtype` (int4 packs two per byte, rounded up). */
export function dtypeBytes(count: number, dtype: Dtype): number {
  return Math.ceil((count * DTYPES[dtype].bits) / 8);
}

/** bits / 8 of every dtype and of every storage format (by its dtype), looked up once: the memory and cost models ask per stage. */
const ELEMENT_BYTES = new Map<string, number>([
  ...DTYPE_NAMES.map((d): [string, number] => [d, DTYPES[d].bits / 8]),
  ...STORED_DTYPES.map((d): [string, number] => [DTYPES[d].format, DTYPES[d].bits / 8]),
]);

/** Bytes per element of a dtype or of a runtime storage format (0.5 for int4). */
export function bytesPerElement(d: Dtype | TensorFormat): number {
  const bytes = ELEMENT_BYTES.get(d);
  if (bytes === undefined) throw new Error(`internal: '${d}' is neither a dtype nor a storage format`);
  return bytes;
}
