/**
 * Where admitted requests go (docs/serving.md, "Admit"): strict FIFO over the waiting
 * prompts, each into a free slot of the least loaded replica that can still take it
 * within this step's prefill budget. The budget is per replica because replicas prefill
 * at the same time: what stalls their decode is the prompt tokens each one runs. A
 * replica's first prompt of the step is always taken, even one longer than the budget.
 * With one replica this is the plain rule: free slots in order, one shared budget.
 */

export interface Placement {
  /** Free slots, ascending. */
  free: readonly number[];
  /** The replica holding a slot. */
  replicaOf: (slot: number) => number;
  /** Sequences each replica holds now (absent: none). */
  load: ReadonlyMap<number, number>;
  /** Prompt tokens each replica may prefill in one step (after its first prompt). */
  budget: number;
}

/**
 * Slots for the longest prefix of `prompts` (prompt lengths, oldest first) that fits:
 * element i is the slot of prompt i. Stops at the first prompt no replica can take, so
 * later prompts never overtake it.
 */
export function place(prompts: Iterable<number>, p: Placement): number[] {
  const free = [...p.free];
  const load = new Map(p.load);
  /** Budget left per replica that already took a prompt this step. */
  const left = new Map<number, number>();
  const out: number[] = [];
  for (const length of prompts) {
    let best: { index: number; replica: number } | undefined;
    free.forEach((slot, index) => {
      const replica = p.replicaOf(slot);
      const room = left.get(replica);
      if (room !== undefined && length > room) return;
      // Ties keep the first: the lowest free slot.
      if (best === undefined || (load.get(replica) ?? 0) < (load.get(best.replica) ?? 0)) best = { index, replica };
    });
    if (best === undefined) break;
    const { index, replica } = best;
    out.push(free[index]!);
    free.splice(index, 1);
    load.set(replica, (load.get(replica) ?? 0) + 1);
    left.set(replica, (left.get(replica) ?? p.budget) - length);
  }
  return out;
}
