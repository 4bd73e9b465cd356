import { ChatKind, ConnectorOp, type ConnectorConvs, type ConvsPage } from '../../protocol/chat-ops.js';
import { ErrorCode, ImError, RETRYABLE_CODES, toImError } from '../../protocol/errors.js';
import type { ConvSummary, ConvsFrame, ServerFrame } from '../../protocol/frames.js';
import type { Router } from '../../runtime/router.js';
import type { Session } from './session.js';
import { roomFor } from './socket-room.js';
/** Tries of one page request (a connector shard between owners answers none for a moment). */
const PAGE_ATTEMPTS = 4;

export interface ListPagerDeps {
  router: Router;
  send: (s: Session, f: ServerFrame) => void;
  /** The gateway's slow-reader limit: a page waits until the socket holds less than half of it. */
  maxBackpressureBytes: () => number;
}

/** The connector's answer to a list request, in either shape (ConnectorConvs). */
export function asConvsPage(reply: unknown): ConvsPage {
  return Array.isArray(reply) ? { list: reply as ConvSummary[] } : (reply as ConvsPage);
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * Sends a user's list to a session: one `convs` frame, or for a long list one frame per page (each but the last
 * with `more`, each but the first with `after`, the conversation id it goes on from), asking the connector for
 * each page once the socket has sent most of the one before. So a list of any length passes neither NATS'
 * max_payload nor the slow-reader limit.
 */
export class ListPager {
  constructor(private readonly deps: ListPagerDeps) {}

  /**
   * Sends `first` and the pages after it while `wanted()` holds; resolves true once the last went, false when it
   * stopped (the session closed, or `wanted()` turned false). A page request that fails for good rejects.
   */
  async send(s: Session, first: ConvsPage, wanted: () => boolean, rid?: number): Promise<boolean> {
    let page = first;
    let after: string | undefined;
    for (;;) {
      const frame: ConvsFrame = { type: 'convs', list: page.list };
      if (rid !== undefined) frame.rid = rid;
      if (after !== undefined) frame.after = after;
      if (page.more !== undefined) frame.more = true;
      this.deps.send(s, frame);
      if (page.more === undefined) return true;
      after = page.more;
      const next = await this.nextPage(s, after, wanted);
      if (next === undefined) return false;
      page = next;
    }
  }

  private async nextPage(s: Session, after: string, wanted: () => boolean): Promise<ConvsPage | undefined> {
    // The socket sends most of a page before the next is asked for: a slow reader holds one page here, not the list.
    if ((await roomFor(s, 0, this.deps.maxBackpressureBytes() / 2, { wanted })) !== 'ready') return undefined;
    const ask: ConnectorConvs = { did: s.did, after, pageBytes: s.listPageBytes };
    for (let attempt = 1; ; attempt++) {
      try {
        const reply = await this.deps.router.call(ChatKind.CONNECTOR, s.uid, ConnectorOp.CONVS, ask);
        // A node of an older version answers the whole list whatever it is asked: the list starts over.
        if (Array.isArray(reply)) throw new ImError(ErrorCode.UNAVAILABLE, 'the connector answered no page: the list starts over');
        return wanted() ? (reply as ConvsPage) : undefined;
      } catch (err) {
        if (attempt === PAGE_ATTEMPTS || !RETRYABLE_CODES.has(toImError(err).code)) throw err;
      }
      await sleep(100 * 2 ** attempt);
      if (!wanted()) return undefined;
    }
  }
}
