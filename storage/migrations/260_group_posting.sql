-- Who may post in a group: every member, or its owners and admins only (an announcement group). The chatter
-- enforces it on clients' sends; the server API's system messages are not bound by it.
ALTER TABLE conversations ADD COLUMN posting text NOT NULL DEFAULT 'all' CHECK (posting IN ('all', 'admins'));
