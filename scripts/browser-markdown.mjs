// Renders hostile Markdown on the real chat page in a real headless Chromium:
// the page, its scripts and its policy come from the real edge; the chat API's
// answers (one stored chat, and one streamed reply) are given by this script,
// so the agent's words are exactly the test's. Run by hardshell-edge's test
// `markdown_page` (crates/hardshell-edge/tests/edge/markdown_page.rs); not for
// anything else.
//
//   PLAYWRIGHT_HOME=$INFRA/node node scripts/browser-markdown.mjs \
//     --edge http://127.0.0.1:PORT --session <the owner's session id> \
//     --markdown FILE --screenshot FILE.png
//
// Steps: (1) the stored chat is opened: its reply is rendered from the stored
// text; (2) a message is sent and the same text streams back in small pieces,
// cut anywhere; (3) the code block's copy button is pressed and the clipboard
// read. Prints one line of JSON: each rendering as a flat list of elements
// (tag, attributes, text), every request the page made, every policy
// violation, what the page's traps caught, and the clipboard. The test judges
// it. On failure prints `browser-markdown: <what failed>` on stderr, exits 1.
import { readFileSync } from 'node:fs';

import { commandLine, failFor, launch, loadPlaywright } from './browser-common.mjs';

const STEP_TIMEOUT_MS = 30_000;
const SESSION_ID = 'markdown';
// Pieces of the streamed reply: small and prime, so they cut delimiters, fences
// and table rows in two.
const PIECE = 7;

const fail = failFor('browser-markdown');
const args = commandLine(fail, ['edge', 'session', 'markdown', 'screenshot']);
const edge = new URL(args.edge);
const markdown = readFileSync(args.markdown, 'utf8');

function json(body) {
  return { status: 200, contentType: 'application/json', body: JSON.stringify(body) };
}

function stored(role, text, seq) {
  return { seq, at: '2026-12-06T10:00:00Z', message: { role, content: [{ type: 'text', text }] } };
}

// The chat API as the built-in agent would answer it, with the test's words.
async function answerTheApi(context) {
  await context.route((url) => url.origin === edge.origin && url.pathname.startsWith('/api/sessions'), (route) => {
    const request = route.request();
    const path = new URL(request.url()).pathname;
    if (path === '/api/sessions' && request.method() === 'GET') {
      return route.fulfill(json({
        sessions: [{ id: SESSION_ID, title: 'Markdown', created: '2026-12-06T10:00:00Z', updated: '2026-12-06T10:00:00Z', message_count: 2 }],
      }));
    }
    if (path === `/api/sessions/${SESSION_ID}` && request.method() === 'GET') {
      return route.fulfill(json({
        messages: [stored('user', 'Show me <b>everything</b>', 1), stored('assistant', markdown, 2)],
        waiting: [],
      }));
    }
    if (path === `/api/sessions/${SESSION_ID}/messages` && request.method() === 'POST') {
      const events = [`event: accepted\ndata: ${JSON.stringify({ seq: 3 })}\n\n`];
      for (let at = 0; at < markdown.length; at += PIECE) {
        events.push(`event: delta\ndata: ${JSON.stringify({ text: markdown.slice(at, at + PIECE) })}\n\n`);
      }
      events.push(`event: done\ndata: ${JSON.stringify({ usage: {} })}\n\n`);
      return route.fulfill({ status: 200, contentType: 'text/event-stream', body: events.join('') });
    }
    return route.fulfill({ status: 404, body: '' });
  });
}

// Every element under a rendered reply, in document order.
function flatten(selector) {
  const root = document.querySelectorAll(selector);
  const last = root[root.length - 1];
  if (!last) {
    return null;
  }
  return [...last.querySelectorAll('*')].map((node) => ({
    tag: node.localName,
    attributes: Object.fromEntries([...node.attributes].map((a) => [a.name, a.value])),
    text: node.textContent,
  }));
}

