-- What a group shows members added later (a group's rule, set by the business server): `all` of its history (the
-- default), or only what follows their joining (`joined`): they are added with it cleared up to that point (240).
ALTER TABLE conversations ADD COLUMN history text NOT NULL DEFAULT 'all' CHECK (history IN ('all', 'joined'));
