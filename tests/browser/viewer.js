// viewer.js - drives Debian's Chromium (playwright-core) through sealview, as an outside
// recipient would. Called by tests/e2e/test-viewer.sh; prints one "ok - ..." or
// "FAIL - ..." line per check (the shell counts them) and exits 1 on a failure.
//
//   node viewer.js MODE
// Environment: LINK (the link from the delivered mail), SINK_DIR (where the SMTP sink
// stores mail), ADDRESS (a recipient), OTHER (an address that is not one), ARTIFACTS
// (screenshots go there), VERIFY_BASE (optional: enter the passcode on another
// sealview node, http://127.0.0.1:PORT), EXPECT_TEXT, EXPECT_ATTACHMENT (file name),
// ATTACHMENT_FILE (its expected bytes).
// FORWARD_TO (an address to forward to).
// Modes: flow, lock, nonrecipient, revoked, expired, hostile, forward.
//
// Every page may reach sealview alone: any other request is aborted and fails the run.
'use strict';
const fs = require('fs');
const path = require('path');
const { chromium } = require('playwright-core');

const env = process.env;
const mode = process.argv[2];
const link = env.LINK;
const origin = new URL(link).origin;
const allowed = new Set([origin, env.VERIFY_BASE ? new URL(env.VERIFY_BASE).origin : origin]);
let failed = 0;

function ok(name) { console.log('ok - ' + name); }
function fail(name, why) { failed++; console.log('FAIL - ' + name + (why ? ': ' + why : '')); }
function check(name, cond, why) { if (cond) ok(name); else fail(name, why); }

async function shot(page, name) {
  fs.mkdirSync(env.ARTIFACTS, { recursive: true });
  await page.screenshot({ path: path.join(env.ARTIFACTS, `${mode}-${name}.png`), fullPage: true });
}

