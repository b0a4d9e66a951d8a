-- TF's integration schema. Column names and meanings are a public contract: TF integrators write to these
-- tables, so columns may be added but never renamed. Times are local wall times in [tf] time_zone.
CREATE TABLE IF NOT EXISTS resources (
  id           TEXT PRIMARY KEY,
  name         TEXT NOT NULL,
  email        TEXT,
  sync_enabled INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE IF NOT EXISTS bookings (
  id          TEXT PRIMARY KEY,                 -- TF's stable id, e.g. 'BES-10233'
  kind        TEXT NOT NULL,                    -- arende | besiktning | kontroll | driftatgard | rondering
  resource_id TEXT NOT NULL REFERENCES resources(id),
  title       TEXT NOT NULL,
  description TEXT,
  location    TEXT,
  start       TEXT NOT NULL,                    -- 'YYYY-MM-DDTHH:MM:SS' ('YYYY-MM-DD' suffices for rondering)
  "end"       TEXT,                             -- NULL: start + [sync] default_length; ignored for rondering
  status      TEXT NOT NULL DEFAULT 'planned',  -- planned | done | cancelled
  url         TEXT,                             -- link to the item in TF
  version     INTEGER NOT NULL DEFAULT 1,       -- bumped on every change, by TF and by tfsync's write-back
  updated_at  TEXT NOT NULL
);
