/**
 * Calls through containers: docker/compose.yaml brought up from the node and peer images
 * (scripts/containers.sh builds them): a solution of three node containers (primary, secondary,
 * expansion) on one document and their bus, phones in containers registered by service name
 * with the primary (201, 202) and the expansion (301), Kamailio as the carrier in its container
 * on the primary's trunk, a phone on the "PSTN" behind it. What a user would notice: a call
 * connects and each side hears the other's tone, also from the expansion's phone to the
 * primary's over the node link; a call to the number 01632 960123 from the PSTN rings 202; 9 and
 * a number reaches the PSTN; meet-me room 8000 on the primary mixes 201, 301 (dialling on the
 * expansion) and a PSTN caller (who dials 01632 960180); a message left for 202 is heard again
 * at *17 and its file is in the primary's data volume; a node is healthy only while its SIP
 * answers. Last, failover: the primary's container stopped, the secondary declares it down and
 * serves its users (301 reaches 201 through 201's standby registration) and its number (the
 * carrier's second route); the primary started again gets its users back after the stable time
 * and calls go through it again. Everything is torn down afterwards, also on failure.
 */
import test from 'ava';
import { hasTone, lacksTone, toneRatio } from '../helpers/tone.js';
import { missingImages, PROJECT, Topology, type ContainerPhone } from '../helpers/containers.js';
import { sleep, untilValue } from '../helpers/wait.js';

const TONE = { phone201: 1000, phone202: 600, phone301: 1700, pstn: 1400 };
type PhoneName = keyof typeof TONE;
const NODES = ['primary', 'secondary', 'expansion'];
let topology: Topology | undefined;
let phones: Record<PhoneName, ContainerPhone>;

/** A JSON log line of the node holding `message` and, when given, `"link":"<link>"`. */
const logLine = (message: string, link?: string) => new RegExp(`^(?=.*${message})${link ? `(?=.*"link":"${link}")` : ''}.*$`, 'm');

test.before(async () => {
  const missing = await missingImages();
  if (missing.length) throw new Error(`images missing: ${missing.join(', ')}; build them with scripts/containers.sh build (npm run test:containers does)`);
  topology = await Topology.up(PROJECT);
  const t = topology;
  // podman-compose does not wait for anything: readiness is ours to see. A node's health check
  // (pbx probe) passes once its SIP answers; the expansion's links once its keepalives are
  // answered; each phone once its registrar said 200.
  const deadline = Date.now() + 120_000;
  for (const node of NODES) {
    while (!(await t.healthy(node))) {
      if (Date.now() > deadline) throw new Error(`${node} did not become healthy:\n${(await t.logs(node)).slice(-3000)}`);
      await sleep(500);
    }
  }
  await t.waitLog('expansion', logLine('solution: node link up', 'primary'), 60_000);
  phones = { phone201: await t.phone('phone201'), phone202: await t.phone('phone202'), phone301: await t.phone('phone301'), pstn: await t.phone('pstn') };
  await Promise.all(Object.values(phones).map((p) => p.waitRegistered()));
});

test.after.always(async () => {
  await topology?.down();
});

/** Calls `to` from `from`, answers at `callee`, lets them talk, hangs up; what each heard. */
async function talk(from: ContainerPhone, to: string, callee: ContainerPhone): Promise<{ caller: Int16Array; callee: Int16Array }> {
  const a0 = from.events.length;
  const b0 = callee.events.length;
  from.command('dial', to);
  await callee.waitEvent((e) => e.type === 'CALL_INCOMING', 20_000, b0);
  callee.command('accept');
  await from.waitEvent((e) => e.type === 'CALL_ESTABLISHED', 15_000, a0);
  await callee.waitEvent((e) => e.type === 'CALL_ESTABLISHED', 15_000, b0);
  await sleep(3000);
  from.command('hangup');
  await from.waitEvent((e) => e.type === 'CALL_CLOSED', 15_000, a0);
  await callee.waitEvent((e) => e.type === 'CALL_CLOSED', 15_000, b0);
  return { caller: await from.lastHeard(), callee: await callee.lastHeard() };
}

