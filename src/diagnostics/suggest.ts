/**
 * Did-you-mean, with the TypeScript compiler's bounds (`getSpellingSuggestion`):
 * candidates whose length differs by more than ~1/3 are skipped, and the best
 * candidate must be within a distance of ~0.34 × the name's length. Case-only
 * differences always match.
 */
export function suggest(name: string, candidates: Iterable<string>): string | undefined {
  const maxDistance = Math.floor(name.length * 0.4) + 1;
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const c of candidates) {
    if (c === name) continue;
    if (c.toLowerCase() === name.toLowerCase()) return c;
    if (Math.abs(c.length - name.length) > maxDistance) continue;
    const d = levenshtein(name.toLowerCase(), c.toLowerCase(), bestDistance);
    if (d < bestDistance && d <= maxDistance && d < c.length) {
      best = c;
      bestDistance = d;
    }
  }
  return best;
}

/** "did you mean 'x'?" or undefined; lists the valid values when there are few. */
export function didYouMean(name: string, candidates: readonly string[], listUpTo = 8): string | undefined {
  const s = suggest(name, candidates);
  if (s !== undefined) return `did you mean '${s}'?`;
  if (candidates.length > 0 && candidates.length <= listUpTo) return `expected one of: ${candidates.join(', ')}`;
  return undefined;
}

function levenshtein(a: string, b: string, cap: number): number {
  let prev = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    let rowMin = i;
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      const v = Math.min(prev[j]! + 1, cur[j - 1]! + 1, prev[j - 1]! + cost);
      cur.push(v);
      if (v < rowMin) rowMin = v;
    }
    if (rowMin > cap) return rowMin;
    prev = cur;
  }
  return prev[b.length]!;
}
