// The compiled entry points, as the image (node dist/main.js) and the npm bin
// (dist/cli/main.js) run them. test/run.ts builds dist/ (npm run build) before
// any test file starts, so child processes run what ships, and start in a
// fraction of the CPU a tsx start costs.
import { fileURLToPath } from 'node:url';

export const OPERATOR_ENTRY = fileURLToPath(new URL('../../dist/main.js', import.meta.url));
export const CLI_ENTRY = fileURLToPath(new URL('../../dist/cli/main.js', import.meta.url));
