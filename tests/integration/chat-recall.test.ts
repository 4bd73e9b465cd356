import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MessageEvent } from '../../protocol/chat-ops.js';
import { ErrorCode } from '../../protocol/errors.js';
import type { Msg, ServerFrameOf } from '../../protocol/frames.js';
import { ImClient } from '../../protocol/sdk/index.js';
import { shardOf } from '../../protocol/shard-hash.js';
import { EventSubject } from '../../protocol/subjects.js';
import { startChatCluster, type ChatCluster } from '../helpers/chat-cluster.js';
import { rawConnect } from '../helpers/raw-client.js';
import { codeOf, waitUntil } from '../helpers/wait.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** The recall window the nodes run with here (seconds): short, so a test can outlive it. */
const WINDOW_SEC = 2;

/** Recall: a message of its own, in order with the rest, that empties the message it takes back. */
describe('chat – recall', () => {
  let c: ChatCluster;
  const clients: ImClient[] = [];
  const events: MessageEvent[] = [];
  beforeAll(async () => {
    c = await startChatCluster({ nodes: ['r1', 'r2'], args: ['--recall-window', String(WINDOW_SEC)] });
    c.nc.subscribe(EventSubject.MESSAGE, {
      callback: (err, msg) => {
        if (!err) events.push(...msg.json<MessageEvent[]>());
      },
    });
    await c.nc.flush();
  }, 60_000);
  afterAll(async () => {
    for (const x of clients) x.close();
    await c?.stop();
  }, 30_000);

  /** An SDK client of (uid, did) on gateway `node`, connected, recording the messages it is given. */
  async function online(uid: string, did: string, node: string, history: 'all' | 'latest' = 'latest') {
    const client = new ImClient({ endpoints: [c.gateways.get(node)!], token: c.token(uid, did), WebSocket: WebSocket as never, history });
    clients.push(client);
    const msgs: Msg[] = [];
    client.on('message', (m) => msgs.push(m));
    await client.connect();
    return { client, msgs };
  }

  const shape = (m: Msg) => ({ seq: m.seq, body: m.body, recall: m.recall, recalled: m.recalled });

  it('recall – members and the sender\'s other devices get it in order; history, the server API and Postgres keep the seq with the body gone', async () => {
    await c.api('POST', '/v1/conversations', { kind: 'group', conv: 'rc-group', owner: 'ann', members: ['bob', 'cat'] });
    const phone = await online('ann', 'phone', 'r1');
    const laptop = await online('ann', 'laptop', 'r2');
    const bob = await online('bob', 'd1', 'r2');
    const m1 = await phone.client.send('rc-group', 'sent to the wrong group');
    const m2 = await phone.client.send('rc-group', 'this one stays');
    const r = await phone.client.recall('rc-group', m1.seq);
    expect(r.seq).toBeGreaterThan(m2.seq);
    await waitUntil(() => bob.msgs.length === 3 && laptop.msgs.length === 3 && phone.msgs.length === 3, 'every device holding the recall');
    for (const d of [bob, laptop, phone]) {
      expect(d.msgs.map(shape)).toEqual([
        { seq: m1.seq, body: 'sent to the wrong group', recall: undefined, recalled: undefined },
        { seq: m2.seq, body: 'this one stays', recall: undefined, recalled: undefined },
        { seq: r.seq, body: '', recall: m1.seq, recalled: undefined },
      ]);
      expect(d.msgs[2]!.from).toBe('ann');
    }
    const history = [
      { seq: m1.seq, body: '', recall: undefined, recalled: r.seq },
      { seq: m2.seq, body: 'this one stays', recall: undefined, recalled: undefined },
      { seq: r.seq, body: '', recall: m1.seq, recalled: undefined },
    ];
    expect((await bob.client.pull('rc-group', 0, 10)).msgs.map(shape)).toEqual(history);
    // A member who was offline catches up with the recalled message already emptied, and the recall after it.
    const cat = await online('cat', 'd1', 'r1', 'all');
    await waitUntil(() => cat.msgs.length === 3, 'cat catching up');
    expect(cat.msgs.map(shape)).toEqual(history);
    const api = await c.api('GET', '/v1/conversations/rc-group/messages');
    expect((api.body['messages'] as Msg[]).map(shape)).toEqual(history);
    const rows = await c.db.sql<{ seq: number; body: Buffer; recalls: number | null; recalled_by: number | null }[]>`
      SELECT seq, body, recalls, recalled_by FROM messages WHERE conv_id = 'rc-group' ORDER BY seq`;
    expect(rows.map((x) => [x.seq, x.body.toString(), x.recalls, x.recalled_by])).toEqual([
      [m1.seq, '', null, r.seq],
      [m2.seq, 'this one stays', null, null],
      [r.seq, '', m1.seq, null],
    ]);
    // The business event of the recall names what it takes back.
    await waitUntil(() => events.some((e) => e.conv === 'rc-group' && e.seq === r.seq), 'the recall event');
    expect(events.find((e) => e.conv === 'rc-group' && e.seq === r.seq)).toMatchObject({ type: 'message', from: 'ann', recall: m1.seq, body: '' });
  }, 60_000);

  it('recall – refused with a coded error: another\'s message, twice, a recall itself, no such seq, past the window; nothing refused is stored', async () => {
    const direct = (await c.api('POST', '/v1/conversations', { kind: 'direct', members: ['dan', 'eve'] })).body['conv'] as string;
    const dan = await online('dan', 'd1', 'r1');
    const eve = await online('eve', 'd1', 'r2');
    const mine = await dan.client.send(direct, 'dan speaking');
    expect(await codeOf(eve.client.recall(direct, mine.seq))).toBe(ErrorCode.FORBIDDEN);
    const r = await dan.client.recall(direct, mine.seq);
    expect(await codeOf(dan.client.recall(direct, mine.seq))).toBe(ErrorCode.CONFLICT);
    expect(await codeOf(dan.client.recall(direct, r.seq))).toBe(ErrorCode.INVALID_FIELD);
    expect(await codeOf(dan.client.recall(direct, r.seq + 1000))).toBe(ErrorCode.NOT_FOUND);
    expect(await codeOf(dan.client.recall('rc-not-mine', 1))).toBe(ErrorCode.NOT_FOUND);
    const old = await dan.client.send(direct, 'said a while ago');
    await sleep(WINDOW_SEC * 1000 + 300);
    expect(await codeOf(dan.client.recall(direct, old.seq))).toBe(ErrorCode.FORBIDDEN);
    // The refusals left the conversation as it was, and the client goes on sending.
    const after = await dan.client.send(direct, 'still here');
    await waitUntil(() => eve.msgs.length === 4, 'eve getting every stored message');
    expect(eve.msgs.map(shape)).toEqual([
      { seq: mine.seq, body: 'dan speaking', recall: undefined, recalled: undefined },
      { seq: r.seq, body: '', recall: mine.seq, recalled: undefined },
      { seq: old.seq, body: 'said a while ago', recall: undefined, recalled: undefined },
      { seq: after.seq, body: 'still here', recall: undefined, recalled: undefined },
    ]);
    const stored = await c.db.sql<{ n: number }[]>`SELECT count(*)::int AS n FROM messages WHERE conv_id = ${direct}`;
    expect(stored[0]!.n).toBe(4);
  }, 60_000);

  it('recall – in a group its owners and admins recall plain members\' messages at any age (moderation), never each other\'s; nobody else\'s is another\'s to recall or edit', async () => {
    await c.api('POST', '/v1/conversations', { kind: 'group', conv: 'rc-mod', owner: 'owen', members: ['ada', 'mia'] });
    expect((await c.api('POST', '/v1/conversations/rc-mod/roles', { roles: { ada: 'admin' } })).status).toBe(200);
    const owen = await online('owen', 'o1', 'r1');
    const ada = await online('ada', 'a1', 'r2');
    const mia = await online('mia', 'm1', 'r1');
    const spam = await mia.client.send('rc-mod', 'buy now');
    const fromAda = await ada.client.send('rc-mod', 'admin speaking');
    const fromOwen = await owen.client.send('rc-mod', 'owner speaking');
    await sleep(WINDOW_SEC * 1000 + 300);
    // Past the window, which binds only a sender's recall of their own.
    const taken = await ada.client.recall('rc-mod', spam.seq);
    expect(await codeOf(ada.client.recall('rc-mod', fromOwen.seq))).toBe(ErrorCode.FORBIDDEN);
    expect(await codeOf(owen.client.recall('rc-mod', fromAda.seq))).toBe(ErrorCode.FORBIDDEN);
    expect(await codeOf(mia.client.recall('rc-mod', fromAda.seq))).toBe(ErrorCode.FORBIDDEN);
    expect(await codeOf(ada.client.edit('rc-mod', fromOwen.seq, 'not yours'))).toBe(ErrorCode.FORBIDDEN);
    // Everyone gets the recall, from the admin who made it; the message is empty for good.
    await waitUntil(() => mia.msgs.some((m) => m.recall === spam.seq), 'mia getting the recall');
    expect(mia.msgs.find((m) => m.recall === spam.seq)).toMatchObject({ seq: taken.seq, from: 'ada' });
    expect((await owen.client.pull('rc-mod', spam.seq - 1, 1)).msgs[0]).toMatchObject({ seq: spam.seq, body: '', recalled: taken.seq });
    // Roles apply as they are now: an admin made a plain member again is moderated like one.
    expect((await c.api('POST', '/v1/conversations/rc-mod/roles', { roles: { ada: 'member' } })).status).toBe(200);
    expect((await owen.client.recall('rc-mod', fromAda.seq)).seq).toBeGreaterThan(taken.seq);
  }, 60_000);

  it('edit – members get the new text in order; history shows the latest text with `edited`; a recall still takes it back, an edit of a recalled one is refused', async () => {
    await c.api('POST', '/v1/conversations', { kind: 'group', conv: 'ed-group', owner: 'lea', members: ['max'] });
    const lea = await online('lea', 'd1', 'r1');
    const max = await online('max', 'd1', 'r2');
    const m = await lea.client.send('ed-group', 'see you at 5');
    const e1 = await lea.client.edit('ed-group', m.seq, 'see you at 6');
    const e2 = await lea.client.edit('ed-group', m.seq, 'see you at 7');
    await waitUntil(() => max.msgs.length === 3, 'max getting the edits');
    expect(max.msgs.map((x) => ({ seq: x.seq, body: x.body, edit: x.edit }))).toEqual([
      { seq: m.seq, body: 'see you at 5', edit: undefined },
      { seq: e1.seq, body: 'see you at 6', edit: m.seq },
      { seq: e2.seq, body: 'see you at 7', edit: m.seq },
    ]);
    const page = await max.client.pull('ed-group', 0, 10);
    expect(page.msgs.map((x) => ({ seq: x.seq, body: x.body, edit: x.edit, edited: x.edited }))).toEqual([
      { seq: m.seq, body: 'see you at 7', edit: undefined, edited: e2.seq },
      { seq: e1.seq, body: 'see you at 6', edit: m.seq, edited: undefined },
      { seq: e2.seq, body: 'see you at 7', edit: m.seq, edited: undefined },
    ]);
    // Only the sender edits, an edit is not edited, and the body of an edit must say something.
    expect(await codeOf(max.client.edit('ed-group', m.seq, 'mine now'))).toBe(ErrorCode.FORBIDDEN);
    expect(await codeOf(lea.client.edit('ed-group', e1.seq, 'edit of an edit'))).toBe(ErrorCode.INVALID_FIELD);
    expect(await codeOf(lea.client.edit('ed-group', m.seq, ''))).toBe(ErrorCode.INVALID_FIELD);
    const r = await lea.client.recall('ed-group', m.seq);
    expect(await codeOf(lea.client.edit('ed-group', m.seq, 'too late'))).toBe(ErrorCode.CONFLICT);
    const rows = await c.db.sql<{ seq: number; body: Buffer; recalled_by: number | null; edited_by: number | null }[]>`
      SELECT seq, body, recalled_by, edited_by FROM messages WHERE conv_id = 'ed-group' AND seq = ${m.seq}`;
    expect(rows.map((x) => [x.body.toString(), x.recalled_by, x.edited_by])).toEqual([['', r.seq, e2.seq]]);
    // Its earlier texts went with it: the edits that held them are empty now, in history as in Postgres.
    const after = await max.client.pull('ed-group', 0, 10);
    expect(after.msgs.map((x) => [x.seq, x.body])).toEqual([[m.seq, ''], [e1.seq, ''], [e2.seq, ''], [r.seq, '']]);
    await waitUntil(() => events.some((e) => e.conv === 'ed-group' && e.seq === e1.seq), 'the edit event');
    expect(events.find((e) => e.conv === 'ed-group' && e.seq === e1.seq)).toMatchObject({ type: 'message', edit: m.seq, body: 'see you at 6' });
  }, 30_000);

  it('edit – edits sent back to back without waiting are stored in order: the last one is the text', async () => {
    await c.api('POST', '/v1/conversations', { kind: 'group', conv: 'ed-burst', owner: 'ned', members: ['ola'] });
    const ned = await online('ned', 'd1', 'r2');
    const m = await ned.client.send('ed-burst', 'v0');
    const edits = await Promise.all([1, 2, 3, 4, 5].map((v) => ned.client.edit('ed-burst', m.seq, `v${v}`)));
    const page = await ned.client.pull('ed-burst', 0, 1);
    expect(page.msgs[0]).toMatchObject({ seq: m.seq, body: 'v5', edited: edits[4]!.seq });
  }, 30_000);

  it('unread – recalls and edits are nothing new to read: the SDK, `convs`, the read echo and the server API leave them out', async () => {
    await c.api('POST', '/v1/conversations', { kind: 'group', conv: 'ur-group', owner: 'uma', members: ['vic'] });
    const uma = await online('uma', 'd1', 'r1');
    const vic = await online('vic', 'd1', 'r2');
    const unreadOf = (client: ImClient) => client.conversations().find((x) => x.conv === 'ur-group')?.unread;
    const [m1, m2, m3] = [await uma.client.send('ur-group', 'one'), await uma.client.send('ur-group', 'two'), await uma.client.send('ur-group', 'three')];
    await uma.client.edit('ur-group', m1.seq, 'one, edited');
    const r = await uma.client.recall('ur-group', m2.seq);
    await waitUntil(() => vic.msgs.some((m) => m.seq === r.seq), 'vic holding the recall');
    // Three messages came, one now emptied (still unread, as a "message recalled" line is); the edit and the recall add nothing.
    expect(unreadOf(vic.client)).toBe(3);
    expect((await vic.client.sync()).find((x) => x.conv === 'ur-group')).toMatchObject({ lastSeq: r.seq, unread: 3 });
    const badge = await c.api('GET', '/v1/users/vic/conversations');
    expect(badge.body).toMatchObject({ uid: 'vic', unread: 3 });
    // A mark on the first leaves the recalled one and the third; the echo's count reaches another device too.
    const tablet = await online('vic', 'd2', 'r1');
    vic.client.read('ur-group', m1.seq);
    await waitUntil(() => unreadOf(tablet.client) === 2 && unreadOf(vic.client) === 2, 'both devices counting 2 after the mark');
    await uma.client.edit('ur-group', m3.seq, 'three, edited');
    await waitUntil(() => tablet.msgs.some((m) => m.edit === m3.seq), 'the tablet holding the second edit');
    expect([unreadOf(vic.client), unreadOf(tablet.client)]).toEqual([2, 2]);
  }, 30_000);

  it('edit – the edit window is a cluster setting of its own: 0 turns client edits off, recalls go on', async () => {
    const direct = (await c.api('POST', '/v1/conversations', { kind: 'direct', members: ['pia', 'quin'] })).body['conv'] as string;
    const pia = await online('pia', 'd1', 'r1');
    const m = await pia.client.send(direct, 'typo hre');
    expect((await c.imctl('settings', 'set', 'edit-window', '0')).code).toBe(0);
    try {
      expect(await codeOf(pia.client.edit(direct, m.seq, 'typo here'))).toBe(ErrorCode.FORBIDDEN);
      // Recalls go on (a fresh message: the recall window is 2 s here, and imctl waits for every node).
      const fresh = await pia.client.send(direct, 'recall me');
      expect((await pia.client.recall(direct, fresh.seq)).seq).toBeGreaterThan(fresh.seq);
    } finally {
      expect((await c.imctl('settings', 'set', 'edit-window', '900')).code).toBe(0);
    }
  }, 30_000);

  it('recall – the window is a cluster setting: 0 turns client recalls off on every node at once, without a restart', async () => {
    const direct = (await c.api('POST', '/v1/conversations', { kind: 'direct', members: ['jo', 'kim'] })).body['conv'] as string;
    const jo = await online('jo', 'd1', 'r2');
    const m = await jo.client.send(direct, 'quick, take it back');
    const off = await c.imctl('settings', 'set', 'recall-window', '0');
    try {
      expect(off.stdout).toContain('applied by 2 of 2 live node(s)');
      expect(await codeOf(jo.client.recall(direct, m.seq))).toBe(ErrorCode.FORBIDDEN);
    } finally {
      expect((await c.imctl('settings', 'set', 'recall-window', String(WINDOW_SEC))).code).toBe(0);
    }
    // Back on: a message within the (2 s) window is recalled again; `m` may be past it by now, imctl waits for the nodes.
    const again = await jo.client.send(direct, 'and this one');
    expect((await jo.client.recall(direct, again.seq)).seq).toBeGreaterThan(again.seq);
    expect((await c.imctl('settings', 'set', 'recall-window', '1.5')).stderr).toContain('must be an integer ≥ 0');
  }, 30_000);

  it('recall – a re-sent recall (same cid) is answered with the first one\'s seq and stored once', async () => {
    const direct = (await c.api('POST', '/v1/conversations', { kind: 'direct', members: ['fay', 'gus'] })).body['conv'] as string;
    const fay = await rawConnect(c.gateways.get('r1')!, c.token('fay', 'd1'));
    await fay.waitFor((f) => f.type === 'convs');
    fay.send({ type: 'send', conv: direct, cid: 1, body: 'hello gus' });
    const first = await fay.waitFor<ServerFrameOf<'sent'>>((f) => f.type === 'sent' && f.cid === 1);
    fay.send({ type: 'send', conv: direct, cid: 2, body: '', recall: first.seq, after: 1 });
    fay.send({ type: 'send', conv: direct, cid: 2, body: '', recall: first.seq, after: 1 });
    await waitUntil(() => fay.frames.filter((f) => (f.type === 'sent' && f.cid === 2) || f.type === 'error').length === 2, 'both answers');
    const answers = fay.frames.filter((f) => (f.type === 'sent' && f.cid === 2) || f.type === 'error');
    expect(answers.map((f) => f.type)).toEqual(['sent', 'sent']);
    expect(new Set(answers.map((f) => (f as ServerFrameOf<'sent'>).seq)).size).toBe(1);
    const rows = await c.db.sql<{ n: number }[]>`SELECT count(*)::int AS n FROM messages WHERE conv_id = ${direct} AND recalls = ${first.seq}`;
    expect(rows[0]!.n).toBe(1);
    fay.close();
  }, 30_000);

  it('recall – the server API recalls any message at any age, once; bad or unknown seqs get their codes', async () => {
    await c.api('POST', '/v1/conversations', { kind: 'group', conv: 'rc-moderated', owner: 'hal', members: ['ida'] });
    const hal = await online('hal', 'd1', 'r2');
    const ida = await online('ida', 'd1', 'r1');
    const m = await hal.client.send('rc-moderated', 'something against the rules');
    await sleep(WINDOW_SEC * 1000 + 300);
    const res = await c.api('POST', `/v1/conversations/rc-moderated/messages/${m.seq}/recall`, { from: 'moderator' }, 'r1');
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({ conv: 'rc-moderated', recall: m.seq });
    await waitUntil(() => ida.msgs.length === 2, 'ida getting the recall');
    expect(ida.msgs[1]).toMatchObject({ seq: res.body['seq'], from: 'moderator', recall: m.seq, body: '' });
    expect((await c.api('POST', `/v1/conversations/rc-moderated/messages/${m.seq}/recall`, {})).status).toBe(409);
    expect((await c.api('POST', '/v1/conversations/rc-moderated/messages/abc/recall', {})).body['code']).toBe(ErrorCode.INVALID_FIELD);
    expect((await c.api('POST', '/v1/conversations/rc-moderated/messages/99999/recall', {})).status).toBe(404);
    expect((await c.api('POST', `/v1/conversations/rc-moderated/messages/${m.seq}/recall`, {})).status).toBe(409);
  }, 30_000);

  it('recall – a server API key answers only what it was first used for: a recall under a notice\'s key, or of another seq, is refused 409 and recalls nothing', async () => {
    await c.api('POST', '/v1/conversations', { kind: 'group', conv: 'rc-keys', owner: 'jon', members: ['kai'] });
    const post = (body: Record<string, unknown>) => c.api('POST', '/v1/conversations/rc-keys/messages', { from: 'mod', ...body });
    const recall = (seq: number, key: number) => c.api('POST', `/v1/conversations/rc-keys/messages/${seq}/recall`, { from: 'mod', key });
    const rude = (await post({ body: 'rude' })).body['seq'] as number;
    const ruder = (await post({ body: 'ruder' })).body['seq'] as number;
    // Moderation action 42 posts a notice and recalls the message under its one id: the recall is refused, not
    // answered with the notice as if done.
    const notice = await post({ body: 'a message was removed', key: 42 });
    expect(notice.status).toBe(201);
    expect([(await recall(rude, 42)).status, (await recall(rude, 42)).body['code']]).toEqual([409, ErrorCode.CONFLICT]);
    const recalled = await recall(rude, 43);
    expect(recalled.status).toBe(201);
    expect([(await recall(ruder, 43)).status, (await post({ body: 'x', key: 43 })).status]).toEqual([409, 409]);
    // The same request again answers the first.
    expect((await recall(rude, 43)).body).toEqual(recalled.body);
    expect((await post({ body: 'a message was removed', key: 42 })).body).toEqual(notice.body);
    // Answered from Postgres alike, once the conversation's chatter is new (it moved to the other node).
    const shard = shardOf('rc-keys', 32);
    const [row] = await c.db.sql<{ owner: string }[]>`SELECT owner FROM shards WHERE kind = 'chatter' AND shard = ${shard}`;
    expect((await c.imctl('move', 'chatter', String(shard), row!.owner === 'r1' ? 'r2' : 'r1')).code).toBe(0);
    expect([(await recall(ruder, 42)).status, (await recall(ruder, 43)).status, (await post({ body: 'x', key: 43 })).status]).toEqual([409, 409, 409]);
    expect((await recall(rude, 43)).body).toEqual(recalled.body);
    expect((await post({ body: 'a message was removed', key: 42 })).body).toEqual(notice.body);
    const stored = await c.db.sql<{ seq: number; recalled_by: number | null }[]>`SELECT seq, recalled_by FROM messages WHERE conv_id = 'rc-keys' AND seq IN (${rude}, ${ruder}) ORDER BY seq`;
    expect(stored.map((r) => [r.seq, r.recalled_by])).toEqual([[rude, recalled.body['seq']], [ruder, null]]);
    expect((await c.db.sql`SELECT 1 FROM messages WHERE conv_id = 'rc-keys'`).length).toBe(4);
  }, 30_000);
});
