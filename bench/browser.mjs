// The browser benchmark's measuring half (bench/browser.sh sets everything up
// and runs it): page loads and cold starts through hardshell's /cdp, against
// the same Chromium binary launched by Playwright and reaching the same site
// directly, measured side by side in one run.
//
//   per load    one page per browser, `page.goto(site + path)` waiting for
//               `load`, cycling over a few of the test site's pages; the two
//               browsers take turns in rounds of --round loads (the first to go
//               alternates), so drift on the machine hits both alike
//   cold start  from `connectOverCDP` (a fresh browser in a shell of its own,
//               started for the connection) and from `chromium.launch` to the
//               first page loaded, alternating, --cold times each
//
// Prints p50/p90 and the ratios, then one `summary: {...}` JSON line. Never
// judges a figure: a load that fails or answers other than 2xx stops the run
// (a fast error page is not a page load), and that is the only exit 1.
//
//   PLAYWRIGHT_HOME=$INFRA/node node bench/browser.mjs --endpoint ws://HOST:PORT/cdp \
//     --token T --site http://ADDR --chromium /usr/lib/chromium/chromium \
//     [--loads 200] [--round 10] [--cold 5]
import { parseArgs } from 'node:util';
import { performance } from 'node:perf_hooks';

import { loadPlaywright } from '../scripts/browser-common.mjs';

// Pages of scripts/test-site.py that answer 200 at once (no redirect, no
// script reaching elsewhere), so a load is one document from the site.
const PATHS = ['/', '/form', '/landed'];
// Generous: a step on two busy cores can stall; a timeout is a failure, never
// a figure.
const STEP_TIMEOUT_MS = 60_000;

function fail(message) {
  console.error(`browser.mjs: ${message}`);
  process.exit(1);
}

const { values: args } = parseArgs({
  options: {
    endpoint: { type: 'string' },
    token: { type: 'string' },
    site: { type: 'string' },
    chromium: { type: 'string' },
    loads: { type: 'string', default: '200' },
    round: { type: 'string', default: '10' },
    cold: { type: 'string', default: '5' },
  },
});
for (const name of ['endpoint', 'token', 'site', 'chromium']) {
  if (!args[name]) fail(`--${name} is required`);
}
function count(name) {
  const n = Number(args[name]);
  if (!Number.isInteger(n) || n < 1) fail(`--${name} must be a positive whole number, not ${JSON.stringify(args[name])}`);
  return n;
}
const loads = count('loads');
const round = Math.min(count('round'), loads);
const colds = count('cold');

const chromium = await loadPlaywright(fail);
const headers = { Authorization: `Bearer ${args.token}` };

// The two ways to a browser, each giving { browser, context }.
const ways = {
  hardshell: async () => {
    const browser = await chromium.connectOverCDP(args.endpoint, { headers, timeout: STEP_TIMEOUT_MS });
    // The session's browser comes with its default context, as OpenClaw uses it.
    const context = browser.contexts()[0] ?? (await browser.newContext());
    return { browser, context };
  },
  direct: async () => {
    const browser = await chromium.launch({
      executablePath: args.chromium,
      args: ['--no-sandbox', '--headless'],
      timeout: STEP_TIMEOUT_MS,
    });
    return { browser, context: await browser.newContext() };
  },
};

async function load(page, path) {
  const url = `${args.site}${path}`;
  const response = await page.goto(url, { waitUntil: 'load', timeout: STEP_TIMEOUT_MS });
  if (!response || !response.ok()) {
    throw new Error(`${url} answered ${response ? response.status() : 'nothing'}`);
  }
}

async function timed(run) {
  const started = performance.now();
  await run();
  return performance.now() - started;
}

// Nearest rank: the smallest sample with at least q of them at or below it.
function quantile(samples, q) {
  const sorted = [...samples].sort((a, b) => a - b);
  return sorted[Math.max(0, Math.ceil(q * sorted.length) - 1)];
}

function figures(samples) {
  return { p50: quantile(samples, 0.5), p90: quantile(samples, 0.9), n: samples.length };
}

