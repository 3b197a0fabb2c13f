// The status page in a real browser: Debian's headless Chromium (/usr/bin/chromium), driven by
// playwright-core (no browser of its own is ever downloaded). Run by scripts/check_browser.sh
// against examples/status_page_server (the real exporter and the in-process fake Milvus):
//
//   node check_page.mjs EXPORTER_URL CONTROL_URL SCREENSHOT_DIR
//
// Loads the page with Milvus healthy, failing and flapping; checks its elements and text, that
// a collection named <img src=x onerror=alert(1)> is text (no dialog, no img element), that
// every target is one click away, that it renders without JavaScript, follows a dark scheme,
// and does not overflow sideways at 375 and 1920 px; saves screenshots. A self-test serves
// broken copies of the real page (a name not escaped, a table missing) in its place and
// requires the escaping and the tables checks to fail on them. Prints `ok NAME` or
// `FAIL NAME: why` per check, then `N passed, M failed`; exits 1 if any failed.

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

const [exporter, control, shots] = process.argv.slice(2);
if (!exporter || !control || !shots) {
  console.error('usage: node check_page.mjs EXPORTER_URL CONTROL_URL SCREENSHOT_DIR');
  process.exit(2);
}

const HOSTILE = '<img src=x onerror=alert(1)>';
const FLAGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
];

let passed = 0;
let failed = 0;
async function check(name, fn) {
  try {
    const note = await fn();
    console.log(`ok ${name}${note ? `: ${note}` : ''}`);
    passed++;
  } catch (e) {
    console.log(`FAIL ${name}: ${e && e.message ? e.message.split('\n')[0] : e}`);
    failed++;
  }
}
function expect(cond, why) {
  if (!cond) throw new Error(why);
}

/** GETs a control path of the fake (healthy, failing). */
async function set(state) {
  const r = await fetch(`${control}/${state}`, { signal: AbortSignal.timeout(5000) });
  expect(r.ok, `control /${state} answered ${r.status}`);
}

/** Polls /readyz (each poll past the ttl is a refresh) until it answers `want`; bounded. */
async function until(want) {
  const end = Date.now() + 20000;
  while (Date.now() < end) {
    try {
      const r = await fetch(`${exporter}/readyz`, { signal: AbortSignal.timeout(5000) });
      if (r.status === want) return;
    } catch { /* not up yet */ }
    await new Promise((res) => setTimeout(res, 150));
  }
  throw new Error(`/readyz did not answer ${want} within 20s`);
}

function profile() {
  return mkdtempSync(join(tmpdir(), 'mx-chromium-'));
}

async function launch(dir, options = {}) {
  return chromium.launchPersistentContext(dir, {
    executablePath: '/usr/bin/chromium',
    headless: true,
    args: FLAGS,
    viewport: { width: 1920, height: 1080 },
    ...options,
  });
}

