// hardshell's Markdown for the chat page: a model's reply, made into page nodes.
//
// Served as /markdown.js before /chat.js, under the chat page's policy (no eval,
// no inline script or style, Trusted Types required with no policy allowed), and
// exposes one function: hardshellMarkdown.render(text) -> DocumentFragment.
//
// Everything rendered is untrusted: a model's words, which a web page or a
// tool's output may have written. So:
//   - Nodes are made with createElement and textContent, never from HTML; raw
//     HTML in the text is shown as the text it is.
//   - The only elements made are the ones listed in ELEMENTS below, and the only
//     attributes are a link's href/title/target/rel, a list's start, a table
//     cell's alignment class, and the copy button's type and label.
//   - A link is an absolute http, https or mailto address, opened in a new tab
//     with no opener and no referrer, marked external, and shows its host when
//     its words are not its address. Anything else stays text. The page never
//     follows or fetches a link: an image is shown as a link to it, not loaded.
//   - Nesting and sizes are bounded, and the inline parser finds each closing
//     delimiter by lookup, so hostile text costs time linear in its length.
//
// Written here rather than taken from a library: no Rust crate runs in the page,
// and a JavaScript Markdown library would build HTML from strings and bring
// far more syntax than a chat needs into the page that holds the owner's session.
//
// What it reads: ATX headings, paragraphs (a line break is kept), fenced code
// blocks (with a copy button; an unclosed fence runs to the end, as a streamed
// reply's does), block quotes, bullet and numbered lists (nested), GFM tables,
// thematic breaks; inline code, emphasis, strong, strikethrough, links,
// autolinks and bare http(s) addresses, backslash escapes.

"use strict";

