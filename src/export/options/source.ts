/**
 * Where an engine's option names were read: the file in the engine's repository, the commit
 * of the stored copy that was read, and the names seen in it. Exporters may emit only these
 * names (their types are derived from the lists), and test/export checks every emitted name
 * against them.
 */
export interface OptionSource<Name extends string = string> {
  repo: string;
  path: string;
  /** The commit of the copy that was read (40 hex digits); absent when the search tool did not report it. */
  commit?: string;
  /** Names seen in that file, exactly as the engine spells them. */
  names: readonly Name[];
  /** Names used but not re-read in this file (cited from elsewhere); each says where from. */
  unverified?: Readonly<Partial<Record<Name, string>>>;
}

/** `repo/path@commit12`, the citation form used in docs/export.md and generated headers. */
export function cite(s: OptionSource): string {
  return `${s.repo}/${s.path}${s.commit === undefined ? ' (commit not reported)' : `@${s.commit.slice(0, 12)}`}`;
}

/** One citation per distinct file, in order (several lists may come from the same file). */
export function citations(sources: readonly OptionSource[]): string[] {
  return [...new Set(sources.map(cite))];
}

/** The sources among `optional` that name one of `used` (so a file cites only what it writes). */
export function usedSources(optional: readonly OptionSource[], used: Iterable<string>): OptionSource[] {
  const names = new Set(used);
  return optional.filter((s) => s.names.some((n) => names.has(n)));
}