const dirs = [profile(), profile()];
let context;
try {
  context = await launch(dirs[0]);
  const page = context.pages()[0] ?? (await context.newPage());
  const dialogs = [];
  page.on('dialog', async (d) => { dialogs.push(d.message()); await d.dismiss(); });
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));

  const open = async (path = '/') => {
    const r = await page.goto(`${exporter}${path}`, { waitUntil: 'load', timeout: 15000 });
    expect(r && r.status() === 200, `GET ${path} answered ${r && r.status()}`);
  };
  const text = (sel) => page.locator(sel).first().innerText({ timeout: 3000 });
  const count = (sel) => page.locator(sel).count();
  const noSidewaysScroll = async (width) => {
    await page.setViewportSize({ width, height: width < 800 ? 812 : 1080 });
    const { scroll, client } = await page.evaluate(() => ({
      scroll: document.documentElement.scrollWidth,
      client: document.documentElement.clientWidth,
    }));
    expect(scroll <= client, `at ${width} px the page is ${scroll} px wide`);
  };

  // ---- healthy --------------------------------------------------------------------------
  await set('healthy');
  await until(200);
  await open('/');
  await check('healthy: the verdict says Ready with its age', async () => {
    const v = await text('#verdict');
    expect((await text('#status')) === 'Ready', `status is ${await text('#status')}`);
    expect(/since \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC/.test(v), `no "since": ${v}`);
    expect(/data [\d.]+s old/.test(v), `no age: ${v}`);
    expect((await count('#reasons li')) === 0, 'reasons shown while ready');
  });
  // The two checks the self-test below turns on broken copies of the page.
  const tablesHold = async () => {
    for (const sel of ['#rules', '#collections-table', '#nodes-table', '#probes-table', '#host-table', '#history', '#milvus-table']) {
      expect((await count(sel)) === 1, `${sel} missing`);
    }
    expect((await count('#rules tbody tr')) >= 7, 'fewer than 7 rules');
    expect((await count('#collections-table tbody tr')) === 5, 'not 5 collections');
    expect((await count('#nodes-table tbody tr')) === 3, 'not 3 nodes');
    const header = await text('#collections-table thead');
    for (const col of ['State', 'Loaded', 'Rows', 'Index', 'Probe latency']) {
      expect(header.includes(col), `collections has no ${col} column`);
    }
    const nodes = await text('#nodes-table');
    expect(/querynode\s+2\s+12\.5% of 8\.0 GiB/.test(nodes), `nodes: ${nodes.slice(0, 200)}`);
    expect(/\d+\.\d ms/.test(await text('#probes-table')), 'no probe latency');
  };
  const escapingHolds = async () => {
    const cells = await page.locator('#collections-table td').allInnerTexts();
    expect(cells.includes(HOSTILE), `no cell reads ${HOSTILE}`);
    expect(cells.some((c) => c === 'line\\nbreak \\u{1b}[31mred'), 'the newline/escape name is not shown inert');
    expect((await count('img')) === 0, 'an img element exists');
    expect((await count('#collections-table td *')) === 0, 'markup inside a collection cell');
    expect(dialogs.length === 0, `a dialog fired: ${dialogs}`);
  };
  await check('healthy: rules, collections, nodes, probes, host and history tables', tablesHold);
  await check('every target is listed and one click away', async () => {
    const links = await page.locator('#targets a').evaluateAll((as) => as.map((a) => a.getAttribute('href')));
    expect(JSON.stringify(links) === JSON.stringify(['/', '/?target=offline', '/?target=replica']), `links ${links}`);
    await page.locator('#targets a[href="/?target=replica"]').click();
    await page.waitForURL(/\?target=replica$/, { timeout: 10000 });
    expect((await text('#status')) === 'Ready', `replica: ${await text('#status')}`);
    expect((await text('#targets a[aria-current]')).startsWith('replica'), 'replica not current');
    await page.locator('#targets a[href="/?target=offline"]').click();
    await page.waitForURL(/\?target=offline$/, { timeout: 10000 });
    expect((await text('#status')) === 'Not ready', `offline: ${await text('#status')}`);
    expect((await text('#reasons')).includes('127.0.0.1:1'), 'offline: no reason naming its address');
    await open('/');
  });
  await check('a collection named <img src=x onerror=alert(1)> is text', async () => {
    await escapingHolds();
    expect(errors.length === 0, `page errors: ${errors}`);
  });
  await check('layout: no sideways overflow at 1920 px, screenshot', async () => {
    await noSidewaysScroll(1920);
    await page.screenshot({ path: join(shots, 'status-healthy-1920.png'), fullPage: true });
  });

  // ---- failing --------------------------------------------------------------------------
  await set('failing');
  await until(503);
  await open('/');
  await check('failing: Not ready, with the reasons in words', async () => {
    expect((await text('#status')) === 'Not ready', `status is ${await text('#status')}`);
    const reasons = await page.locator('#reasons li').allInnerTexts();
    expect(reasons.some((r) => r.includes('required collection default.docs is not loaded')), `reasons ${reasons}`);
    expect(reasons.some((r) => r.includes('querynode 2 is not serving: <lost lease> "etcd"')), `reasons ${reasons}`);
    const bad = await page.locator('#rules tr.bad td:first-child').allInnerTexts();
    expect(bad.includes('collections') && bad.includes('milvus'), `failing rules ${bad}`);
  });
  await check('layout: no sideways overflow at 375 px, screenshot', async () => {
    await noSidewaysScroll(375);
    await page.screenshot({ path: join(shots, 'status-failing-375.png'), fullPage: true });
  });
  await check('dark scheme: the page follows prefers-color-scheme', async () => {
    await page.emulateMedia({ colorScheme: 'dark' });
    const bg = await page.evaluate(() => getComputedStyle(document.body).backgroundColor);
    const [r, g, b] = bg.match(/\d+/g).map(Number);
    expect(r + g + b < 150, `background ${bg} is not dark`);
    await page.screenshot({ path: join(shots, 'status-failing-375-dark.png'), fullPage: true });
    await page.emulateMedia({ colorScheme: 'light' });
    await page.setViewportSize({ width: 1920, height: 1080 });
  });

  // ---- flapping -------------------------------------------------------------------------
  for (const state of ['healthy', 'failing', 'healthy', 'failing']) {
    await set(state);
    await until(state === 'healthy' ? 200 : 503);
  }
  await open('/');
  await check('flapping: every transition is in the history table, newest first', async () => {
    const n = Number(await text('#transitions'));
    expect(n >= 5, `only ${n} transitions counted`);
    const rows = await page.locator('#history tbody tr').allInnerTexts();
    expect(rows.length >= 6, `history has ${rows.length} rows`);
    expect(/not ready/.test(rows[0]) && /became ready/.test(rows[1]), `order: ${rows.slice(0, 2)}`);
    expect(rows[0].includes('milvus, collections'), `rules: ${rows[0]}`);
    expect(rows[rows.length - 1].includes('first verdict'), 'the first verdict is not last');
    await page.screenshot({ path: join(shots, 'status-flapping-1920.png'), fullPage: true });
  });
  await check('no script fired a dialog or failed on any page', async () => {
    expect(dialogs.length === 0 && errors.length === 0, `dialogs ${dialogs}, errors ${errors}`);
  });

  // ---- self-test: the checks fail on broken copies of the real page ------------------------
  // The exporter's own page, fetched, broken one way, and served in its place.
  const real = await (await fetch(`${exporter}/`, { signal: AbortSignal.timeout(5000) })).text();
  const broken = async (name, edit, holds) => {
    await check(`self-test: the check fails on a page with ${name}`, async () => {
      const copy = edit(real);
      expect(copy !== real, `the real page has nothing to break for ${name}`);
      await page.route(`${exporter}/`, (route) => route.fulfill({ status: 200, contentType: 'text/html; charset=utf-8', body: copy }));
      await page.goto(`${exporter}/`, { waitUntil: 'load', timeout: 15000 });
      let failedAsItShould = false;
      try {
        await holds();
      } catch {
        failedAsItShould = true;
      }
      await page.unroute(`${exporter}/`);
      dialogs.length = 0;
      expect(failedAsItShould, 'the check passed on a broken page');
    });
  };
  await broken('a collection name not escaped',
    (h) => h.replace('&lt;img src=x onerror=alert(1)&gt;', HOSTILE), escapingHolds);
  await broken('the nodes table missing',
    (h) => h.replace('id="nodes-table"', 'id="nodez-table"'), tablesHold);
  await context.close();
  context = undefined;

  // ---- without JavaScript ---------------------------------------------------------------
  const still = await launch(dirs[1], { javaScriptEnabled: false });
  const plain = still.pages()[0] ?? (await still.newPage());
  await check('without JavaScript the page is the same', async () => {
    const r = await plain.goto(`${exporter}/`, { waitUntil: 'load', timeout: 15000 });
    expect(r && r.status() === 200, 'no 200');
    expect((await plain.locator('#status').innerText()) === 'Not ready', 'no verdict');
    expect((await plain.locator('#collections-table tbody tr').count()) === 5, 'no collections');
  });
  await still.close();
} catch (e) {
  console.log(`FAIL the browser run: ${e && e.message ? e.message.split('\n')[0] : e}`);
  failed++;
} finally {
  if (context) await context.close().catch(() => {});
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
}
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed === 0 ? 0 : 1);
