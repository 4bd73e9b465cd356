import { accessSync, constants as fsConstants, statSync } from 'node:fs';
import path from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startChatCluster, type ChatCluster } from '../helpers/chat-cluster.js';

/**
 * Chromium as `scripts/setup.sh --test` finds it (on PATH, or where it looks besides), also under the names
 * other distributions and Google Chrome use; Debian's package puts it in /usr/bin.
 */
const CHROMIUM = (() => {
  const dirs = [...(process.env['PATH'] ?? '').split(path.delimiter).filter(Boolean), '/usr/bin', '/usr/sbin', '/usr/local/bin'];
  const candidates = ['chromium', 'chromium-browser', 'google-chrome'].flatMap((name) => dirs.map((d) => path.resolve(d, name)));
  return candidates.find((p) => {
    try {
      accessSync(p, fsConstants.X_OK);
      return statSync(p).isFile();
    } catch {
      return false;
    }
  });
})();
/** Headless as root, on a machine with no way out: no sandbox, no /dev/shm (small in containers), nothing fetched in the background. */
const CHROMIUM_ARGS = ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'];

/**
 * The demo page `npm start` serves, in a real browser: the SDK bundled for the browser (esbuild, on first request)
 * connects through the dispatcher with a token from the server API, sends, receives and reloads its history.
 */
