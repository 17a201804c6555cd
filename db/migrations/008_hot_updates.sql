-- Room on every page for the rows the consumer updates in each batch: a
-- contact's last_inbound_at and a conversation's last_message_at change
-- with every inbound message. Neither column is indexed, so with free space
-- on the row's page Postgres updates it in place (a HOT update) instead of
-- writing a new version into every index of the table (contacts has four,
-- conversations five). The setting applies to pages written from now on;
-- on a large existing database, rewrite the tables at a quiet time
-- (VACUUM FULL, or pg_repack online) to apply it to old pages.
ALTER TABLE contacts SET (fillfactor = 70);
ALTER TABLE conversations SET (fillfactor = 70);
