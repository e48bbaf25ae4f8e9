import test from 'ava';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Store } from '../../src/core/store.js';
import { parseFeatureCode, SettingsStore, type PhoneSettings } from '../../src/features/calls/settings.js';

const base: PhoneSettings = { forwardAll: undefined, forwardBusy: '203', forwardNoAnswer: undefined, noAnswerSeconds: 15, doNotDisturb: false, callWaiting: true, withholdCallerId: false };

test('changes made from the phone survive a restart and win over the configuration', (t) => {
  const path = join(mkdtempSync(join(tmpdir(), 'settings-')), 's.sqlite');
  const first = Store.open(path);
  const s1 = new SettingsStore(first, new Map([['201', base]]));
  s1.update('201', { forwardAll: '205', doNotDisturb: true });
  s1.update('201', { forwardBusy: undefined });
  first.close();
  const second = Store.open(path);
  const s2 = new SettingsStore(second, new Map([['201', base]]));
  t.like(s2.get('201'), { forwardAll: '205', doNotDisturb: true, noAnswerSeconds: 15 });
  t.is(s2.get('201')?.forwardBusy, undefined, 'switched off from the phone, also after restart');
  t.is(s2.get('999'), undefined);
  second.close();
});

test('feature codes', (t) => {
  t.deepEqual(parseFeatureCode('*21*205'), { kind: 'set', patch: { forwardAll: '205' }, target: '205' });
  t.deepEqual(parseFeatureCode('*20'), { kind: 'set', patch: { forwardAll: undefined } });
  t.deepEqual(parseFeatureCode('*61*205*20'), { kind: 'set', patch: { forwardNoAnswer: '205', noAnswerSeconds: 20 }, target: '205' });
  t.deepEqual(parseFeatureCode('*78'), { kind: 'set', patch: { doNotDisturb: true } });
  t.deepEqual(parseFeatureCode('*31*202'), { kind: 'withheld-call', number: '202' });
  t.is(parseFeatureCode('*21'), undefined, 'forward-all needs a number');
  t.is(parseFeatureCode('*78*1'), undefined);
  t.is(parseFeatureCode('201'), undefined);
  t.is(parseFeatureCode('*99'), undefined);
});
