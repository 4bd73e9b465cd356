import { ErrorCode, ImError } from '../../protocol/errors.js';

/**
 * A call refused before its handler ran because this node does not serve the call's shard now (a move or a
 * release under way, a lease in doubt). Nothing ran, so the caller's transport sends the call again — to whoever
 * serves the shard by then — until its deadline, keeping the subject's order; callers see UNAVAILABLE only when
 * the deadline passes first. Anywhere else it is an ordinary UNAVAILABLE.
 */
export class NotServedError extends ImError {
  override readonly name: string = 'NotServedError';

  constructor(message: string) {
    super(ErrorCode.UNAVAILABLE, message);
  }
}
