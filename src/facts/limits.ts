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
} as const;

/** `1 MiB`-style text for a byte limit in messages. */
export function limitText(bytes: number): string {
  return bytes % (1024 * 1024) === 0 ? `${bytes / (1024 * 1024)} MiB` : bytes % 1024 === 0 ? `${bytes / 1024} KiB` : `${bytes} bytes`;
}
