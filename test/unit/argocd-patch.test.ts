import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { loadYaml } from '@kubernetes/client-node';

const dir = new URL('../../deploy/argocd/', import.meta.url);

test('the argocd-cm patch holds the health scripts of deploy/argocd/ verbatim, under the keys Argo CD reads', () => {
  const patch = loadYaml<{ kind: string; metadata: { name: string }; data: Record<string, string> }>(readFileSync(new URL('argocd-cm-patch.yaml', dir), 'utf8'));
  assert.deepEqual([patch.kind, patch.metadata.name], ['ConfigMap', 'argocd-cm']);
  assert.deepEqual(patch.data, {
    'resource.customizations.health.eventxmlrpc.io_Subscriber': readFileSync(new URL('subscriber-health.lua', dir), 'utf8'),
    'resource.customizations.health.eventxmlrpc.io_EventRaise': readFileSync(new URL('eventraise-health.lua', dir), 'utf8'),
    'resource.customizations.health.eventxmlrpc.io_EventRelay': readFileSync(new URL('eventrelay-health.lua', dir), 'utf8'),
  });
});