const SKIP = 4000; // the first half second: ringback, jitter buffer filling

test.serial('201 calls 202 through the primary container: each hears the other\'s tone', async (t) => {
  const heard = await talk(phones.phone201, 'sip:202@pbx.test', phones.phone202);
  t.true(hasTone(heard.callee, TONE.phone201, 0.5, { skip: SKIP }), `202 heard 201's ${TONE.phone201} Hz (ratio ${toneRatio(heard.callee, TONE.phone201, { skip: SKIP }).toFixed(2)})`);
  t.true(hasTone(heard.caller, TONE.phone202, 0.5, { skip: SKIP }), `201 heard 202's ${TONE.phone202} Hz (ratio ${toneRatio(heard.caller, TONE.phone202, { skip: SKIP }).toFixed(2)})`);
  t.true(lacksTone(heard.caller, TONE.phone201, 0.05, { skip: SKIP }), 'and not its own tone back');
});

test.serial("301 on the expansion calls 201 on the primary over the node link: each hears the other's tone", async (t) => {
  const heard = await talk(phones.phone301, 'sip:201@pbx.test', phones.phone201);
  t.true(hasTone(heard.callee, TONE.phone301, 0.5, { skip: SKIP }), `201 heard 301's ${TONE.phone301} Hz (ratio ${toneRatio(heard.callee, TONE.phone301, { skip: SKIP }).toFixed(2)})`);
  t.true(hasTone(heard.caller, TONE.phone201, 0.5, { skip: SKIP }), `301 heard 201's ${TONE.phone201} Hz (ratio ${toneRatio(heard.caller, TONE.phone201, { skip: SKIP }).toFixed(2)})`);
  t.true(lacksTone(heard.caller, TONE.phone301, 0.05, { skip: SKIP }), 'and not its own tone back');
  t.regex(await topology!.logs('expansion'), /call out on trunk link-primary to 201/, "the call left the expansion on its link to the primary");
});

test.serial('the carrier delivers a call to the number 01632 960123: it rings 202 and both hear each other', async (t) => {
  const heard = await talk(phones.pstn, 'sip:01632960123@carrier', phones.phone202);
  t.true(hasTone(heard.callee, TONE.pstn, 0.5, { skip: SKIP }), `202 heard the PSTN caller's ${TONE.pstn} Hz (ratio ${toneRatio(heard.callee, TONE.pstn, { skip: SKIP }).toFixed(2)})`);
  t.true(hasTone(heard.caller, TONE.phone202, 0.5, { skip: SKIP }), `the PSTN caller heard 202 (ratio ${toneRatio(heard.caller, TONE.phone202, { skip: SKIP }).toFixed(2)})`);
  t.regex(await topology!.logs('carrier'), /trunk: INVITE sip:01632960123@carrier/, 'the call came through Kamailio');
});

test.serial('201 dials 9 and a PSTN number: the carrier rings the PSTN phone and both hear each other', async (t) => {
  const heard = await talk(phones.phone201, 'sip:907700900123@pbx.test', phones.pstn);
  t.true(hasTone(heard.callee, TONE.phone201, 0.5, { skip: SKIP }), `the PSTN phone heard 201 (ratio ${toneRatio(heard.callee, TONE.phone201, { skip: SKIP }).toFixed(2)})`);
  t.true(hasTone(heard.caller, TONE.pstn, 0.5, { skip: SKIP }), `201 heard the PSTN phone (ratio ${toneRatio(heard.caller, TONE.pstn, { skip: SKIP }).toFixed(2)})`);
});

