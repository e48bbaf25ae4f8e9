/**
 * Prometheus metrics of the node (prom-client, its own registry per node). Figures the features
 * already count are read at scrape time (a counter is set to the feature's count); what happens
 * per call (set-up time, unanswered calls by cause) is observed from the call records as calls end.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { CallRecord } from '../core/call-record.js';
import type { PbxNode } from '../node.js';
import type { LoginGuard } from './login-guard.js';
import { capacity, summary } from './status.js';

/** Causes are SIP status codes; anything else is counted as 'other' so a label can never grow without bound. */
const cause = (c: string) => (/^[1-6][0-9]{2}$/.test(c) ? c : 'other');

export interface AdminCounters {
  loginFailures: number;
  lockouts: number;
}

export function createMetrics(n: PbxNode, counters: AdminCounters, guard: LoginGuard): { registry: Registry; onRecord: (r: CallRecord) => void } {
  const registry = new Registry();
  registry.setDefaultLabels({ node: n.config.node.name });
  collectDefaultMetrics({ register: registry, prefix: 'pbx_' });
  const counter = (name: string, help: string, read: () => number) =>
    new Counter({ name, help, registers: [registry], collect() {
      this.reset();
      this.inc(read());
    } });

  counter('pbx_call_attempts_total', 'Calls offered to the node (INVITEs from users and trunks past authentication).', () => n.calls.stats.attempts);
  counter('pbx_calls_answered_total', 'Calls answered.', () => n.calls.stats.answered);
  counter('pbx_calls_refused_channel_limit_total', 'Calls refused with 503 because every channel of the node was in use.', () => n.calls.stats.refusedLimit);
  const unanswered = new Counter({ name: 'pbx_calls_unanswered_total', help: 'Calls that ended unanswered, by disposition and SIP cause.', labelNames: ['disposition', 'cause'], registers: [registry] });
  const setup = new Histogram({
    name: 'pbx_call_setup_seconds',
    help: 'Time from the INVITE to the answer of answered calls (ringing included).',
    buckets: [0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 20, 30, 60],
    registers: [registry],
  });

  new Gauge({ name: 'pbx_registrations', help: 'Registered contacts (bindings).', registers: [registry], collect() {
    this.set(n.location.size);
  } });
  new Gauge({ name: 'pbx_registered_users', help: 'Users with at least one registered contact.', registers: [registry], collect() {
    this.set(n.location.aorCount);
  } });
  new Gauge({ name: 'pbx_channels_in_use', help: 'Channels in use per pool.', labelNames: ['pool'], registers: [registry], collect() {
    const c = capacity(n);
    this.set({ pool: 'calls' }, c.calls!.used);
    this.set({ pool: 'conference' }, c.conferenceChannels!.used);
    this.set({ pool: 'voicemail' }, c.voicemailPorts!.used);
    this.set({ pool: 'trunk' }, c.trunkChannels!.used);
  } });
  new Gauge({ name: 'pbx_channels_limit', help: 'Channels of each pool (the profile\'s or the configured).', labelNames: ['pool'], registers: [registry], collect() {
    const c = capacity(n);
    this.set({ pool: 'calls' }, c.calls!.limit);
    this.set({ pool: 'conference' }, c.conferenceChannels!.limit);
    this.set({ pool: 'voicemail' }, c.voicemailPorts!.limit);
    this.set({ pool: 'trunk' }, c.trunkChannels!.limit);
  } });
  new Gauge({ name: 'pbx_media_thread_lateness_seconds', help: 'How late the media thread\'s 20 ms frame clock ticks (since start).', labelNames: ['quantile'], registers: [registry], collect() {
    const e = n.engine?.stats();
    if (!e) return;
    this.set({ quantile: '0.5' }, e.lateP50Ms / 1000);
    this.set({ quantile: '0.99' }, e.lateP99Ms / 1000);
    this.set({ quantile: '1' }, e.lateMaxMs / 1000);
  } });
  new Gauge({ name: 'pbx_rtp_received_loss_ratio', help: 'Packets lost of those expected on the RTP streams received now (all anchored legs).', registers: [registry], collect() {
    let lost = 0;
    let got = 0;
    for (const ep of n.engine?.endpoints ?? []) {
      if (ep.closed) continue;
      const s = ep.stats();
      lost += s.lost;
      got += s.rxPackets;
    }
    this.set(lost + got > 0 ? lost / (lost + got) : 0);
  } });
  new Gauge({ name: 'pbx_rtp_received_jitter_seconds', help: 'Mean interarrival jitter of the RTP streams received now.', registers: [registry], collect() {
    const js = (n.engine?.endpoints ?? []).filter((e) => !e.closed).map((e) => e.stats()).filter((s) => s.rxPackets > 0).map((s) => s.jitterMs);
    this.set(js.length ? js.reduce((a, b) => a + b, 0) / js.length / 1000 : 0);
  } });
  counter('pbx_sip_auth_failures_total', 'SIP digest authentications that failed (wrong password, unknown user).', () => n.auth.stats.failures);
  counter('pbx_sip_auth_lockouts_total', 'SIP user and address pairs locked out after repeated failures.', () => n.auth.stats.lockouts);
  counter('pbx_admin_login_failures_total', 'Admin API logins refused (wrong password, locked out).', () => counters.loginFailures);
  counter('pbx_admin_lockouts_total', 'Admin accounts and addresses locked out after repeated failed logins.', () => counters.lockouts);
  new Gauge({ name: 'pbx_admin_locked', help: 'Admin accounts and addresses locked out now.', registers: [registry], collect() {
    this.set(guard.locked().length);
  } });
  new Gauge({ name: 'pbx_huntgroup_queue_length', help: 'Callers waiting in each hunt group\'s queue.', labelNames: ['group'], registers: [registry], collect() {
    this.reset();
    for (const g of n.hunt.status()) this.set({ group: g.extension }, g.queued);
  } });
  new Gauge({ name: 'pbx_voicemail_ports_in_use', help: 'Voicemail ports recording or playing.', registers: [registry], collect() {
    this.set(n.voicemail?.status().inUse ?? 0);
  } });
  new Gauge({ name: 'pbx_trunk_up', help: '1 when the trunk is in service.', labelNames: ['trunk'], registers: [registry], collect() {
    this.reset();
    for (const t of n.trunks.status()) this.set({ trunk: t.name }, t.state === 'in-service' ? 1 : 0);
  } });
  new Gauge({ name: 'pbx_link_up', help: '1 when the node link to another node of the solution is up.', labelNames: ['peer'], registers: [registry], collect() {
    this.reset();
    for (const l of summary(n).links) this.set({ peer: l.node }, l.state === 'up' ? 1 : 0);
  } });
  new Gauge({ name: 'pbx_alarms', help: 'Alarms up, by severity.', labelNames: ['severity'], registers: [registry], collect() {
    this.reset();
    for (const s of ['critical', 'major', 'minor', 'warning']) this.set({ severity: s }, n.alarms.list().filter((a) => a.severity === s).length);
  } });
  new Gauge({ name: 'pbx_config_revision', help: 'Revision of the configuration in force.', registers: [registry], collect() {
    this.set(n.revision);
  } });

  const onRecord = (r: CallRecord) => {
    if (r.disposition === 'answered' && r.answer) setup.observe(Math.max(0, (r.answer.getTime() - r.start.getTime()) / 1000));
    else if (r.disposition !== 'answered') unanswered.inc({ disposition: r.disposition, cause: cause(r.cause) });
  };
  return { registry, onRecord };
}
