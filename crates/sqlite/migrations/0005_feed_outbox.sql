-- The feed outbox: one row per change the fan-out home timelines follow (a post created or
-- deleted, a follow made or removed), written by the triggers below inside the statement that
-- makes the change, so inside its transaction. A relay hands the rows to the event stream and
-- deletes them.
--
-- Why triggers and not the repositories: every write path records its event without knowing
-- about it (group-commit batches, single statements, keyed writes, unfollow, delete, and any
-- path added later), and SQLite runs a statement and its triggers atomically, so a statement
-- that fails (an unknown author, an existing edge) or a transaction rolled back records nothing.
-- Bulk loads (`socialscale seed`) drop these triggers for their transaction and put them back
-- at its end (`src/bulk.rs` finds them by the `feed_outbox_` prefix of their names).
--
-- seq: AUTOINCREMENT, so a seq is never handed out twice, even after every row was relayed and
-- deleted (a plain rowid would reuse max + 1): timelines compare the seqs of one edge's changes.
-- Writes are serialised by the one writer, so seq order is commit order.
-- kind: 'post', 'delete', 'follow', 'unfollow' (`FeedEvent::kind`). No CHECK: a new kind must
-- not need a table rebuild; readers refuse a kind they do not know.
-- a, b: post and author, or follower and followed user, as the ids are stored elsewhere.
-- recorded_at: unix milliseconds when the statement ran.
CREATE TABLE feed_outbox (
    seq         INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
    kind        TEXT    NOT NULL,
    a           TEXT    NOT NULL,
    b           TEXT    NOT NULL,
    recorded_at INTEGER NOT NULL DEFAULT (CAST(unixepoch('subsec') * 1000 AS INTEGER))
);

CREATE TRIGGER feed_outbox_post AFTER INSERT ON posts
BEGIN
    INSERT INTO feed_outbox (kind, a, b) VALUES ('post', NEW.id, NEW.author_id);
END;

CREATE TRIGGER feed_outbox_delete AFTER DELETE ON posts
BEGIN
    INSERT INTO feed_outbox (kind, a, b) VALUES ('delete', OLD.id, OLD.author_id);
END;

CREATE TRIGGER feed_outbox_follow AFTER INSERT ON follows
BEGIN
    INSERT INTO feed_outbox (kind, a, b) VALUES ('follow', NEW.follower_id, NEW.following_id);
END;

CREATE TRIGGER feed_outbox_unfollow AFTER DELETE ON follows
BEGIN
    INSERT INTO feed_outbox (kind, a, b) VALUES ('unfollow', OLD.follower_id, OLD.following_id);
END;
