import { GatewayOp, type GatewayBind, type GatewayClose, type GatewayPush } from '../../protocol/chat-ops.js';
import { CloseCode } from '../../protocol/close-codes.js';
import type { ConvBinding } from './conv-binding.js';
import type { Session } from './session.js';

/**
 * What a connector tells this gateway about one of its sessions (`s`, found by the tell's key): frames to push,
 * a close, a large conversation's subject to take or leave. A tell whose uid is not the session's is of a
 * previous life of this gateway (session ids restart with it) and is dropped.
 */
export function applyConnectorTell(s: Session | undefined, op: string, payload: unknown, binding: ConvBinding, sendBytes: (s: Session, bytes: Uint8Array) => void): void {
  const p = payload as Partial<GatewayPush & GatewayClose & GatewayBind> | null;
  if (!s || !p || s.uid !== p.uid) return;
  switch (op) {
    case GatewayOp.PUSH:
      // Encoded by our own connectors: written as they are.
      if (!Array.isArray(p.frames)) return;
      for (const f of p.frames) if (f instanceof Uint8Array) sendBytes(s, f);
      return;
    case GatewayOp.CLOSE:
      return s.end(typeof p.code === 'number' ? p.code : CloseCode.NORMAL, typeof p.reason === 'string' ? p.reason : '');
    case GatewayOp.BIND:
      if (typeof p.conv === 'string') binding.joined(s, p.conv, typeof p.after === 'number' ? p.after : 0, typeof p.listed === 'number' ? p.listed : undefined);
      return;
    case GatewayOp.UNBIND:
      if (typeof p.conv === 'string') binding.left(s, p.conv);
      return;
  }
}
