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
  /** Largest TypeScript file read for embedded plans: the TypeScript parser needs ~100 bytes of memory per byte of code. */
  typescriptFileBytes: 2 * 1024 * 1024,
  /** Columns of a source line shown under a diagnostic: a window around the span, so a 1 MB line is not printed once per error. */
  sourceLineColumns: 160,
  /** Characters of one argument quoted in a message (a name, a string): an identifier of a megabyte is shown by its start. */
  messageArgChars: 200,
  /** Characters of a diagnostic's message, related note or line of help: bounds every output format, whatever a message quotes. */
  messageChars: 1000,
  /** HTTP: a client must send its request line and headers within this (ms), else 408 and the connection is closed (slowloris). */
  httpHeadersTimeoutMs: 10_000,
  /** HTTP: a request body must arrive within this (ms) of its headers, else 408 (a client trickling a byte a second). */
  httpBodyTimeoutMs: 10_000,
  /** HTTP: the whole request, headers and body, must arrive within this (ms): Node's `requestTimeout`, a backstop to the two above. */
  httpRequestTimeoutMs: 20_000,
  /** HTTP: an idle keep-alive connection is closed after this (ms). */
  httpKeepAliveTimeoutMs: 5_000,
  /** HTTP: most connections open at once; more are closed as they are accepted. Well below a default `ulimit -n` of 1024. */
  httpMaxConnections: 512,
  /** HTTP: largest request body (bytes); larger → 413. A generate request is a few KiB. */
  httpBodyBytes: 1024 * 1024,
  /** HTTP: largest request line plus headers (bytes); larger → 431. Node's default. */
  httpHeaderBytes: 16 * 1024,
  /** HTTP: on SIGINT/SIGTERM or shutdown(), how long (ms) running generations may take before they are stopped and every connection is closed. */
  httpDrainMs: 10_000,
  /** Most bytes one GPU's memory figures may reach: 8 PiB (2^53), where byte counts stop being exact; no GPU comes near. */
  deviceBytes: 2 ** 53,
  /** Most schedule actions in a compiled training graph (pipeline × virtual × microbatches × 2): twice the Megatron 1T example's 65,536 (a 21 MB graph). */
  graphActions: 131_072,
  /** Most devices in a compiled graph: 20 times the Megatron 1T example's 3,072 (each is a line of about 300 bytes). */
  graphDevices: 65_536,
  /** Most requests one latency simulation of `parplan check` runs (a `traffic` block's requests or rate × duration beyond it are cut, with a note): a few hundred ms of CI. */
  latencyRequests: 5_000,
  /** Largest `traffic { trace = "…" }` CSV file read: a day of the Azure LLM inference trace is about 1 MiB per 30,000 requests. */
  traceFileBytes: 64 * 1024 * 1024,
  /** Most engine calls (prefills and decode steps) the latency prediction of one plan simulates, its bisection and candidate changes included: bounds long outputs at a huge rate to about a second. */
  latencyEvents: 1_000_000,
  /** Most requests `suggest --mode serve` simulates per candidate under traffic (the winner is then predicted as check predicts it): keeps a search of a few hundred plans to seconds. */
  suggestLatencyRequests: 500,
  /** Largest `gpu { profile = "…" }` JSON file read: a profile of a dense grid is a few KiB. */
  profileFileBytes: 1024 * 1024,
  /** Most engine calls one `parplan profile` makes (warm-up and repeats included): the default grid of a test model makes about 100; lavapipe does ~10 a second. */
  profileCalls: 5_000,
  /** Most requests `parplan load` sends (rate × duration, or a trace's rows): bounds its memory and run time. */
  loadRequests: 100_000,

  // A graph file given to `parplan serve` or `createRuntime` (src/graph/validate.ts), checked before anything is allocated.
  /** Largest graph file `serve` reads: a serving graph is tens of KiB whatever the model's size (its layers share one block). */
  graphFileBytes: 16 * 1024 * 1024,
  /** Largest token file `parplan train --data` reads (whole, into memory): 1 GiB is 500 M GPT-2 tokens, past what WebGPU trains here. */
  tokenFileBytes: 1024 * 1024 * 1024,
  /** Most ranks the runtime opens in one process: each is a WebGPU device, about 10 MB of host memory and 30 ms to open. */
  runtimeDevices: 64,
  /** Largest `batch.maxBatch` (KV slots per replica): the server keeps per-slot state, and real batches are in the hundreds. */
  runtimeMaxBatch: 65536,
  /** Longest `batch.maxWaitMs` (how long a request may wait for a batch to fill): a minute. */
  runtimeMaxWaitMs: 60_000,
  /** Largest `batch.queue` (requests waiting beyond the free slots). */
  runtimeQueue: 1_000_000,
  /** Most bytes a graph may plan on one device, or give one buffer: above any GPU's memory (today's largest hold 288 GB). */
  runtimeDeviceBytes: 1024 ** 4,
  /** Most layers in a graph's model (the largest published models have about 130). */
  graphLayers: 10_000,
  /** Largest `model.maxSeq` (and so `batch.seq`) in a graph: 1 Mi positions. */
  graphSeq: 1 << 20,
  /** Largest vocabulary (real ones are at most a few hundred thousand tokens). */
  graphVocab: 1 << 24,
  /** Largest hidden, ffn or head dimension. */
  graphDim: 1 << 20,
  /** Most entries in a graph's `tensors`. */
  graphTensors: 100_000,
  /** Most steps one serving phase runs with its blocks instanced per layer (a 126-layer model: about 1,300; each is a kernel or a transfer per request). */
  graphSteps: 20_000,

  // A checkpoint directory's tokenizer files (runtime/text/codec.ts), read whole into memory.
  /** Largest `tokenizer.json`: real ones are 2–35 MiB (Llama 3: 9 MiB, Qwen 3: 11 MiB, Gemma 3: 33 MiB). */
  tokenizerFileBytes: 64 * 1024 * 1024,
  /** Largest `tokenizer_config.json`, `chat_template.jinja`, `generation_config.json` or `config.json` read for the tokenizer: real ones are under 1 MiB. */
  tokenizerConfigBytes: 16 * 1024 * 1024,
} as const;

/** `1 MiB`-style text for a byte limit in messages. */
export function limitText(bytes: number): string {
  return bytes % (1024 * 1024) === 0 ? `${bytes / (1024 * 1024)} MiB` : bytes % 1024 === 0 ? `${bytes / 1024} KiB` : `${bytes} bytes`;
}
