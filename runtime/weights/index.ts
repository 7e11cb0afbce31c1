/** Weights for the WebGPU runtime: safetensors reading, per-device slicing, HF name mapping, random init, loading. See docs/weights.md. */
export {
  openSafetensors,
  SafetensorsError,
  SAFETENSORS_DTYPES,
  LOADABLE_DTYPES,
  MAX_HEADER_BYTES,
  type SafetensorsFile,
  type TensorEntry,
  type SafetensorsDtype,
  type OpenOptions,
} from './safetensors.js';
export { openFile, memoryFile, type RandomAccessFile } from './file.js';
export {
  readRegion,
  sliceBytes,
  shardRange,
  shardIndex,
  shardSlice,
  axisSlice,
  transpose2d,
  DEFAULT_READ,
  type Range,
  type SliceSpec,
  type ReadOptions,
} from './slice.js';
export { convertBytes, toF32, packHalves, unpackHalves, padTo4, f32ToBf16, f32ToF16, bf16ToF32, f16ToF32 } from './convert.js';
export {
  sourceFor,
  graphNamesFor,
  detectNaming,
  canonicalNaming,
  sourceSlice,
  mappedShape,
  type SourceMapping,
  type Naming,
  type HfArch,
} from './names.js';
export { randomRegion, randomValue, initFor } from './random.js';
export { openCheckpoint, CheckpointError, INDEX_FILE, type Checkpoint } from './checkpoint.js';
export {
  loadWeights,
  forEachWeight,
  deviceWeights,
  parseWeightsSource,
  readMapped,
  WeightsError,
  type WeightsSource,
  type DeviceCoords,
  type WeightShard,
  type LoadedWeight,
  type LoadOptions,
} from './load.js';
export { ProgressBar, formatProgress, type LoadProgress } from './progress.js';
export {
  checkCheckpointConfig,
  checkpointDirs,
  compareConfig,
  readConfigModel,
  diffModels,
  CheckpointConfigError,
  CONFIG_FILE,
  type ConfigCheck,
  type ConfigMismatch,
} from './config.js';
