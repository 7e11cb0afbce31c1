/** Command-line mistakes: reported as `error: …` with an optional hint, exit status 2. */
export class UsageError extends Error {
  constructor(
    message: string,
    /** e.g. "did you mean '--format'?" */
    readonly hint?: string,
    /** The command whose usage line to show (`check`, `explain`), or none for the top level. */
    readonly command?: string,
  ) {
    super(message);
    this.name = 'UsageError';
  }
}

/** A command-line mistake with a diagnostic code (`parplan explain CODE`): reported as `error[CODE]: …`, exit status 2. */
export class CodedUsageError extends UsageError {
  constructor(
    readonly code: string,
    message: string,
    hint?: string,
    command?: string,
  ) {
    super(message, hint, command);
    this.name = 'CodedUsageError';
  }
}
