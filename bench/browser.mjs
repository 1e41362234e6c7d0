// The browser benchmark's measuring half (bench/browser.sh sets everything up
// and runs it): page loads and cold starts through hardshell's /cdp, against
// the same Chromium binary launched by Playwright and reaching the same site
// directly, measured side by side in one run.
//
//   per load    one page per browser, `page.goto(site + path)` waiting for
//               `load`, cycling over a few of the test site's pages; the
//               browsers take turns in rounds of --round loads (who goes first
//               rotates), so drift on the machine hits them alike
//   cold start  from `connectOverCDP` (a fresh browser in a shell of its own,
//               started for the connection) and from `chromium.launch` to the
//               first page loaded, in turns, --cold times each
//
// The hardshell rows come from BENCH_HARDSHELL, a JSON list of
// {label, endpoint, token} (in the environment, not on a command line anyone
// can read in ps); each uses its session's default context, as OpenClaw does.
// The baseline is `chromium.launch` with a new (in-memory) context; a second
// direct row, a persistent context with its profile on tmpfs, is the like of
// a session's default context. Prints p50/p90 and the ratios against the
// baseline, then one
// `summary: {...}` JSON line. Never judges a figure: a load that fails or
// answers other than 2xx stops the run (a fast error page is not a page
// load), and that is the only exit 1.
//
//   BENCH_HARDSHELL='[{"label":…,"endpoint":"ws://HOST:PORT/cdp","token":…}]' \
//   PLAYWRIGHT_HOME=$INFRA/node node bench/browser.mjs --site http://ADDR \
//     --chromium /usr/lib/chromium/chromium [--loads 200] [--round 10] [--cold 5]
import { spawn } from 'node:child_process';
import { parseArgs } from 'node:util';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';

import { loadPlaywright } from '../scripts/browser-common.mjs';

// Pages of scripts/test-site.py that answer 200 at once (no redirect, no
// script reaching elsewhere), so a load is one document from the site.
const PATHS = ['/', '/form', '/landed'];
// Generous: a step on two busy cores can stall; a timeout is a failure, never
// a figure.
const STEP_TIMEOUT_MS = 60_000;
const DIRECT = 'direct (chromium.launch)';
const PERSISTENT = 'direct (persistent context)';
const OVER_CDP = 'direct over CDP (same flags)';

function fail(message) {
  console.error(`browser.mjs: ${message}`);
  process.exit(1);
}

