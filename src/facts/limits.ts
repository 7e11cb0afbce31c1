/**
 * The limits that bound what an input can make parplan do: one named constant each,
 * documented once (docs/security.md lists them from here). A plan file, a checkpoint
 * directory, a graph file or an HTTP client that goes past one gets a diagnostic or an
 * error that names the limit, never a hang or unbounded memory.
 */
export const LIMITS = {
  /** Largest `.plan` file read (a root file or an import): plans are a few KiB; 1 MiB is generous. */
  planFileBytes: 1024 * 1024,
  /** Longest chain of imports (a imports b imports c …) from the file being checked. */
  importDepth: 64,
  /** Deepest nesting of blocks and lists: deeper than any real plan, and far from the recursive parser's stack limit. */
  nesting: 64,
  /** Syntax errors reported per file; past them one PP1005 says how many more there are (a binary file is not a page per byte). */
  syntaxErrorsPerFile: 100,
  /** Most files one program (a checked file and everything it imports, transitively) may read. */
  importFiles: 1000,
  /** Most bytes one GPU's memory figures may reach: 8 PiB (2^53), where byte counts stop being exact; no GPU comes near. */
  deviceBytes: 2 ** 53,
  /** Most schedule actions in a compiled training graph (pipeline × virtual × microbatches × 2): twice the Megatron 1T example's 65,536 (a 21 MB graph). */
  graphActions: 131_072,
  /** Most devices in a compiled graph: 20 times the Megatron 1T example's 3,072 (each is a line of about 300 bytes). */
  graphDevices: 65_536,
} as const;

/** `1 MiB`-style text for a byte limit in messages. */
export function limitText(bytes: number): string {
  return bytes % (1024 * 1024) === 0 ? `${bytes / (1024 * 1024)} MiB` : bytes % 1024 === 0 ? `${bytes / 1024} KiB` : `${bytes} bytes`;
}
