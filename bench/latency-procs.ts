/**
 * The two processes of `bench/latency-validate.ts --timeline`, each with its record kept:
 *
 *   server GRAPH TOKENIZER OUT   what `parplan serve --weights random:1 --port 0 --tokenizer …` runs
 *                                (createRuntime, the runtime's server, startHttpServer), with a
 *                                timeline (runtime/serving/timeline.ts) written to OUT on SIGTERM
 *   load URL OUT ARGS…           what `parplan load ARGS… URL` runs (loadRequests, runLoad); the
 *                                whole result, its per-request log and time 0 included, to OUT
 *
 * Separate processes as in the plain bench, so the server's event loop is not the client's.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { loadRequests, parseLoadArgs, type LoadArgs } from '../src/cli/commands/load.js';
import type { Graph } from '../src/graph/types.js';
import { runLoad } from '../src/latency/load-client.js';
import { createRuntime, createTimeline, shutdown, startHttpServer } from '../runtime/index.js';

const [mode, ...rest] = process.argv.slice(2);

if (mode === 'server') {
  const [graphFile, tokenizer, out] = rest as [string, string, string];
  const graph = JSON.parse(readFileSync(graphFile, 'utf8')) as Graph;
  const rt = await createRuntime(graph, { weights: 'random:1', tokenizer, onWarning: () => undefined });
  const timeline = createTimeline();
  const server = rt.serve({ timeline });
  const http = await startHttpServer(server, { port: 0, ...(rt.codec ? { codec: rt.codec } : {}), modelName: graph.model.name, timeline });
  process.once('SIGTERM', () => {
    void (async () => {
      await shutdown(server, http, 2000);
      await rt.close();
      writeFileSync(out, JSON.stringify(timeline));
      process.exit(0);
    })();
  });
  process.stdout.write(`serving on ${http.url} (timeline)\n`);
} else if (mode === 'load') {
  const [url, out, ...args] = rest as [string, string, ...string[]];
  const a = parseLoadArgs([...args, url]) as LoadArgs;
  const r = await runLoad({ url: a.url, requests: loadRequests(a, process.cwd()), maxInFlight: a.maxInFlight });
  if (a.rate !== undefined) r.rate = a.rate;
  writeFileSync(out, JSON.stringify(r));
  const { samples: _s, log: _l, ...figures } = r;
  process.stdout.write(JSON.stringify(figures) + '\n');
} else {
  process.stderr.write('usage: latency-procs.ts server GRAPH TOKENIZER OUT | load URL OUT [parplan load options]\n');
  process.exit(2);
}
