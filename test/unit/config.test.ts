import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { readFileSync } from 'node:fs';
import { flagList, parseCommandLine, usage, type OperatorConfig } from '../../src/config.js';

const VERSION = '1.2.3';
/** Tests do not depend on the machine they run on having a service-account namespace file. */
const noInClusterNamespace = () => undefined;

function config(argv: string[], env: NodeJS.ProcessEnv = {}): OperatorConfig {
  const parsed = parseCommandLine(argv, env, VERSION, noInClusterNamespace);
  if (parsed.kind !== 'run') assert.fail(`expected a config for ${JSON.stringify(argv)}, got ${JSON.stringify(parsed)}`);
  return parsed.config;
}

function error(argv: string[], env: NodeJS.ProcessEnv = {}): string {
  const parsed = parseCommandLine(argv, env, VERSION, noInClusterNamespace);
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
      maxResponseBytes: 65_536,
      perSubscriberConcurrency: 16,
      maxRaisesInFlight: 128,
      maxRaisesInFlightPerNamespace: 32,
      maxParkedRaisesPerNamespace: 256,
      workers: 4,
      logLevel: 'info',
      httpPort: 8080,
      leaderElect: false,
      leaderElectionNamespace: 'default',
      leaderElectionId: 'event-xmlrpc-operator',
      leaseDurationMs: 15_000,
      renewDeadlineMs: 10_000,
      retryPeriodMs: 2_000,
      shutdownGraceMs: 25_000,
      retry: { limit: 3, backoff: 'exponential', initialDelayMs: 500, maxDelayMs: 30_000, retryOnFaultCodes: [] },
      secretTtlMs: 60_000,
      egressDeny: [],
      egressAllow: [],
      relayPort: 8091,
      relayHost: 'event-xmlrpc-operator-relay.default.svc',
      relayQueueBytes: 33_554_432,
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
        '--max-response-bytes=1024',
        '--max-per-subscriber=3',
        '--max-raises-in-flight=9',
        '--max-raises-in-flight-per-namespace=4',
        '--max-parked-raises-per-namespace=11',
        '--workers=9',
        '--log-level=debug',
        '--http-port=9090',
        '--leader-elect',
        '--leader-election-namespace=ops',
        '--leader-election-id=xmlrpc-lock',
        '--lease-duration=30s',
        '--renew-deadline=20s',
        '--retry-period=4s',
        '--shutdown-grace=1m',
        '--retry-limit=0',
        '--retry-backoff=linear',
        '--retry-initial-delay=2s',
        '--retry-max-delay=1m',
        '--relay-port=9191',
        '--relay-host=relay.voip.example',
        '--relay-queue-bytes=1000',
      ]),
      {
        syncMode: true,
        useStructParam: true,
        namespaces: ['voip'],
        userAgent: 'OpenSIPS (3.4 (x86_64/linux))',
        connectTimeoutMs: 250,
        responseTimeoutMs: 120_000,
        maxResponseBytes: 1024,
        perSubscriberConcurrency: 3,
        maxRaisesInFlight: 9,
        maxRaisesInFlightPerNamespace: 4,
        maxParkedRaisesPerNamespace: 11,
        workers: 9,
        logLevel: 'debug',
        httpPort: 9090,
        leaderElect: true,
        leaderElectionNamespace: 'ops',
        leaderElectionId: 'xmlrpc-lock',
        leaseDurationMs: 30_000,
        renewDeadlineMs: 20_000,
        retryPeriodMs: 4_000,
        shutdownGraceMs: 60_000,
        retry: { limit: 0, backoff: 'linear', initialDelayMs: 2000, maxDelayMs: 60_000, retryOnFaultCodes: [] },
        secretTtlMs: 60_000,
        egressDeny: [],
        egressAllow: [],
        relayPort: 9191,
        relayHost: 'relay.voip.example',
        relayQueueBytes: 1000,
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
        EVENT_XMLRPC_MAX_RESPONSE_BYTES: '2048',
        EVENT_XMLRPC_MAX_PER_SUBSCRIBER: '5',
        EVENT_XMLRPC_MAX_RAISES_IN_FLIGHT: '7',
        EVENT_XMLRPC_MAX_RAISES_IN_FLIGHT_PER_NAMESPACE: '3',
        EVENT_XMLRPC_MAX_PARKED_RAISES_PER_NAMESPACE: '12',
        EVENT_XMLRPC_WORKERS: '7',
        EVENT_XMLRPC_LOG_LEVEL: 'warn',
        EVENT_XMLRPC_HTTP_PORT: '0',
        EVENT_XMLRPC_LEADER_ELECT: 'true',
        EVENT_XMLRPC_LEADER_ELECTION_NAMESPACE: 'env-ns',
        EVENT_XMLRPC_LEADER_ELECTION_ID: 'env-lock',
        EVENT_XMLRPC_LEASE_DURATION: '3s',
        EVENT_XMLRPC_RENEW_DEADLINE: '2s',
        EVENT_XMLRPC_RETRY_PERIOD: '500ms',
        EVENT_XMLRPC_SHUTDOWN_GRACE: '5s',
        EVENT_XMLRPC_RETRY_LIMIT: '7',
        EVENT_XMLRPC_RETRY_BACKOFF: 'linear',
        EVENT_XMLRPC_RETRY_INITIAL_DELAY: '100ms',
        EVENT_XMLRPC_RETRY_MAX_DELAY: '5s',
        EVENT_XMLRPC_RELAY_PORT: '0',
        EVENT_XMLRPC_RELAY_HOST: '10.0.0.9',
        EVENT_XMLRPC_RELAY_QUEUE_BYTES: '2048',
      }),
      {
        syncMode: true,
        useStructParam: true,
        namespaces: ['voip'],
        userAgent: 'env-agent',
        connectTimeoutMs: 2000,
        responseTimeoutMs: 1500,
        maxResponseBytes: 2048,
        perSubscriberConcurrency: 5,
        maxRaisesInFlight: 7,
        maxRaisesInFlightPerNamespace: 3,
        maxParkedRaisesPerNamespace: 12,
        workers: 7,
        logLevel: 'warn',
        httpPort: 0,
        leaderElect: true,
        leaderElectionNamespace: 'env-ns',
        leaderElectionId: 'env-lock',
        leaseDurationMs: 3_000,
        renewDeadlineMs: 2_000,
        retryPeriodMs: 500,
        shutdownGraceMs: 5_000,
        retry: { limit: 7, backoff: 'linear', initialDelayMs: 100, maxDelayMs: 5000, retryOnFaultCodes: [] },
        secretTtlMs: 60_000,
        egressDeny: [],
        egressAllow: [],
        relayPort: 0,
        relayHost: '10.0.0.9',
        relayQueueBytes: 2048,
      },
    );
  });

  it('reads the egress ranges from repeated flags or comma-separated variables, and refuses a bad one by name', () => {
    const texts = (ranges: string[]) => ranges;
    const c = config(['--egress-deny=127.0.0.0/8', '--egress-deny', '::1', '--egress-allow=127.0.0.1']);
    assert.deepEqual([texts(c.egressDeny), texts(c.egressAllow)], [['127.0.0.0/8', '::1/128'], ['127.0.0.1/32']]);
    const e = config([], { EVENT_XMLRPC_EGRESS_DENY: '10.0.0.0/8, fd00::/8', EVENT_XMLRPC_EGRESS_ALLOW: '10.1.0.0/16' });
    assert.deepEqual([texts(e.egressDeny), texts(e.egressAllow)], [['10.0.0.0/8', 'fd00::/8'], ['10.1.0.0/16']]);
    assert.equal(error(['--egress-deny=10.0.0.1/8']), '--egress-deny: "10.0.0.1/8" has bits set past its /8 prefix: write 10.0.0.0/8');
    assert.equal(error([], { EVENT_XMLRPC_EGRESS_ALLOW: 'localhost' }), '--egress-allow: "localhost" is not an IPv4 or IPv6 address or CIDR range');
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
      EVENT_XMLRPC_MAX_RESPONSE_BYTES: '2048',
      EVENT_XMLRPC_MAX_PER_SUBSCRIBER: '5',
      EVENT_XMLRPC_WORKERS: '7',
      EVENT_XMLRPC_LOG_LEVEL: 'warn',
      EVENT_XMLRPC_HTTP_PORT: '7070',
      EVENT_XMLRPC_LEADER_ELECT: 'true',
      EVENT_XMLRPC_LEADER_ELECTION_NAMESPACE: 'env-ns',
      EVENT_XMLRPC_LEADER_ELECTION_ID: 'env-lock',
      EVENT_XMLRPC_LEASE_DURATION: '3s',
      EVENT_XMLRPC_RENEW_DEADLINE: '2s',
      EVENT_XMLRPC_RETRY_PERIOD: '500ms',
      EVENT_XMLRPC_SHUTDOWN_GRACE: '5s',
      EVENT_XMLRPC_MAX_RAISES_IN_FLIGHT: '64',
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
          '--max-response-bytes=4096',
          '--max-per-subscriber=8',
          '--max-raises-in-flight=2',
          '--workers=1',
          '--log-level=error',
          '--http-port=0',
          '--leader-elect=false',
          '--leader-election-namespace=flag-ns',
          '--leader-election-id=flag-lock',
          '--lease-duration=20s',
          '--renew-deadline=12s',
          '--retry-period=3s',
          '--shutdown-grace=10s',
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
        maxResponseBytes: 4096,
        perSubscriberConcurrency: 8,
        maxRaisesInFlight: 2,
        maxRaisesInFlightPerNamespace: 32,
        maxParkedRaisesPerNamespace: 256,
        workers: 1,
        logLevel: 'error',
        httpPort: 0,
        leaderElect: false,
        leaderElectionNamespace: 'flag-ns',
        leaderElectionId: 'flag-lock',
        leaseDurationMs: 20_000,
        renewDeadlineMs: 12_000,
        retryPeriodMs: 3_000,
        shutdownGraceMs: 10_000,
        retry: { limit: 3, backoff: 'exponential', initialDelayMs: 500, maxDelayMs: 30_000, retryOnFaultCodes: [] },
        secretTtlMs: 60_000,
        egressDeny: [],
        egressAllow: [],
        relayPort: 8091,
        relayHost: 'event-xmlrpc-operator-relay.default.svc',
        relayQueueBytes: 33_554_432,
      },
    );
    // A flag that is not given leaves its variable in force.
    assert.equal(config(['--workers=1'], env).perSubscriberConcurrency, 5);
  });

  describe('--relay-host', () => {
    it("defaults to the relay Service in the pod's namespace", () => {
      assert.equal(config([], { POD_NAMESPACE: 'ops' }).relayHost, 'event-xmlrpc-operator-relay.ops.svc');
    });
    it('must be a host a socket can name', () => {
      for (const bad of ['', 'a b', 'relay:80', 'http://relay', '[::1']) {
        assert.match(error([`--relay-host=${bad}`]), /--relay-host must be a DNS name or an IPv4 address/, bad);
      }
    });
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

  describe('bounds: what a Subscriber may not set, no flag sets either', () => {
    const cases: Array<[flag: string, limit: string, over: string]> = [
      ['response-timeout', '5m', '301s'],
      ['retry-initial-delay', '10m', '10.5m'],
      ['retry-max-delay', '10m', '99999m'],
    ];
    for (const [flag, limit, over] of cases) {
      it(`--${flag} is at most ${limit}`, () => {
        assert.doesNotThrow(() => config([`--${flag}=${limit}`]));
        assert.equal(error([`--${flag}=${over}`]), `--${flag} must be at most ${limit}, not "${over}"`);
      });
    }

    it('--retry-limit is at most 100', () => {
      assert.equal(config(['--retry-limit=100']).retry.limit, 100);
      assert.equal(error(['--retry-limit=101']), '--retry-limit must be a whole number 0..100, not "101"');
    });

    it('no duration is longer than a Node timer can wait (2^31-1 ms, about 24.8 days)', () => {
      assert.equal(config(['--shutdown-grace=35791m']).shutdownGraceMs, 35791 * 60_000);
      assert.equal(error(['--shutdown-grace=35792m']), '--shutdown-grace must be at most 2147483647ms, not "35792m"');
      assert.match(error(['--connect-timeout=99999m']), /--connect-timeout must be at most 2147483647ms/);
    });
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

  describe('leader election', () => {
    it('takes the Lease namespace from --leader-election-namespace, then POD_NAMESPACE, then the in-cluster namespace, then default', () => {
      const inCluster = () => 'from-file';
      const ns = (argv: string[], env: NodeJS.ProcessEnv, file: () => string | undefined) => {
        const parsed = parseCommandLine(argv, env, VERSION, file);
        assert.equal(parsed.kind, 'run', JSON.stringify(parsed));
        return parsed.kind === 'run' ? parsed.config.leaderElectionNamespace : '';
      };
      assert.equal(ns(['--leader-election-namespace=flag'], { POD_NAMESPACE: 'pod', EVENT_XMLRPC_LEADER_ELECTION_NAMESPACE: 'env' }, inCluster), 'flag');
      assert.equal(ns([], { POD_NAMESPACE: 'pod', EVENT_XMLRPC_LEADER_ELECTION_NAMESPACE: 'env' }, inCluster), 'env');
      assert.equal(ns([], { POD_NAMESPACE: 'pod' }, inCluster), 'pod');
      assert.equal(ns([], { POD_NAMESPACE: '' }, inCluster), 'from-file');
      assert.equal(ns([], {}, () => undefined), 'default');
    });

    it('--leader-elect is a boolean flag like --sync-mode', () => {
      assert.equal(config(['--leader-elect']).leaderElect, true);
      assert.equal(config(['--leader-elect=false'], { EVENT_XMLRPC_LEADER_ELECT: 'true' }).leaderElect, false);
      assert.match(error(['--leader-elect=yes']), /--leader-elect must be true or false/);
    });

    it("refuses durations client-go would refuse: lease > renew deadline > 1.2 x retry period, whole-second leases", () => {
      assert.match(error(['--lease-duration=10s', '--renew-deadline=10s']), /--lease-duration must be greater than --renew-deadline/);
      assert.match(error(['--renew-deadline=2s', '--retry-period=2s']), /--renew-deadline must be greater than 1.2 x --retry-period/);
      assert.match(error(['--lease-duration=1500ms', '--renew-deadline=1s', '--retry-period=100ms']), /whole number of seconds/);
      assert.match(error(['--lease-duration=0s']), /--lease-duration must be more than zero/);
      const c = config(['--lease-duration=3s', '--renew-deadline=2s', '--retry-period=500ms']);
      assert.deepEqual([c.leaseDurationMs, c.renewDeadlineMs, c.retryPeriodMs], [3000, 2000, 500]);
    });

    it('refuses a Lease name or namespace that is not a DNS name', () => {
      assert.match(error(['--leader-election-id=Not_A_Name']), /--leader-election-id must be a lowercase DNS name/);
      assert.match(error(['--leader-election-namespace=a.b']), /--leader-election-namespace must be a lowercase DNS name of at most 63/);
      assert.equal(config(['--leader-election-id=a.b-c']).leaderElectionId, 'a.b-c');
    });

    it('--shutdown-grace is a duration', () => {
      assert.equal(config(['--shutdown-grace=500ms']).shutdownGraceMs, 500);
      assert.match(error(['--shutdown-grace=forever']), /--shutdown-grace must be a duration/);
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

describe("README's Configuration table", () => {
  const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
  const section = readme.slice(readme.indexOf('## Configuration'), readme.indexOf('\n## ', readme.indexOf('## Configuration') + 1));
  const rows = section.split('\n').filter((line) => line.startsWith('| `--'));
  const plain = (text: string) => text.replaceAll('`', '');

  for (const flag of flagList()) {
    it(`documents --${flag.name} with its variable and the default the operator applies (${flag.default})`, () => {
      const row = rows.find((line) => new RegExp(`\`--${flag.name}[=\\[\`]`).test(line.split(' | ')[0]!));
      assert.ok(row, `a row for --${flag.name}`);
      const [, env, fallback] = row.split(' | ');
      assert.ok(env!.includes(flag.env) || env!.includes(`…${flag.env.slice('EVENT_XMLRPC'.length)}`), `${flag.env} in ${env}`);
      assert.ok(plain(fallback!).includes(flag.default), `default ${flag.default} in ${fallback}`);
      assert.ok(usage(VERSION).includes(`(default ${flag.default}) [env ${flag.env}]`), 'the help line shows the same default');
    });
  }

  it('lists no flag the operator does not have', () => {
    const names = new Set(flagList().map((f) => f.name));
    const documented = rows.flatMap((line) => [...line.split(' | ')[0]!.matchAll(/`--([a-z-]+)/g)].map((m) => m[1]!));
    assert.deepEqual(documented.filter((name) => !names.has(name)), []);
  });
});
