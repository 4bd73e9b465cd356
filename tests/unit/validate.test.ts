import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ErrorCode } from '../../protocol/errors.js';
import { MUTED_FOREVER } from '../../protocol/frames.js';
import { DEFAULT_LIMITS } from '../../protocol/limits.js';
import { clusterShardsSubject, conversationSubject, nodeControlSubject, parseConversationSubject, parseSubjectToken, shardSubject, subjectToken } from '../../protocol/subjects.js';
import { idProblem, utf8Length, validateClientFrame, validateServerFrame } from '../../protocol/validate.js';

const fails = (code: string, message?: string | RegExp) => ({ ok: false, error: expect.objectContaining({ code, ...(message ? { message: expect.stringMatching(message) } : {}) }) });

describe('validate – client frames', () => {
  it('validate – a valid frame is rebuilt with its known fields only', () => {
    const r = validateClientFrame({ type: 'send', conv: 'c1', cid: 3, body: 'hi', admin: true, __proto_: 1 });
    expect(r).toEqual({ ok: true, value: { type: 'send', conv: 'c1', cid: 3, body: 'hi' } });
    expect(Object.keys((r as { value: object }).value)).toEqual(['type', 'conv', 'cid', 'body']);
  });

  it('validate – each error message names the frame and the field', () => {
    expect(validateClientFrame({ type: 'send', conv: 'c', body: 'x' })).toEqual(fails(ErrorCode.INVALID_FIELD, /^send\.cid is missing$/));
    expect(validateClientFrame({ type: 'send', conv: 'c', cid: 0, body: 'x' })).toEqual(fails(ErrorCode.INVALID_FIELD, /^send\.cid must be an integer > 0$/));
    expect(validateClientFrame({ type: 'ack', conv: 'c', seq: -1 })).toEqual(fails(ErrorCode.INVALID_FIELD, /^ack\.seq /));
    expect(validateClientFrame({ type: 'read', conv: 7, seq: 1 })).toEqual(fails(ErrorCode.INVALID_FIELD, /^read\.conv must be a string$/));
    expect(validateClientFrame({ type: 'pull', rid: 1, conv: 'c', after: 0, limit: 0 })).toEqual(fails(ErrorCode.INVALID_FIELD, /^pull\.limit must be an integer from 1 to 200$/));
    expect(validateClientFrame({ type: 'pull', rid: 1, conv: 'c', before: 9, limit: 5 })).toEqual({ ok: true, value: { type: 'pull', rid: 1, conv: 'c', before: 9, limit: 5 } });
    expect(validateClientFrame({ type: 'pull', rid: 1, conv: 'c', before: 0, limit: 5 })).toEqual(fails(ErrorCode.INVALID_FIELD, /^pull\.before must be an integer > 0$/));
    expect(validateClientFrame({ type: 'pull', rid: 1, conv: 'c', before: 9, after: 2, limit: 5 })).toEqual(fails(ErrorCode.INVALID_FIELD, /^pull takes after or before, not both$/));
    expect(validateClientFrame({ type: 'pull', rid: 1, conv: 'c', limit: 5 })).toEqual(fails(ErrorCode.INVALID_FIELD, /^pull\.after is missing$/));
    expect(validateClientFrame({ type: 'members', rid: 1, conv: 'c', limit: 50, after: 'bob' })).toEqual({ ok: true, value: { type: 'members', rid: 1, conv: 'c', limit: 50, after: 'bob' } });
    expect(validateClientFrame({ type: 'members', rid: 1, conv: 'c', limit: 201 })).toEqual(fails(ErrorCode.INVALID_FIELD, /^members\.limit must be an integer from 1 to 200$/));
    expect(validateClientFrame({ type: 'members', rid: 1, conv: 'c' })).toEqual(fails(ErrorCode.INVALID_FIELD, /^members\.limit is missing/));
    expect(validateClientFrame({ type: 'members', rid: 1, conv: 'c', limit: 5, after: '' })).toEqual(fails(ErrorCode.INVALID_FIELD, /^members\.after /));
    expect(validateClientFrame({ type: 'sync', rid: 1.5 })).toEqual(fails(ErrorCode.INVALID_FIELD, /^sync\.rid /));
    expect(validateClientFrame({ type: 'typing', conv: '' })).toEqual(fails(ErrorCode.INVALID_FIELD, /^typing\.conv must not be empty$/));
    expect(validateClientFrame({ type: 'ping', ts: Number.NaN })).toEqual(fails(ErrorCode.INVALID_FIELD, /^ping\.ts /));
    expect(validateClientFrame({ type: 'refresh', rid: 1 })).toEqual(fails(ErrorCode.INVALID_FIELD, /^refresh\.token is missing$/));
    expect(validateClientFrame({ type: 'refresh', rid: 1, token: 'x'.repeat(4097) })).toEqual(fails(ErrorCode.INVALID_FIELD, /^refresh\.token must be 1–4096 characters$/));
    expect(validateClientFrame({ type: 'refresh', rid: 1, token: 'a.b.c', extra: 1 })).toEqual({ ok: true, value: { type: 'refresh', rid: 1, token: 'a.b.c' } });
    expect(validateClientFrame({ type: 'mute', rid: 2, conv: 'c', until: MUTED_FOREVER })).toEqual({ ok: true, value: { type: 'mute', rid: 2, conv: 'c', until: MUTED_FOREVER } });
    expect(validateClientFrame({ type: 'mute', rid: 2, conv: 'c', until: 0 })).toEqual({ ok: true, value: { type: 'mute', rid: 2, conv: 'c', until: 0 } });
    expect(validateClientFrame({ type: 'mute', rid: 2, conv: 'c', until: MUTED_FOREVER + 1 })).toEqual(fails(ErrorCode.INVALID_FIELD, /^mute\.until must be an integer from 0 to 8640000000000000$/));
    expect(validateClientFrame({ type: 'mute', rid: 2, conv: 'c', until: 1.5 })).toEqual(fails(ErrorCode.INVALID_FIELD, /^mute\.until /));
    expect(validateClientFrame({ type: 'mute', rid: 2, conv: 'c' })).toEqual(fails(ErrorCode.INVALID_FIELD, /^mute\.until is missing/));
    expect(validateClientFrame({ type: 'mute', conv: 'c', until: 0 })).toEqual(fails(ErrorCode.INVALID_FIELD, /^mute\.rid is missing/));
    expect(validateClientFrame({ type: 'leave', rid: 4, conv: 'c', extra: 1 })).toEqual({ ok: true, value: { type: 'leave', rid: 4, conv: 'c' } });
    expect(validateClientFrame({ type: 'leave', rid: 4 })).toEqual(fails(ErrorCode.INVALID_FIELD, /^leave\.conv is missing/));
  });

  it('validate – integers must be safe: 2^53 is refused where 2^53 − 1 passes', () => {
    expect(validateClientFrame({ type: 'ack', conv: 'c', seq: Number.MAX_SAFE_INTEGER }).ok).toBe(true);
    expect(validateClientFrame({ type: 'ack', conv: 'c', seq: 2 ** 53 })).toEqual(fails(ErrorCode.INVALID_FIELD));
    expect(validateClientFrame({ type: 'ack', conv: 'c', seq: 0 }).ok).toBe(true);
  });

  it('validate – ids are 1–128 UTF-8 bytes without control characters', () => {
    expect(idProblem('a'.repeat(128))).toBeUndefined();
    expect(idProblem('a'.repeat(129))).toMatch(/128 bytes/);
    expect(idProblem('é'.repeat(64))).toBeUndefined(); // 128 bytes
    expect(idProblem('é'.repeat(65))).toMatch(/128 bytes/);
    expect(idProblem('😀'.repeat(33))).toMatch(/128 bytes/); // 132 bytes in 66 UTF-16 units
    for (const bad of ['a\u0000b', 'tab\there', 'x\n', '\u007f']) expect(idProblem(bad)).toMatch(/control/);
    expect(idProblem('')).toMatch(/empty/);
    expect(idProblem(5)).toMatch(/string/);
    expect(validateClientFrame({ type: 'typing', conv: 'x'.repeat(129) })).toEqual(fails(ErrorCode.INVALID_FIELD, /^typing\.conv must be at most 128 bytes/));
    expect(validateClientFrame({ type: 'typing', conv: 'x'.repeat(20) }, { ...DEFAULT_LIMITS, maxIdLength: 16 })).toEqual(fails(ErrorCode.INVALID_FIELD));
  });

  it('validate – the body is counted in UTF-8 bytes; over the limit is FRAME_TOO_LARGE, empty is INVALID_FIELD', () => {
    const max = DEFAULT_LIMITS.maxBodyBytes;
    expect(validateClientFrame({ type: 'send', conv: 'c', cid: 1, body: '😀'.repeat(max / 4) }).ok).toBe(true);
    expect(validateClientFrame({ type: 'send', conv: 'c', cid: 1, body: '😀'.repeat(max / 4) + 'a' })).toEqual(fails(ErrorCode.FRAME_TOO_LARGE, /^send\.body /));
    expect(validateClientFrame({ type: 'send', conv: 'c', cid: 1, body: '' })).toEqual(fails(ErrorCode.INVALID_FIELD, /^send\.body must not be empty$/));
    expect(validateClientFrame({ type: 'send', conv: 'c', cid: 1, body: 'line\nline\u0000' }).ok).toBe(true); // bodies may hold any character
  });

  it('validate – a recall is a send naming a seq > 0; its body may be empty', () => {
    expect(validateClientFrame({ type: 'send', conv: 'c', cid: 2, body: '', recall: 7 })).toEqual({ ok: true, value: { type: 'send', conv: 'c', cid: 2, body: '', recall: 7 } });
    expect(validateClientFrame({ type: 'send', conv: 'c', cid: 2, body: '', recall: null })).toEqual(fails(ErrorCode.INVALID_FIELD, /^send\.body must not be empty$/));
    expect(validateClientFrame({ type: 'send', conv: 'c', cid: 2, body: '', recall: 0 })).toEqual(fails(ErrorCode.INVALID_FIELD, /^send\.recall must be an integer > 0$/));
    expect(validateClientFrame({ type: 'send', conv: 'c', cid: 2, body: '', recall: '7' })).toEqual(fails(ErrorCode.INVALID_FIELD, /^send\.recall /));
    expect(validateServerFrame({ type: 'msg', conv: 'c', seq: 9, prev: 7, from: 'u', did: 'd', cid: 2, ts: 1, body: '', recall: 7 })).toEqual({ ok: true, value: { type: 'msg', conv: 'c', seq: 9, prev: 7, from: 'u', did: 'd', cid: 2, ts: 1, body: '', recall: 7 } });
    expect(validateServerFrame({ type: 'msg', conv: 'c', seq: 9, prev: 7, from: 'u', did: 'd', cid: 2, ts: 1, body: '', recalled: -1 })).toEqual(fails(ErrorCode.INVALID_FIELD, /^msg\.recalled /));
  });

  it('validate – a reaction is a send naming a seq > 0 with at most 32 bytes of body (empty takes it back); it is no edit or recall too', () => {
    expect(validateClientFrame({ type: 'send', conv: 'c', cid: 3, body: '👨‍👩‍👧‍👦', react: 2 })).toEqual({ ok: true, value: { type: 'send', conv: 'c', cid: 3, body: '👨‍👩‍👧‍👦', react: 2 } });
    expect(validateClientFrame({ type: 'send', conv: 'c', cid: 3, body: '', react: 2 })).toEqual({ ok: true, value: { type: 'send', conv: 'c', cid: 3, body: '', react: 2 } });
    expect(validateClientFrame({ type: 'send', conv: 'c', cid: 3, body: 'x'.repeat(33), react: 2 })).toEqual(fails(ErrorCode.FRAME_TOO_LARGE, /^send\.body must be at most 32 bytes/));
    expect(validateClientFrame({ type: 'send', conv: 'c', cid: 3, body: '👍', react: 0 })).toEqual(fails(ErrorCode.INVALID_FIELD, /^send\.react/));
    expect(validateClientFrame({ type: 'send', conv: 'c', cid: 3, body: '👍', react: 2, edit: 2 })).toEqual(fails(ErrorCode.INVALID_FIELD, /cannot go together/));
    // A reaction is stored as Postgres text too (the counts), which holds no NUL; a message body may hold one.
    expect(validateClientFrame({ type: 'send', conv: 'c', cid: 3, body: 'a\u0000', react: 2 })).toEqual(fails(ErrorCode.INVALID_FIELD, /^send\.body must not contain NUL/));
    expect(validateClientFrame({ type: 'reactors', rid: 1, conv: 'c', seq: 2, limit: 5, emoji: '\u0000' })).toEqual(fails(ErrorCode.INVALID_FIELD, /^reactors\.emoji must not contain NUL/));
    expect(validateClientFrame({ type: 'send', conv: 'c', cid: 3, body: 'a\u0000b' }).ok).toBe(true);
    const reactions = { counts: [{ emoji: '👍', n: 2 }], at: 5, mine: '👍' };
    const history = validateServerFrame({ type: 'history', rid: 1, conv: 'c', more: false, msgs: [{ conv: 'c', seq: 2, prev: 0, from: 'u', did: 'd', cid: 1, ts: 1, body: 'hi', reactions }] });
    expect(history.ok && history.value.type === 'history' && history.value.msgs[0]!.reactions).toEqual(reactions);
    expect(validateServerFrame({ type: 'history', rid: 1, conv: 'c', more: false, msgs: [{ conv: 'c', seq: 2, prev: 0, from: 'u', did: 'd', cid: 1, ts: 1, body: 'hi', reactions: { counts: [{ emoji: '👍' }], at: 5 } }] }).ok).toBe(false);
    const live = validateServerFrame({ type: 'msg', conv: 'c', seq: 6, prev: 5, from: 'v', did: 'd', cid: 2, ts: 1, body: '❤️', react: 2, was: '👍' });
    expect(live.ok && live.value.type === 'msg' && live.value.was).toBe('👍');
    // Who reacted: a page by uid, asked for by seq (> 0) with an optional emoji of at most 32 bytes.
    expect(validateClientFrame({ type: 'reactors', rid: 1, conv: 'c', seq: 2, limit: 50, after: 'bob', emoji: '👍' })).toEqual({ ok: true, value: { type: 'reactors', rid: 1, conv: 'c', seq: 2, limit: 50, after: 'bob', emoji: '👍' } });
    expect(validateClientFrame({ type: 'reactors', rid: 1, conv: 'c', seq: 0, limit: 50 })).toEqual(fails(ErrorCode.INVALID_FIELD, /^reactors\.seq/));
    expect(validateClientFrame({ type: 'reactors', rid: 1, conv: 'c', seq: 2, limit: 50, emoji: 'x'.repeat(33) })).toEqual(fails(ErrorCode.FRAME_TOO_LARGE, /^reactors\.emoji/));
  });

  it('validate – mentions are 1–50 distinct user ids on a plain message', () => {
    expect(validateClientFrame({ type: 'send', conv: 'c', cid: 3, body: 'hi @bo', mentions: ['bo', 'al'] })).toEqual({ ok: true, value: { type: 'send', conv: 'c', cid: 3, body: 'hi @bo', mentions: ['bo', 'al'] } });
    expect(validateClientFrame({ type: 'send', conv: 'c', cid: 3, body: 'x', mentions: [] })).toEqual(fails(ErrorCode.INVALID_FIELD, /^send\.mentions must hold 1–50 user ids$/));
    expect(validateClientFrame({ type: 'send', conv: 'c', cid: 3, body: 'x', mentions: Array.from({ length: 51 }, (_, i) => `u${i}`) })).toEqual(fails(ErrorCode.INVALID_FIELD, /^send\.mentions must hold/));
    expect(validateClientFrame({ type: 'send', conv: 'c', cid: 3, body: 'x', mentions: ['bo', 'bo'] })).toEqual(fails(ErrorCode.INVALID_FIELD, /must not name a user twice/));
    expect(validateClientFrame({ type: 'send', conv: 'c', cid: 3, body: 'x', mentions: ['bo', ''] })).toEqual(fails(ErrorCode.INVALID_FIELD, /holds an id that must not be empty/));
    expect(validateClientFrame({ type: 'send', conv: 'c', cid: 3, body: 'x', mentions: ['bo'], edit: 2 })).toEqual(fails(ErrorCode.INVALID_FIELD, /plain message only/));
  });

  it('validate – mentionAll is a boolean on a plain message; false is the same as absent', () => {
    expect(validateClientFrame({ type: 'send', conv: 'c', cid: 3, body: '@all', mentionAll: true })).toEqual({ ok: true, value: { type: 'send', conv: 'c', cid: 3, body: '@all', mentionAll: true } });
    expect(validateClientFrame({ type: 'send', conv: 'c', cid: 3, body: 'x', mentionAll: false })).toEqual({ ok: true, value: { type: 'send', conv: 'c', cid: 3, body: 'x' } });
    expect(validateClientFrame({ type: 'send', conv: 'c', cid: 3, body: 'x', mentionAll: 1 })).toEqual(fails(ErrorCode.INVALID_FIELD, /^send\.mentionAll must be a boolean/));
    expect(validateClientFrame({ type: 'send', conv: 'c', cid: 3, body: 'x', mentionAll: true, edit: 2 })).toEqual(fails(ErrorCode.INVALID_FIELD, /plain message only/));
  });

  it('validate – a reply names a seq > 0 on a plain message, mentions allowed', () => {
    expect(validateClientFrame({ type: 'send', conv: 'c', cid: 3, body: 'yes', reply: 2, mentions: ['bo'] })).toEqual({ ok: true, value: { type: 'send', conv: 'c', cid: 3, body: 'yes', mentions: ['bo'], reply: 2 } });
    expect(validateClientFrame({ type: 'send', conv: 'c', cid: 3, body: 'yes', reply: 0 })).toEqual(fails(ErrorCode.INVALID_FIELD, /^send\.reply/));
    expect(validateClientFrame({ type: 'send', conv: 'c', cid: 3, body: 'yes', reply: '2' })).toEqual(fails(ErrorCode.INVALID_FIELD, /^send\.reply/));
    expect(validateClientFrame({ type: 'send', conv: 'c', cid: 3, body: '👍', reply: 2, react: 2 })).toEqual(fails(ErrorCode.INVALID_FIELD, /send\.reply goes on a plain message only/));
  });

  it('validate – an edit is a send naming a seq > 0 with a body; it cannot be a recall too', () => {
    expect(validateClientFrame({ type: 'send', conv: 'c', cid: 3, body: 'fixed', edit: 2 })).toEqual({ ok: true, value: { type: 'send', conv: 'c', cid: 3, body: 'fixed', edit: 2 } });
    expect(validateClientFrame({ type: 'send', conv: 'c', cid: 3, body: '', edit: 2 })).toEqual(fails(ErrorCode.INVALID_FIELD, /^send\.body must not be empty$/));
    expect(validateClientFrame({ type: 'send', conv: 'c', cid: 3, body: 'x', edit: 2, recall: 2 })).toEqual(fails(ErrorCode.INVALID_FIELD, /^send\.recall, send\.edit and send\.react cannot go together/));
    expect(validateServerFrame({ type: 'history', rid: 1, conv: 'c', more: false, msgs: [{ conv: 'c', seq: 2, prev: 0, from: 'u', did: 'd', cid: 1, ts: 1, body: 'fixed', edited: 3 }] }).ok).toBe(true);
  });

  it('validate – utf8Length agrees with the real encoder, lone surrogates included', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 40, unit: fc.constantFrom('\ud800', '\udfff', '😀', 'é', 'a', '€') }), fc.string({ maxLength: 40, unit: 'binary' }), (a, b) => {
        expect(utf8Length(a + b)).toBe(Buffer.byteLength(a + b, 'utf8'));
      }),
    );
  });

  it('validate – nil is absent for an optional field and missing for a required one', () => {
    expect(validateClientFrame({ type: 'ping', ts: null })).toEqual({ ok: true, value: { type: 'ping' } });
    expect(validateClientFrame({ type: 'ack', conv: 'c', seq: null })).toEqual(fails(ErrorCode.INVALID_FIELD, /^ack\.seq is missing$/));
  });

  it('validate – a non-map is BAD_FRAME, an unknown or missing type is UNKNOWN_TYPE', () => {
    for (const v of [null, 3, 'ping', [], ['ping'], new Date(), new Map([['type', 'ping']]), new Uint8Array(2)]) {
      expect(validateClientFrame(v)).toEqual(fails(ErrorCode.BAD_FRAME));
    }
    for (const v of [{}, { type: 'toString' }, { type: 'constructor' }, { type: '__proto__' }, { type: 'msg' }, { type: 1 }, { type: null }]) {
      expect(validateClientFrame(v)).toEqual(fails(ErrorCode.UNKNOWN_TYPE));
    }
    expect(validateClientFrame(Object.assign(Object.create(null), { type: 'ping' }))).toEqual({ ok: true, value: { type: 'ping' } });
  });
});

