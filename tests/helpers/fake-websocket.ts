import { decodeClientFrame, encodeFrame } from '../../protocol/codec.js';
import type { ClientFrame, ServerFrame } from '../../protocol/frames.js';
import type { WebSocketConstructor, WebSocketLike } from '../../protocol/sdk/socket.js';

/** A scripted WebSocket: the test plays the server (open, frames, close) and reads what the client sent. */
export class FakeWebSocket implements WebSocketLike {
  binaryType = 'blob';
  readyState = 0;
  onopen: ((ev: unknown) => void) | null = null;
  onmessage: ((ev: { data: unknown }) => void) | null = null;
  onclose: ((ev: { code: number; reason: string }) => void) | null = null;
  onerror: ((ev: unknown) => void) | null = null;
  /** Frames the client sent, decoded and validated as the server would. */
  readonly sent: ClientFrame[] = [];
  /** The client's own close call, if any. */
  closedByClient: { code: number | undefined; reason: string | undefined } | undefined;

  constructor(readonly url: string) {}

  send(data: Uint8Array): void {
    if (this.readyState !== 1) throw new Error('send on a socket that is not open');
    const r = decodeClientFrame(data);
    if (!r.ok) throw r.error;
    this.sent.push(r.value);
  }

  close(code?: number, reason?: string): void {
    this.closedByClient = { code, reason };
    this.readyState = 3;
  }

  /** Completes the upgrade. */
  open(): void {
    this.readyState = 1;
    this.onopen?.({});
  }

  /** Delivers a server frame as an ArrayBuffer (what browsers hand over with binaryType 'arraybuffer'). */
  receive(frame: ServerFrame | Record<string, unknown>): void {
    const bytes = encodeFrame(frame as ServerFrame);
    this.onmessage?.({ data: bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) });
  }

  /** The server closes (or the connection drops, 1006). */
  serverClose(code: number, reason = ''): void {
    this.readyState = 3;
    this.onclose?.({ code, reason });
  }

  /** The upgrade is refused: browsers report an error and a 1006 close, never an open. */
  refuse(): void {
    this.readyState = 3;
    this.onerror?.({});
    this.onclose?.({ code: 1006, reason: '' });
  }

  /** Frames of one type the client sent. */
  sentOf<T extends ClientFrame['type']>(type: T): Extract<ClientFrame, { type: T }>[] {
    return this.sent.filter((f): f is Extract<ClientFrame, { type: T }> => f.type === type);
  }
}

/** A WebSocket constructor recording every socket it creates, in order. */
export function fakeWebSocketFactory(): { WebSocket: WebSocketConstructor; sockets: FakeWebSocket[]; last: () => FakeWebSocket } {
  const sockets: FakeWebSocket[] = [];
  class Recorded extends FakeWebSocket {
    constructor(url: string) {
      super(url);
      sockets.push(this);
    }
  }
  return {
    WebSocket: Recorded,
    sockets,
    last: () => {
      const s = sockets[sockets.length - 1];
      if (s === undefined) throw new Error('no socket was created');
      return s;
    },
  };
}
