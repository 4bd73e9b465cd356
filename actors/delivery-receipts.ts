import { ChatKind, ConnectorOp, type ConnectorReceipt } from '../protocol/chat-ops.js';
import type { ActorContext } from '../runtime/actor.js';
import type { ChatServices } from './chat-services.js';
import { directPeerOf, type ConvState } from './conv-state.js';

/**
 * How long a user's moved delivery marks gather before they are stored and told to direct peers: a device acks
 * every message, and a tell and a row per ack would cost about what the message itself costs. Double ticks that
 * show a fifth of a second late are still prompt.
 */
export const DELIVERY_RECEIPT_DELAY_MS = 200;

/**
 * One user's delivery marks on their way out (made on the user's first ack): which conversations' marks moved
 * since the last batch. The marks themselves live in the connector's ConvState.
 */
export class DeliveryReceipts {
  private due = new Set<string>();

  constructor(
    private readonly ctx: ActorContext,
    private readonly svc: ChatServices,
    private readonly convs: ReadonlyMap<string, ConvState>,
    /** Whom the user blocks or is blocked by, as the connector knows it now. */
    private readonly blocked: () => ReadonlySet<string> | undefined,
  ) {}

  /** A device of the user holds conversation `c` up to `seq`; large groups keep no delivery marks. */
  moved(conv: string, seq: number, c: ConvState): void {
    if (c.large || seq <= (c.deliveredSeq ?? 0)) return;
    c.deliveredSeq = seq;
    if (this.due.size === 0) this.ctx.setTimer('delivered', DELIVERY_RECEIPT_DELAY_MS, () => this.flush());
    this.due.add(conv);
  }

  /** Stores the moved marks and tells each direct peer (not one either side blocks) how far the user holds. */
  async flush(): Promise<void> {
    if (this.due.size === 0) return;
    this.ctx.clearTimer('delivered');
    const due = [...this.due];
    this.due.clear();
    for (const conv of due) {
      const c = this.convs.get(conv);
      if (c?.deliveredSeq === undefined) continue; // left meanwhile
      const seq = c.deliveredSeq;
      this.svc.deliveredMarks.record(conv, this.ctx.key, seq);
      // A direct conversation made while both were online has no list row yet: a hashed id names no one.
      const peer = c.kind === 'direct' ? (c.peer ?? (await directPeerOf(this.svc.convs, this.ctx.key, conv, c))) : undefined;
      if (peer !== undefined && !this.blocked()?.has(peer)) {
        this.ctx.tell(ChatKind.CONNECTOR, peer, ConnectorOp.DELIVERED, { conv, uid: this.ctx.key, seq } satisfies ConnectorReceipt);
      }
    }
  }
}
