-- Revocations in milliseconds: tokens carry `iat` with a millisecond fraction (a JWT NumericDate may have one), so a
-- token issued right after a sign-out, in the same second, is no longer refused with the tokens before it.
-- Rows written in whole seconds keep covering their whole second.
ALTER TABLE token_revocations RENAME COLUMN before_sec TO before_ms;
UPDATE token_revocations SET before_ms = before_ms * 1000 + 999;