describe('validate – server frames', () => {
  it('validate – nested items are checked and errors name the item index', () => {
    const good = { conv: 'c', seq: 5, prev: 2, from: 'u', did: 'd', cid: 0, ts: 1, body: 'b' };
    expect(validateServerFrame({ type: 'history', rid: 1, conv: 'c', more: false, msgs: [good, { ...good, seq: 'x' }] })).toEqual(fails(ErrorCode.INVALID_FIELD, /^history\.msgs\[1\]\.seq /));
    expect(validateServerFrame({ type: 'history', rid: 1, conv: 'c', more: false, msgs: [good, 3] })).toEqual(fails(ErrorCode.INVALID_FIELD, /^history\.msgs\[1\] must be a map$/));
    expect(validateServerFrame({ type: 'convs', list: [{ conv: 'c', kind: 'group', lastSeq: 1, readSeq: 0 }] })).toEqual(fails(ErrorCode.INVALID_FIELD, /^convs\.list\[0\]\.unread is missing$/));
    expect(validateServerFrame({ type: 'redirect', endpoints: ['a', 2], reason: 'drain' })).toEqual(fails(ErrorCode.INVALID_FIELD, /^redirect\.endpoints\[1\] /));
    expect(validateServerFrame({ type: 'convs', list: [{ conv: 'c', kind: 'direct', lastSeq: 1, readSeq: 0, unread: 1, peerRead: -1 }] })).toEqual(fails(ErrorCode.INVALID_FIELD, /^convs\.list\[0\]\.peerRead /));
    expect(validateServerFrame({ type: 'receipt', conv: 'c', uid: 'u' })).toEqual(fails(ErrorCode.INVALID_FIELD, /^receipt\.seq is missing$/));
    expect(validateServerFrame({ type: 'delivered', conv: 'c', uid: 'u', seq: -1 })).toEqual(fails(ErrorCode.INVALID_FIELD, /^delivered\.seq /));
    expect(validateServerFrame({ type: 'delivered', conv: 'c', uid: 'u', seq: 4 })).toEqual({ ok: true, value: { type: 'delivered', conv: 'c', uid: 'u', seq: 4 } });
    expect(validateServerFrame({ type: 'convs', list: [{ conv: 'c', kind: 'direct', lastSeq: 1, readSeq: 0, unread: 1, peerDelivered: 'x' }] })).toEqual(fails(ErrorCode.INVALID_FIELD, /^convs\.list\[0\]\.peerDelivered /));
    expect(validateServerFrame({ type: 'members', rid: 1, conv: 'c', more: false, members: [{ uid: 'a', role: 'owner', deliveredSeq: 3.5 }] })).toEqual(fails(ErrorCode.INVALID_FIELD, /^members\.members\[0\]\.deliveredSeq /));
    expect(validateServerFrame({ type: 'presence', uid: 'u', online: false, lastSeen: 'yesterday' })).toEqual(fails(ErrorCode.INVALID_FIELD, /^presence\.lastSeen /));
    expect(validateServerFrame({ type: 'convs', list: [{ conv: 'c', kind: 'direct', lastSeq: 1, readSeq: 0, unread: 1, peerLastSeen: 'x' }] })).toEqual(fails(ErrorCode.INVALID_FIELD, /^convs\.list\[0\]\.peerLastSeen /));
    expect(validateServerFrame({ type: 'members', rid: 1, conv: 'c', more: false, members: [{ uid: 'a', role: 'owner', readSeq: 3 }, { uid: 'b', role: 'member', readSeq: -1 }] })).toEqual(fails(ErrorCode.INVALID_FIELD, /^members\.members\[1\]\.readSeq /));
    expect(validateServerFrame({ type: 'convs', list: [{ conv: 'c', kind: 'group', lastSeq: 1, readSeq: 0, unread: 1, mutedUntil: -5 }] })).toEqual(fails(ErrorCode.INVALID_FIELD, /^convs\.list\[0\]\.mutedUntil /));
    expect(validateServerFrame({ type: 'mute', conv: 'c', until: 7 })).toEqual({ ok: true, value: { type: 'mute', conv: 'c', until: 7 } });
    expect(validateServerFrame({ type: 'mute', rid: 3, conv: 'c', until: 7 })).toEqual({ ok: true, value: { type: 'mute', conv: 'c', until: 7, rid: 3 } });
    expect(validateServerFrame({ type: 'mute', conv: 'c' })).toEqual(fails(ErrorCode.INVALID_FIELD, /^mute\.until is missing$/));
    expect(validateServerFrame({ type: 'joined', conv: 'c', kind: 'group', title: 'T', lastSeq: 3 })).toEqual({ ok: true, value: { type: 'joined', conv: 'c', kind: 'group', lastSeq: 3, title: 'T' } });
    expect(validateServerFrame({ type: 'joined', conv: 'c', kind: 'group' })).toEqual(fails(ErrorCode.INVALID_FIELD, /^joined\.lastSeq is missing$/));
    expect(validateServerFrame({ type: 'joined', conv: 'c', kind: 'group', lastSeq: 0, title: 5 })).toEqual(fails(ErrorCode.INVALID_FIELD, /^joined\.title /));
    expect(validateServerFrame({ type: 'left' })).toEqual(fails(ErrorCode.INVALID_FIELD, /^left\.conv is missing$/));
    expect(validateServerFrame({ type: 'left', rid: 2, conv: 'c' })).toEqual({ ok: true, value: { type: 'left', rid: 2, conv: 'c' } });
    expect(validateServerFrame({ type: 'title', conv: 'c', title: null })).toEqual({ ok: true, value: { type: 'title', conv: 'c' } });
    expect(validateServerFrame({ type: 'title', conv: 'c', title: 3 })).toEqual(fails(ErrorCode.INVALID_FIELD, /^title\.title /));
    expect(validateServerFrame({ type: 'convs', list: [{ conv: 'c', kind: 'group', lastSeq: 1, readSeq: 0, unread: 1, title: 7 }] })).toEqual(fails(ErrorCode.INVALID_FIELD, /^convs\.list\[0\]\.title /));
  });

  it('validate – enum values a newer server may add are read as the safest known value', () => {
    expect(validateServerFrame({ type: 'error', code: 'quota_exceeded', message: 'm' })).toEqual({ ok: true, value: { type: 'error', code: ErrorCode.INTERNAL, message: 'm' } });
    expect(validateServerFrame({ type: 'redirect', endpoints: ['ws://b'], reason: 'rebalance' })).toEqual({ ok: true, value: { type: 'redirect', endpoints: ['ws://b'], reason: 'moved' } });
    expect(validateServerFrame({ type: 'convs', list: [{ conv: 'c', kind: 'channel', lastSeq: 1, readSeq: 0, unread: 1 }] })).toMatchObject({ ok: true, value: { list: [{ kind: 'group' }] } });
    expect(validateServerFrame({ type: 'members', rid: 1, conv: 'c', more: true, members: [{ uid: 'a', role: 'moderator' }] })).toEqual({ ok: true, value: { type: 'members', rid: 1, conv: 'c', more: true, members: [{ uid: 'a', role: 'member' }] } });
    expect(validateServerFrame({ type: 'joined', conv: 'c', kind: 'channel', lastSeq: 0 })).toEqual({ ok: true, value: { type: 'joined', conv: 'c', kind: 'group', lastSeq: 0 } });
  });

  it('validate – server frames are not policed for size, and optional fields may be nil', () => {
    expect(validateServerFrame({ type: 'msg', conv: 'c'.repeat(500), seq: 1, prev: 0, from: '', did: '', cid: 0, ts: 1.5, body: 'x'.repeat(100_000) }).ok).toBe(true);
    expect(validateServerFrame({ type: 'error', code: 'timeout', message: 'm', rid: null, cid: 4, conv: null })).toEqual({ ok: true, value: { type: 'error', code: 'timeout', message: 'm', cid: 4 } });
    expect(validateServerFrame({ type: 'send', conv: 'c', cid: 1, body: 'b' })).toEqual(fails(ErrorCode.UNKNOWN_TYPE));
  });
});

