-- Every batch with a message in an existing conversation asks once whether
-- any conversation is snoozed (db/away.go, sqlWroteRules), to know whether
-- its messages must end snoozes. Without an index on the kind, Postgres
-- answered it by reading every deadline: with auto-resolve on, each open
-- conversation has one, and at 100,000 open conversations the check took
-- 11 to 15 ms a batch. Snoozes are few; their own index answers at once.
CREATE INDEX conversation_timers_snooze ON conversation_timers (conversation_id) WHERE kind = 'snooze';
