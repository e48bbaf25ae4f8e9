/**
 * Attacks on voicemail, beside the owner who must keep access: guessing a mailbox PIN with many
 * parallel calls (defect 6), and a flood of message-waiting subscriptions from one user (12).
 */
import test from 'ava';
import { portBlock } from '../helpers/ports.js';
import { runSipp, startSipp } from '../helpers/sipp.js';
import { startServer } from '../helpers/server.js';
import { dtmfScenario } from '../helpers/sipp-dtmf.js';
import { eventually, until } from '../helpers/wait.js';
import { authorization, challengeOf, request, statusOf, token, UdpAttacker } from '../helpers/attacker.js';

const port = portBlock(135);

test.serial('defect 6: wrong PINs from parallel calls lock the mailbox and slow the caller; the owner still gets in', async (t) => {
  const node = await startServer({
    udp: port(0),
    voicemail: 'pin: { attempts: 3, lockout: { maxFailures: 5, windowSeconds: 600, lockoutSeconds: 600 } }',
  });
  try {
    const vm = node.server.voicemail!;
    t.is(vm.store.setPin('203', '4739', { minLength: 4, complexity: true }), undefined, '203 chose its PIN');
    const log = (re: RegExp) => node.logger.records.filter((r) => re.test(String(r.message)));
    const call = (who: string, number: string, steps: (string | number)[], p: number, calls = 1) => startSipp([`127.0.0.1:${port(0)}`,
      '-sf', dtmfScenario(node.dir, `dtmf-${who}-${p}`, steps), '-s', number, '-au', who, '-ap', `demo${who}`, '-key', 'caller', who,
      '-i', '127.0.0.1', '-p', String(p), '-mi', '127.0.0.1', '-mp', String(p + 2), '-l', String(calls), '-m', String(calls)], { timeoutMs: 40_000 });
    // four calls at once from 201, each typing the mailbox, then guessing "1111" again and again
    const guesses: (string | number)[] = [600, '203#'];
    for (let i = 0; i < 12; i++) guesses.push(700, '1111#');
    const attack = call('201', '*18', guesses, port(10), 4);
    await until('the mailbox lockout', () => node.server.alarms.isUp('voicemail.pin-lockout', '203'), 30_000, { detail: () => log(/voicemail/).map((r) => r.message).join('\n') });
    await attack.stop();
    t.like(node.server.alarms.list('voicemail.pin-lockout')[0], { key: '203', severity: 'major' });
    t.true(log(/^security: voicemail 203 locked after 5 wrong PINs/).length === 1);

    // now the right PIN from another phone is refused unchecked
    const other = call('204', '*18', [600, '203#', 1500, '4739#', 3000], port(20));
    await until('the refusal', () => log(/^voicemail 203: PIN from 204 refused unchecked/).length > 0, 20_000);
    await other.stop();
    t.false(log(/^voicemail 203: collecting messages from 204/).length > 0, 'the right PIN did not open the locked mailbox');

    // the owner's own phone, authenticated by the registrar, gets in with the PIN
    const owner = call('203', '*17', [1500, '4739#', 2000], port(30));
    await until('the owner in', () => log(/^voicemail 203: collecting messages from 203/).length > 0, 20_000);
    await owner.stop();
    t.pass();
  } finally {
    await node.close();
  }
});

test.serial('defect 12: one user cannot hold thousands of message-waiting subscriptions; another user still subscribes', async (t) => {
  const node = await startServer({ udp: port(40), voicemail: 'maxSubscriptionsPerUser: 5' });
  const a = await UdpAttacker.open('127.0.8.1');
  try {
    const subscribe = async (user: string, from: UdpAttacker) => {
      const base = { method: 'SUBSCRIBE', uri: `sip:${user}@127.0.0.1`, fromUser: user, toUser: user, via: from.via, callId: `${token()}@s`, headers: { Event: 'message-summary', Expires: '600' } };
      const c = challengeOf((await from.ask(request({ ...base, cseq: 1 }), port(40)))!);
      const authz = authorization({ user, password: `demo${user}`, method: 'SUBSCRIBE', uri: base.uri, realm: c.realm, nonce: c.nonce, nc: 1 });
      return statusOf(await from.ask(request({ ...base, cseq: 2, headers: { ...base.headers, 'Proxy-Authorization': authz } }), port(40)));
    };
    const answers: string[] = [];
    for (let i = 0; i < 40; i++) answers.push(await subscribe('201', a));
    t.is(answers.filter((s) => s.startsWith('200')).length, 5, answers.join(' | '));
    t.is(answers.filter((s) => s === '403 Forbidden (at most 5 subscriptions per user)').length, 35);
    t.true(await eventually(() => (node.server.status().voicemail as { subscriptions: number }).subscriptions === 5, 2000));
    const b = await UdpAttacker.open('127.0.8.2');
    try {
      t.is(await subscribe('202', b), '200 OK', 'another user is not affected');
    } finally {
      b.close();
    }
  } finally {
    a.close();
    await node.close();
  }
});
