// The deploy kit stays in step with the code: every Procfile process deployed and scraped, every metric that
// the alerts and the dashboard use exported, the rules valid and unit-tested by promtool.
import { execFile } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { Redis } from 'ioredis';
import pino from 'pino';
import { processRegistry } from '../shared/metrics';
import { startExporter } from '../workers/servers/metrics';
import { createTestEnv } from './helpers/env';
import { debianTool } from './helpers/exposition';

// js-yaml comes with jest (through istanbul); a YAML parser is all these checks need, not a new dependency.
const yaml = require('js-yaml') as { safeLoad(text: string): unknown; safeLoadAll(text: string): unknown[] };

const ROOT = path.resolve(__dirname, '..');
const DEPLOY = path.join(ROOT, 'deploy');
const read = (file: string) => readFileSync(path.join(DEPLOY, file), 'utf8');
const load = <T>(file: string) => yaml.safeLoad(read(file)) as T;

/** The Procfile's process types, and those their issues are adding (the kit covers them already). */
const procfile = readFileSync(path.join(ROOT, 'Procfile'), 'utf8')
  .split('\n')
  .map((line) => /^([\w-]+):\s*node dist\/workers\/run\.js ([\w-]+)\s*$/.exec(line))
  .filter((m): m is RegExpExecArray => m !== null);
const ROLES = [...new Set([...procfile.map((m) => m[2]!), 'tracking', 'aggregate', 'feedback-http'])];

test('the Procfile is read: every line is `ROLE: node dist/workers/run.js ROLE`', () => {
  expect(procfile.length).toBeGreaterThanOrEqual(5);
  for (const m of procfile) expect(m[1]).toBe(m[2]);
});

interface Container {
  command: string[];
  readinessProbe: { httpGet: { path: string; port: string } };
  livenessProbe: { httpGet: { path: string; port: string } };
  resources: { requests: { cpu: string; memory: string }; limits: { memory: string } };
  ports: { name: string; containerPort: number }[];
}
interface Deployment {
  kind: string;
  metadata: { name: string; labels: Record<string, string> };
  spec: {
    template: {
      metadata: { labels: Record<string, string> };
      spec: {
        terminationGracePeriodSeconds: number;
        securityContext: { runAsNonRoot: boolean };
        containers: Container[];
      };
    };
  };
}

describe.each(ROLES)('process %s', (role) => {
  test('is a compose service running `node dist/workers/run.js ROLE` from the pipeline image', () => {
    const compose = load<{ services: Record<string, { command: string[]; image: string }> }>('compose.yaml');
    expect(compose.services[role]).toMatchObject({
      image: 'campaign-pipeline:latest',
      command: ['node', 'dist/workers/run.js', role],
    });
  });

  test('is a Kubernetes Deployment with probes on the exporter, a SIGTERM grace period and resources', () => {
    const d = load<Deployment>(`kubernetes/workers/${role}.yaml`);
    expect(d.kind).toBe('Deployment');
    expect(d.spec.template.metadata.labels).toMatchObject({
      'app.kubernetes.io/name': 'campaign',
      'app.kubernetes.io/component': role,
    });
    const pod = d.spec.template.spec;
    // Longer than the default SHUTDOWN_TIMEOUT (30 s), so that active jobs finish before a SIGKILL.
    expect(pod.terminationGracePeriodSeconds).toBeGreaterThan(30);
    expect(pod.securityContext.runAsNonRoot).toBe(true);
    const [c] = pod.containers;
    expect(c!.command).toEqual(['node', 'dist/workers/run.js', role]);
    expect(c!.ports).toContainEqual({ name: 'metrics', containerPort: 9464 });
    expect(c!.readinessProbe.httpGet).toEqual({ path: '/readyz', port: 'metrics' });
    expect(c!.livenessProbe.httpGet).toEqual({ path: '/healthz', port: 'metrics' });
    expect(c!.resources.requests.cpu).toBeTruthy();
    expect(c!.resources.requests.memory).toBeTruthy();
    expect(c!.resources.limits.memory).toBeTruthy();
  });

  test('is scraped by the compose Prometheus with its role label', () => {
    const config = load<{ scrape_configs: { job_name: string; dns_sd_configs: { names: string[] }[] }[] }>(
      'prometheus/prometheus.yml',
    );
    const job = config.scrape_configs.find((j) => j.job_name === 'campaign')!;
    expect(job.dns_sd_configs.flatMap((c) => c.names)).toContain(role);
  });
});

