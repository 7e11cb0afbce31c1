/**
 * The exit statuses of `parplan`. CI gates on them, so they are part of the interface:
 * never renumber one.
 *
 *   0  OK        every plan is valid and fits (warnings and notes allowed)
 *   1  FAILED    a plan has errors, or does not fit
 *   2  USAGE     the command line is wrong (unknown command or option, missing or bad
 *                argument, unknown code for `explain`), or a path cannot be used:
 *                PP6001 cannot read, PP6002 no .plan files, PP6003 no such plan
 *   3  INTERNAL  a bug in parplan (PP9001): an InternalError or any unexpected exception
 *
 * When several apply, the highest wins: an unreadable path (2) in a run that also has
 * failing plans exits 2.
 */
export const EXIT = {
  OK: 0,
  FAILED: 1,
  USAGE: 2,
  INTERNAL: 3,
} as const;

export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

/** For `--help`: one line per status. */
export const EXIT_DOCS: readonly [ExitCode, string][] = [
  [EXIT.OK, 'every plan is valid and fits (warnings allowed)'],
  [EXIT.FAILED, 'a plan has errors or does not fit'],
  [EXIT.USAGE, 'usage error, or a path that cannot be used (PP6001, PP6002, PP6003)'],
  [EXIT.INTERNAL, 'internal error, a bug in parplan (PP9001)'],
];