const ms = (x) => `${x.toFixed(1)} ms`.padStart(10);
const ratio = (a, b) => (b > 0 ? a / b : NaN);

async function perLoad() {
  const open = {};
  for (const [name, start] of Object.entries(ways)) {
    const { browser, context } = await start();
    const page = await context.newPage();
    // Unmeasured: the first load of each page warms the browser (and, through
    // hardshell, the broker's connection to the site).
    for (const path of PATHS) await load(page, path);
    open[name] = { browser, page, times: [], next: 0 };
  }
  const names = Object.keys(open);
  for (let done = 0, turn = 0; done < loads; done += round, turn += 1) {
    const order = turn % 2 === 0 ? names : [...names].reverse();
    for (const name of order) {
      const way = open[name];
      for (let i = 0; i < Math.min(round, loads - done); i += 1) {
        const path = PATHS[way.next++ % PATHS.length];
        way.times.push(await timed(() => load(way.page, path)));
      }
    }
  }
  for (const way of Object.values(open)) await way.browser.close();
  return Object.fromEntries(names.map((name) => [name, figures(open[name].times)]));
}

async function coldStart(start) {
  let browser;
  const took = await timed(async () => {
    const opened = await start();
    browser = opened.browser;
    const page = await opened.context.newPage();
    await load(page, '/');
  });
  await browser.close();
  return took;
}

async function coldStarts() {
  const names = Object.keys(ways);
  // One unmeasured start of each: the binary's pages into the page cache.
  for (const name of names) await coldStart(ways[name]);
  const times = Object.fromEntries(names.map((name) => [name, []]));
  for (let i = 0; i < colds; i += 1) {
    for (const name of i % 2 === 0 ? names : [...names].reverse()) {
      times[name].push(await coldStart(ways[name]));
    }
  }
  return Object.fromEntries(names.map((name) => [name, figures(times[name])]));
}

try {
  const perLoadFigures = await perLoad();
  const cold = await coldStarts();
  const h = perLoadFigures.hardshell;
  const d = perLoadFigures.direct;
  console.log(`\npage load (goto, waiting for load), ${loads} each over ${PATHS.join(' ')}, rounds of ${round}:`);
  console.log(`  ${''.padEnd(28)}${'p50'.padStart(10)}${'p90'.padStart(10)}`);
  console.log(`  ${'through hardshell /cdp'.padEnd(28)}${ms(h.p50)}${ms(h.p90)}`);
  console.log(`  ${'direct (chromium.launch)'.padEnd(28)}${ms(d.p50)}${ms(d.p90)}`);
  console.log(`  ratio p50 ${ratio(h.p50, d.p50).toFixed(2)}x, p90 ${ratio(h.p90, d.p90).toFixed(2)}x (target p50 <= 1.05x)`);
  const ch = cold.hardshell;
  const cd = cold.direct;
  console.log(`\ncold start to the first page loaded, ${colds} each, alternating:`);
  console.log(`  ${'connectOverCDP via /cdp'.padEnd(28)}${ms(ch.p50)} p50 ${ms(ch.p90)} p90`);
  console.log(`  ${'chromium.launch'.padEnd(28)}${ms(cd.p50)} p50 ${ms(cd.p90)} p90`);
  console.log(`  ratio p50 ${ratio(ch.p50, cd.p50).toFixed(2)}x`);
  const round1 = (x) => Number(x.toFixed(1));
  const round2 = (x) => Number(x.toFixed(2));
  const summary = {
    loads,
    load_ms: {
      hardshell: { p50: round1(h.p50), p90: round1(h.p90) },
      direct: { p50: round1(d.p50), p90: round1(d.p90) },
      ratio_p50: round2(ratio(h.p50, d.p50)),
      ratio_p90: round2(ratio(h.p90, d.p90)),
    },
    cold_starts: colds,
    cold_ms: {
      hardshell: { p50: round1(ch.p50) },
      direct: { p50: round1(cd.p50) },
      ratio_p50: round2(ratio(ch.p50, cd.p50)),
    },
  };
  console.log(`\nsummary: ${JSON.stringify(summary)}`);
} catch (error) {
  fail(error.message.split('\n')[0]);
}
