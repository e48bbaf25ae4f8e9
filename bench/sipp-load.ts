/**
 * Runs sipp as a load generator and reads back what it measured: calls failed and succeeded,
 * the rate it really kept, and per-call response times (-trace_rtt) for percentiles.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface LoadResult {
  code: number | null;
  failed: number;
  succeeded: number;
  /** Successful calls per second over the time sipp needed. */
  achieved: number;
  /** How long sipp ran, s. */
  elapsedS: number;
  /** 99th percentile of the scenario's response-time measure (rtd), ms; undefined without one. */
  p99: number | undefined;
  /** Its median, ms. */
  p50: number | undefined;
}

export function runSippLoad(args: string[], rate: number, total: number, opts: { timeoutS?: number; limit?: number } = {}): Promise<LoadResult> {
  const dir = mkdtempSync(join(tmpdir(), 'bench-sipp-'));
  const full = [...args, '-r', String(rate), '-m', String(total), '-l', String(opts.limit ?? Math.max(rate * 30, 100)),
    '-nostdin', '-timeout', `${opts.timeoutS ?? Math.ceil(total / rate) + 60}s`, '-timeout_error',
    '-trace_stat', '-stf', join(dir, 'stat.csv'), '-fd', '3600', '-trace_rtt', '-rtt_freq', '1'];
  return new Promise((resolve) => {
    const p = spawn('sipp', full, { cwd: dir, stdio: 'ignore' });
    p.on('close', (code) => {
      let failed = -1;
      let succeeded = 0;
      let achieved = 0;
      let elapsedS = 0;
      try {
        const rows = readFileSync(join(dir, 'stat.csv'), 'utf8').trim().split('\n');
        const head = rows[0].split(';');
        const last = rows[rows.length - 1].split(';');
        failed = Number(last[head.indexOf('FailedCall(C)')]);
        succeeded = Number(last[head.indexOf('SuccessfulCall(C)')]);
        const [h, m, s] = last[head.indexOf('ElapsedTime(C)')].split(':');
        const secs = Number(h) * 3600 + Number(m) * 60 + Number(s);
        elapsedS = secs;
        achieved = secs > 0 ? succeeded / secs : 0;
      } catch {
        // no statistics: counts as a failure
      }
      const times: number[] = [];
      for (const f of readdirSync(dir).filter((x) => x.endsWith('_rtt.csv'))) {
        for (const line of readFileSync(join(dir, f), 'utf8').split('\n').slice(1)) {
          const v = Number(line.split(';')[1]);
          if (line && Number.isFinite(v)) times.push(v);
        }
      }
      times.sort((a, b) => a - b);
      const p99 = times.length ? times[Math.min(times.length - 1, Math.floor(times.length * 0.99))] : undefined;
      const p50 = times.length ? times[Math.floor((times.length - 1) / 2)] : undefined;
      resolve({ code, failed, succeeded, achieved, elapsedS, p99, p50 });
    });
  });
}
