/** A setting (flag or environment variable) that the node refuses to start with; the message names it. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  readonly code = 'invalid_config';
}
