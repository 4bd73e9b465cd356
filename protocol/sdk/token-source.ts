import { ErrorCode, ImError } from '../errors.js';

/** Where the client's JWT comes from: a fixed string, or a function called again after the server refused one. */
export type TokenOption = string | (() => string | Promise<string>);

/**
 * The client's token: a fixed string as given, or the last one a token function returned, kept until the server
 * refuses it (4001, or an upgrade refused before any frame, which browsers cannot tell apart from a stale token).
 */
export class TokenSource {
  private cached: string | undefined;

  constructor(private readonly source: TokenOption) {}

  /** The token to connect with; calls the token function when there is none cached. */
  async get(): Promise<string> {
    if (typeof this.source === 'string') return this.source;
    if (this.cached === undefined) {
      const token = await this.source();
      if (typeof token !== 'string' || token.length === 0) throw new ImError(ErrorCode.UNAUTHORIZED, 'the token function returned no token');
      this.cached = token;
    }
    return this.cached;
  }

  /** Forgets the cached token: the next `get` asks the token function again. */
  forget(): void {
    this.cached = undefined;
  }
}
