import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type * as Uws from 'uWebSockets.js';
import { DEV_SERVER_KEY, type GatewayConfig } from '../../runtime/config.js';
import type { Logger } from '../../runtime/logger.js';

const SDK_ENTRY = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'protocol', 'sdk', 'index.ts');

/**
 * A one-page chat client for development (`npm start` prints its URL): it mints tokens through the server
 * API with the development key, so it is only served with `--dev-tokens` and that key. The SDK is bundled for
 * the browser with esbuild on first request — the page runs the same client code applications embed. Returns
 * whether the page is served.
 */
export function mountDemoPage(app: Uws.TemplatedApp, config: GatewayConfig, log: Logger): boolean {
  if (!config.devTokens) return false;
  if (config.serverKey !== DEV_SERVER_KEY) {
    // The page carries the key it calls the server API with: a real one would go to every visitor.
    log.warn('the demo page is off: IM_SERVER_KEY is set, and the page would hand it to every visitor');
    return false;
  }
  let bundle: Promise<string> | undefined;
  const sdk = (): Promise<string> =>
    (bundle ??= import('esbuild')
      .then(async (esbuild) => {
        const out = await esbuild.build({ entryPoints: [SDK_ENTRY], bundle: true, format: 'esm', platform: 'browser', target: 'es2022', write: false, minify: true, logLevel: 'silent' });
        return out.outputFiles[0]!.text;
      })
      .catch((err: unknown) => {
        // Not kept: the next request builds it again.
        bundle = undefined;
        throw err;
      }));
  app.get('/demo/sdk.js', (res) => {
    let aborted = false;
    res.onAborted(() => (aborted = true));
    sdk().then(
      (js) => !aborted && res.cork(() => res.writeHeader('content-type', 'text/javascript').end(js)),
      (err: unknown) => {
        log.warn({ err: (err as Error).message }, 'demo: bundling the SDK failed');
        if (!aborted) res.cork(() => res.writeStatus('500 Internal Server Error').end('bundling the SDK failed'));
      },
    );
  });
  app.get('/demo', (res) => {
    res.writeHeader('content-type', 'text/html; charset=utf-8').end(page(config.serverKey));
  });
  return true;
}