test.serial('meet-me room 8000 joins 201 on the primary, 301 on the expansion and a caller from the PSTN: each hears the other two and not itself', async (t) => {
  const parties = [['phone201', 'sip:8000@pbx.test'], ['phone301', 'sip:8000@pbx.test'], ['pstn', 'sip:01632960180@carrier']] as const;
  const joinedAt: number[] = [];
  const from: number[] = [];
  for (const [name, uri] of parties) {
    const p = phones[name];
    from.push(p.events.length);
    p.command('dial', uri);
    await p.waitEvent((e) => e.type === 'CALL_ESTABLISHED', 20_000, from[from.length - 1]);
    joinedAt.push(Date.now());
  }
  await topology!.waitLog('primary', /conference 8000: \S+ joined \(3 parties\)/, 15_000);
  const allIn = Date.now();
  // 2.5 s are analysed from 0.7 s on; the rest is slack for recordings that start late
  await sleep(5000);
  for (const [name] of parties) phones[name].command('hangup');
  for (const [i, [name]] of parties.entries()) await phones[name].waitEvent((e) => e.type === 'CALL_CLOSED', 15_000, from[i]);
  await topology!.waitLog('primary', /conference 8000 ended/, 15_000);
  for (const [i, [name]] of parties.entries()) {
    const heard = await phones[name].lastHeard();
    // from 0.7 s after the third joined (entry tone over, jitter buffers filled), 2.5 s long
    const start = Math.round(((allIn - joinedAt[i]!) / 1000 + 0.7) * 8000);
    const part = heard.subarray(start, start + 20_000);
    const ratios = parties.map(([n]) => `${TONE[n]}:${toneRatio(part, TONE[n]).toFixed(3)}`).join(' ');
    t.is(part.length, 20_000, `${name}: recording long enough (${heard.length} samples, joined ${allIn - joinedAt[i]!} ms before the third)`);
    for (const [other] of parties) {
      if (other !== name) t.true(hasTone(part, TONE[other], 0.2), `${name} hears ${other} (${ratios})`);
    }
    t.true(lacksTone(part, TONE[name], 0.02), `${name} does not hear itself (${ratios})`);
  }
});

test.serial('a message left for 202 is in the data volume and is heard again at *17', async (t) => {
  const t0 = Date.now();
  const { phone201: a, phone202: b } = phones;
  const a0 = a.events.length;
  const b0 = b.events.length;
  a.command('dial', 'sip:202@pbx.test');
  await b.waitEvent((e) => e.type === 'CALL_INCOMING', 20_000, b0);
  // 202 lets it ring: after its no-answer time (6 s) voicemail answers 201
  await a.waitEvent((e) => e.type === 'CALL_ESTABLISHED', 20_000, a0);
  await topology!.waitLog('primary', /voicemail 202: recording message/, 30_000);
  await sleep(5000);
  a.command('hangup');
  await a.waitEvent((e) => e.type === 'CALL_CLOSED', 15_000, a0);
  await topology!.waitLog('primary', /voicemail 202: message \d+ kept/, 20_000);
  const files = await topology!.exec('primary', ['sh', '-c', 'ls /var/lib/pbx/primary/voicemail/202']);
  t.regex(files.stdout, /msg-\d+\.wav/, "the message is a file in the primary's /var/lib/pbx volume");

  // 202 collects: the starting PIN, a new PIN it must choose, then 1 to listen
  const c0 = b.events.length;
  b.command('dial', 'sip:*17@pbx.test');
  await b.waitEvent((e) => e.type === 'CALL_ESTABLISHED', 15_000, c0);
  await sleep(1000);
  await b.keys('2580#');
  await sleep(1500);
  await b.keys('4739#');
  await sleep(1500);
  await b.keys('4739#');
  await topology!.waitLog('primary', /voicemail 202: PIN changed/, 15_000);
  await sleep(1000);
  await b.keys('1');
  // the intro ("new message from 2 0 1") and the 5 s message, then the node counts it read
  await topology!.waitLog('primary', /voicemail 202: message \d+ read/, 30_000);
  b.command('hangup');
  await b.waitEvent((e) => e.type === 'CALL_CLOSED', 15_000, c0);
  const heard = await b.lastHeard();
  t.true(hasTone(heard, TONE.phone201, 0.02), `202 heard the message: 201's tone (ratio ${toneRatio(heard, TONE.phone201).toFixed(3)})`);
  t.log(`voicemail left and heard in ${((Date.now() - t0) / 1000).toFixed(0)} s`);
});