// The passcode mailed for ref: polls the sink for a mail with X-Sealview-Reference: ref.
async function passcodeFor(ref, to, timeoutMs = 60000) {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    for (const f of fs.readdirSync(env.SINK_DIR).filter((n) => n.endsWith('.eml'))) {
      const text = fs.readFileSync(path.join(env.SINK_DIR, f), 'latin1');
      if (text.includes('X-Sealview-Reference: ' + ref) && text.toLowerCase().includes('to: ' + to)) {
        const m = text.match(/passcode is: (\d{8})/);
        if (m) return m[1];
      }
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  return null;
}

async function browserContext(browser, offHost) {
  // Entering the passcode on another node posts the form to another origin, which the page's
  // own CSP (form-action 'self') rightly forbids: only that run lifts it.
  const ctx = await browser.newContext({ acceptDownloads: true, viewport: { width: 1000, height: 900 },
    bypassCSP: !!env.VERIFY_BASE });
  await ctx.route('**/*', (route) => {
    const u = new URL(route.request().url());
    if (u.protocol === 'data:' || allowed.has(u.origin)) return route.continue();
    offHost.push(route.request().url());
    return route.abort();
  });
  return ctx;
}

// Ask for a passcode as address; returns { page, ref }.
async function requestCode(ctx, address) {
  const page = await ctx.newPage();
  const r = await page.goto(link);
  if (r.status() !== 200) throw new Error('the link answered ' + r.status());
  await page.fill('#address', address);
  await Promise.all([page.waitForNavigation(), page.click('button[type=submit]')]);
  const ref = (await page.textContent('#ref')).trim();
  return { page, ref };
}

async function enterCode(page, code) {
  if (env.VERIFY_BASE) {
    // Another sealview node: the same form, posted to the other node.
    const action = await page.getAttribute('form[action$="/verify"]', 'action');
    await page.evaluate(([base, a]) => { document.querySelector('form[action$="/verify"]').action = base + a; },
      [env.VERIFY_BASE, action]);
  }
  await page.fill('#code', code);
  await Promise.all([page.waitForNavigation(), page.click('form[action$="/verify"] button[type=submit]')]);
}

async function signIn(ctx, name) {
  const { page, ref } = await requestCode(ctx, env.ADDRESS);
  check(`${name}: the page shows a reference code`, /^[A-Z0-9]{4}-[A-Z0-9]{4}$/.test(ref), ref);
  await shot(page, 'passcode-form');
  const code = await passcodeFor(ref, env.ADDRESS);
  check(`${name}: the passcode mail arrived with the same reference`, code !== null);
  if (code === null) throw new Error('no passcode mail');
  await enterCode(page, code);
  return { page, ref, code };
}

async function flow(browser) {
  const offHost = [];
  const ctx = await browserContext(browser, offHost);
  const { page } = await signIn(ctx, 'flow');
  if (env.VERIFY_BASE) {
    check('flow: signed in through the other sealview node', page.url().startsWith(env.VERIFY_BASE), page.url());
    await page.goto(link);   // the session lives in the shared database: the first node knows it too
  }
  const body = await page.textContent('body');
  check('flow: the message text is shown', body.includes(env.EXPECT_TEXT), body.slice(0, 400));
  check('flow: the header fields are shown', body.includes('Subject') && body.includes('From'));
  check('flow: the rights are shown', (await page.$('[data-right="view"]')) !== null);
  check('flow: the expiry is shown', /\d{4}-\d\d-\d\d/.test(await page.textContent('#expires')));
  check('flow: no print affordance without the print right', (await page.$('a[href$="/print"]')) === null);
  check('flow: no forward affordance without the forward right', (await page.$('#forward')) === null);
  const cookies = await ctx.cookies();
  const svs = cookies.find((c) => c.name === 'svs');
  check('flow: the session cookie is HttpOnly and SameSite=Strict', svs && svs.httpOnly && svs.sameSite === 'Strict',
    JSON.stringify(svs));
  await shot(page, 'message');
  if (env.EXPECT_ATTACHMENT) {
    const a = await page.$(`#attachments a:has-text("${env.EXPECT_ATTACHMENT}")`);
    check('flow: the attachment is offered for download', a !== null);
    if (a) {
      const [dl] = await Promise.all([page.waitForEvent('download'), a.click()]);
      const p = await dl.path();
      const got = fs.readFileSync(p);
      const want = fs.readFileSync(env.ATTACHMENT_FILE);
      check('flow: the downloaded attachment is byte for byte the original', Buffer.compare(got, want) === 0,
        `${got.length} bytes, want ${want.length}`);
      check('flow: with its file name', dl.suggestedFilename() === env.EXPECT_ATTACHMENT, dl.suggestedFilename());
    }
  }
  // Reply.
  await page.fill('#reply', 'Thanks, the terms are fine. (reply from the viewer)');
  await Promise.all([page.waitForNavigation(), page.click('form[action$="/reply"] button[type=submit]')]);
  check('flow: the reply was sent', (await page.$('#reply-sent')) !== null);
  await shot(page, 'reply-sent');
  check('flow: nothing but sealview was requested', offHost.length === 0, offHost.join(' '));
  await ctx.close();
}

// The mail that shares the message with address: the link in it.
async function forwardLinkFor(address, timeoutMs = 60000) {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    for (const f of fs.readdirSync(env.SINK_DIR).filter((n) => n.endsWith('.eml'))) {
      const text = fs.readFileSync(path.join(env.SINK_DIR, f), 'latin1');
      if (text.includes('shared a protected message with you') && text.toLowerCase().includes('to: ' + address)) {
        const m = text.match(/http:\/\/127\.0\.0\.1:\d+\/m\/[A-Za-z0-9_-]{43}/);
        if (m) return m[0];
      }
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  return null;
}

async function forward(browser) {
  const offHost = [];
  const ctx = await browserContext(browser, offHost);
  const { page } = await signIn(ctx, 'forward');
  check('forward: the forward form is there (the forward right)', (await page.$('#forward')) !== null);
  await page.fill('#forward', env.FORWARD_TO);
  await Promise.all([page.waitForNavigation(), page.click('form[action$="/forward"] button[type=submit]')]);
  check('forward: the page says it was forwarded', (await page.$('#forwarded')) !== null);
  await shot(page, 'forwarded');
  const link2 = await forwardLinkFor(env.FORWARD_TO);
  check('forward: the new reader got the link by mail', link2 === link, String(link2));
  const ctx2 = await browserContext(browser, offHost);
  const { page: p2, ref } = await requestCode(ctx2, env.FORWARD_TO);
  const code = await passcodeFor(ref, env.FORWARD_TO);
  check('forward: and a passcode of their own', code !== null);
  if (code) {
    await enterCode(p2, code);
    const body = await p2.textContent('body');
    check('forward: the new reader reads the message', body.includes(env.EXPECT_TEXT), body.slice(0, 300));
    await shot(p2, 'forwarded-reader');
  }
  check('forward: nothing but sealview was requested', offHost.length === 0, offHost.join(' '));
  await ctx.close();
  await ctx2.close();
}

async function lock(browser) {
  const offHost = [];
  const ctx = await browserContext(browser, offHost);
  const { page, ref } = await requestCode(ctx, env.ADDRESS);
  const code = await passcodeFor(ref, env.ADDRESS);
  check('lock: the passcode mail arrived', code !== null);
  const wrong = code === '00000000' ? '11111111' : '00000000';
  for (let i = 0; i < 5; i++) {
    await enterCode(page, wrong);
    check(`lock: wrong passcode ${i + 1} is refused`, (await page.$('.error')) !== null && (await page.$('#code')) !== null);
  }
  await enterCode(page, code);
  const body = await page.textContent('body');
  check('lock: after 5 wrong tries the right passcode no longer opens it', !body.includes(env.EXPECT_TEXT) &&
    (await page.$('.error')) !== null);
  await shot(page, 'locked');
  await ctx.close();
}

async function nonrecipient(browser) {
  const offHost = [];
  const ctxA = await browserContext(browser, offHost);
  const ctxB = await browserContext(browser, offHost);
  const a = await requestCode(ctxA, env.ADDRESS);
  const b = await requestCode(ctxB, env.OTHER);
  const norm = async (p, addr, ref) => (await p.textContent('main')).split(addr).join('ADDR').split(ref).join('REF');
  const ta = await norm(a.page, env.ADDRESS, a.ref);
  const tb = await norm(b.page, env.OTHER, b.ref);
  check('nonrecipient: the page is the same for an address that may not read it', ta === tb, `${ta}\n---\n${tb}`);
  check('nonrecipient: and it shows a reference code too', /^[A-Z0-9]{4}-[A-Z0-9]{4}$/.test(b.ref));
  await shot(b.page, 'not-a-recipient');
  // The recipient's mail arrives; by then a mail to the other address would have too.
  check('nonrecipient: the recipient got a passcode', (await passcodeFor(a.ref, env.ADDRESS)) !== null);
  await ctxA.close();
  await ctxB.close();
}

async function gone(browser, what, want) {
  const offHost = [];
  const ctx = await browserContext(browser, offHost);
  const page = await ctx.newPage();
  const r = await page.goto(link);
  const body = await page.textContent('body');
  check(`${what}: the page says so`, body.includes(want), body.slice(0, 300));
  check(`${what}: HTTP 410`, r.status() === 410, String(r.status()));
  check(`${what}: no form to ask for a passcode`, (await page.$('#address')) === null);
  await shot(page, what);
  await ctx.close();
}

async function hostile(browser) {
  const offHost = [];
  const requests = [];
  const dialogs = [];
  const ctx = await browserContext(browser, offHost);
  ctx.on('request', (r) => requests.push(r.url()));
  const { page } = await signIn(ctx, 'hostile');
  page.on('dialog', (d) => { dialogs.push(d.message()); d.dismiss().catch(() => {}); });
  const frameEl = await page.waitForSelector('iframe');
  check('hostile: the HTML is in a sandboxed iframe without allow-scripts',
    (await frameEl.getAttribute('sandbox')) === '');
  const frame = await frameEl.contentFrame();
  await frame.waitForLoadState('load');
  // Give timers, refreshes and lazy loads their chance, and click what a reader might click.
  for (const sel of ['#jslink', '#submit', '#svglink']) {
    const el = await frame.$(sel);
    if (el) await el.click({ timeout: 2000 }).catch(() => {});
  }
  await page.waitForTimeout(2500);
  {
    // The image decoded inside the sandbox (evaluated by the driver, which the sandbox allows).
    let shown = null;
    try {
      shown = await frame.$eval('#inline', (i) => ({ w: i.naturalWidth, src: i.getAttribute('src').slice(0, 22) }));
    } catch (e) {
      shown = { error: String(e).slice(0, 200) };
    }
    check('hostile: the inline (cid:) image is shown, from a data: URI', shown && shown.w > 0 &&
      shown.src.startsWith('data:image/png;base64'), JSON.stringify(shown));
  }
  check('hostile: no dialog opened', dialogs.length === 0, dialogs.join(' | '));
  check('hostile: nothing but sealview was requested', offHost.length === 0, offHost.join(' '));
  const pwned = requests.filter((u) => u.includes('pwned'));
  check('hostile: no script ran (no request it would make)', pwned.length === 0, pwned.join(' '));
  check('hostile: the page is still sealview\'s', page.url().startsWith(origin), page.url());
  await shot(page, 'hostile');
  await ctx.close();
}

(async () => {
  const browser = await chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync', '--disable-dev-shm-usage'],
  });
  try {
    if (mode === 'flow') await flow(browser);
    else if (mode === 'lock') await lock(browser);
    else if (mode === 'forward') await forward(browser);
    else if (mode === 'nonrecipient') await nonrecipient(browser);
    else if (mode === 'revoked') await gone(browser, 'revoked', env.EXPECT_TEXT);
    else if (mode === 'expired') await gone(browser, 'expired', env.EXPECT_TEXT);
    else if (mode === 'hostile') await hostile(browser);
    else throw new Error('unknown mode ' + mode);
  } catch (e) {
    fail(`${mode}: the run`, e && e.stack ? e.stack.split('\n').slice(0, 3).join(' ') : String(e));
  } finally {
    await browser.close();
  }
  process.exit(failed ? 1 : 0);
})();