test('kustomization.yaml lists every Kubernetes manifest', () => {
  const k = load<{ resources: string[] }>('kubernetes/kustomization.yaml');
  const files = [
    ...readdirSync(path.join(DEPLOY, 'kubernetes')).filter(
      (f) => f.endsWith('.yaml') && f !== 'kustomization.yaml',
    ),
    ...readdirSync(path.join(DEPLOY, 'kubernetes', 'workers')).map((f) => `workers/${f}`),
  ];
  expect([...k.resources].sort()).toEqual(files.sort());
});

test('the ServiceMonitor scrapes job "campaign" with the role label the alerts group by', () => {
  const sm = load<{ spec: Record<string, unknown> }>('kubernetes/servicemonitor.yaml');
  const service = load<{ metadata: { labels: Record<string, string> } }>('kubernetes/service.yaml');
  expect(service.metadata.labels['app.kubernetes.io/name']).toBe('campaign');
  expect(sm.spec).toMatchObject({
    jobLabel: 'app.kubernetes.io/name',
    endpoints: [{ port: 'metrics', path: '/metrics', relabelings: [{ targetLabel: 'role' }] }],
  });
});

test('the PrometheusRule carries exactly the rules of alerts.yml', () => {
  const rule = load<{ kind: string; spec: { groups: unknown } }>('kubernetes/prometheusrule.yaml');
  expect(rule.kind).toBe('PrometheusRule');
  expect(rule.spec.groups).toEqual(load<{ groups: unknown }>('prometheus/alerts.yml').groups);
});

test('the Dockerfile builds in stages and runs npm ci --omit=dev as a non-root user', () => {
  const dockerfile = read('Dockerfile');
  const stages = dockerfile.split('\n').filter((l) => l.startsWith('FROM '));
  expect(stages.length).toBeGreaterThanOrEqual(2);
  expect(dockerfile).toMatch(/npm ci --omit=dev/);
  expect(dockerfile).toMatch(/npm run build/);
  const final = dockerfile.slice(dockerfile.lastIndexOf('\nFROM '));
  expect(final).toMatch(/^USER node$/m);
  expect(final).toMatch(/COPY .*db\/migrations db\/migrations/);
});

describe('metric names used by the alerts and the dashboard', () => {
  let exported: Set<string>;
  beforeAll(async () => {
    const t = await createTestEnv();
    const redis = new Redis(t.config.REDIS_URL, { lazyConnect: true });
    // Only the names are read here: registering the collectors queries nothing.
    const e = startExporter({
      sql: t.sql,
      redis,
      config: t.config,
      log: pino({ level: 'silent' }),
      now: () => new Date(),
    });
    const names = [...processRegistry.getMetricsAsArray(), ...e.registry.getMetricsAsArray()].flatMap((m) => {
      const { name, type } = m as unknown as { name: string; type: string };
      return type === 'histogram' ? [`${name}_bucket`, `${name}_count`, `${name}_sum`] : [name];
    });
    exported = new Set(names);
    await e.close();
    redis.disconnect();
    await t.cleanup();
  });
  const used = (text: string) => [...new Set(text.match(/\bcampaign_[a-z0-9_]+/g) ?? [])];

  test('every campaign_ metric of alerts.yml is exported', () => {
    const names = used(read('prometheus/alerts.yml'));
    expect(names.length).toBeGreaterThan(5);
    expect(names.filter((n) => !exported.has(n))).toEqual([]);
  });

  test('every campaign_ metric of the Grafana dashboard is exported, and every panel names its datasource', () => {
    const text = read('grafana/campaign-pipeline.json');
    const dashboard = JSON.parse(text) as { panels: { type: string; targets?: { expr: string }[] }[] };
    expect(used(text).filter((n) => !exported.has(n))).toEqual([]);
    for (const p of dashboard.panels.filter((p) => p.type !== 'row'))
      expect(p.targets?.every((t) => t.expr.length > 0)).toBe(true);
  });
});

const promtool = debianTool('promtool');
const withPromtool = promtool ? test : test.skip;
if (!promtool)
  console.warn('promtool is not installed (apt-get install prometheus): rule checks skipped here');

withPromtool(
  'promtool accepts the Prometheus config and its rules, and the rules pass their unit tests',
  async () => {
    const run = promisify(execFile);
    await run(promtool!, ['check', 'config', path.join(DEPLOY, 'prometheus', 'prometheus.yml')]);
    const { stdout } = await run(promtool!, ['test', 'rules', 'alerts.test.yml'], {
      cwd: path.join(DEPLOY, 'prometheus'),
    });
    expect(stdout).toContain('SUCCESS');
  },
);
