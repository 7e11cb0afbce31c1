/**
 * `torchrun`, for torchtitan and Megatron-LM. One node: one command. Several nodes: the same
 * script runs on every node, with the node's index in NODE_RANK (checked to be 0 … nodes − 1
 * before anything launches) and node 0's address in MASTER_ADDR: one command, whose only
 * per-node value is --node-rank, so no node's command can run another's.
 */
import type { Placement } from './cluster.js';
import type { TorchrunFlag } from './options/torchrun.js';
import { command, comment, nodeRank, required, word, type Arg } from './shell.js';

const RDZV_PORT = 29500;

/** `entry` is the program and its arguments, already shell words. */
export function torchrunPerNode(id: string, at: Placement, entry: string): string {
  const endpoint =
    at.nodes === 1 ? `localhost:${RDZV_PORT}` : `${required('MASTER_ADDR', 'set MASTER_ADDR to the address of node 0')}:${RDZV_PORT}`;
  const args: Arg<TorchrunFlag>[] = [
    ['--nnodes', String(at.nodes)],
    ['--nproc-per-node', String(at.perNode)],
    ['--node-rank', at.nodes === 1 ? '0' : '"$NODE_RANK"'],
    ['--rdzv-backend', 'c10d'],
    ['--rdzv-endpoint', endpoint],
    ['--rdzv-id', word(id)],
  ];
  const run = command('torchrun', args, ` \\\n  ${entry}`);
  if (at.nodes === 1) return [comment('the only node'), run].join('\n');
  return [
    comment(
      `run this script on each of the ${at.nodes} nodes, with NODE_RANK = 0 … ${at.nodes - 1} and MASTER_ADDR = the address of node 0`,
    ),
    nodeRank(at.nodes) + run,
  ].join('\n');
}
