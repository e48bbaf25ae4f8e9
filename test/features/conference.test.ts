/**
 * Conference room logic on a real media engine, with test-double parties (unit tests: the SIP
 * side is covered by conference-peers.test.ts and conference-sipp.test.ts). A party is an
 * EventEmitter around a real engine endpoint, as a LocalCall or a B2BUA leg would be.
 */
import test from 'ava';
import { EventEmitter } from 'node:events';
import { mkdtempSync, copyFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConferenceSchema } from '../../src/core/config/conference-schema.js';
import { createTestLogger } from '../../src/core/logger.js';
import { MediaEngine, type Endpoint } from '../../src/media/index.js';
import type { LocalCall } from '../../src/features/calls/local.js';
import { Conferences, type Party } from '../../src/features/conference/conferences.js';
import { defaultPromptsDir, PROMPT_NAMES } from '../../src/features/conference/prompts.js';
import { portBlock } from '../helpers/ports.js';
import { sleep } from '../helpers/wait.js';

const port = portBlock(45);
const engine = new MediaEngine({ address: '127.0.0.1', portMin: port(0), portMax: port(199) });
test.after.always(() => engine.close());

/** A party as LocalCall presents one: hangup() ends it without a 'hangup' event, and closes its media. */
class FakeParty extends EventEmitter<{ hangup: []; dtmf: [string] }> implements Party {
  readonly endpoint: Endpoint = engine.createEndpoint();
  hungUp = false;
  constructor(readonly label: string) {
    super();
  }
  hangup(): void {
    this.hungUp = true;
    this.endpoint.close();
  }
  /** The far end hangs up. */
  leave(): void {
    this.emit('hangup');
    this.endpoint.close();
  }
  digits(s: string): void {
    for (const d of s) this.emit('dtmf', d);
  }
}

/** A LocalCall double: what the meet-me side uses of it, and what it was told. */
class FakeCall extends FakeParty {
  readonly info: LocalCall['info'];
  answered = false;
  rejected: { status: number; reason?: string; headers?: Record<string, string> } | undefined;
  constructor(target: string, caller = '201') {
    super(caller);
    this.info = { id: `c${caller}`, caller, callerName: '', dialled: target, target };
  }
  get ended(): boolean {
    return this.hungUp || this.rejected !== undefined || this.endpoint.closed;
  }
  answer(): void {
    this.answered = true;
  }
  reject(status: number, reason?: string, headers?: Record<string, string>): void {
    this.rejected = { status, reason, headers };
    this.endpoint.close();
  }
  get asCall(): LocalCall {
    return this as unknown as LocalCall;
  }
}

/** Warnings of the latest Conferences made here (shown when an assertion fails). */
let logs: unknown[] = [];
function conferences(config: Record<string, unknown> = {}, channels = 128, maxParties = 64) {
  const logger = createTestLogger('warn');
  logs = logger.records;
  return new Conferences({ engine, logger, config: ConferenceSchema.parse(config), channels, maxParties });
}

test('config: defaults, and errors that name the field', (t) => {
  const c = ConferenceSchema.parse({});
  t.deepEqual(c.openRooms, { first: '8000', last: '8099' });
  t.like(c, { rooms: [], pinAttempts: 3, entryExitTones: true, aloneRepeatSeconds: 30 });
  t.is(c.maxChannels, undefined, 'the profile decides unless configured');
  const bad = ConferenceSchema.safeParse({ rooms: [{ id: '8123', pin: '12a4' }] });
  t.false(bad.success);
  t.deepEqual(bad.error?.issues[0]?.path, ['rooms', 0, 'pin']);
  t.regex(bad.error?.issues[0]?.message ?? '', /PIN of 1\.\.30 digits/);
  t.false(ConferenceSchema.safeParse({ rooms: [{ id: '1' }, { id: '1' }] }).success, 'duplicate room IDs');
  t.false(ConferenceSchema.safeParse({ openRooms: { first: '900', last: '1000' } }).success, 'a range across digit counts');
  t.false(ConferenceSchema.safeParse({ rooms: [{ id: '1', pin: '1'.repeat(31) }] }).success, 'a 31-digit PIN');
  t.false(ConferenceSchema.safeParse({ colour: 'red' }).success, 'unknown keys');
});

test('a missing prompt file is a startup error naming the path', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'prompts-'));
  for (const n of PROMPT_NAMES.filter((n) => n !== 'alone')) copyFileSync(join(defaultPromptsDir(), `${n}.wav`), join(dir, `${n}.wav`));
  const e = t.throws(() => conferences({ promptsDir: dir }));
  t.true(e?.message.includes(join(dir, 'alone.wav')), e?.message);
  t.notThrows(() => conferences().close(), 'the shipped prompts load');
});

