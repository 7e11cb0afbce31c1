/**
 * `torchrun` per node, for torchtitan and Megatron-LM. Up to MAX_LISTED_NODES nodes get one
 * command each; larger clusters get one command with the node rank read from NODE_RANK.
 */
import type { Placement } from './cluster.js';
import type { TorchrunFlag } from './options/torchrun.js';
import { command, comment, required, type Arg } from './shell.js';

export const MAX_LISTED_NODES = 16;
const RDZV_PORT = 29500;

/** `entry` is the program and its arguments, already shell words. */
export function torchrunPerNode(id: string, at: Placement, entry: string): string {
  const endpoint =
    at.nodes === 1 ? `localhost:${RDZV_PORT}` : `${required('MASTER_ADDR', "set MASTER_ADDR to node 0's address")}:${RDZV_PORT}`;
  const args = (rank: string): Arg<TorchrunFlag>[] => [
    ['--nnodes', String(at.nodes)],
    ['--nproc-per-node', String(at.perNode)],
    ['--node-rank', rank],
    ['--rdzv-backend', 'c10d'],
    ['--rdzv-endpoint', endpoint],
    ['--rdzv-id', id],
  ];
  if (at.nodes > MAX_LISTED_NODES) {
    return [
      comment(`run on each of the ${at.nodes} nodes, with NODE_RANK = 0 … ${at.nodes - 1}`),
      command('torchrun', args(required('NODE_RANK', "set NODE_RANK to this node's index")), ` \\\n  ${entry}`),
    ].join('\n');
  }
  const out: string[] = [];
  for (let n = 0; n < at.nodes; n++) {
    out.push(comment(at.nodes === 1 ? 'the only node' : `node ${n} of ${at.nodes}: run on that node`));
    out.push(command('torchrun', args(String(n)), ` \\\n  ${entry}`));
  }
  return out.join('\n');
}
