import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseCommandLine, type OperatorConfig } from '../../src/config.js';

const VERSION = '1.2.3';

function config(argv: string[], env: NodeJS.ProcessEnv = {}): OperatorConfig {
  const parsed = parseCommandLine(argv, env, VERSION);
  if (parsed.kind !== 'run') assert.fail(`expected a config for ${JSON.stringify(argv)}, got ${JSON.stringify(parsed)}`);
  return parsed.config;
}

function error(argv: string[], env: NodeJS.ProcessEnv = {}): string {
  const parsed = parseCommandLine(argv, env, VERSION);
  if (parsed.kind !== 'error') assert.fail(`expected an error for ${JSON.stringify(argv)}, got ${JSON.stringify(parsed)}`);
  return parsed.message;
}

describe('parseCommandLine', () => {
  it('has the documented defaults with no flags and no environment', () => {
    assert.deepEqual(config([]), {
      syncMode: false,
      useStructParam: false,
      namespaces: [],
      userAgent: 'event-xmlrpc-operator/1.2.3',
      connectTimeoutMs: 5_000,
      responseTimeoutMs: 15_000,
      perSubscriberConcurrency: 16,
      workers: 4,
      logLevel: 'info',
      httpPort: 8080,
      retry: { limit: 3, backoff: 'exponential', initialDelayMs: 500, maxDelayMs: 30_000, retryOnFaultCodes: [] },
    });
  });

  it('reads every flag', () => {
    assert.deepEqual(
      config([
        '--sync-mode',
        '--use-struct-param',
        '--namespace=voip',
        '--user-agent=OpenSIPS (3.4 (x86_64/linux))',
        '--connect-timeout=250ms',
        '--response-timeout=2m',
        '--max-per-subscriber=3',
        '--workers=9',
        '--log-level=debug',
        '--http-port=9090',
        '--retry-limit=0',
        '--retry-backoff=linear',
        '--retry-initial-delay=2s',
        '--retry-max-delay=1m',
      ]),
      {
        syncMode: true,
        useStructParam: true,
        namespaces: ['voip'],
        userAgent: 'OpenSIPS (3.4 (x86_64/linux))',
        connectTimeoutMs: 250,
        responseTimeoutMs: 120_000,
        perSubscriberConcurrency: 3,
        workers: 9,
        logLevel: 'debug',
        httpPort: 9090,
        retry: { limit: 0, backoff: 'linear', initialDelayMs: 2000, maxDelayMs: 60_000, retryOnFaultCodes: [] },
      },
    );
  });

  it('accepts non-boolean flags with their value as the next argument', () => {
    const c = config(['--namespace', 'voip', '--workers', '2', '--connect-timeout', '1s', '--user-agent', 'ua']);
    assert.deepEqual([c.namespaces, c.workers, c.connectTimeoutMs, c.userAgent], [['voip'], 2, 1000, 'ua']);
  });

  it('reads every environment variable', () => {
    assert.deepEqual(
      config([], {
        EVENT_XMLRPC_SYNC_MODE: 'true',
        EVENT_XMLRPC_USE_STRUCT_PARAM: '1',
        EVENT_XMLRPC_NAMESPACES: 'voip',
        EVENT_XMLRPC_USER_AGENT: 'env-agent',
        EVENT_XMLRPC_CONNECT_TIMEOUT: '2s',
        EVENT_XMLRPC_RESPONSE_TIMEOUT: '1500ms',
        EVENT_XMLRPC_MAX_PER_SUBSCRIBER: '5',
        EVENT_XMLRPC_WORKERS: '7',
        EVENT_XMLRPC_LOG_LEVEL: 'warn',
        EVENT_XMLRPC_HTTP_PORT: '0',
        EVENT_XMLRPC_RETRY_LIMIT: '7',
        EVENT_XMLRPC_RETRY_BACKOFF: 'linear',
        EVENT_XMLRPC_RETRY_INITIAL_DELAY: '100ms',
        EVENT_XMLRPC_RETRY_MAX_DELAY: '5s',
      }),
      {
        syncMode: true,
        useStructParam: true,
        namespaces: ['voip'],
        userAgent: 'env-agent',
        connectTimeoutMs: 2000,
        responseTimeoutMs: 1500,
        perSubscriberConcurrency: 5,
        workers: 7,
        logLevel: 'warn',
        httpPort: 0,
        retry: { limit: 7, backoff: 'linear', initialDelayMs: 100, maxDelayMs: 5000, retryOnFaultCodes: [] },
      },
    );
  });

  it('treats an empty environment variable as unset', () => {
    const c = config([], { EVENT_XMLRPC_WORKERS: '', EVENT_XMLRPC_SYNC_MODE: '', EVENT_XMLRPC_LOG_LEVEL: '' });
    assert.deepEqual([c.workers, c.syncMode, c.logLevel], [4, false, 'info']);
  });

  it('lets a flag win over its environment variable', () => {
    const env = {
      EVENT_XMLRPC_SYNC_MODE: 'true',
      EVENT_XMLRPC_USE_STRUCT_PARAM: 'false',
      EVENT_XMLRPC_NAMESPACES: 'a,b',
      EVENT_XMLRPC_USER_AGENT: 'env-agent',
      EVENT_XMLRPC_CONNECT_TIMEOUT: '2s',
      EVENT_XMLRPC_RESPONSE_TIMEOUT: '3s',
      EVENT_XMLRPC_MAX_PER_SUBSCRIBER: '5',
      EVENT_XMLRPC_WORKERS: '7',
      EVENT_XMLRPC_LOG_LEVEL: 'warn',
      EVENT_XMLRPC_HTTP_PORT: '7070',
    };
    assert.deepEqual(
      config(
        [
          '--sync-mode=false',
          '--use-struct-param',
          '--namespace=c',
          '--user-agent=flag-agent',
          '--connect-timeout=4s',
          '--response-timeout=6s',
          '--max-per-subscriber=8',
          '--workers=1',
          '--log-level=error',
          '--http-port=0',
        ],
        env,
      ),
      {
        syncMode: false,
        useStructParam: true,
        namespaces: ['c'],
        userAgent: 'flag-agent',
        connectTimeoutMs: 4000,
        responseTimeoutMs: 6000,
        perSubscriberConcurrency: 8,
        workers: 1,
        logLevel: 'error',
        httpPort: 0,
        retry: { limit: 3, backoff: 'exponential', initialDelayMs: 500, maxDelayMs: 30_000, retryOnFaultCodes: [] },
      },
    );
    // A flag that is not given leaves its variable in force.
    assert.equal(config(['--workers=1'], env).perSubscriberConcurrency, 5);
  });

  describe('--sync-mode', () => {
    const cases: Array<[string[], boolean]> = [
      [[], false],
      [['--sync-mode'], true],
      [['--sync-mode=true'], true],
      [['--sync-mode=false'], false],
      [['--sync-mode=1'], true],
      [['--sync-mode=0'], false],
    ];
    for (const [argv, expected] of cases) {
      it(`${argv.join(' ') || '(absent)'} -> ${expected}`, () => {
        assert.equal(config(argv).syncMode, expected);
        // --sync-mode=false must override a true environment too.
        if (argv.length) assert.equal(config(argv, { EVENT_XMLRPC_SYNC_MODE: 'true' }).syncMode, expected);
      });
    }

    it('refuses a value other than true/false/1/0, from the flag or the environment', () => {
      assert.match(error(['--sync-mode=yes']), /sync-mode.*true or false.*"yes"/);
      assert.match(error([], { EVENT_XMLRPC_SYNC_MODE: 'on' }), /sync-mode.*"on"/);
      assert.match(error(['--use-struct-param=TRUE']), /use-struct-param/);
    });
  });

  describe('--namespace', () => {
    it('is repeatable', () => {
      assert.deepEqual(config(['--namespace=voip', '--namespace', 'sip']).namespaces, ['voip', 'sip']);
    });

    it('takes a comma-separated list from the environment, ignoring blanks and repeats', () => {
      assert.deepEqual(config([], { EVENT_XMLRPC_NAMESPACES: 'voip, sip,,voip ' }).namespaces, ['voip', 'sip']);
    });

    it('repeated flags replace the environment list entirely', () => {
      assert.deepEqual(config(['--namespace=a', '--namespace=b'], { EVENT_XMLRPC_NAMESPACES: 'c,d' }).namespaces, ['a', 'b']);
    });
  });

  describe('durations', () => {
    const good: Array<[string, number]> = [
      ['500ms', 500],
      ['5s', 5_000],
      ['1m', 60_000],
      ['1.5s', 1_500],
      ['90s', 90_000],
    ];
    for (const [text, ms] of good) {
      it(`${text} is ${ms}ms, as a flag and from the environment`, () => {
        assert.equal(config([`--connect-timeout=${text}`]).connectTimeoutMs, ms);
        assert.equal(config([`--response-timeout=${text}`]).responseTimeoutMs, ms);
        assert.equal(config([], { EVENT_XMLRPC_CONNECT_TIMEOUT: text }).connectTimeoutMs, ms);
        assert.equal(config([], { EVENT_XMLRPC_RESPONSE_TIMEOUT: text }).responseTimeoutMs, ms);
      });
    }

    for (const text of ['5', '5h', 's', '-1s', '1 s', '5S', 'abc', '0s', '0ms', '']) {
      it(`refuses ${JSON.stringify(text)}`, () => {
        assert.match(error([`--connect-timeout=${text}`]), /--connect-timeout/);
        assert.match(error([`--response-timeout=${text}`]), /--response-timeout/);
        if (text !== '') assert.match(error([], { EVENT_XMLRPC_RESPONSE_TIMEOUT: text }), /--response-timeout/);
      });
    }
  });

  describe('counts', () => {
    for (const text of ['0', '-1', '1.5', 'abc', '']) {
      it(`refuses ${JSON.stringify(text)}`, () => {
        assert.match(error([`--workers=${text}`]), /--workers.*whole number/);
        assert.match(error([`--max-per-subscriber=${text}`]), /--max-per-subscriber/);
        if (text !== '') assert.match(error([], { EVENT_XMLRPC_WORKERS: text }), /--workers/);
      });
    }

    it('accepts 1', () => {
      assert.equal(config(['--workers=1']).workers, 1);
      assert.equal(config(['--max-per-subscriber=1']).perSubscriberConcurrency, 1);
    });
  });

  it('refuses an unknown log level', () => {
    assert.match(error(['--log-level=verbose']), /--log-level must be one of error, warn, info, debug/);
    assert.match(error(['--retry-backoff=random']), /--retry-backoff must be exponential or linear, not "random"/);
    assert.match(error(['--retry-limit=-1']), /--retry-limit must be a whole number/);
    assert.match(error(['--http-port=65536']), /--http-port must be a port number 0\.\.65535/);
    assert.match(error([], { EVENT_XMLRPC_LOG_LEVEL: 'trace' }), /--log-level/);
  });

  it('refuses an unknown flag and a positional argument', () => {
    assert.match(error(['--no-such-flag']), /no-such-flag/);
    const parsed = parseCommandLine(['stray'], {}, VERSION);
    assert.equal(parsed.kind, 'error');
  });

  it('refuses a bare boolean flag followed by a separate value', () => {
    // "--sync-mode false" would otherwise silently mean true.
    assert.equal(parseCommandLine(['--sync-mode', 'false'], {}, VERSION).kind, 'error');
  });

  it('--help and --version win over other flags', () => {
    assert.deepEqual(parseCommandLine(['--help'], {}, VERSION), { kind: 'help' });
    assert.deepEqual(parseCommandLine(['--version'], {}, VERSION), { kind: 'version' });
    assert.deepEqual(parseCommandLine(['--workers=0', '--help'], {}, VERSION), { kind: 'help' });
    assert.deepEqual(parseCommandLine(['--version'], { EVENT_XMLRPC_WORKERS: 'x' }, VERSION), { kind: 'version' });
  });
});
