import { describe, expect, it } from 'vitest';
import { parseArgs, type OptionSpec } from '../../src/cli/args.js';
import { UsageError } from '../../src/cli/usage.js';

const SPECS: OptionSpec[] = [
  { name: '--format', value: { placeholder: 'F', choices: ['text', 'json'] }, doc: '' },
  { name: '--plan', value: { placeholder: 'NAME' }, doc: '' },
  { name: '--help', aliases: ['-h'], doc: '' },
];

const parse = (argv: string[]) => parseArgs(argv, SPECS, 'check');
const usage = (argv: string[]): UsageError => {
  try {
    parse(argv);
  } catch (e) {
    if (e instanceof UsageError) return e;
    throw e;
  }
  throw new Error('no UsageError');
};

describe('parseArgs', () => {
  it('reads --name value, --name=value, flags, aliases and positionals in any order', () => {
    const r = parse(['a.plan', '--format', 'json', '--plan=p', 'dir/', '-h']);
    expect(r.positionals).toEqual(['a.plan', 'dir/']);
    expect([...r.options]).toEqual([
      ['--format', 'json'],
      ['--plan', 'p'],
      ['--help', true],
    ]);
  });

  it('keeps the last of a repeated option, and treats everything after -- as positional', () => {
    expect(parse(['--format', 'text', '--format=json']).options.get('--format')).toBe('json');
    expect(parse(['--', '--format', '-x.plan']).positionals).toEqual(['--format', '-x.plan']);
    expect(parse(['-']).positionals).toEqual(['-']);
  });

  it('rejects unknown options with a did-you-mean', () => {
    expect(usage(['--fromat=json'])).toMatchObject({ message: "unknown option '--fromat' for 'check'", hint: "did you mean '--format'?" });
    expect(usage(['--zzzzzzzz']).hint).toBeUndefined();
  });

  it('rejects missing and invalid values, and values given to flags', () => {
    expect(usage(['--plan']).message).toBe("option '--plan' needs a value: NAME");
    expect(usage(['--plan', '--format', 'json']).message).toBe("option '--plan' needs a value: NAME");
    expect(usage(['--format=']).hint).toBe('expected one of: text, json');
    expect(usage(['--format', 'josn'])).toMatchObject({
      message: "'josn' is not a valid value for '--format'",
      hint: "did you mean 'json'?",
    });
    expect(usage(['--help=yes']).message).toBe("option '--help' takes no value");
  });
});
