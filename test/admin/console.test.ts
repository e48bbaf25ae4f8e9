/**
 * The web console in a real headless browser (Debian's chromium through playwright-core) with
 * real phones (baresip): log in (and choose a new password), see a phone register, see a live
 * call between two phones with its codec, mute a conference party (the other party stops hearing
 * it) and remove it, add a user and register a phone as that user, add a hunt group.
 */
import test from 'ava';
import { lastHeard, startPhone, type Baresip } from '../helpers/baresip.js';
import { openBrowser, type Browser } from '../helpers/browser.js';
import { portBlock } from '../helpers/ports.js';
import { startServer, type TestServer } from '../helpers/server.js';
import { hasTone, lacksTone, toneRatio } from '../helpers/tone.js';
import { sleep, until } from '../helpers/wait.js';
import type { Page } from 'playwright-core';

const port = portBlock(122);

interface World {
  node: TestServer;
  base: string;
  browser: Browser;
  page: Page;
  phones: Baresip[];
  phone(ext: string, n: number, freq: number, o?: { answer?: 'auto' | 'manual'; codecs?: string }): Promise<Baresip>;
}

/** A node (SIP on port(k), API on port(k+1)), a browser logged in to its console, and phones on demand. */
async function world(k: number, run: (w: World) => Promise<void>): Promise<void> {
  const node = await startServer({ udp: port(k), admin: `port: ${port(k + 1)}` });
  const base = `http://127.0.0.1:${port(k + 1)}`;
  const phones: Baresip[] = [];
  let browser: Browser | undefined;
  try {
    browser = await openBrowser();
    const page = browser.page;
    await page.goto(base);
    await page.getByLabel('Account').fill('admin');
    await page.getByLabel('Password', { exact: true }).fill('admin');
    await page.getByRole('button', { name: 'Log in' }).click();
    // the default password must go first
    await page.getByRole('heading', { name: 'Choose a new password' }).waitFor();
    await page.getByLabel('Current password').fill('admin');
    await page.getByLabel('New password').fill('console-pw-1');
    await page.getByRole('button', { name: 'Set password' }).click();
    await page.getByRole('heading', { name: 'Solution' }).waitFor();
    const phone = async (ext: string, n: number, freq: number, o: { answer?: 'auto' | 'manual'; codecs?: string } = {}) => {
      const p = await startPhone({ dir: node.dir, ext, freq, answer: o.answer, codecs: o.codecs, listen: `127.0.0.${110 + n}:${port(50 + k + n)}`, ctrlPort: port(120 + k + n), server: `127.0.0.1:${port(k)}` });
      phones.push(p);
      return p;
    };
    await run({ node, base, browser, page, phones, phone });
  } finally {
    for (const p of phones) await p.stop();
    await browser?.close();
    await node.close();
  }
}

const go = async (page: Page, link: string) => {
  await page.getByRole('link', { name: link, exact: true }).click();
  await page.getByRole('heading', { name: link === 'Calls' ? 'Calls in progress' : link === 'Trunks' ? 'Trunks and node links' : link === 'Audit' ? 'Audit trail' : link }).waitFor();
};

test.serial('log in, see a phone register and a live call between two phones with its codec', async (t) => {
  await world(0, async ({ page, phone, node }) => {
    t.regex(await page.locator('#who').innerText(), /admin \(administrator\)/);
    t.regex(await page.locator('tr[data-node="node1"]').innerText(), /node1\s+up\s+primary\s+DL360/);
    await go(page, 'Registrations');
    t.is(await page.locator('tr[data-extension]').count(), 0);
    const a = await phone('201', 1, 1000, { codecs: 'PCMA' });
    await page.locator('tr[data-extension="201"]').waitFor({ timeout: 10_000 });
    t.regex(await page.locator('tr[data-extension="201"]').innerText(), /201\s+201\s+udp:127\.0\.0\.111:\d+/);
    await phone('202', 2, 440, { answer: 'auto', codecs: 'PCMA' });
    await go(page, 'Calls');
    a.command('dial', `sip:202@127.0.0.1:${port(0)}`);
    const row = page.locator('tr[data-call]').filter({ hasText: 'connected' });
    await row.waitFor({ timeout: 10_000 });
    const text = await row.innerText();
    t.regex(text, /connected\s+201\s+202/);
    t.regex(text, /201 PCMA/);
    t.regex(text, /202 PCMA/);
    await page.screenshot({ path: `${node.dir}/console-calls.png` });
    a.command('hangup');
    await row.waitFor({ state: 'detached', timeout: 10_000 });
    t.pass('the call left the page when it ended');
  });
});

