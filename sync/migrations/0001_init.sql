-- The mapping store's first schema.
--
-- Times are RFC 3339 text in UTC with nine fractional digits, so that they round-trip exactly and sort correctly
-- as text; an unknown time is NULL. Flags are 0 or 1.

-- links ties a TF booking to the calendar event tfsync wrote for it, with what was last synced on each side: the
-- TF version and the hash of the event content last written (TF's side), the change key and the event's times as
-- last seen (the calendar's side).
CREATE TABLE links (
	booking_id TEXT PRIMARY KEY CHECK (booking_id <> ''),
	mailbox    TEXT NOT NULL CHECK (mailbox <> ''),
	event_id   TEXT NOT NULL,
	change_key TEXT NOT NULL DEFAULT '',
	hash       TEXT NOT NULL DEFAULT '',
	tf_version INTEGER NOT NULL DEFAULT 0,
	ev_start   TEXT,
	ev_end     TEXT,
	all_day    INTEGER NOT NULL DEFAULT 0 CHECK (all_day IN (0, 1)),
	detached   INTEGER NOT NULL DEFAULT 0 CHECK (detached IN (0, 1)),
	updated_at TEXT NOT NULL
) WITHOUT ROWID;

-- Not unique: an event id may briefly belong to two bookings while the engine relinks them in one transaction.
CREATE INDEX links_mailbox_event ON links (mailbox, event_id);

-- cursors holds each mailbox's change cursor (Graph delta link, EWS sync state) and the window it was made for.
CREATE TABLE cursors (
	mailbox      TEXT PRIMARY KEY CHECK (mailbox <> ''),
	cursor       TEXT NOT NULL,
	window_start TEXT,
	window_end   TEXT,
	updated_at   TEXT NOT NULL
);

-- pending is the journal of creates sent but not yet confirmed. A row left behind by a crash tells the next pass to
-- look for the event by its booking id (or repeat the create with the same transaction id) instead of creating a
-- duplicate.
CREATE TABLE pending (
	booking_id     TEXT NOT NULL CHECK (booking_id <> ''),
	mailbox        TEXT NOT NULL CHECK (mailbox <> ''),
	transaction_id TEXT NOT NULL CHECK (transaction_id <> ''),
	created_at     TEXT NOT NULL,
	PRIMARY KEY (booking_id, mailbox)
) WITHOUT ROWID;

-- mailboxes holds each mailbox's health for list-resources and the failure e-mail.
CREATE TABLE mailboxes (
	mailbox              TEXT PRIMARY KEY CHECK (mailbox <> ''),
	last_sync            TEXT,
	last_error           TEXT NOT NULL DEFAULT '',
	last_error_at        TEXT,
	held_deletes         INTEGER NOT NULL DEFAULT 0,
	consecutive_failures INTEGER NOT NULL DEFAULT 0
);

-- runs is the history of passes; summary is the pass's JSON report.
CREATE TABLE runs (
	id          TEXT PRIMARY KEY CHECK (id <> ''),
	started_at  TEXT NOT NULL,
	finished_at TEXT,
	exit_code   INTEGER NOT NULL DEFAULT 0,
	summary     TEXT CHECK (summary IS NULL OR json_valid(summary))
);

CREATE INDEX runs_started_at ON runs (started_at);

-- notices remembers when each failure e-mail was last sent, so the same failure is not mailed on every pass.
CREATE TABLE notices (
	key          TEXT PRIMARY KEY CHECK (key <> ''),
	last_sent_at TEXT,
	state        TEXT NOT NULL DEFAULT ''
);