test('ad-hoc IDs start at 100, skip configured rooms and rooms in use, and are free again after the end', (t) => {
  const confs = conferences({ rooms: [{ id: '101', pin: '1' }] });
  const a = confs.createAdHoc();
  const b = confs.createAdHoc();
  t.is(a.id, '100');
  t.is(b.id, '102', '101 is a configured meet-me room');
  a.close();
  t.is(confs.createAdHoc().id, '100', 'an ended conference gives its ID back');
  t.is(confs.createAdHoc().id, '103');
  confs.close();
});

test('an ad-hoc ID in use cannot be joined as a meet-me room', (t) => {
  const confs = conferences({ openRooms: { first: '100', last: '199' } });
  const adhoc = confs.createAdHoc();
  const call = new FakeCall(adhoc.id);
  confs.accept(call.asCall);
  t.is(call.rejected?.status, 403, JSON.stringify(call.rejected));
  t.false(call.answered);
  adhoc.close();
  const later = new FakeCall(adhoc.id, '202');
  confs.accept(later.asCall);
  t.true(later.answered, 'once the ad-hoc conference ended, the ID is an open meet-me room again');
  t.is(confs.status().parties, 1);
  confs.close();
  t.true(later.hungUp, 'close() hangs up the parties');
});

test('dropLastParty: when all but one have left, the last is hung up and the conference ends', (t) => {
  const confs = conferences();
  const room = confs.createAdHoc();
  const [a, b, c] = ['a', 'b', 'c'].map((l) => new FakeParty(l));
  for (const p of [a!, b!, c!]) t.true(room.add(p));
  t.like(confs.status(), { conferences: 1, parties: 3, channelsInUse: 3, channels: 128 });
  a!.leave();
  t.is(room.size, 2);
  t.false(b!.hungUp || c!.hungUp, 'two left: still a conference');
  b!.leave();
  t.true(c!.hungUp, 'the last party is hung up');
  t.true(room.closed);
  t.like(confs.status(), { conferences: 0, parties: 0, channelsInUse: 0 });
  t.is(confs.room(room.id), undefined);
});

test('without dropLastParty the last party stays; remove() leaves its call up; the end closes the engine conference', (t) => {
  const confs = conferences();
  const room = confs.createAdHoc({ dropLastParty: false });
  const [a, b] = ['a', 'b'].map((l) => new FakeParty(l));
  room.add(a!);
  room.add(b!);
  t.true(room.remove(a!));
  t.false(a!.hungUp, 'removed, not hung up');
  t.false(a!.endpoint.attachment !== null, 'its endpoint is free for a bridge again');
  t.false(b!.hungUp);
  t.false(room.closed);
  const engineConf = confs.room(room.id)!.conference;
  b!.endpoint.close(); // media gone without a hang-up event
  t.true(room.closed);
  t.true(engineConf.closed, 'the engine conference is closed with the room');
  a!.endpoint.close();
});

test('limits: parties per conference and node channels', (t) => {
  const confs = conferences({ maxChannels: 5 }, 128, 3);
  const one = confs.createAdHoc();
  const parties = Array.from({ length: 6 }, (_, i) => new FakeParty(`p${i}`));
  t.true(one.add(parties[0]!) && one.add(parties[1]!) && one.add(parties[2]!));
  t.false(one.add(parties[3]!), 'the 4th party of a 3-party conference');
  t.is(one.refusal(), 'full');
  const two = confs.createAdHoc();
  t.true(two.add(parties[3]!) && two.add(parties[4]!));
  t.false(two.add(parties[5]!), 'the node has 5 channels');
  t.is(two.refusal(), 'channels');
  t.like(confs.status(), { channelsInUse: 5, channels: 5, parties: 5 });
  parties[0]!.leave();
  t.true(two.add(parties[5]!), 'a channel freed elsewhere can be used');
  confs.close();
  for (const p of parties) p.endpoint.close();
});

