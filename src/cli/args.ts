import { parseArgs, type ParseArgsOptionsConfig } from 'node:util';
import { parseDuration } from '../core/duration.js';
import { INT32_MAX, INT32_MIN, type EventParam } from '../core/event-params.js';
import { UsageError } from './errors.js';

/**
 * node:util parseArgs (strict, options and positionals in any order, `--`
 * ends the options), with its errors turned into a UsageError for `usage`.
 */
export function parseCommandArgs<T extends ParseArgsOptionsConfig>(args: string[], options: T, usage: string) {
  try {
    return parseArgs({ args, options, strict: true, allowPositionals: true });
  } catch (err) {
    // Node's messages go on with advice over several sentences and lines: keep the first.
    const first = ((err as Error).message.split('\n')[0] ?? '').replace(/\. .*$/, '');
    throw new UsageError(first, usage);
  }
}

/**
 * Event params as HTTPie writes request items, in the order given:
 * `name=text` a string, `name:=42` an int (signed 32-bit), and the same
 * without a name (`=text`, `:=42`) for an unnamed param.
 */
export function parseParams(words: readonly string[], usage: string): EventParam[] {
  return words.map((word) => {
    const eq = word.indexOf('=');
    if (eq < 0) throw new UsageError(`param "${word}" must be name=text, name:=INT, =text or :=INT`, usage);
    const isInt = eq > 0 && word[eq - 1] === ':';
    const name = word.slice(0, isInt ? eq - 1 : eq);
    const value = word.slice(eq + 1);
    const named = name === '' ? {} : { name };
    if (!isInt) return { ...named, string: value };
    const int = /^-?\d+$/.test(value) ? Number(value) : NaN;
    if (!Number.isInteger(int) || int < INT32_MIN || int > INT32_MAX) {
      throw new UsageError(`param "${word}": "${value}" is not an integer in ${INT32_MIN}..${INT32_MAX}`, usage);
    }
    return { ...named, int };
  });
}

/** Durations as the operator's flags take them: 500ms, 5s, 1.5m. */
export function durationArg(text: string, flag: string, usage: string): number {
  const ms = parseDuration(text) ?? 0;
  if (ms <= 0) throw new UsageError(`${flag} must be a duration above zero like 500ms, 5s or 1m, not "${text}"`, usage);
  return ms;
}
