-- Planning rules (issue 11): what a pass deliberately left for later, so that a mailbox's change cursor can be saved
-- without losing a change it reported.

-- deferred keeps a calendar change read while its booking's TF row could not be read (a bad row): the event as read
-- (JSON), or gone = 1 when it was deleted. It is put to the planner when the row becomes readable.
CREATE TABLE deferred (
	booking_id TEXT NOT NULL CHECK (booking_id <> ''),
	mailbox    TEXT NOT NULL CHECK (mailbox <> ''),
	event_id   TEXT NOT NULL CHECK (event_id <> ''),
	gone       INTEGER NOT NULL DEFAULT 0 CHECK (gone IN (0, 1)),
	event      TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(event)),
	reason     TEXT NOT NULL DEFAULT '',
	created_at TEXT NOT NULL,
	PRIMARY KEY (booking_id, mailbox, event_id)
) WITHOUT ROWID;

-- terminal_failures are actions the server or TF refused for good. hash is the planned action's hash: the action is
-- not tried again while it plans the same hash (the booking and the settings that shape its event unchanged).
CREATE TABLE terminal_failures (
	booking_id TEXT PRIMARY KEY CHECK (booking_id <> ''),
	mailbox    TEXT NOT NULL,
	action     TEXT NOT NULL,
	hash       TEXT NOT NULL,
	reason     TEXT NOT NULL,
	at         TEXT NOT NULL
) WITHOUT ROWID;

-- bad_rows are TF rows that could not be read, as last reported: a new one (or a new problem) makes the pass exit 4.
CREATE TABLE bad_rows (
	booking_id TEXT PRIMARY KEY CHECK (booking_id <> ''),
	problem    TEXT NOT NULL,
	first_seen TEXT NOT NULL
) WITHOUT ROWID;

-- orphans are events left behind in a calendar that could not be read when their booking was reassigned.
CREATE TABLE orphans (
	mailbox    TEXT NOT NULL CHECK (mailbox <> ''),
	event_id   TEXT NOT NULL CHECK (event_id <> ''),
	booking_id TEXT NOT NULL,
	reason     TEXT NOT NULL DEFAULT '',
	since      TEXT NOT NULL,
	PRIMARY KEY (mailbox, event_id)
) WITHOUT ROWID;

-- own_writes are events tfsync created after the read whose cursor the mailbox holds. A change feed
-- read from that cursor may say nothing of such an event deleted or moved out of the window meanwhile (created and
-- gone again since the cursor), so the next pass looks up each one the feed does not report.
CREATE TABLE own_writes (
	mailbox  TEXT NOT NULL CHECK (mailbox <> ''),
	event_id TEXT NOT NULL CHECK (event_id <> ''),
	run_id   TEXT NOT NULL,
	PRIMARY KEY (mailbox, event_id)
) WITHOUT ROWID;
