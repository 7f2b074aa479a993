// Randomness a failing test can repeat: a small PRNG (mulberry32) seeded from
// $EVENT_XMLRPC_TEST_SEED, or from a random seed when that is unset. A test
// prints the seed (t.diagnostic) and puts it in its failure messages; running
// it again with EVENT_XMLRPC_TEST_SEED=<seed> makes the same draws.
import { randomInt } from 'node:crypto';

export const SEED_ENV = 'EVENT_XMLRPC_TEST_SEED';

export interface SeededRandom {
  readonly seed: number;
  /** An integer in [min, max), like crypto.randomInt(min, max). */
  int(min: number, max: number): number;
  /** `message`, followed by how to repeat these draws. */
  note(message: string): string;
}

/** The seed from $EVENT_XMLRPC_TEST_SEED (a 32-bit unsigned integer), or a random one. */
export function testSeed(env: NodeJS.ProcessEnv = process.env): number {
  const text = env[SEED_ENV];
  if (text === undefined || text === '') return randomInt(0, 2 ** 32);
  const seed = Number(text);
  if (!Number.isInteger(seed) || seed < 0 || seed >= 2 ** 32) throw new Error(`${SEED_ENV} must be an integer in 0..${2 ** 32 - 1}, not "${text}"`);
  return seed;
}

export function seededRandom(seed: number = testSeed()): SeededRandom {
  let state = seed >>> 0;
  const next = (): number => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
  return {
    seed,
    int: (min, max) => min + Math.floor(next() * (max - min)),
    note: (message) => `${message}\n(${SEED_ENV}=${seed} repeats this run's random draws)`,
  };
}
