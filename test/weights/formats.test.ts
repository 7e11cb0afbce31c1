import { describe, expect, it } from 'vitest';
import {
  bytesPerElement,
  DTYPE_NAMES,
  DTYPES,
  dtypeOfFormat,
  LOADABLE_DTYPES,
  STORED_DTYPES,
  TENSOR_FORMATS,
  tensorFormatOf,
  tensorFormatOfSafetensors,
} from '../../src/facts/dtypes.js';
import { SAFETENSORS_DTYPES } from '../../runtime/weights/safetensors.js';
import { storageBytes } from '../../runtime/wgsl/dtype.js';

describe('one dtype table for the plan, the runtime and the loader', () => {
  it('derives the runtime formats and the loadable safetensors dtypes from the stored dtypes', () => {
    expect(STORED_DTYPES).toEqual(['fp32', 'fp16', 'bf16']);
    expect(TENSOR_FORMATS).toEqual(['f32', 'f16', 'bf16']);
    expect(LOADABLE_DTYPES).toEqual(['F32', 'F16', 'BF16']);
    for (const d of STORED_DTYPES) {
      const f = tensorFormatOf(d)!;
      expect(dtypeOfFormat(f)).toBe(d);
      expect(tensorFormatOfSafetensors(DTYPES[d].safetensors)).toBe(f);
      // The file format's own table agrees on the width.
      expect(SAFETENSORS_DTYPES[DTYPES[d].safetensors]).toBe(DTYPES[d].bits);
    }
  });

  it('has no storage format for the quantized dtypes, nor for names it does not know', () => {
    for (const d of DTYPE_NAMES.filter((x) => !(STORED_DTYPES as readonly string[]).includes(x))) expect(tensorFormatOf(d)).toBeUndefined();
    expect(tensorFormatOf('f32')).toBeUndefined();
    expect(tensorFormatOf('constructor')).toBeUndefined();
    expect(tensorFormatOfSafetensors('F8_E4M3')).toBeUndefined();
    expect(tensorFormatOfSafetensors('I8')).toBeUndefined();
  });

  it('sizes a dtype and its storage format with one function', () => {
    expect([
      bytesPerElement('fp32'),
      bytesPerElement('f32'),
      bytesPerElement('f16'),
      bytesPerElement('bf16'),
      bytesPerElement('int4'),
    ]).toEqual([4, 4, 2, 2, 0.5]);
    expect([storageBytes('f32', 3), storageBytes('f16', 3), storageBytes('bf16', 4)]).toEqual([12, 8, 8]);
  });
});
