import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { OPERATOR_NODE_FLAGS, imageNodeFlags } from '../support/entry-points.js';

describe('the node flags the operator runs with', () => {
  it('are read from the last ENTRYPOINT of a Dockerfile', () => {
    const dockerfile = 'FROM node:24 AS build\nENTRYPOINT ["node", "x.js"]\nFROM node:24\nENTRYPOINT ["node", "--a", "--b=1", "dist/main.js"]\n';
    assert.deepEqual(imageNodeFlags(dockerfile), ['--a', '--b=1']);
    assert.deepEqual(imageNodeFlags('FROM node:24\nENTRYPOINT ["node", "dist/main.js"]\n'), []);
    assert.throws(() => imageNodeFlags('FROM node:24\nENTRYPOINT ["npm", "start"]\n'), /ENTRYPOINT is not/);
    assert.throws(() => imageNodeFlags('FROM node:24\n'), /ENTRYPOINT is not/);
  });

  it('of the image are those of npm start', () => {
    const start = (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { scripts: Record<string, string> }).scripts.start!;
    const flags = start.split(/\s+/).filter((word) => word.startsWith('--') && word !== '--import');
    assert.ok(OPERATOR_NODE_FLAGS.length > 0, 'the image runs node with flags');
    assert.deepEqual(flags, OPERATOR_NODE_FLAGS, `npm start is "${start}"`);
  });
});