async function main() {
  const chromium = await loadPlaywright(fail);
  const browser = await launch(chromium, fail);
  const context = await browser.newContext({ viewport: { width: 1100, height: 2400 } });
  context.setDefaultTimeout(STEP_TIMEOUT_MS);
  await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: edge.origin });
  await context.addCookies([{ name: 'hs_session', value: args.session, url: edge.origin, httpOnly: true, sameSite: 'Strict' }]);
  await answerTheApi(context);
  // Traps, set before the page's own scripts run: a policy violation means the
  // page tried something its policy refuses.
  await context.addInitScript(() => {
    window.violations = [];
    document.addEventListener('securitypolicyviolation', (event) => {
      window.violations.push(`${event.violatedDirective}: ${event.blockedURI}`);
    });
  });
  const page = await context.newPage();
  const requests = [];
  page.on('request', (request) => requests.push(request.url()));
  const problems = [];
  page.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
  page.on('console', (message) => {
    if (message.type() === 'error') problems.push(`console: ${message.text()}`);
  });
  page.on('dialog', (dialog) => {
    problems.push(`a dialog opened: ${dialog.message()}`);
    dialog.dismiss();
  });
  try {
    // (1) The stored chat.
    await page.goto(new URL(`/#chat=${SESSION_ID}`, edge).href);
    await page.waitForSelector('body.ready');
    await page.waitForSelector('.message.assistant .text.markdown');
    const storedRendering = await page.evaluate(flatten, '.message.assistant .text.markdown');
    const source = await page.getAttribute('.message.assistant .text.markdown', 'data-source');

    // (2) The same words, streamed.
    await page.fill('#message', 'Again, please.');
    await page.press('#message', 'Enter');
    await page.waitForSelector('#message:disabled');
    await page.waitForSelector('#message:enabled');
    const streamedRendering = await page.evaluate(flatten, '.message.assistant .text.markdown');
    const replies = await page.locator('.message.assistant .text.markdown').count();

    // (3) The copy button of the last reply's first code block.
    const copy = page.locator('.message.assistant .text.markdown').last().locator('.code-block button.copy').first();
    await copy.click();
    await page.waitForFunction(
      () => [...document.querySelectorAll('.code-block button.copy')].some((b) => b.textContent !== 'Copy'),
    );
    const copyLabel = await copy.textContent();
    const clipboard = await page.evaluate(() => navigator.clipboard.readText());
    await page.screenshot({ path: args.screenshot, fullPage: true });

    // (4) Text made to be slow or deep: each rendering ends, nesting stops at
    // its bound, and no word is lost.
    const extremes = await page.evaluate(() => {
      const ladder = Array.from({ length: 600 }, (_, i) => '`'.repeat(i + 1)).join(' x ');
      const cases = {
        stars: '*a '.repeat(60_000),
        underscores: '_a '.repeat(60_000),
        brackets: '['.repeat(100_000),
        links: '[a]('.repeat(30_000),
        ticks: `a${'`'.repeat(50_000)}`,
        ladder,
        quotes: `${'>'.repeat(5_000)} deep`,
        lists: Array.from({ length: 200 }, (_, i) => `${' '.repeat(i * 2)}- item ${i}`).join('\n'),
        huge: 'x'.repeat(300 * 1024),
        // Each once made a pattern or a loop try every length of a long run.
        headingSpaces: `# ${' '.repeat(200_000)}x`,
        delimiterSpaces: `a|b\n|-${' '.repeat(200_000)}x`,
        brackets2: `https://a.example/${')'.repeat(200_000)}`,
        angles: '<'.repeat(200_000),
      };
      const nesting = (root, tag) => {
        let deepest = 0;
        for (const node of root.querySelectorAll(tag)) {
          let depth = 0;
          for (let at = node; at && at !== root; at = at.parentElement) {
            if (at.localName === tag) depth += 1;
          }
          deepest = Math.max(deepest, depth);
        }
        return deepest;
      };
      return Object.fromEntries(Object.entries(cases).map(([name, text]) => {
        const holder = document.createElement('div');
        holder.append(hardshellMarkdown.render(text));
        return [name, {
          length: text.length,
          shown: holder.textContent.length,
          quotes: nesting(holder, 'blockquote'),
          lists: nesting(holder, 'ul'),
          elements: holder.querySelectorAll('*').length,
        }];
      }));
    });

    const traps = await page.evaluate(() => ({
      pwned: window.pwned === undefined ? null : String(window.pwned),
      violations: [...window.violations],
    }));
    const rendered = [...problems];
    // Trusted Types required: a string given to an HTML sink is refused (and
    // says so on the console, after the page's own problems were taken).
    const innerHtmlRefused = await page.evaluate(() => {
      try {
        document.createElement('div').innerHTML = '<b>x</b>';
        return false;
      } catch (error) {
        return error instanceof TypeError;
      }
    });
    console.log(JSON.stringify({
      innerHtmlRefused,
      source,
      replies,
      stored: storedRendering,
      streamed: streamedRendering,
      copyLabel,
      clipboard,
      extremes,
      requests,
      problems: rendered,
      ...traps,
    }));
  } catch (error) {
    console.error(`browser-markdown: ${error.message.split('\n')[0]} (at ${page.url()}; ${problems.join('; ')})`);
    process.exitCode = 1;
  } finally {
    await browser.close();
  }
}

await main();
