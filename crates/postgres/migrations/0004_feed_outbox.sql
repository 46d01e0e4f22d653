-- The feed outbox: one row per change the fan-out home timelines follow (a post created or
-- deleted, a follow made or removed), written by the triggers below inside the statement that
-- makes the change, so inside its transaction. A relay hands the rows to the event stream and
-- deletes them.
--
-- Why triggers and not the repositories' statements: every write path records its event
-- without knowing about it (the group-commit batch statements, the single-item ones, keyed
-- writes, unfollow, delete, and any path added later), and a trigger's rows share the fate of
-- its statement: a statement that fails, or a transaction rolled back, records nothing.
--
-- Statement-level triggers with transition tables: the group commit inserts up to a batch of
-- rows per statement, and one INSERT ... SELECT per statement costs far less than one per row.
-- Rows are recorded in id order (time order, UUIDv7), so a batch's seqs follow its ids.
--
-- Bulk loads (`socialscale seed`) disable these triggers inside their transaction and enable
-- them again at its end (`src/bulk.rs` finds them by the `feed_outbox_` prefix of their names).
--
-- seq: an identity, never handed out twice. Not commit order across transactions (a row may
-- commit after a higher seq), but for two changes of one follow edge it is: the second waits
-- for the first's row lock, and the trigger takes its seq after that wait, before the commit.
-- kind: 'post', 'delete', 'follow', 'unfollow' (`FeedEvent::kind`). No CHECK, so that a new
-- kind needs no constraint change; readers refuse a kind they do not know.
-- a, b: post and author, or follower and followed user.
-- recorded_at: when the statement recorded the row (clock_timestamp(), not the transaction's
-- start).
CREATE TABLE feed_outbox (
    seq         bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind        text        NOT NULL,
    a           uuid        NOT NULL,
    b           uuid        NOT NULL,
    recorded_at timestamptz NOT NULL DEFAULT clock_timestamp()
);

-- TG_ARGV[0] is the kind; `changed` the rows the statement inserted or deleted.
CREATE FUNCTION feed_outbox_record_posts() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO feed_outbox (kind, a, b)
    SELECT TG_ARGV[0], c.id, c.author_id FROM changed AS c ORDER BY c.id;
    RETURN NULL;
END
$$;

CREATE FUNCTION feed_outbox_record_follows() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO feed_outbox (kind, a, b)
    SELECT TG_ARGV[0], c.follower_id, c.following_id FROM changed AS c ORDER BY c.id;
    RETURN NULL;
END
$$;

CREATE TRIGGER feed_outbox_post AFTER INSERT ON posts
    REFERENCING NEW TABLE AS changed
    FOR EACH STATEMENT EXECUTE FUNCTION feed_outbox_record_posts('post');

CREATE TRIGGER feed_outbox_delete AFTER DELETE ON posts
    REFERENCING OLD TABLE AS changed
    FOR EACH STATEMENT EXECUTE FUNCTION feed_outbox_record_posts('delete');

CREATE TRIGGER feed_outbox_follow AFTER INSERT ON follows
    REFERENCING NEW TABLE AS changed
    FOR EACH STATEMENT EXECUTE FUNCTION feed_outbox_record_follows('follow');

CREATE TRIGGER feed_outbox_unfollow AFTER DELETE ON follows
    REFERENCING OLD TABLE AS changed
    FOR EACH STATEMENT EXECUTE FUNCTION feed_outbox_record_follows('unfollow');