(() => {
  // The elements render() can make: the chat page's tests hold it to this list.
  const ELEMENTS = [
    "p", "br", "h3", "h4", "h5", "h6", "pre", "code", "button", "div", "blockquote",
    "ul", "ol", "li", "table", "thead", "tbody", "tr", "th", "td", "hr",
    "em", "strong", "del", "a", "span",
  ];
  const MAX_SOURCE = 256 * 1024; // longer is shown as plain text
  const MAX_DEPTH = 8; // block quotes and lists inside each other
  const MAX_INLINE_DEPTH = 8; // emphasis and links inside each other
  const MAX_LINK_TEXT = 1000;
  const MAX_LINK_DEST = 2048;
  const MAX_COLUMNS = 64;

  function element(tag, className, text) {
    const node = document.createElement(tag);
    if (className) {
      node.className = className;
    }
    if (text !== undefined) {
      node.textContent = text;
    }
    return node;
  }

  // --- links ---------------------------------------------------------------------

  // The address a link may go to, or null: absolute http(s) or mailto only, so
  // nothing in a reply points at this page's own origin by a relative path,
  // or runs script (javascript:), or holds a document (data:).
  function linkTarget(raw) {
    if (!raw || raw.length > MAX_LINK_DEST || /[\u0000-\u001f\u007f\s]/.test(raw)) {
      return null;
    }
    let url;
    try {
      url = new URL(raw);
    } catch {
      return null;
    }
    if (url.protocol === "http:" || url.protocol === "https:") {
      return url.username || url.password ? null : url;
    }
    return url.protocol === "mailto:" ? url : null;
  }

  // A link that leaves the page: a new tab, no opener, no referrer. Its words
  // are the model's; its host is shown beside them when they differ from it,
  // so words that name one site cannot quietly lead to another.
  function externalLink(url, children) {
    const link = element("a", "external");
    link.href = url.href;
    link.target = "_blank";
    link.rel = "noopener noreferrer nofollow external";
    link.referrerPolicy = "no-referrer";
    link.title = url.href;
    link.append(...children);
    const shown = link.textContent;
    const where = url.protocol === "mailto:" ? url.pathname : url.host;
    if (shown !== url.href && shown !== where && shown !== raw(url)) {
      const host = element("span", "link-host", ` (${where})`);
      return fragmentOf([link, host]);
    }
    return fragmentOf([link]);
  }

  function raw(url) {
    return url.href.replace(/\/$/, "");
  }

  function fragmentOf(nodes) {
    const fragment = document.createDocumentFragment();
    fragment.append(...nodes);
    return fragment;
  }

  // --- inline ----------------------------------------------------------------------

  const PUNCTUATION = /[!-/:-@[-`{-~]/;

  function isSpace(character) {
    return character === undefined || /\s/.test(character);
  }

  function isWordCharacter(character) {
    return character !== undefined && /[\p{L}\p{N}]/u.test(character);
  }

  // Each delimiter run of * _ ~ in `text`, and for each kind and width, the
  // sorted starts of the runs that can close it, so an opener finds its closer
  // with one binary search however many openers never close.
  function delimiterRuns(text) {
    const closers = new Map();
    const runs = new Map();
    let i = 0;
    while (i < text.length) {
      const character = text[i];
      if (character === "\\") {
        i += 2;
        continue;
      }
      if (character !== "*" && character !== "_" && character !== "~") {
        i += 1;
        continue;
      }
      let end = i;
      while (text[end] === character) {
        end += 1;
      }
      const before = text[i - 1];
      const after = text[end];
      let canOpen = !isSpace(after);
      let canClose = !isSpace(before);
      if (character === "_") {
        canOpen = canOpen && !isWordCharacter(before);
        canClose = canClose && !isWordCharacter(after);
      }
      runs.set(i, { length: end - i, canOpen });
      for (let width = 1; width <= Math.min(3, end - i); width += 1) {
        if (canClose) {
          const key = character + width;
          if (!closers.has(key)) {
            closers.set(key, []);
          }
          // A run closes from its start: "a**" closes ** at the start of the run.
          closers.get(key).push(i);
        }
      }
      i = end;
    }
    return { runs, closers };
  }

  function firstAfter(sorted, position) {
    let low = 0;
    let high = sorted.length;
    while (low < high) {
      const middle = (low + high) >> 1;
      if (sorted[middle] <= position) {
        low = middle + 1;
      } else {
        high = middle;
      }
    }
    return low < sorted.length ? sorted[low] : -1;
  }

  // The end of a code span opened by `ticks` backticks at `start`, or -1.
  function codeSpanEnd(text, start, ticks, end) {
    let at = start + ticks;
    while (at < end) {
      const found = text.indexOf("`", at);
      if (found === -1 || found >= end) {
        return -1;
      }
      let run = found;
      while (text[run] === "`") {
        run += 1;
      }
      if (run - found === ticks) {
        return found;
      }
      at = run;
    }
    return -1;
  }

  // `[words](address "title")` from `start` (at the "["), or null.
  function linkAt(text, start, end) {
    let depth = 0;
    let close = -1;
    const limit = Math.min(end, start + MAX_LINK_TEXT);
    for (let at = start; at < limit; at += 1) {
      const character = text[at];
      if (character === "\\") {
        at += 1;
      } else if (character === "[") {
        depth += 1;
      } else if (character === "]") {
        depth -= 1;
        if (depth === 0) {
          close = at;
          break;
        }
      }
    }
    if (close === -1 || text[close + 1] !== "(") {
      return null;
    }
    let at = close + 2;
    while (text[at] === " ") {
      at += 1;
    }
    let destination = "";
    if (text[at] === "<") {
      const shut = text.indexOf(">", at);
      if (shut === -1 || shut >= end) {
        return null;
      }
      destination = text.slice(at + 1, shut);
      at = shut + 1;
    } else {
      let parens = 0;
      const from = at;
      while (at < end && at - from <= MAX_LINK_DEST && !/\s/.test(text[at])) {
        if (text[at] === "(") {
          parens += 1;
        } else if (text[at] === ")") {
          if (parens === 0) {
            break;
          }
          parens -= 1;
        }
        at += 1;
      }
      destination = text.slice(from, at);
    }
    while (text[at] === " ") {
      at += 1;
    }
    if (text[at] === '"' || text[at] === "'") {
      const shut = text.indexOf(text[at], at + 1);
      if (shut === -1 || shut >= end) {
        return null;
      }
      at = shut + 1;
      while (text[at] === " ") {
        at += 1;
      }
    }
    if (text[at] !== ")") {
      return null;
    }
    return { wordsStart: start + 1, wordsEnd: close, destination, next: at + 1 };
  }

  // A bare address's end: up to white space, a quote or an angle bracket (and
  // at most MAX_LINK_DEST characters on), less trailing punctuation and the
  // ")"s it does not open. The brackets are counted once: linear in its length.
  function bareAddressEnd(text, start, end) {
    const limit = Math.min(end, start + MAX_LINK_DEST);
    let at = start;
    let opens = 0;
    let closes = 0;
    while (at < limit && !/[\s<>"'`]/.test(text[at])) {
      if (text[at] === "(") {
        opens += 1;
      } else if (text[at] === ")") {
        closes += 1;
      }
      at += 1;
    }
    for (;;) {
      const last = text[at - 1];
      if (/[.,:;!?"'*_~]/.test(last)) {
        at -= 1;
      } else if (last === ")" && closes > opens) {
        at -= 1;
        closes -= 1;
      } else {
        return at;
      }
    }
  }

  // Appends the inline content of text[start, end) to `parent`.
  function inline(parent, text, start, end, delimiters, depth, inLink) {
    let plain = "";
    // The next ">" at or after a position, found again only once passed, so
    // a run of "<" costs one scan, not one each.
    let nextGt = -2;
    const gtFrom = (at) => {
      if (nextGt !== -1 && nextGt < at) {
        nextGt = text.indexOf(">", at);
      }
      return nextGt;
    };
    const flush = () => {
      if (plain) {
        parent.append(plain);
        plain = "";
      }
    };
    let i = start;
    while (i < end) {
      const character = text[i];
      if (character === "\\" && i + 1 < end && PUNCTUATION.test(text[i + 1])) {
        plain += text[i + 1];
        i += 2;
        continue;
      }
      if (character === "\n") {
        flush();
        parent.append(element("br"));
        i += 1;
        continue;
      }
      if (character === "`") {
        let ticks = 0;
        while (text[i + ticks] === "`") {
          ticks += 1;
        }
        const shut = codeSpanEnd(text, i, ticks, end);
        if (shut === -1) {
          plain += "`".repeat(ticks);
          i += ticks;
          continue;
        }
        let code = text.slice(i + ticks, shut).replace(/\n/g, " ");
        if (code.length > 2 && code.startsWith(" ") && code.endsWith(" ") && code.trim()) {
          code = code.slice(1, -1);
        }
        flush();
        parent.append(element("code", null, code));
        i = shut + ticks;
        continue;
      }
      const image = character === "!" && text[i + 1] === "[";
      if ((character === "[" || image) && depth < MAX_INLINE_DEPTH && !inLink) {
        const link = linkAt(text, image ? i + 1 : i, end);
        const url = link && linkTarget(link.destination);
        if (url) {
          flush();
          const words = document.createDocumentFragment();
          if (image) {
            // Never loaded: an image would be a request the page makes by itself.
            const alt = text.slice(link.wordsStart, link.wordsEnd);
            words.append(`Image: ${alt || url.href}`);
          } else {
            inline(words, text, link.wordsStart, link.wordsEnd, delimiters, depth + 1, true);
          }
          parent.append(externalLink(url, [words]));
          i = link.next;
          continue;
        }
        if (link) {
          // Not a place the page links to: the words, then the address as text.
          flush();
          inline(parent, text, link.wordsStart, link.wordsEnd, delimiters, depth + 1, inLink);
          plain += ` (${link.destination})`;
          i = link.next;
          continue;
        }
      }
      if (character === "<" && !inLink) {
        const shut = gtFrom(i);
        if (shut !== -1 && shut < end && shut - i <= MAX_LINK_DEST) {
          const url = /^[A-Za-z][A-Za-z0-9+.-]*:[^\s<>]*$/.test(text.slice(i + 1, shut))
            ? linkTarget(text.slice(i + 1, shut))
            : null;
          if (url) {
            flush();
            parent.append(externalLink(url, [text.slice(i + 1, shut)]));
            i = shut + 1;
            continue;
          }
        }
      }
      if (
        (character === "h" || character === "H") &&
        !inLink &&
        /^https?:\/\//i.test(text.slice(i, i + 8)) &&
        !isWordCharacter(text[i - 1])
      ) {
        const stop = bareAddressEnd(text, i, end);
        const url = linkTarget(text.slice(i, stop));
        if (url) {
          flush();
          parent.append(externalLink(url, [text.slice(i, stop)]));
          i = stop;
          continue;
        }
      }
      const run = delimiters.runs.get(i);
      if (run && depth < MAX_INLINE_DEPTH) {
        // ~~ strikes through; * and _ make em (1), strong (2) or both (3), and
        // a longer run's extra delimiters are text.
        const width = character === "~" ? 2 : Math.min(3, run.length);
        const extra = run.length - width;
        const opener = i + extra;
        if (run.canOpen && extra >= 0) {
          const closers = delimiters.closers.get(character + width) || [];
          const shut = firstAfter(closers, opener + width - 1);
          if (shut !== -1 && shut < end && shut > opener + width) {
            plain += text.slice(i, opener);
            flush();
            let node;
            let inner;
            if (character === "~") {
              node = inner = element("del");
            } else if (width === 3) {
              node = element("strong");
              inner = element("em");
              node.append(inner);
            } else {
              node = inner = element(width === 2 ? "strong" : "em");
            }
            inline(inner, text, opener + width, shut, delimiters, depth + 1, inLink);
            parent.append(node);
            i = shut + width;
            continue;
          }
        }
        plain += text.slice(i, i + run.length);
        i += run.length;
        continue;
      }
      plain += character;
      i += 1;
    }
    flush();
  }

  function inlineOf(tag, text, className) {
    const node = element(tag, className);
    inline(node, text, 0, text.length, delimiterRuns(text), 0, false);
    return node;
  }

  // --- blocks ----------------------------------------------------------------------

  const FENCE = /^ {0,3}(`{3,}|~{3,})([^`]*)$/;
  // No lazy group before an optional tail: a line of spaces is not tried at
  // each length (the closing #s are taken off by headingText).
  const HEADING = /^ {0,3}(#{1,6})(?:[ \t]+(.*)|[ \t]*)$/;
  const BREAK = /^ {0,3}([-*_])(?:[ \t]*\1){2,}[ \t]*$/;
  const QUOTE = /^ {0,3}> ?(.*)$/;
  const ITEM = /^( {0,3})([-*+]|\d{1,9}[.)])(?:([ \t]+)(.*))?$/;


  function blank(line) {
    return /^[ \t]*$/.test(line);
  }

  function startsBlock(lines, i) {
    const line = lines[i];
    return (
      FENCE.test(line) ||
      HEADING.test(line) ||
      BREAK.test(line) ||
      QUOTE.test(line) ||
      (ITEM.test(line) && !blank(ITEM.exec(line)[4] || "")) ||
      startsTable(lines, i)
    );
  }

  // The cells of a table row, split at each "|" not escaped or in code.
  function cells(line) {
    let row = line.trim();
    if (row.startsWith("|")) {
      row = row.slice(1);
    }
    if (row.endsWith("|") && !row.endsWith("\\|")) {
      row = row.slice(0, -1);
    }
    const found = [];
    let cell = "";
    let code = false;
    for (let i = 0; i < row.length; i += 1) {
      const character = row[i];
      if (character === "\\" && row[i + 1] === "|") {
        cell += "|";
        i += 1;
      } else if (character === "`") {
        code = !code;
        cell += character;
      } else if (character === "|" && !code) {
        found.push(cell.trim());
        cell = "";
      } else {
        cell += character;
      }
    }
    found.push(cell.trim());
    return found;
  }

  // A table's second line: cells of dashes, each with an optional colon at
  // either end. Checked cell by cell, never by one backtracking pattern.
  function isDelimiterRow(line) {
    return (
      line.includes("-") &&
      /^[ \t|:-]*$/.test(line) &&
      cells(line).every((cell) => /^:?-+:?$/.test(cell))
    );
  }

  function startsTable(lines, i) {
    const next = lines[i + 1];
    return (
      lines[i].includes("|") &&
      next !== undefined &&
      isDelimiterRow(next) &&
      cells(lines[i]).length === cells(next).length
    );
  }

  // A heading's words without the closing #s (a run of them after a space).
  function headingText(words) {
    const trimmed = words.trimEnd();
    let at = trimmed.length;
    while (at > 0 && trimmed[at - 1] === "#") {
      at -= 1;
    }
    if (at === trimmed.length) {
      return trimmed;
    }
    if (at === 0) {
      return "";
    }
    return trimmed[at - 1] === " " || trimmed[at - 1] === "\t" ? trimmed.slice(0, at).trimEnd() : trimmed;
  }

  function table(lines, i) {
    const head = cells(lines[i]).slice(0, MAX_COLUMNS);
    const aligns = cells(lines[i + 1]).map((spec) => {
      const left = spec.startsWith(":");
      const right = spec.endsWith(":");
      return left && right ? "align-center" : right ? "align-right" : left ? "align-left" : null;
    });
    const node = element("table");
    const thead = element("thead");
    const header = element("tr");
    head.forEach((text, column) => header.append(inlineOf("th", text, aligns[column])));
    thead.append(header);
    const tbody = element("tbody");
    let at = i + 2;
    while (at < lines.length && !blank(lines[at]) && lines[at].includes("|")) {
      const row = element("tr");
      const values = cells(lines[at]);
      head.forEach((_, column) => row.append(inlineOf("td", values[column] ?? "", aligns[column])));
      tbody.append(row);
      at += 1;
    }
    node.append(thead, tbody);
    // Wide tables scroll inside the message, not the page.
    const scroller = element("div", "table-scroll");
    scroller.append(node);
    return { node: scroller, next: at };
  }

  // A fenced code block with a button that copies its text.
  function codeBlock(text, language) {
    const block = element("div", "code-block");
    const bar = element("div", "code-bar");
    const label = element("span", "code-language", language || "code");
    const copy = element("button", "copy quiet", "Copy");
    copy.type = "button";
    copy.setAttribute("aria-label", language ? `Copy the ${language} code` : "Copy the code");
    copy.addEventListener("click", async () => {
      try {
        await navigator.clipboard.writeText(text);
        copy.textContent = "Copied";
      } catch {
        // No clipboard (not a secure context, or refused): select it for the owner.
        const range = document.createRange();
        range.selectNodeContents(code);
        getSelection().removeAllRanges();
        getSelection().addRange(range);
        copy.textContent = "Selected: press Ctrl+C";
      }
      setTimeout(() => {
        copy.textContent = "Copy";
      }, 2000);
    });
    bar.append(label, copy);
    const pre = element("pre");
    const code = element("code", null, text);
    pre.append(code);
    block.append(bar, pre);
    return block;
  }

  // The lines of a list item's content, from the item's first line at `i`.
  function listItem(lines, i, match) {
    const indent = match[1].length;
    const marker = match[2];
    const spaces = (match[3] || " ").length;
    const width = indent + marker.length + (spaces > 4 ? 1 : spaces);
    const content = [spaces > 4 ? " ".repeat(spaces - 1) + (match[4] || "") : match[4] || ""];
    let at = i + 1;
    while (at < lines.length) {
      const line = lines[at];
      if (blank(line)) {
        content.push("");
        at += 1;
        continue;
      }
      const leading = line.length - line.trimStart().length;
      if (leading >= width) {
        content.push(line.slice(width));
        at += 1;
        continue;
      }
      // A line that is not a block of its own, right after text, continues it.
      const previous = content[content.length - 1];
      if (previous !== "" && !startsBlock(lines, at) && !ITEM.test(line)) {
        content.push(line.trimStart());
        at += 1;
        continue;
      }
      break;
    }
    while (content.length > 1 && content[content.length - 1] === "") {
      content.pop();
      at -= 1;
    }
    return { content, next: at };
  }

  function list(lines, i, depth) {
    const first = ITEM.exec(lines[i]);
    const ordered = /\d/.test(first[2]);
    const kind = ordered ? first[2].slice(-1) : first[2];
    const node = element(ordered ? "ol" : "ul");
    if (ordered) {
      const start = Number.parseInt(first[2], 10);
      if (start !== 1) {
        node.start = start;
      }
    }
    let at = i;
    while (at < lines.length) {
      const match = ITEM.exec(lines[at]);
      if (!match || (ordered ? !/\d/.test(match[2]) || match[2].slice(-1) !== kind : match[2] !== kind)) {
        break;
      }
      const item = listItem(lines, at, match);
      const li = element("li");
      li.append(...blocks(item.content, depth + 1));
      node.append(li);
      at = item.next;
      // A blank line between items keeps the list going.
      let after = at;
      while (after < lines.length && blank(lines[after])) {
        after += 1;
      }
      if (after < lines.length && after !== at && ITEM.test(lines[after])) {
        at = after;
      }
    }
    return { node, next: at };
  }

  // The blocks of `lines`, as nodes.
  function blocks(lines, depth) {
    const nodes = [];
    let i = 0;
    while (i < lines.length) {
      const line = lines[i];
      if (blank(line)) {
        i += 1;
        continue;
      }
      const fence = FENCE.exec(line);
      if (fence) {
        const marker = fence[1];
        const language = (fence[2].trim().split(/\s+/)[0] || "").slice(0, 32);
        const closing = new RegExp(`^ {0,3}${marker[0] === "`" ? "`" : "~"}{${marker.length},}[ \\t]*$`);
        const body = [];
        i += 1;
        while (i < lines.length && !closing.test(lines[i])) {
          body.push(lines[i]);
          i += 1;
        }
        i += 1; // the closing fence, or past the end of an unclosed one
        nodes.push(codeBlock(body.join("\n"), /^[\w+#.-]+$/.test(language) ? language : ""));
        continue;
      }
      const heading = HEADING.exec(line);
      if (heading) {
        // The page's own headings are h1 and h2: a reply's start at h3.
        const level = Math.min(6, heading[1].length + 2);
        nodes.push(inlineOf(`h${level}`, headingText(heading[2] || "")));
        i += 1;
        continue;
      }
      if (BREAK.test(line)) {
        nodes.push(element("hr"));
        i += 1;
        continue;
      }
      if (QUOTE.test(line) && depth < MAX_DEPTH) {
        const quoted = [];
        while (i < lines.length && QUOTE.test(lines[i])) {
          quoted.push(QUOTE.exec(lines[i])[1]);
          i += 1;
        }
        const quote = element("blockquote");
        quote.append(...blocks(quoted, depth + 1));
        nodes.push(quote);
        continue;
      }
      const item = ITEM.exec(line);
      if (item && depth < MAX_DEPTH) {
        const found = list(lines, i, depth);
        nodes.push(found.node);
        i = found.next;
        continue;
      }
      if (startsTable(lines, i)) {
        const found = table(lines, i);
        nodes.push(found.node);
        i = found.next;
        continue;
      }
      const paragraph = [line.trim()];
      i += 1;
      while (i < lines.length && !blank(lines[i]) && !startsBlock(lines, i)) {
        paragraph.push(lines[i].trim());
        i += 1;
      }
      nodes.push(inlineOf("p", paragraph.join("\n")));
    }
    return nodes;
  }

  function render(source) {
    const text = String(source ?? "");
    const fragment = document.createDocumentFragment();
    if (text.length > MAX_SOURCE) {
      fragment.append(element("p", "plain", text));
      return fragment;
    }
    fragment.append(...blocks(text.replace(/\r\n?/g, "\n").split("\n"), 0));
    return fragment;
  }

  globalThis.hardshellMarkdown = Object.freeze({ render, ELEMENTS: Object.freeze(ELEMENTS) });
})();
