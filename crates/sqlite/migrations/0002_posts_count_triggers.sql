-- Keep users.posts_count in step with posts inside the very statement that inserts or deletes
-- the post. A post write is then one autocommitted statement (SQLite runs a statement and its
-- triggers atomically) instead of BEGIN / UPDATE / INSERT / COMMIT: four trips to the writer
-- thread became one, which is most of what a POST /posts costs here.

CREATE TRIGGER posts_count_up AFTER INSERT ON posts
BEGIN
    UPDATE users SET posts_count = posts_count + 1 WHERE id = NEW.author_id;
END;

CREATE TRIGGER posts_count_down AFTER DELETE ON posts
BEGIN
    UPDATE users SET posts_count = posts_count - 1 WHERE id = OLD.author_id;
END;
