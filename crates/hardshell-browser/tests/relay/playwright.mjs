// Playwright's connectOverCDP (as OpenClaw's browser tool connects) straight
// to a relay under test: open a page, read it, click, fill, screenshot, PDF,
// and one navigation the policy refuses. Prints one JSON line of what it
// saw; exits non-zero with the reason otherwise.
//
// usage: node playwright.mjs ws://127.0.0.1:PORT/cdp http://SITE
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';

const [endpoint, site] = process.argv.slice(2);
const path = createRequire(`${process.env.PLAYWRIGHT_HOME}/`).resolve('playwright-core');
const module = await import(pathToFileURL(path).href);
const { chromium } = module.default ?? module;
const timeout = 30_000;
const seen = {};
let browser;
try {
  browser = await chromium.connectOverCDP(endpoint, { timeout });
  const context = browser.contexts()[0] ?? (await browser.newContext());
  const page = await context.newPage();
  page.setDefaultTimeout(timeout);
  await page.goto(`${site}/`);
  seen.title = await page.title();
  await page.click('#hello');
  seen.clicked = await page.textContent('#said');
  await page.fill('#name', 'Ada');
  seen.filled = await page.inputValue('#name');
  const png = await page.screenshot();
  seen.screenshot_png = png.subarray(1, 4).toString() === 'PNG';
  const pdf = await page.pdf();
  seen.pdf = pdf.subarray(0, 5).toString() === '%PDF-';
  seen.file = await page.goto('file:///etc/passwd').then(() => 'opened', (e) => e.message.split('\n')[0]);
  seen.after = await page.evaluate(() => 1 + 1);
  console.log(JSON.stringify(seen));
} catch (error) {
  console.error(`${error.message.split('\n')[0]} (seen so far: ${JSON.stringify(seen)})`);
  process.exit(1);
} finally {
  await browser?.close().catch(() => {});
}