test.serial('a node is healthy only while its SIP answers (the primary, and the expansion: its own socket in the solution document)', async (t) => {
  for (const node of ['primary', 'expansion']) {
    t.true(await topology!.healthy(node), `${node}: healthy while serving`);
    // the node's process stopped (from outside: a namespace's PID 1 ignores SIGSTOP from within):
    // the container runs, its port stays open, but SIP does not answer
    await topology!.signal(node, 'STOP');
    try {
      t.false(await topology!.healthy(node), `${node}: unhealthy while SIP does not answer`);
    } finally {
      await topology!.signal(node, 'CONT');
    }
    t.true(await topology!.healthy(node), `${node}: healthy again once it answers`);
  }
});

// ---- Failover. LAST in this file: these stop the primary's container and start it again. ----

const DECLARED_DOWN = 'failover: node declared down, serving its users';
const RETURNED = 'failover: node stable and caught up, its users returned to it';
const HOME_SERVING = 'failover: this node serves its own users';
/** The carrier's lines saying it sent a call to its second route (the secondary). */
/** The state `service`'s failover last moved to, for the primary's users: the primary's home state, the secondary's backup state. */
async function failoverState(service: string): Promise<string | undefined> {
  const lines = await topology!.nodeLines(service, (l) => l.message.startsWith('failover: ') && l.node === 'primary' && typeof l.to === 'string');
  return lines.pop()?.to as string | undefined;
}
const toBackup = async () => ((await topology!.logs('carrier')).match(/trunk: INVITE \S+ (failed at the PBX \(\d+\)|not sent to the PBX) -> backup/g) ?? []).length;

test.serial("the primary's container stopped: the secondary declares it down and serves its users; 301 on the expansion calls 201, who answers through the secondary, and each hears the other", async (t) => {
  const top = topology!;
  // The health test above held the primary stopped for seconds (SIGSTOP), longer than the
  // hold-down: the secondary may have taken it over since and be handing it back. Wait until the
  // primary serves its own users and the secondary stands by.
  await untilValue('the primary serving its users, the secondary standing by for it', async () => {
    const home = await failoverState('primary');
    const backup = await failoverState('secondary');
    return home === 'serving' && (backup === undefined || backup === 'standby') ? true : undefined;
  }, 60_000, 500);
  // 201's and 202's phones hold standby registrations on the secondary (their second account)
  for (const aor of ['201', '202']) t.true((await top.nodeLines('secondary', 'registration updated', 0, (l) => l.aor === aor)).length > 0, `${aor}: standby registration on the secondary`);

  const stopAt = Date.now();
  await top.stop('primary');
  const down = await top.waitNodeLine('secondary', DECLARED_DOWN, stopAt, (l) => l.node === 'primary', 30_000);
  t.like(down, { from: 'standby', to: 'serving' });
  t.log(`the secondary declared the primary down ${((Date.parse(down.timestamp) - stopAt) / 1000).toFixed(1)} s after the stop began`);

  const heard = await talk(phones.phone301, 'sip:201@pbx.test', phones.phone201);
  t.true(hasTone(heard.callee, TONE.phone301, 0.5, { skip: SKIP }), `201 heard 301's ${TONE.phone301} Hz (ratio ${toneRatio(heard.callee, TONE.phone301, { skip: SKIP }).toFixed(2)})`);
  t.true(hasTone(heard.caller, TONE.phone201, 0.5, { skip: SKIP }), `301 heard 201's ${TONE.phone201} Hz (ratio ${toneRatio(heard.caller, TONE.phone201, { skip: SKIP }).toFixed(2)})`);
  t.is((await top.nodeLines('expansion', 'call out on trunk link-secondary to 201', stopAt)).length, 1, 'the call left the expansion on its link to the secondary');
  t.is((await top.nodeLines('secondary', 'call answered', stopAt, (l) => String(l.by).startsWith('sip:201-'))).length, 1, "201's phone answered the secondary's call (its standby registration)");
});

