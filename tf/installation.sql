-- The identity of this tfsync installation: one row, created on the first sync pass. Every event tfsync writes
-- carries the id, so two installations on the same mailboxes (a trial beside production, each with its own TF
-- database) never touch each other's events. It lives in TF's database, not in tfsync's state store, so it
-- survives a lost or rebuilt store and differs between two TF databases.
CREATE TABLE IF NOT EXISTS tfsync_installation (
  id         TEXT PRIMARY KEY CHECK (id <> ''),
  created_at TEXT NOT NULL   -- RFC 3339 with offset
);
