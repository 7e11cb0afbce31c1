/** torchrun (torch.distributed.run): the launcher used for torchtitan and Megatron-LM. */
import type { OptionSource } from './source.js';

export const TORCHRUN_ARGS = {
  repo: 'pytorch/pytorch',
  path: 'torch/distributed/run.py',
  commit: '010929fd3f401c3868310396e6a91ed95aa0305b',
  names: ['--nnodes', '--nproc-per-node', '--node-rank', '--rdzv-backend', '--rdzv-endpoint', '--rdzv-id', '-m'],
  unverified: {
    '--nnodes': 'read as args.nnodes / parse_min_max_nnodes in the part of run.py that was read; the add_argument line itself was not',
    '--nproc-per-node': 'read as args.nproc_per_node; torchtitan run_train.sh (pytorch/torchtitan@0168bd518f83) passes --nproc_per_node',
  },
} as const satisfies OptionSource;

export type TorchrunFlag = (typeof TORCHRUN_ARGS.names)[number];
