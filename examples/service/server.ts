/**
 * A small inference service that embeds a parplan plan: the plan is checked and compiled
 * when the service starts (or a graph compiled beforehand is loaded), the WebGPU runtime
 * runs it, and the runtime's batching server answers HTTP.
 *
 *   node --import tsx examples/service/server.ts          # http://127.0.0.1:8080
 *   PORT=0 WEIGHTS=/models/gpt2 node --import tsx examples/service/server.ts
 *
 * Environment: PLAN (a .plan file, or a .graph.json from `parplan compile`; default
 * plan.plan next to this file), PLAN_NAME (which plan of the file; default its only one),
 * WEIGHTS (`random:SEED`, default random:1, or safetensors files or a directory — a
 * Hugging Face checkpoint whose shapes match the plan's model), PORT (default 8080; 0
 * picks a free port), HOST (default 127.0.0.1).
 *
 * Tests import `start()` and run it in-process; see examples/service/README.md.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { analyze } from '../../src/analyze.js';
import { compilePlan } from '../../src/compile.js';
import { GRAPH_VERSION, type Graph } from '../../src/graph/types.js';
import { createRuntime, shutdown, startHttpServer, type HttpHandle, type Runtime } from '../../runtime/index.js';

export const DEFAULT_PLAN = fileURLToPath(new URL('./plan.plan', import.meta.url));

export interface ServiceOptions {
  /** A `.plan` file (compiled now) or a `.graph.json` (loaded). Default: plan.plan here. */
  plan?: string;
  /** The plan to serve when the file declares several. */
  planName?: string;
  /** `random:SEED` (default `random:1`), or safetensors paths / a checkpoint directory. */
  weights?: string;
  /** Default 8080; 0 picks a free port. */
  port?: number;
  /** Default 127.0.0.1. */
  host?: string;
}

export interface Service {
  /** e.g. http://127.0.0.1:8080 */
  readonly url: string;
  readonly graph: Graph;
  readonly runtime: Runtime;
  readonly http: HttpHandle;
  /** Stop taking requests, let running ones finish, stop listening, release the GPU. */
  close(): Promise<void>;
}

/** Check and compile the plan in `path` (one plan, or the one named `planName`) to its graph. */
export function compileService(path: string, planName?: string): Graph {
  const analysis = analyze([path], planName === undefined ? {} : { plan: planName });
  const errors = analysis.diagnostics.filter((d) => d.severity === 'error');
  if (errors.length > 0) {
    throw new Error(`${path} does not check:\n${errors.map((d) => `  ${d.span ? `${d.span.file}:${d.span.line}:${d.span.column}: ` : ''}error[${d.code}]: ${d.message}`).join('\n')}`);
  }
  if (analysis.results.length !== 1) {
    throw new Error(`${path} declares ${analysis.results.length} plans (${analysis.results.map((r) => r.plan.name).join(', ')}); choose one with PLAN_NAME`);
  }
  const result = analysis.results[0]!;
  if (!result.fits) throw new Error(`plan '${result.plan.name}' does not fit in GPU memory (run: parplan check ${path})`);
  const compiled = compilePlan(result.plan, result.memory);
  const failed = compiled.diagnostics.filter((d) => d.severity === 'error');
  if (failed.length > 0) throw new Error(`plan '${result.plan.name}' does not compile: ${failed.map((d) => d.message).join('; ')}`);
  return compiled.graph;
}

function loadGraph(path: string, planName?: string): Graph {
  if (!path.endsWith('.json')) return compileService(path, planName);
  const graph = JSON.parse(readFileSync(path, 'utf8')) as Graph;
  if (graph.format !== 'parplan-graph' || graph.version !== GRAPH_VERSION) throw new Error(`${path} is not a parplan graph (format parplan-graph, version ${GRAPH_VERSION})`);
  if (graph.plan.mode !== 'serve' || graph.plan.engine !== 'webgpu') {
    throw new Error(`plan '${graph.plan.name}' is not a webgpu serving plan: set mode = serve and engine = webgpu, and recompile`);
  }
  return graph;
}

export async function start(options: ServiceOptions = {}): Promise<Service> {
  const graph = loadGraph(options.plan ?? DEFAULT_PLAN, options.planName);
  // random:1 gives the same weights on every run and any sharding; for a real model,
  // pass a safetensors checkpoint (a file, several, or a Hugging Face model directory).
  const runtime = await createRuntime(graph, { weights: options.weights ?? 'random:1' });
  let http: HttpHandle;
  try {
    http = await startHttpServer(runtime.serve(), { port: options.port ?? 8080, host: options.host ?? '127.0.0.1' });
  } catch (e) {
    await runtime.close();
    throw e;
  }
  let closing: Promise<void> | undefined;
  return {
    url: http.url,
    graph,
    runtime,
    http,
    close: () =>
      (closing ??= (async () => {
        // Running requests get the drain time (10 s); slow or idle clients cannot hold it.
        await shutdown(runtime.serve(), http);
        await runtime.close();
      })()),
  };
}

// `node --import tsx examples/service/server.ts`: start from the environment, stop on SIGINT/SIGTERM.
if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const env = process.env;
  const port = env['PORT'] === undefined ? 8080 : Number(env['PORT']);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    console.error(`PORT=${env['PORT']} is not a port (0 … 65535)`);
    process.exit(2);
  }
  const options: ServiceOptions = { port };
  if (env['PLAN']) options.plan = env['PLAN'];
  if (env['PLAN_NAME']) options.planName = env['PLAN_NAME'];
  if (env['WEIGHTS']) options.weights = env['WEIGHTS'];
  if (env['HOST']) options.host = env['HOST'];
  let service: Service;
  try {
    service = await start(options);
  } catch (e) {
    console.error(`cannot start the service: ${e instanceof Error ? e.message : String(e)}`);
    process.exit(1);
  }
  const { graph, url } = service;
  console.log(`service: plan '${graph.plan.name}' (${graph.model.arch}, ${graph.model.params} params) on ${url}, weights ${options.weights ?? 'random:1'}`);
  console.log(`  curl -s ${url}/v1/generate -d '{"prompt":[1,2,3],"max_new_tokens":8}'`);
  const stop = (signal: NodeJS.Signals) => {
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
    console.log(`${signal}: stopping`);
    service.close().then(
      () => process.exit(0),
      (e: unknown) => {
        console.error(e);
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}