describe('demo page – in Chromium', () => {
  let c: ChatCluster;
  let browser: Browser;
  const problems: string[] = [];

  beforeAll(async () => {
    if (CHROMIUM === undefined) throw new Error('Chromium is not installed: run `bash scripts/setup.sh --test` (npm test does)');
    [c, browser] = await Promise.all([startChatCluster({ nodes: ['w1', 'w2'] }), chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS })]);
  }, 60_000);
  afterAll(async () => {
    await browser?.close();
    await c?.stop();
  }, 30_000);

  /** Opens the page on node w1's gateway and signs in; page errors and failed requests are collected. */
  async function signIn(uid: string, peer: string): Promise<Page> {
    const page = await browser.newPage();
    page.on('pageerror', (e) => problems.push(`${uid}: ${e.message}`));
    page.on('response', (r) => {
      if (r.status() >= 400 && !r.url().endsWith('/favicon.ico')) problems.push(`${uid}: ${r.status()} ${r.url()}`);
    });
    await page.goto(`${c.http.get('w1')}/demo`);
    await page.fill('#uid', uid);
    await page.fill('#did', `${uid}-browser`);
    await page.fill('#peer', peer);
    await page.click('#login');
    await page.waitForSelector('#state:text-is("open")', { timeout: 15_000 });
    return page;
  }
  const logOf = (page: Page) => page.textContent('#log');
  const logShows = (page: Page, text: string) => page.waitForSelector(`#log:has-text(${JSON.stringify(text)})`, { timeout: 10_000 });

  it('demo page – two users open a direct chat and talk both ways, the sender sees when it was delivered and read, an edit, a recall and a reaction change a message on both sides; a reload shows the history again; a group with a title shows on the other page at once, one side mutes, pins and marks it unread, and a mention is counted; a reply names the message it answers; a delete for me and a clear take messages off one page only', async () => {
    const wendy = await signIn('wendy', 'walt');
    const walt = await signIn('walt', 'wendy');
    await wendy.click('#direct');
    await walt.click('#direct');
    for (const p of [wendy, walt]) await p.waitForSelector('#current:text-matches("^d:")', { timeout: 10_000 });
    const conv = await wendy.textContent('#current');

    await wendy.fill('#text', 'hello from a browser');
    await wendy.click('#send');
    await logShows(walt, `[${conv} #1] wendy: hello from a browser`);
    // Walt has the conversation open, so he read it: wendy sees the receipt.
    await wendy.waitForSelector('#seen:has-text("walt read up to #1")', { timeout: 10_000 });
    // And that it reached him (his device acknowledged it).
    await wendy.waitForSelector('#seen:has-text("delivered up to #1")', { timeout: 10_000 });
    await walt.fill('#text', 'hello back');
    await walt.press('#text', 'Enter');
    await logShows(wendy, `[${conv} #2] walt: hello back`);
    // The sender sees its own message once, linked into the chain by its `sent`.
    expect((await logOf(wendy))!.split('hello from a browser').length - 1).toBe(1);
    await walt.fill('#text', 'oops, not for you');
    await walt.click('#send');
    await logShows(wendy, `[${conv} #3] walt: oops, not for you`);
    await walt.fill('#text', 'oops, not for you either');
    await walt.click('#edit');
    for (const p of [wendy, walt]) await logShows(p, `[${conv} #4] walt edited #3`);
    for (const p of [wendy, walt]) expect(await logOf(p)).toContain(`[${conv} #3] walt: oops, not for you either (edited)`);
    await walt.click('#recall');
    for (const p of [wendy, walt]) await logShows(p, `[${conv} #5] walt recalled #3`);
    for (const p of [wendy, walt]) expect(await logOf(p)).toContain(`[${conv} #3] walt: (recalled)`);
    expect(await logOf(wendy)).not.toContain('oops');
    // Wendy reacts to walt's last message (the recalled one is no longer his last): both lines show it.
    await wendy.click('#react');
    for (const p of [wendy, walt]) await logShows(p, `[${conv} #6] wendy reacted 👍 to #2`);
    // Counts: wendy's page marks her own.
    expect(await logOf(wendy)).toContain(`[${conv} #2] walt: hello back  👍 1 (you)`);
    expect(await logOf(walt)).toContain(`[${conv} #2] walt: hello back  👍 1[`);
    // And replies to it: both lines name the message answered.
    await wendy.fill('#text', 'agreed');
    await wendy.click('#reply');
    for (const p of [wendy, walt]) await logShows(p, `[${conv} #7] wendy: ↪ #2 walt: agreed`);
    // Walt deletes it for himself: gone from his page, still on hers.
    await walt.click('#hide');
    await walt.waitForSelector('#log:not(:has-text("agreed"))', { timeout: 10_000 });
    expect(await logOf(wendy)).toContain(`[${conv} #7] wendy: ↪ #2 walt: agreed`);

    await wendy.reload();
    await wendy.fill('#uid', 'wendy');
    await wendy.fill('#did', 'wendy-browser');
    await wendy.click('#login');
    await logShows(wendy, 'hello back');
    await logShows(wendy, 'agreed');
    // Walt is online all along: wendy's page is told so right after it connects, with no change of his.
    await logShows(wendy, 'walt is online');
    expect((await logOf(wendy))!.replace('walt is online', '')).toBe(`[${conv} #1] wendy: hello from a browser[${conv} #2] walt: hello back  👍 1 (you)[${conv} #3] walt: (recalled)[${conv} #4] walt edited #3[${conv} #5] walt recalled #3[${conv} #6] wendy reacted 👍 to #2[${conv} #7] wendy: ↪ #2 walt: agreed`);
    expect(await wendy.textContent('#convs')).toContain(conv);

    // A group with a title: walt's page lists it as soon as he is in it, before any message; wendy mutes it.
    await wendy.fill('#members', 'walt');
    await wendy.fill('#title', 'Walkers');
    await wendy.click('#group');
    await logShows(walt, 'you are in Walkers now');
    await walt.waitForSelector('#convs button:text-is("Walkers")', { timeout: 10_000 });
    await wendy.waitForSelector('#convs button:text-is("Walkers")', { timeout: 10_000 });
    await wendy.click('#mute');
    await wendy.waitForSelector('#convs button:text-is("Walkers (muted)")', { timeout: 10_000 });
    expect(await walt.textContent('#convs')).not.toContain('muted');
    // And pins it: it is marked, and lists first.
    await wendy.click('#pin');
    await wendy.waitForSelector('#convs button:first-child:text-is("📌 Walkers (muted)")', { timeout: 10_000 });
    expect(await walt.textContent('#convs')).not.toContain('📌');
    // Marked unread, it shows so until she opens it again.
    await wendy.click('#unread');
    await wendy.waitForSelector('#convs button:first-child:text-is("📌 Walkers (muted) (•)")', { timeout: 10_000 });
    await wendy.click('#convs button:first-child');
    await wendy.waitForSelector('#convs button:first-child:text-is("📌 Walkers (muted)")', { timeout: 10_000 });
    // "@walt" in wendy's message mentions him: his list counts it next to the unread one.
    await wendy.fill('#text', '@walt lunch?');
    await wendy.click('#send');
    await walt.waitForSelector('#convs button:text-is("Walkers (1, @1)")', { timeout: 10_000 });
    // Wendy clears the group's chat: its lines leave her page; walt keeps his.
    await logShows(wendy, '@walt lunch?');
    await wendy.click('#clear');
    await logShows(wendy, 'cleared up to #');
    expect(await logOf(wendy)).not.toContain('@walt lunch?');
    expect(await logOf(walt)).toContain('@walt lunch?');
    expect(problems).toEqual([]);
  }, 60_000);
});
