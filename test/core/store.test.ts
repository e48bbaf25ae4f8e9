import test from 'ava';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Store } from '../../src/core/store.js';

const V1 = 'CREATE TABLE location (aor TEXT NOT NULL, contact TEXT NOT NULL, PRIMARY KEY (aor, contact))';
const V2 = "ALTER TABLE location ADD COLUMN expires INTEGER NOT NULL DEFAULT 0; INSERT INTO location VALUES ('seed', 'x', 0)";

function tempPath(): string {
  return join(mkdtempSync(join(tmpdir(), 'pbx-store-')), 'nested', 'dir', 'pbx.sqlite');
}

test('migrations are idempotent across reopen and data persists', (t) => {
  const path = tempPath();
  let store = Store.open(path);
  t.is(store.prepare('PRAGMA journal_mode').pluck().get(), 'wal');
  t.is(store.migrate('registrar', [V1, V2]), 2);
  t.is(store.migrate('registrar', [V1, V2]), 2);
  store.prepare('INSERT INTO location VALUES (?, ?, ?)').run('sip:201@pbx', 'sip:201@192.0.2.5', 3600);
  store.setMeta('nonceSecret', 'abc');
  store.close();
  store.close();

  store = Store.open(path);
  t.is(store.version('registrar'), 2);
  t.is(store.migrate('registrar', [V1, V2]), 2);
  t.is(store.prepare('SELECT count(*) FROM location').pluck().get(), 2, 'the seeding migration ran once');
  t.is(store.prepare('SELECT expires FROM location WHERE aor = ?').pluck().get('sip:201@pbx'), 3600);
  t.is(store.getMeta('nonceSecret'), 'abc');
  // A later release appends a migration: only it runs.
  t.is(store.migrate('registrar', [V1, V2, 'CREATE INDEX location_expires ON location (expires)']), 3);
  t.is(store.version('other'), 0);
  store.close();
});

test('a failing migration leaves the previous version intact', (t) => {
  const store = Store.open(':memory:');
  store.migrate('cdr', ['CREATE TABLE cdr (id INTEGER PRIMARY KEY)']);
  t.throws(() => store.migrate('cdr', ['CREATE TABLE cdr (id INTEGER PRIMARY KEY)', 'CREATE TABLE t (a); SELECT * FROM nowhere']), {
    message: /cdr migration 2 failed: no such table: nowhere/,
  });
  t.is(store.version('cdr'), 1);
  t.is(store.prepare("SELECT count(*) FROM sqlite_master WHERE name = 't'").pluck().get(), 0);
  t.throws(() => store.migrate('cdr', []), { message: /newer than this code knows/ });
  store.close();
});

test('meta, transactions and a closed store', (t) => {
  const store = Store.open(':memory:');
  t.is(store.getMeta('missing'), undefined);
  t.is(store.getOrCreateMeta('secret', () => 'first'), 'first');
  t.is(store.getOrCreateMeta('secret', () => 'second'), 'first');
  store.migrate('t', ['CREATE TABLE n (v INTEGER)']);
  const insert = store.prepare('INSERT INTO n VALUES (?)');
  t.throws(() =>
    store.transaction(() => {
      insert.run(1);
      throw new Error('rollback');
    })(),
  );
  t.is(store.prepare('SELECT count(*) FROM n').pluck().get(), 0);
  t.throws(() => store.migrate('Bad Name', []), { instanceOf: TypeError, message: /^feature: / });
  store.close();
  t.true(store.closed);
  t.throws(() => store.getMeta('secret'), { message: /closed/ });
  t.notThrows(() => store.close());
});