describe('subjects – NATS subject names', () => {
  const unsafe = /[.*>\s]/;

  it('subjects – every id becomes one safe token, reversibly and without collisions', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary' }), fc.string({ unit: 'binary' }), (a, b) => {
        const ta = subjectToken(a);
        expect(ta).not.toMatch(unsafe);
        expect(ta.length).toBeGreaterThan(0);
        expect(parseSubjectToken(ta)).toBe(a);
        if (a !== b) expect(ta).not.toBe(subjectToken(b));
      }),
    );
    expect(subjectToken('conv:42_a-b')).toBe('conv:42_a-b');
    expect(subjectToken('a.b')).toBe('~612e62');
    expect(subjectToken('~61')).toBe('~7e3631');
    expect(parseSubjectToken('~6')).toBeUndefined();
    expect(parseSubjectToken('~ff')).toBeUndefined(); // not UTF-8
    expect(parseSubjectToken('~61')).toBeUndefined(); // 'a' is spelled 'a', never escaped
  });

  it('subjects – builders give the documented names', () => {
    expect(shardSubject('chatter', 17)).toBe('im.chatter.17');
    expect(shardSubject('chatter', 17)).toBe('im.chatter.17'); // cached
    expect(() => shardSubject('chatter', -1)).toThrow(RangeError);
    expect(nodeControlSubject('node-1')).toBe('im.node.node-1.ctl');
    expect(nodeControlSubject('host.local')).toBe('im.node.~686f73742e6c6f63616c.ctl');
    expect(clusterShardsSubject()).toBe('im.cluster.shards');
    expect(conversationSubject('g>1')).toMatch(/^im\.conv\.~[0-9a-f]+$/);
    expect(parseConversationSubject(conversationSubject('g>1 x'))).toBe('g>1 x');
    expect(parseConversationSubject('im.chatter.1')).toBeUndefined();
  });
});
