// A node:test reporter the runner adds beside the spec reporter: it writes,
// as JSON, how long each test file's top-level tests took, so that the next
// run starts the slowest files first (test/run.ts).
import type { TestEvent } from 'node:test/reporters';

export default async function* durations(source: AsyncIterable<TestEvent>): AsyncGenerator<string> {
  const byFile: Record<string, number> = {};
  for await (const event of source) {
    if ((event.type === 'test:pass' || event.type === 'test:fail') && event.data.nesting === 0 && event.data.file) {
      byFile[event.data.file] = (byFile[event.data.file] ?? 0) + event.data.details.duration_ms;
    }
  }
  yield JSON.stringify(byFile);
}
