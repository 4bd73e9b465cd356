import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ServerFrameOf } from '../../protocol/frames.js';
import { startChatCluster, type ChatCluster } from '../helpers/chat-cluster.js';
import { rawConnect, type RawClient } from '../helpers/raw-client.js';
import { waitUntil } from '../helpers/wait.js';

type Convs = ServerFrameOf<'convs'>;
type Delivered = ServerFrameOf<'delivered'>;

/** Delivery receipts ("double ticks"): what a device acknowledges holding reaches the sender, and stays stored. */
describe('chat – delivery receipts', () => {
  let c: ChatCluster;
  beforeAll(async () => {
    c = await startChatCluster({ nodes: ['r1', 'r2'] });
  }, 60_000);
  afterAll(async () => {
    await c?.stop();
  }, 30_000);

  const delivered = (x: RawClient): number[] => x.frames.filter((f) => f.type === 'delivered').map((f) => (f as Delivered).seq);
  const listRow = async (x: RawClient, rid: number, conv: string): Promise<Convs['list'][number] | undefined> => {
    x.send({ type: 'sync', rid });
    return (await x.waitFor<Convs>((f) => f.type === 'convs' && f.rid === rid)).list.find((r) => r.conv === conv);
  };

  it('delivery receipts – the sender’s devices hear how far the other member’s devices acknowledged, only when it moves forward; the list carries it after', async () => {
    const conv = (await c.api('POST', '/v1/conversations', { kind: 'direct', members: ['ann', 'ben'] })).body['conv'] as string;
    const phone = await rawConnect(c.gateways.get('r1')!, c.token('ann', 'phone'));
    const laptop = await rawConnect(c.gateways.get('r2')!, c.token('ann', 'laptop'));
    const ben = await rawConnect(c.gateways.get('r2')!, c.token('ben', 'b1'));
    for (const x of [phone, laptop, ben]) await x.waitFor((f) => f.type === 'convs');
    const seqs: number[] = [];
    for (const cid of [1, 2, 3]) {
      phone.send({ type: 'send', conv, cid, body: `a${cid}` });
      const sent = await phone.waitFor<ServerFrameOf<'sent'>>((f) => f.type === 'sent' && f.cid === cid);
      await ben.waitFor((f) => f.type === 'msg' && f.seq === sent.seq);
      seqs.push(sent.seq);
    }
    // Held by ben's device but not acknowledged: not delivered yet (the laptop's own acks say nothing of ben).
    laptop.send({ type: 'ack', conv, seq: seqs[2]! });
    await new Promise((r) => setTimeout(r, 600));
    expect(delivered(phone)).toEqual([]);
    ben.send({ type: 'ack', conv, seq: seqs[1]! });
    for (const dev of [phone, laptop]) expect(await dev.waitFor<Delivered>((f) => f.type === 'delivered')).toEqual({ type: 'delivered', conv, uid: 'ben', seq: seqs[1] });
    // An ack that moves nothing forward tells nothing; the next one does.
    ben.send({ type: 'ack', conv, seq: seqs[0]! });
    await new Promise((r) => setTimeout(r, 400));
    ben.send({ type: 'ack', conv, seq: seqs[2]! });
    await phone.waitFor((f) => f.type === 'delivered' && f.seq === seqs[2]);
    expect(delivered(phone)).toEqual([seqs[1], seqs[2]]);
    // The one who acknowledged hears nothing of their own mark; ann's laptop's ack reached ben as ann's.
    expect(ben.frames.filter((f) => f.type === 'delivered' && f.uid === 'ben')).toEqual([]);
    expect(await ben.waitFor<Delivered>((f) => f.type === 'delivered')).toEqual({ type: 'delivered', conv, uid: 'ann', seq: seqs[2] });
    // Stored: a device that connects later, and the business server, read it from the list.
    await waitUntil(async () => (await listRow(phone, 10 + Math.floor(Math.random() * 1e6), conv))?.peerDelivered === seqs[2], 'the delivery mark stored');
    const tablet = await rawConnect(c.gateways.get('r1')!, c.token('ann', 'tablet'));
    expect((await tablet.waitFor<Convs>((f) => f.type === 'convs')).list.find((r) => r.conv === conv)).toMatchObject({ peerDelivered: seqs[2] });
    // Ben's own row carries his mark too: a device that acked further than it knows its ack was lost, and re-sends it.
    expect(await listRow(ben, 5, conv)).toMatchObject({ deliveredSeq: seqs[2] });
    const inbox = await c.api('GET', '/v1/users/ann/conversations', undefined, 'r2');
    expect((inbox.body['conversations'] as { conv: string }[]).find((r) => r.conv === conv)).toMatchObject({ peerDelivered: seqs[2] });
    for (const x of [phone, laptop, ben, tablet]) x.close();
  }, 30_000);

  it('delivery receipts – read receipts off leave them on; a block stops them both ways and hides the stored mark; unblocking brings them back', async () => {
    const conv = (await c.api('POST', '/v1/conversations', { kind: 'direct', members: ['cal', 'dee'] })).body['conv'] as string;
    expect((await c.api('POST', '/v1/users/dee/settings', { readReceipts: false })).status).toBe(200);
    const cal = await rawConnect(c.gateways.get('r1')!, c.token('cal', 'c1'));
    const dee = await rawConnect(c.gateways.get('r2')!, c.token('dee', 'd1'));
    for (const x of [cal, dee]) await x.waitFor((f) => f.type === 'convs');
    const send = async (cid: number): Promise<number> => {
      cal.send({ type: 'send', conv, cid, body: `c${cid}` });
      const sent = await cal.waitFor<ServerFrameOf<'sent'>>((f) => f.type === 'sent' && f.cid === cid);
      await dee.waitFor((f) => f.type === 'msg' && f.seq === sent.seq);
      return sent.seq;
    };
    const first = await send(1);
    dee.send({ type: 'ack', conv, seq: first });
    expect(await cal.waitFor<Delivered>((f) => f.type === 'delivered')).toMatchObject({ uid: 'dee', seq: first });
    await waitUntil(async () => (await listRow(cal, 100 + Math.floor(Math.random() * 1e6), conv))?.peerDelivered === first, 'the first mark stored');

    expect((await c.api('POST', '/v1/users/cal/blocks', { add: ['dee'] })).status).toBe(200);
    // A block stops sends: the business server's message is what dee acks now.
    const sys = (await c.api('POST', `/v1/conversations/${encodeURIComponent(conv)}/messages`, { body: 'while blocked' })).body['seq'] as number;
    await dee.waitFor((f) => f.type === 'msg' && f.seq === sys);
    dee.send({ type: 'ack', conv, seq: sys });
    await new Promise((r) => setTimeout(r, 800));
    expect(delivered(cal)).toEqual([first]);
    expect(await listRow(cal, 200, conv)).not.toHaveProperty('peerDelivered');
    expect(await listRow(dee, 201, conv)).not.toHaveProperty('peerDelivered');

    expect((await c.api('POST', '/v1/users/cal/blocks', { remove: ['dee'] })).status).toBe(200);
    // Stored all along: the list shows it again.
    await waitUntil(async () => (await listRow(cal, 300 + Math.floor(Math.random() * 1e6), conv))?.peerDelivered === sys, 'the mark made during the block shown after it');
    const third = await send(3);
    dee.send({ type: 'ack', conv, seq: third });
    await cal.waitFor((f) => f.type === 'delivered' && f.seq === third);
    for (const x of [cal, dee]) x.close();
  }, 30_000);

  it('delivery receipts – a read mark counts as delivered: a client that reads without acking shows as delivered too', async () => {
    const conv = (await c.api('POST', '/v1/conversations', { kind: 'direct', members: ['hal', 'ivy'] })).body['conv'] as string;
    const hal = await rawConnect(c.gateways.get('r1')!, c.token('hal', 'h1'));
    const ivy = await rawConnect(c.gateways.get('r2')!, c.token('ivy', 'i1'));
    for (const x of [hal, ivy]) await x.waitFor((f) => f.type === 'convs');
    hal.send({ type: 'send', conv, cid: 1, body: 'read me' });
    const sent = await hal.waitFor<ServerFrameOf<'sent'>>((f) => f.type === 'sent');
    await ivy.waitFor((f) => f.type === 'msg' && f.seq === sent.seq);
    ivy.send({ type: 'read', conv, seq: sent.seq });
    expect(await hal.waitFor((f) => f.type === 'receipt')).toMatchObject({ uid: 'ivy', seq: sent.seq });
    expect(await hal.waitFor<Delivered>((f) => f.type === 'delivered')).toEqual({ type: 'delivered', conv, uid: 'ivy', seq: sent.seq });
    await waitUntil(async () => (await listRow(hal, 400 + Math.floor(Math.random() * 1e6), conv))?.peerDelivered === sent.seq, 'the mark stored');
    for (const x of [hal, ivy]) x.close();
  }, 30_000);

  it('delivery receipts – a group’s members list carries each member’s delivery mark, to members and to the business server', async () => {
    const conv = (await c.api('POST', '/v1/conversations', { kind: 'group', conv: 'ticks', owner: 'eva', members: ['fay', 'gus'] })).body['conv'] as string;
    const eva = await rawConnect(c.gateways.get('r1')!, c.token('eva', 'e1'));
    const fay = await rawConnect(c.gateways.get('r2')!, c.token('fay', 'f1'));
    for (const x of [eva, fay]) await x.waitFor((f) => f.type === 'convs');
    eva.send({ type: 'send', conv, cid: 1, body: 'hello group' });
    const sent = await eva.waitFor<ServerFrameOf<'sent'>>((f) => f.type === 'sent');
    await fay.waitFor((f) => f.type === 'msg' && f.seq === sent.seq);
    fay.send({ type: 'ack', conv, seq: sent.seq });
    const members = async (): Promise<ServerFrameOf<'members'>['members']> => {
      const rid = Math.floor(Math.random() * 1e6);
      eva.send({ type: 'members', rid, conv, limit: 10 });
      return (await eva.waitFor<ServerFrameOf<'members'>>((f) => f.type === 'members' && f.rid === rid)).members;
    };
    await waitUntil(async () => (await members()).find((m) => m.uid === 'fay')?.deliveredSeq === sent.seq, 'fay’s delivery mark in the members list');
    // Gus never connected: nothing delivered to him. No group member gets `delivered` frames.
    expect((await members()).find((m) => m.uid === 'gus')).toMatchObject({ deliveredSeq: 0 });
    const api = await c.api('GET', `/v1/conversations/${conv}`);
    expect(api.body['members']).toEqual(expect.arrayContaining([expect.objectContaining({ uid: 'fay', deliveredSeq: sent.seq }), expect.objectContaining({ uid: 'gus', deliveredSeq: 0 })]));
    expect(eva.frames.some((f) => f.type === 'delivered')).toBe(false);
    for (const x of [eva, fay]) x.close();
  }, 30_000);
});
