// Reads Prometheus text exposition in tests: samples by name and labels, and promtool's verdict on it.
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';

/** One sample line: its labels and value. */
export interface Sample {
  labels: Record<string, string>;
  value: number;
}

/** Every sample of a metric (exact name, so `x` does not match `x_total`). */
export function samples(text: string, name: string): Sample[] {
  const found: Sample[] = [];
  for (const line of text.split('\n')) {
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const labels: Record<string, string> = {};
    for (const [, key, value] of (m[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) labels[key!] = value!;
    found.push({ labels, value: Number(m[3]) });
  }
  return found;
}

/** The value of the one sample whose labels include `labels`, or undefined. */
export function sample(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  return samples(text, name).find((s) => Object.entries(labels).every(([k, v]) => s.labels[k] === v))?.value;
}

/** Where Debian's prometheus package puts its tools; null when not installed (tests then skip, saying so). */
export function debianTool(name: 'promtool' | 'prometheus'): string | null {
  const file = `/usr/bin/${name}`;
  return existsSync(file) ? file : null;
}

/** Runs `promtool check metrics` on an exposition; resolves with its exit code and what it printed. */
export function promtoolCheckMetrics(
  promtool: string,
  text: string,
): Promise<{ code: number; output: string }> {
  return new Promise((resolve) => {
    const child = execFile(promtool, ['check', 'metrics'], (error, stdout, stderr) =>
      resolve({ code: error ? ((error as { code?: number }).code ?? 1) : 0, output: `${stdout}${stderr}` }),
    );
    child.stdin!.end(text);
  });
}

/** Fetches a process's /metrics. */
export async function scrape(port: number): Promise<string> {
  const res = await fetch(`http://127.0.0.1:${port}/metrics`);
  if (res.status !== 200) throw new Error(`/metrics answered ${res.status}`);
  return res.text();
}