const { values: args } = parseArgs({
  options: {
    site: { type: 'string' },
    chromium: { type: 'string' },
    loads: { type: 'string', default: '200' },
    round: { type: 'string', default: '10' },
    cold: { type: 'string', default: '5' },
  },
});
for (const name of ['site', 'chromium']) {
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
let instances;
try {
  instances = JSON.parse(process.env.BENCH_HARDSHELL ?? '');
} catch {
  fail('BENCH_HARDSHELL is not set to a JSON list of {label, endpoint, token}');
}
if (!Array.isArray(instances) || instances.length === 0
  || !instances.every((i) => i && typeof i.label === 'string' && typeof i.endpoint === 'string' && typeof i.token === 'string')) {
  fail('BENCH_HARDSHELL must be a non-empty JSON list of {label, endpoint, token} strings');
}

const chromium = await loadPlaywright(fail);

// Every way to a browser, by row label, each giving { context, close }.
const ways = {};
for (const { label, endpoint, token } of instances) {
  ways[label] = async () => {
    const browser = await chromium.connectOverCDP(endpoint, {
      headers: { Authorization: `Bearer ${token}` },
      timeout: STEP_TIMEOUT_MS,
    });
    // The session's browser comes with its default context, as OpenClaw uses it.
    const context = browser.contexts()[0] ?? (await browser.newContext());
    // Disconnecting ends the session; whatever a relay answers to Playwright's
    // last calls is no part of the figures.
    return { context, close: () => browser.close().catch(() => {}) };
  };
}
const launchOptions = {
  executablePath: args.chromium,
  args: ['--no-sandbox', '--headless'],
  timeout: STEP_TIMEOUT_MS,
};
// The brief's baseline: `chromium.launch`, a page in a new context (kept in
// memory, as `browser.newPage()` makes).
ways[DIRECT] = async () => {
  const browser = await chromium.launch(launchOptions);
  return { context: await browser.newContext(), close: () => browser.close() };
};
// The like of a session's default context: a profile directory on tmpfs, as
// the session's is on its shell's /tmp. Shows what the kind of context costs
// by itself, apart from hardshell.
ways[PERSISTENT] = async () => {
  const profile = mkdtempSync(join(existsSync('/dev/shm') ? '/dev/shm' : tmpdir(), 'hardshell-browser-bench-'));
  const context = await chromium.launchPersistentContext(profile, launchOptions);
  return {
    context,
    close: async () => {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
};
// hardshell's rows with nothing of hardshell: the same binary started with
// the flags a session's browser gets (but no proxy: it reaches the site
// itself), its default context over connectOverCDP to its own DevTools
// port, as the hardshell rows drive theirs. What the shell, the relay and
// the broker add is the hardshell rows against this one.
const POOL_FLAGS = [
  '--headless', '--no-sandbox', '--no-first-run', '--no-default-browser-check',
  '--disable-background-networking', '--disable-component-update', '--disable-domain-reliability',
  '--disable-sync', '--disable-default-apps', '--disable-extensions', '--disable-breakpad',
  '--no-pings', '--metrics-recording-only', '--password-store=basic', '--disable-quic',
  '--remote-debugging-address=127.0.0.1', '--remote-debugging-port=0',
];
ways[OVER_CDP] = async () => {
  const profile = mkdtempSync(join(existsSync('/dev/shm') ? '/dev/shm' : tmpdir(), 'hardshell-browser-bench-'));
  const child = spawn(args.chromium, [...POOL_FLAGS, `--user-data-dir=${profile}`, 'about:blank'],
    { stdio: ['ignore', 'ignore', 'pipe'] });
  const endpoint = await new Promise((resolve, reject) => {
    let seen = '';
    const timer = setTimeout(() => reject(new Error('chromium never said where DevTools listens')), STEP_TIMEOUT_MS);
    child.stderr.on('data', (chunk) => {
      seen += chunk;
      const found = seen.match(/DevTools listening on (ws:\/\/\S+)/);
      if (found) {
        clearTimeout(timer);
        resolve(found[1]);
      }
    });
    child.on('exit', () => reject(new Error(`chromium exited: ${seen.slice(-300)}`)));
  });
  const browser = await chromium.connectOverCDP(endpoint, { timeout: STEP_TIMEOUT_MS });
  return {
    context: browser.contexts()[0] ?? (await browser.newContext()),
    close: async () => {
      await browser.close().catch(() => {});
      child.kill('SIGKILL');
      rmSync(profile, { recursive: true, force: true });
    },
  };
};
const names = Object.keys(ways);

// Turn `turn`'s order: the list rotated, so each goes first as often.
function rotated(turn) {
  const at = turn % names.length;
  return [...names.slice(at), ...names.slice(0, at)];
}

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
  return { p50: quantile(samples, 0.5), p90: quantile(samples, 0.9) };
}

async function perLoad() {
  const open = {};
  for (const name of names) {
    const { context, close } = await ways[name]();
    const page = await context.newPage();
    // Unmeasured: the first load of each page warms the browser (and, through
    // hardshell, the broker).
    for (const path of PATHS) await load(page, path);
    open[name] = { close, page, times: [], next: 0 };
  }
  for (let done = 0, turn = 0; done < loads; done += round, turn += 1) {
    for (const name of rotated(turn)) {
      const way = open[name];
      for (let i = 0; i < Math.min(round, loads - done); i += 1) {
        const path = PATHS[way.next++ % PATHS.length];
        way.times.push(await timed(() => load(way.page, path)));
      }
    }
  }
  for (const way of Object.values(open)) await way.close();
  return Object.fromEntries(names.map((name) => [name, figures(open[name].times)]));
}

async function coldStart(start) {
  let close;
  const took = await timed(async () => {
    const opened = await start();
    close = opened.close;
    const page = await opened.context.newPage();
    await load(page, '/');
  });
  await close();
  return took;
}

async function coldStarts() {
  // One unmeasured start of each: the binary's pages into the page cache.
  for (const name of names) await coldStart(ways[name]);
  const times = Object.fromEntries(names.map((name) => [name, []]));
  for (let turn = 0; turn < colds; turn += 1) {
    for (const name of rotated(turn)) times[name].push(await coldStart(ways[name]));
  }
  return Object.fromEntries(names.map((name) => [name, figures(times[name])]));
}

const ms = (x) => `${x.toFixed(1)} ms`.padStart(11);
const times = (x) => `${x.toFixed(2)}x`.padStart(9);
const width = Math.max(...names.map((name) => name.length)) + 2;

function table(title, rows, withP90Ratio) {
  const direct = rows[DIRECT];
  console.log(`\n${title}`);
  const cdp = rows[OVER_CDP];
  console.log(`  ${''.padEnd(width)}${'p50'.padStart(11)}${'p90'.padStart(11)}${'p50/direct'.padStart(12)}`
    + (withP90Ratio ? `${'p90/direct'.padStart(12)}` : '') + `${'p50/over CDP'.padStart(14)}`);
  for (const name of names) {
    const row = rows[name];
    console.log(`  ${name.padEnd(width)}${ms(row.p50)}${ms(row.p90)}${times(row.p50 / direct.p50).padStart(12)}`
      + (withP90Ratio ? times(row.p90 / direct.p90).padStart(12) : '') + times(row.p50 / cdp.p50).padStart(14));
  }
}

try {
  const perLoadFigures = await perLoad();
  const cold = await coldStarts();
  table(`page load (goto, waiting for load), ${loads} each over ${PATHS.join(' ')}, in rounds of ${round} (target: p50/direct <= 1.05x)`,
    perLoadFigures, true);
  table(`cold start to the first page loaded, ${colds} each, in turns`, cold, false);
  const r1 = (x) => Number(x.toFixed(1));
  const r2 = (x) => Number(x.toFixed(2));
  const row = (all, name, p90Ratio) => ({
    p50_ms: r1(all[name].p50),
    p90_ms: r1(all[name].p90),
    p50_ratio: r2(all[name].p50 / all[DIRECT].p50),
    p50_over_cdp_ratio: r2(all[name].p50 / all[OVER_CDP].p50),
    ...(p90Ratio ? { p90_ratio: r2(all[name].p90 / all[DIRECT].p90) } : {}),
  });
  const summary = {
    loads,
    cold_starts: colds,
    load: Object.fromEntries(names.map((name) => [name, row(perLoadFigures, name, true)])),
    cold: Object.fromEntries(names.map((name) => [name, row(cold, name, false)])),
  };
  console.log(`\nsummary: ${JSON.stringify(summary)}`);
} catch (error) {
  fail(error.message.split('\n')[0]);
}
