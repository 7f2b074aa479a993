// The compiled entry points, as the image (node dist/main.js) and the npm bin
// (dist/cli/main.js) run them. test/run.ts builds dist/ (npm run build) before
// any test file starts, so child processes run what ships, and start in a
// fraction of the CPU a tsx start costs.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export const OPERATOR_ENTRY = fileURLToPath(new URL('../../dist/main.js', import.meta.url));
export const CLI_ENTRY = fileURLToPath(new URL('../../dist/cli/main.js', import.meta.url));

/** The node flags of the image's ENTRYPOINT (["node", ...flags, "dist/main.js"]): tests and benchmarks run the operator with them. */
export const OPERATOR_NODE_FLAGS = imageNodeFlags(readFileSync(fileURLToPath(new URL('../../Dockerfile', import.meta.url)), 'utf8'));

/** `node` arguments that start the operator as the image does; its own arguments follow. */
export const OPERATOR_ARGV: readonly string[] = [...OPERATOR_NODE_FLAGS, OPERATOR_ENTRY];

export function imageNodeFlags(dockerfile: string): string[] {
  const line = dockerfile.split('\n').filter((l) => /^\s*ENTRYPOINT\s/i.test(l)).at(-1);
  const argv: unknown = line === undefined ? undefined : JSON.parse(line.replace(/^\s*ENTRYPOINT\s+/i, ''));
  if (!Array.isArray(argv) || argv[0] !== 'node' || argv.at(-1) !== 'dist/main.js') throw new Error(`the Dockerfile's ENTRYPOINT is not ["node", ...flags, "dist/main.js"]: ${line}`);
  return argv.slice(1, -1) as string[];
}