test.serial('mute a conference party from the console: the other party stops hearing it; then remove it', async (t) => {
  await world(20, async ({ page, phone, node }) => {
    const a = await phone('201', 1, 1000, { answer: 'auto' });
    const b = await phone('202', 2, 440, { answer: 'auto' });
    await go(page, 'Conferences');
    a.command('dial', `sip:8000@127.0.0.1:${port(20)}`);
    b.command('dial', `sip:8000@127.0.0.1:${port(20)}`);
    const party = page.locator('tr[data-party="201"]');
    await page.locator('tr[data-party="202"]').waitFor({ timeout: 10_000 });
    await sleep(2000);
    await party.getByRole('button', { name: 'Mute' }).click();
    await party.getByText('muted', { exact: true }).waitFor({ timeout: 5000 });
    t.true(node.server.conferences.room('8000')!.parties().find((p) => p.label === '201')!.muted);
    await sleep(3000);
    b.command('hangup');
    await b.waitEvent((e) => e.type === 'CALL_CLOSED', 10_000);
    const heard = await lastHeard(b);
    const muted = heard.subarray(heard.length - 16000, heard.length - 4000);
    const before = heard.subarray(2000, 10000);
    t.true(hasTone(before, 1000, 0.3), `202 heard 201 before the mute (ratio ${toneRatio(before, 1000).toFixed(2)})`);
    t.true(lacksTone(muted, 1000, 0.05), `and not after it (ratio ${toneRatio(muted, 1000).toFixed(3)})`);
    await page.locator('tr[data-party="202"]').waitFor({ state: 'detached', timeout: 10_000 });
    await party.getByRole('button', { name: 'Remove' }).click();
    await a.waitEvent((e) => e.type === 'CALL_CLOSED', 10_000);
    t.pass('removing 201 hung up its call');
    await until('the room to end', () => node.server.conferences.status().conferences === 0, 5000);
  });
});

test.serial('add a user in the console and register a phone as that user; add a hunt group', async (t) => {
  await world(40, async ({ page, phone, node }) => {
    await go(page, 'Users');
    const form = page.locator('#user-form');
    await form.getByLabel('Extension').fill('211');
    await form.getByLabel('Name').fill('Newcomer');
    await form.getByLabel('SIP password (empty: keep)').fill('demo211');
    await form.getByRole('button', { name: 'Save user' }).click();
    await page.getByText(/^Saved: revision 2/).waitFor();
    await page.locator('tr[data-extension="211"]').waitFor();
    t.regex(await page.locator('tr[data-extension="211"]').innerText(), /211\s+Newcomer/);
    await phone('211', 11, 600);
    await page.locator('tr[data-extension="211"]').getByText('yes', { exact: true }).waitFor({ timeout: 10_000 });
    t.pass('the page shows 211 registered');
    await form.getByLabel('Extension').fill('212');
    await form.getByLabel('SIP password (empty: keep)').fill('x');
    await form.getByRole('button', { name: 'Save user' }).click();
    await page.locator('#page .error').getByText(/users\[11\]\.password: must be a string of 4\.\.64 characters/).waitFor({ timeout: 5000 });
    t.false(node.server.config.users.some((u) => u.extension === '212'), 'a refused user is not added');

    await go(page, 'Hunt groups');
    const hg = page.locator('#huntgroup-form');
    await hg.getByLabel('Number', { exact: true }).fill('300');
    await hg.getByLabel('Name').fill('Desk');
    await hg.getByLabel('Members (numbers, comma-separated)').fill('211, 202');
    await hg.getByLabel('Ring mode').selectOption('rotary');
    await hg.getByRole('button', { name: 'Save hunt group' }).click();
    await page.locator('tr[data-group="300"]').waitFor();
    t.regex(await page.locator('tr[data-group="300"]').innerText(), /300\s+Desk\s+rotary\s+in\s+211, 202/);
    t.true(node.server.hunt.isGroup('300'));
    await go(page, 'Audit');
    t.regex(await page.locator('#content').innerText(), /user-add\s+211\s+ok\s+users\[211\]: added/);
  });
});
