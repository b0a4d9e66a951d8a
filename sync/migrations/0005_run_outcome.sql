-- outcome says what a run was: 'pass' (it ran; exit_code says how it went), 'running' (it started and has not
-- finished: still running, or killed), 'lock_held' (it left at once because another pass held the run lock) or
-- 'lock_stale' (it found the lock held far too long, exit 6). error is the run's error in one line, so status can
-- collapse repeated failures without parsing each summary.
ALTER TABLE runs ADD COLUMN outcome TEXT NOT NULL DEFAULT 'pass'
	CHECK (outcome IN ('pass', 'running', 'lock_held', 'lock_stale'));
ALTER TABLE runs ADD COLUMN error TEXT NOT NULL DEFAULT '';
UPDATE runs SET error = coalesce(json_extract(summary, '$.error'), '') WHERE summary IS NOT NULL;