test('meet-me refusals before the answer: 486 when the room is full, 503 with Retry-After when the node is out of channels', (t) => {
  const confs = conferences({ maxChannels: 4 }, 128, 3);
  const calls = Array.from({ length: 5 }, (_, i) => new FakeCall(i < 4 ? '8001' : '8002', String(201 + i)));
  for (const c of calls.slice(0, 3)) confs.accept(c.asCall);
  t.true(calls.slice(0, 3).every((c) => c.answered && !c.rejected));
  t.is(confs.room('8001')?.size, 3, JSON.stringify(logs));
  confs.accept(calls[3]!.asCall);
  t.deepEqual(calls[3]!.rejected, { status: 486, reason: 'Busy Here (conference 8001 is full: 3 parties)', headers: undefined });
  t.false(calls[3]!.answered);
  const other = new FakeCall('8002', '210');
  confs.accept(other.asCall);
  t.true(other.answered);
  confs.accept(calls[4]!.asCall);
  t.is(calls[4]!.rejected?.status, 503);
  t.is(calls[4]!.rejected?.reason, 'Service Unavailable (all 4 conference channels of this node in use)');
  t.is(calls[4]!.rejected?.headers?.['retry-after'], '30');
  const nowhere = new FakeCall('7001');
  confs.accept(nowhere.asCall);
  t.is(nowhere.rejected?.status, 404, 'not a conference');
  confs.close();
});

test('DTMF: *6 mutes and unmutes oneself; *7 mutes the others for a moderator only', (t) => {
  const confs = conferences();
  const room = confs.createAdHoc({ dropLastParty: false });
  const [mod, a, b] = ['mod', 'a', 'b'].map((l) => new FakeParty(l));
  room.add(mod!, { moderator: true });
  room.add(a!);
  room.add(b!);
  const muted = () => room.parties().map((p) => `${p.label}:${p.muted ? 'm' : '-'}`).join(' ');
  a!.digits('*6');
  t.is(muted(), 'mod:- a:m b:-');
  a!.digits('6');
  t.is(muted(), 'mod:- a:m b:-', 'a digit without a star is not a command');
  a!.digits('*6');
  t.is(muted(), 'mod:- a:- b:-');
  b!.digits('*7');
  t.is(muted(), 'mod:- a:- b:-', 'only a moderator mutes all');
  mod!.digits('*7');
  t.is(muted(), 'mod:- a:m b:m');
  const late = new FakeParty('late');
  room.add(late);
  t.is(muted(), 'mod:- a:m b:m late:m', 'who joins while the others are muted is muted too');
  mod!.digits('*7');
  t.is(muted(), 'mod:- a:- b:- late:-');
  confs.close();
});

test('PIN room: three wrong PINs end the call; the right PIN joins; the moderator PIN joins as moderator', async (t) => {
  const confs = conferences({ rooms: [{ id: '8123', pin: '4321', moderatorPin: '999' }], pinTimeoutSeconds: 5 });
  const wrong = new FakeCall('8123', '201');
  confs.accept(wrong.asCall);
  t.true(wrong.answered, 'answered to ask for the PIN');
  wrong.digits('1#');
  wrong.digits('43210#');
  t.false(wrong.hungUp, 'two tries left one');
  wrong.digits('*4321'); // * starts over ...
  wrong.digits('5#'); // ... so this is 43215: wrong
  const deadline = Date.now() + 6000;
  while (!wrong.hungUp && Date.now() < deadline) await sleep(50);
  t.true(wrong.hungUp, 'hung up after "not right" and "goodbye"');
  t.is(confs.status().parties, 0);

  const right = new FakeCall('8123', '202');
  confs.accept(right.asCall);
  right.digits('4321#');
  const mod = new FakeCall('8123', '203');
  confs.accept(mod.asCall);
  mod.digits('999#');
  await sleep(10); // the PIN check resolves a promise
  t.deepEqual(confs.room('8123')?.parties(), [
    { label: '202', moderator: false, muted: false },
    { label: '203', moderator: true, muted: false },
  ]);
  const slow = new FakeCall('8123', '204');
  confs.accept(slow.asCall);
  slow.leave();
  await sleep(10);
  t.is(confs.room('8123')?.size, 2, 'a caller who hangs up while asked for the PIN never joins');
  confs.close();
});

test('a PIN caller whose room filled while typing hears it is full and is hung up', async (t) => {
  const confs = conferences({ rooms: [{ id: '8123', pin: '1' }] }, 128, 2);
  const late = new FakeCall('8123', '201');
  confs.accept(late.asCall);
  const first = [new FakeCall('8123', '202'), new FakeCall('8123', '203')];
  for (const c of first) {
    confs.accept(c.asCall);
    c.digits('1#');
  }
  await sleep(10);
  t.is(confs.room('8123')?.size, 2);
  late.digits('1#');
  await sleep(10);
  t.true(late.answered);
  t.false(late.hungUp, 'the prompt plays first');
  const deadline = Date.now() + 6000;
  while (!late.hungUp && Date.now() < deadline) await sleep(50);
  t.true(late.hungUp);
  t.is(confs.room('8123')?.size, 2);
  confs.close();
});
