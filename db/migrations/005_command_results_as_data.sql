-- A command's result is data, not an HTTP answer: what the command did
-- (kind, and value: the outcome as JSON) or why it was refused
-- (error_code, error_message). The API maps kinds and codes to HTTP
-- statuses.
--
-- Results stored before are converted: an error body gives its code and
-- message; a success keeps its body as its value, and its kind is read
-- from its status and body.
ALTER TABLE command_results
    ADD COLUMN kind text,
    ADD COLUMN value jsonb,
    ADD COLUMN error_code text,
    ADD COLUMN error_message text;

UPDATE command_results SET
    error_code = COALESCE(body->'error'->>'code', 'command_refused'),
    error_message = COALESCE(body->'error'->>'message', '')
WHERE status >= 400;

UPDATE command_results SET value = body, kind = CASE
    WHEN status = 201 THEN 'reply_queued'
    WHEN status = 202 THEN 'read_queued'
    WHEN body ? 'conversation' THEN 'decided'
    WHEN body ? 'owner_ids' THEN 'owners_set'
    WHEN body ? 'discarded_events' THEN 'discarded'
    WHEN body ? 'released_events' THEN 'released'
    WHEN body ? 'changed' THEN 'unchanged'
    ELSE 'recorded' END
WHERE status < 400;

ALTER TABLE command_results
    DROP COLUMN status,
    DROP COLUMN body,
    ADD CONSTRAINT command_results_outcome_or_error CHECK (
        (kind IS NOT NULL AND value IS NOT NULL AND error_code IS NULL AND error_message IS NULL)
        OR (kind IS NULL AND value IS NULL AND error_code IS NOT NULL AND error_message IS NOT NULL));
