import type { ErrorCode } from './errors.js';

/**
 * Client frames: msgpack maps keyed on `type`, one per WebSocket binary message. Defined once here;
 * validated in protocol/validate.ts where they enter (the gateway).
 */
export type ClientFrame =
  /** Send a message. `cid` is the device's client msg id: a positive integer, strictly increasing per device. */
  | { type: 'send'; conv: string; cid: number; body: string }
  /** Cumulative delivery ack: "I have every message of `conv` up to `seq`". */
  | { type: 'ack'; conv: string; seq: number }
  /** Read mark: the user has read `conv` up to `seq`. */
  | { type: 'read'; conv: string; seq: number }
  /** Fetch messages of `conv` with seq > `after`, at most `limit`. */
  | { type: 'pull'; rid: number; conv: string; after: number; limit: number }
  /** Ask for the conversation list again. */
  | { type: 'sync'; rid: number }
  | { type: 'typing'; conv: string }
  | { type: 'ping'; ts?: number };

export const CLIENT_FRAME_TYPES = ['send', 'ack', 'read', 'pull', 'sync', 'typing', 'ping'] as const;
export type ClientFrameType = (typeof CLIENT_FRAME_TYPES)[number];

/** A message as delivered and as returned by `pull`. `prev` is the previous seq of the conversation (0 for the first). */
export interface Msg {
  conv: string;
  seq: number;
  prev: number;
  from: string;
  did: string;
  cid: number;
  ts: number;
  body: string;
}

export interface ConvSummary {
  conv: string;
  kind: 'direct' | 'group';
  lastSeq: number;
  readSeq: number;
  unread: number;
}

/** Server frames. */
export type ServerFrame =
  | { type: 'welcome'; uid: string; did: string; node: string; heartbeatMs: number; maxFrameBytes: number }
  /** The server's ack of a `send`, only once the message is durable. Named `sent` so one name never means two things on a socket. */
  | { type: 'sent'; cid: number; conv: string; seq: number; ts: number }
  | ({ type: 'msg' } & Msg)
  | { type: 'convs'; rid?: number; list: ConvSummary[] }
  | { type: 'history'; rid: number; conv: string; msgs: Msg[]; more: boolean }
  /** A read mark made on another device of the same user. */
  | { type: 'read'; conv: string; seq: number }
  | { type: 'typing'; conv: string; from: string }
  | { type: 'presence'; uid: string; online: boolean }
  | { type: 'pong'; ts?: number }
  | { type: 'error'; code: ErrorCode; message: string; rid?: number; cid?: number; conv?: string }
  /** Reconnect to one of `endpoints` (in order of preference). */
  | { type: 'redirect'; endpoints: string[]; reason: RedirectReason };

export const SERVER_FRAME_TYPES = ['welcome', 'sent', 'msg', 'convs', 'history', 'read', 'typing', 'presence', 'pong', 'error', 'redirect'] as const;
export type ServerFrameType = (typeof SERVER_FRAME_TYPES)[number];

export const RedirectReason = { DRAIN: 'drain', OVERLOADED: 'overloaded', MOVED: 'moved' } as const;
export type RedirectReason = (typeof RedirectReason)[keyof typeof RedirectReason];
