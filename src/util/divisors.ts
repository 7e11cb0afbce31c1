/** Divisors of a whole number: the degrees that split something evenly (checker help, search, fit suggestions). */

/** Divisors of n ≥ 1 in increasing order, in O(√n) (none when n is not a positive whole number). */
export function divisors(n: number): number[] {
  if (!Number.isSafeInteger(n) || n < 1) return [];
  const low: number[] = [];
  const high: number[] = [];
  for (let i = 1; i * i <= n; i++) {
    if (n % i !== 0) continue;
    low.push(i);
    if (i * i !== n) high.unshift(n / i);
  }
  return [...low, ...high];
}
