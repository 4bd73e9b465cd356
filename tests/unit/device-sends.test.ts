import { describe, expect, it } from 'vitest';
import { addDevice, knownSend, MAX_DEVICES, MIN_RECENT_PER_DEVICE, RECENT_PER_CONVERSATION, RECENT_PER_DEVICE, rememberSend, type DeviceState } from '../../actors/device-sends.js';
import type { ChatterSend, SendReply } from '../../protocol/chat-ops.js';
import { LaterReply } from '../../runtime/actor.js';

const send = (cid: number): ChatterSend => ({ uid: 'u', did: 'd', cid, body: `m${cid}` });
const reply = (cid: number): SendReply => ({ seq: cid, ts: 1, prev: cid - 1 });

describe('chatter dedup window', () => {
  it('dedup – a send still being committed is never forgotten, however many sends follow it', () => {
    const dev = addDevice(new Map(), 'u\u0000d', 0);
    const asked: number[] = [];
    const stored = async (p: ChatterSend) => (asked.push(p.cid), reply(p.cid));
    const n = RECENT_PER_DEVICE + 50;
    // Postgres is slow: nothing settles while the device goes on sending.
    for (let cid = 1; cid <= n; cid++) rememberSend(dev, cid, new Promise<SendReply>(() => {}));
    expect(knownSend(send(1), dev, stored)).toBeInstanceOf(LaterReply);
    expect(asked).toEqual([]);

    // Once they are durable (the chatter swaps each promise for its reply), the oldest make room again.
    for (let cid = 1; cid <= n; cid++) dev.recent.set(cid, reply(cid));
    rememberSend(dev, n + 1, new Promise<SendReply>(() => {}));
    expect(dev.recent.size).toBe(RECENT_PER_DEVICE);
    expect(knownSend(send(n + 1), dev, stored)).toBeInstanceOf(LaterReply);
    expect(knownSend(send(n), dev, stored)).toEqual(reply(n));
    // An old one forgotten is asked of Postgres.
    void knownSend(send(1), dev, stored);
    expect(asked).toEqual([1]);
  });

  it('dedup – past the devices a conversation remembers, the oldest one goes, but not one with a send still being committed', () => {
    const devices = new Map<string, DeviceState>();
    for (let i = 0; i < MAX_DEVICES; i++) addDevice(devices, `d${i}`, i);
    rememberSend(devices.get('d0')!, 1, new Promise<SendReply>(() => {}));
    addDevice(devices, 'new', 0);
    expect(devices.size).toBe(MAX_DEVICES);
    expect(devices.has('d0')).toBe(true);
    expect(devices.has('d1')).toBe(false);
    // Once durable, it may go like any other.
    devices.get('d0')!.recent.set(1, reply(1));
    addDevice(devices, 'newer', 0);
    expect(devices.has('d0')).toBe(false);
  });

  it('dedup – with many devices sending in one conversation, each remembers fewer recent sends: the conversation\'s whole window stays bounded', () => {
    const dev = addDevice(new Map(), 'u\u0000d', 0);
    const many = 1024;
    for (let cid = 1; cid <= RECENT_PER_DEVICE; cid++) rememberSend(dev, cid, Promise.resolve(reply(cid)), many), dev.recent.set(cid, reply(cid));
    expect(dev.recent.size).toBe(RECENT_PER_CONVERSATION / many);
    expect(knownSend(send(RECENT_PER_DEVICE), dev, async () => reply(0))).toEqual(reply(RECENT_PER_DEVICE));
    for (let cid = RECENT_PER_DEVICE + 1; cid <= RECENT_PER_DEVICE + 20; cid++) rememberSend(dev, cid, Promise.resolve(reply(cid)), MAX_DEVICES), dev.recent.set(cid, reply(cid));
    expect(dev.recent.size).toBe(MIN_RECENT_PER_DEVICE);
  });
});
