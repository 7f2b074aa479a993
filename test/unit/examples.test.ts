// deploy/examples/ is laid out for the commands README gives:
// `kubectl apply -f deploy/examples/` (objects with a name) and
// `kubectl create -f deploy/examples/raises/` (raises, with generateName).
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { loadAllYaml, type KubernetesObject } from '@kubernetes/client-node';

const EXAMPLES = fileURLToPath(new URL('../../deploy/examples/', import.meta.url));

function objectsIn(dir: string): Array<[file: string, obj: KubernetesObject]> {
  return readdirSync(dir)
    .filter((f) => f.endsWith('.yaml'))
    .flatMap((f) => (loadAllYaml(readFileSync(path.join(dir, f), 'utf8')) as KubernetesObject[]).filter(Boolean).map((o) => [f, o] as [string, KubernetesObject]));
}

describe('deploy/examples', () => {
  it('at the top: only objects kubectl apply can apply (each has a name), no raise', () => {
    const objects = objectsIn(EXAMPLES);
    assert.deepEqual(objects.map(([, o]) => o.kind).sort(), ['Namespace', 'Subscriber', 'Subscriber']);
    for (const [file, obj] of objects) assert.ok(obj.metadata?.name && !obj.metadata.generateName, `${file}: ${obj.kind} needs a name`);
  });

  it('in raises/: EventRaises with generateName, for kubectl create', () => {
    const objects = objectsIn(path.join(EXAMPLES, 'raises'));
    assert.ok(objects.length > 0);
    for (const [file, obj] of objects) {
      assert.equal(obj.kind, 'EventRaise', file);
      assert.ok(obj.metadata?.generateName && !obj.metadata.name, `${file}: a raise is a new event each time: generateName, no name`);
    }
  });
});