function page(serverKey: string): string {
  return `<!doctype html>
<meta charset="utf-8"><title>natsim demo</title>
<style>
 body{font:14px system-ui;margin:2em;max-width:820px} input,button{font:inherit;padding:4px 8px}
 #log{border:1px solid #ccc;height:360px;overflow:auto;padding:8px;white-space:pre-wrap}
 .me{color:#05a} .sys{color:#888} #convs button{margin:2px}
</style>
<h1>natsim demo</h1>
<p>Open this page in two windows, sign in as two users, start a direct chat or a group, and talk. Kill a node
(<code>pkill -9 -f 'node-id n2'</code>): the client reconnects and nothing is lost. <code>npx imctl drain n2</code>
moves a node's shards away while it runs.</p>
<p><input id=uid placeholder="user id" value="alice"> <input id=did placeholder="device id" value="browser-1">
 <button id=login>sign in</button> <span id=state></span></p>
<p><input id=peer placeholder="peer user id" value="bob"> <button id=direct>direct chat</button>
 <input id=members placeholder="group members, comma separated"> <input id=title placeholder="group title" size=12> <button id=group>new group</button></p>
<div id=convs></div>
<div id=log></div>
<p><input id=text size=60 placeholder="message"> <button id=send>send</button> <button id=edit>edit my last</button> <button id=recall>recall my last</button> <button id=react>👍 their last</button> <button id=reply>reply to their last</button> <button id=hide>delete their last for me</button> <button id=pinmsg>pin their last</button> <button id=report>report their last</button> <button id=mute>mute</button> <button id=pin>pin</button> <button id=unread>mark unread</button> <button id=clear>clear chat</button> to <b id=current>—</b> <span id=seen class=sys></span></p>
<script type=module>
import { ImClient, applyEdit, applyReaction, reactionsOf, storageOutbox } from '/demo/sdk.js';
const $ = (id) => document.getElementById(id);
const KEY = 'Bearer ${serverKey}';
const api = (p, body) => fetch(p, { method: 'POST', headers: { authorization: KEY }, body: JSON.stringify(body) }).then((r) => r.json());
let client, current;
const show = (cls, text) => { const d = document.createElement('div'); d.className = cls; d.textContent = text; $('log').append(d); $('log').scrollTop = 1e9; return d; };
// Shown lines by conv#seq, so a recall, an edit or a reaction can change the line it names; and each conversation's
// last own message and others' messages not recalled.
let lines = new Map(), mine = new Map(), theirs = new Map();
const reacted = (m) => (m.reactions?.counts.length ? '  ' + m.reactions.counts.map((r) => r.emoji + ' ' + r.n + (r.emoji === m.reactions.mine ? ' (you)' : '')).join(' ') : '');
const line = (m) => '[' + m.conv + ' #' + m.seq + '] ' + m.from + (m.recall ? ' recalled #' + m.recall : m.edit ? ' edited #' + m.edit : m.react ? (m.body ? ' reacted ' + m.body + ' to #' : ' took back a reaction to #') + m.react : ': ' + (m.reply ? '↪ #' + m.reply + ' ' + m.replyFrom + ': ' : '') + (m.recalled ? '(recalled)' : m.body + (m.edited ? ' (edited)' : '') + reacted(m)));
// Under the message box, how far the other member of a direct conversation has the messages and has read them.
const status = (conv, who) => { const c = client?.conversations().find((x) => x.conv === conv); return !c ? '' : [c.peerDelivered ? '✓✓ delivered up to #' + c.peerDelivered : '', c.peerRead ? (who ? who + ' ' : '') + 'read up to #' + c.peerRead : ''].filter(Boolean).join(' · '); };
// The conversation on screen is read: up to its last message when picked, and each message as it arrives.
const pick = (conv) => { current = conv; $('current').textContent = conv ?? '—'; const c = client?.conversations().find((x) => x.conv === conv); $('mute').textContent = c?.mutedUntil ? 'unmute' : 'mute'; $('pin').textContent = c?.pinnedAt ? 'unpin' : 'pin'; $('seen').textContent = status(conv); if (c) client.read(conv, c.lastSeq); if (client) listConvs(); };
const listConvs = () => { $('convs').replaceChildren(...client.conversations().map((c) => { const b = document.createElement('button'); b.textContent = (c.pinnedAt ? '📌 ' : '') + (c.posting ? '📢 ' : '') + (c.title ?? c.conv) + (c.mutedUntil ? ' (muted)' : '') + (c.silencedUntil ? ' (silenced)' : '') + (c.slowMode ? ' (slow: ' + c.slowMode + ' s)' : '') + (c.unread ? ' (' + c.unread + (c.mentions ? ', @' + c.mentions : '') + ')' : c.markedUnreadAt ? ' (•)' : ''); b.onclick = () => pick(c.conv); return b; })); };
$('login').onclick = async () => {
  client?.close();
  const uid = $('uid').value, did = $('did').value;
  lines = new Map(); mine = new Map(); theirs = new Map();
  // The outbox keeps what is not sent yet across reloads: send while the cluster is down, reload, and it goes out.
  client = new ImClient({ dispatcherUrl: location.origin, uid, history: 'all', outbox: storageOutbox(localStorage, 'im.outbox.' + uid + '.' + did), token: async () => (await api('/v1/tokens', { uid, did })).token });
  client.on('state', (s) => ($('state').textContent = s.state));
  client.on('convs', listConvs);
  client.on('message', (m) => {
    // A message this user hid ("delete for me") comes from history as a stub: nothing to show.
    if (m.hidden) return;
    lines.set(m.conv + '#' + m.seq, { m, d: show(m.recall || m.edit || m.react || m.did === 'system' ? 'sys' : m.from === uid ? 'me' : '', line(m)) });
    const old = lines.get(m.conv + '#' + (m.recall || m.edit || m.react));
    // Edits and reaction counts as the protocol says (applyEdit and applyReaction keep them); a recalled message has none.
    if (old) old.m = m.recall ? { ...old.m, recalled: m.seq, reactions: undefined } : m.edit ? applyEdit(old.m, m) : { ...old.m, reactions: applyReaction(reactionsOf(old.m), m, uid) };
    if (old) old.d.textContent = line(old.m);
    const plain = !m.recall && !m.edit && !m.react && !m.recalled;
    if (m.recall && mine.get(m.conv) === m.recall) mine.delete(m.conv);
    else if (plain && m.from === uid && m.did !== 'system') mine.set(m.conv, m.seq);
    else if (plain && m.from !== uid) theirs.set(m.conv, [...(theirs.get(m.conv) ?? []), m.seq]);
    if (m.recall) theirs.set(m.conv, (theirs.get(m.conv) ?? []).filter((seq) => seq !== m.recall));
    if (m.conv === current) client.read(m.conv, m.seq);
    listConvs();
  });
  client.on('typing', (t) => show('sys', t.from + ' is typing in ' + t.conv));
  for (const e of ['receipt', 'delivered']) client.on(e, (r) => { if (r.conv === current) $('seen').textContent = status(r.conv, r.uid); });
  // Membership, titles and mutes change the list as they happen, on every device of the user.
  client.on('joined', (j) => { show('sys', 'you are in ' + (j.title ?? j.conv) + ' now'); listConvs(); });
  client.on('left', (l) => { show('sys', 'you left ' + l.conv); if (l.conv === current) pick(undefined); listConvs(); });
  client.on('title', (t) => { show('sys', t.conv + ' is called ' + (t.title ?? '(no title)') + ' now'); listConvs(); });
  for (const e of ['mute', 'prefs', 'posting', 'silenced', 'slowMode']) client.on(e, (m) => { if (m.conv === current) pick(current); listConvs(); });
  client.on('read', listConvs);
  // A clear (here, on another device, or while away) takes the lines it covers off the screen.
  client.on('cleared', (c) => {
    for (const [k, v] of lines) if (v.m.conv === c.conv && v.m.seq <= c.seq) { v.d.remove(); lines.delete(k); }
    theirs.set(c.conv, (theirs.get(c.conv) ?? []).filter((seq) => seq > c.seq));
    if ((mine.get(c.conv) ?? 0) <= c.seq) mine.delete(c.conv);
    show('sys', c.conv + ' cleared up to #' + c.seq);
    listConvs();
  });
  // A hide (here or on another device) takes those lines off the screen.
  client.on('hidden', (h) => {
    for (const seq of h.seqs) { lines.get(h.conv + '#' + seq)?.d.remove(); lines.delete(h.conv + '#' + seq); }
    theirs.set(h.conv, (theirs.get(h.conv) ?? []).filter((seq) => !h.seqs.includes(seq)));
    if (h.seqs.includes(mine.get(h.conv))) mine.delete(h.conv);
  });
  client.on('pins', (p) => show('sys', 'pinned in ' + p.conv + ': ' + (p.pins.map((x) => '#' + x.seq).join(', ') || 'none')));
  client.on('presence', (p) => show('sys', p.uid + (p.online ? ' is online' : ' went offline' + (p.lastSeen ? ' at ' + new Date(p.lastSeen).toLocaleTimeString() : ''))));
  await client.connect();
  listConvs();
};
$('direct').onclick = async () => { const r = await api('/v1/conversations', { kind: 'direct', members: [$('uid').value, $('peer').value] }); pick(r.conv ?? current); await client?.sync(); listConvs(); };
$('group').onclick = async () => { const r = await api('/v1/conversations', { kind: 'group', owner: $('uid').value, members: $('members').value.split(',').map((s) => s.trim()).filter(Boolean), ...($('title').value ? { title: $('title').value } : {}) }); pick(r.conv); };
$('mute').onclick = () => { const c = client?.conversations().find((x) => x.conv === current); if (c) (c.mutedUntil ? client.unmute(current) : client.mute(current)).catch((e) => show('sys', 'not changed: ' + e.message)); };
$('pin').onclick = () => { const c = client?.conversations().find((x) => x.conv === current); if (c) client.pin(current, !c.pinnedAt).catch((e) => show('sys', 'not changed: ' + e.message)); };
// Marked unread until this user reads it again (picking it does, on any of their pages).
// Put away first: the conversation on screen is read as it changes, which would take the mark off at once.
$('unread').onclick = () => { const conv = current; if (!client || !conv) return; pick(undefined); client.markUnread(conv).then(listConvs, (e) => show('sys', 'not marked: ' + e.message)); };
$('clear').onclick = () => { if (client && current) client.clear(current).catch((e) => show('sys', 'not cleared: ' + e.message)); };
// "@uid" in the text mentions that user: their list counts it, and the push service is told; "@all" (a group's
// owner or admin) mentions everyone.
const named = (text, extra) => { const mentions = [...new Set([...text.matchAll(/@([\\w.-]+)/g)].map((m) => m[1]))].filter((u) => u !== 'all').slice(0, 50); return { ...extra, ...(mentions.length && { mentions }), ...(/@all\\b/.test(text) && { mentionAll: true }) }; };
const say = (extra) => { const text = $('text').value; if (client && current && text) { client.send(current, text, named(text, extra)).catch((e) => show('sys', 'not sent: ' + e.message)); $('text').value = ''; } };
$('send').onclick = () => say({});
$('reply').onclick = () => { const seq = theirs.get(current)?.at(-1); if (seq) say({ reply: seq }); };
$('edit').onclick = () => { const seq = mine.get(current); if (client && seq && $('text').value) { client.edit(current, seq, $('text').value).catch((e) => show('sys', 'not edited: ' + e.message)); $('text').value = ''; } };
$('recall').onclick = () => { const seq = mine.get(current); if (client && seq) client.recall(current, seq).catch((e) => show('sys', 'not recalled: ' + e.message)); };
$('hide').onclick = () => { const seq = theirs.get(current)?.at(-1); if (client && seq) client.hide(current, [seq]).catch((e) => show('sys', 'not deleted: ' + e.message)); };
$('pinmsg').onclick = () => { const seq = theirs.get(current)?.at(-1); if (client && seq) client.pinMessage(current, seq).catch((e) => show('sys', 'not pinned: ' + e.message)); };
$('report').onclick = () => { const seq = theirs.get(current)?.at(-1); if (client && seq) client.report(current, seq, 'reported from the demo page').then(() => show('sys', 'reported #' + seq), (e) => show('sys', 'not reported: ' + e.message)); };
$('react').onclick = () => { const seq = theirs.get(current)?.at(-1); if (client && seq) client.react(current, seq, '👍').catch((e) => show('sys', 'no reaction: ' + e.message)); };
$('text').onkeydown = (e) => { if (e.key === 'Enter') $('send').onclick(); else if (client && current) client.typing(current); };
</script>`;
}