test.serial("the carrier's second route: with the primary down, a call to the primary's number 01632 960123 reaches 202 through the secondary, and both hear each other", async (t) => {
  const top = topology!;
  const since = Date.now();
  const before = await toBackup();
  const heard = await talk(phones.pstn, 'sip:01632960123@carrier', phones.phone202);
  t.true(hasTone(heard.callee, TONE.pstn, 0.5, { skip: SKIP }), `202 heard the PSTN caller's ${TONE.pstn} Hz (ratio ${toneRatio(heard.callee, TONE.pstn, { skip: SKIP }).toFixed(2)})`);
  t.true(hasTone(heard.caller, TONE.phone202, 0.5, { skip: SKIP }), `the PSTN caller heard 202 (ratio ${toneRatio(heard.caller, TONE.phone202, { skip: SKIP }).toFixed(2)})`);
  t.is(await toBackup(), before + 1, 'the carrier tried the primary, then its second route');
  t.is((await top.nodeLines('secondary', 'incoming call on trunk carrier-secondary: 07700900123 -> 01632960123 routed to 202', since)).length, 1, "the secondary answered the primary's incoming call route on its own trunk");
});

test.serial('the primary started again: once it has been up for the stable time its users return to it, and calls go through it again', async (t) => {
  const top = topology!;
  const since = Date.now();
  await top.start('primary');
  await top.waitNodeLine('secondary', 'failover: node back, its users return after the stable time', since, (l) => l.node === 'primary', 60_000);
  const back = await top.waitNodeLine('secondary', RETURNED, since, (l) => l.node === 'primary', 60_000);
  t.log(`users back on the primary ${((Date.parse(back.timestamp) - since) / 1000).toFixed(1)} s after its start (stable time 10 s)`);
  // the primary refused new calls while its backup served its users, and serves them now
  const home = await top.waitNodeLine('primary', HOME_SERVING, since, (l) => l.from === 'displaced', 30_000);
  t.like(home, { to: 'serving' });
  await sleep(500);

  // 301 calls 201: over the link to the primary now, which reaches 201's phone at its own registration
  const heard = await talk(phones.phone301, 'sip:201@pbx.test', phones.phone201);
  t.true(hasTone(heard.callee, TONE.phone301, 0.5, { skip: SKIP }), `201 heard 301 (ratio ${toneRatio(heard.callee, TONE.phone301, { skip: SKIP }).toFixed(2)})`);
  t.true(hasTone(heard.caller, TONE.phone201, 0.5, { skip: SKIP }), `301 heard 201 (ratio ${toneRatio(heard.caller, TONE.phone201, { skip: SKIP }).toFixed(2)})`);
  t.is((await top.nodeLines('expansion', 'call out on trunk link-primary to 201', since)).length, 1, 'the call left the expansion on its link to the primary');

  // and the carrier's first route is the primary again
  const before = await toBackup();
  const did = await talk(phones.pstn, 'sip:01632960123@carrier', phones.phone202);
  t.true(hasTone(did.callee, TONE.pstn, 0.5, { skip: SKIP }) && hasTone(did.caller, TONE.phone202, 0.5, { skip: SKIP }), 'the PSTN caller and 202 hear each other');
  t.is(await toBackup(), before, 'the carrier did not need its second route');
  t.is((await top.nodeLines('primary', 'incoming call on trunk carrier: 07700900123 -> 01632960123 routed to 202', since)).length, 1, 'the primary answered the call on its trunk');
});
