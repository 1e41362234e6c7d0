// Playwright's connectOverCDP through hardshell's /cdp (as OpenClaw's
// browser tool connects with `browser.cdpUrl`): open the test site, read it,
// click, fill and send a form, take a screenshot and a PDF. Prints one JSON
// line of what it saw; exits non-zero with the reason otherwise.
//
// usage: node browser-cdp.mjs --endpoint ws://HOST/cdp[?token=…] [--token T] --site http://ADDR
import { loadPlaywright } from './browser-common.mjs';

function fail(message) {
  console.error(message);
  process.exit(1);
}

const args = {};
for (let i = 2; i < process.argv.length; i += 2) {
  args[process.argv[i].replace(/^--/, '')] = process.argv[i + 1];
}
if (!args.endpoint || !args.site) fail('usage: --endpoint URL [--token T] --site URL');

const chromium = await loadPlaywright(fail);
const headers = args.token ? { Authorization: `Bearer ${args.token}` } : {};
const timeout = 30_000;
const seen = {};
let browser;
try {
  browser = await chromium.connectOverCDP(args.endpoint, { headers, timeout });
  const context = browser.contexts()[0] ?? (await browser.newContext());
  const page = await context.newPage();
  page.setDefaultTimeout(timeout);
  await page.goto(`${args.site}/`);
  seen.title = await page.title();
  await page.click('#hello');
  seen.clicked = await page.textContent('#said');
  await page.goto(`${args.site}/form`);
  await page.fill('#name', 'Ada');
  await page.selectOption('#colour', 'green');
  await Promise.all([page.waitForNavigation(), page.click('#send')]);
  seen.submitted = await page.textContent('#submitted');
  const png = await page.screenshot();
  seen.screenshot_bytes = png.length;
  seen.screenshot_png = png.subarray(1, 4).toString() === 'PNG';
  const pdf = await page.pdf();
  seen.pdf_bytes = pdf.length;
  seen.pdf = pdf.subarray(0, 5).toString() === '%PDF-';
  await page.goto(`${args.site}/redirect/3`);
  seen.redirected = await page.title();
  // The host's loopback, from a page: refused by the broker.
  const response = await page.goto('http://127.0.0.1:9/').catch((e) => e.message.split('\n')[0]);
  seen.loopback = typeof response === 'string' ? response : `status ${response?.status()}`;
  console.log(JSON.stringify(seen));
} catch (error) {
  fail(`${error.message.split('\n')[0]} (seen so far: ${JSON.stringify(seen)})`);
} finally {
  await browser?.close().catch(() => {});
}
