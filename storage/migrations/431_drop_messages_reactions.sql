-- messages_reactors (430) serves every read messages_reactions did: a user's latest reaction is its first row.
DROP INDEX IF EXISTS messages_reactions;
