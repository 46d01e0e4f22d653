-- The plans of docs/SCALING.md, on the database generate.sql makes:
-- psql -h 127.0.0.1 -U postgres -d ss_scale -f crates/postgres/scale/explain.sql
\pset pager off
SELECT id AS heavy FROM users WHERE username = 'User_1' \gset
SELECT id AS normal FROM users WHERE username = 'User_500' \gset
SELECT id AS star FROM users ORDER BY followers_count DESC LIMIT 1 \gset
SELECT id AS mid FROM posts ORDER BY id DESC OFFSET 500000 LIMIT 1 \gset
SELECT id AS apost FROM posts ORDER BY id DESC OFFSET 1234 LIMIT 1 \gset
SELECT author_id AS writer, id AS writer_mid FROM posts WHERE author_id = (SELECT id FROM users WHERE username = 'User_42') ORDER BY id DESC OFFSET 30000 LIMIT 1 \gset
SELECT id AS fmid FROM follows WHERE following_id = :'star' ORDER BY id DESC OFFSET 3 LIMIT 1 \gset

PREPARE latest(uuid, int8) AS SELECT id, author_id, content, created_at FROM posts WHERE id < $1 ORDER BY id DESC LIMIT $2;
PREPARE by_author(uuid, uuid, int8) AS WITH page AS MATERIALIZED ( SELECT q.id FROM posts AS q WHERE q.author_id = $1 AND q.id < $2 ORDER BY q.id DESC LIMIT $3 ) SELECT p.id, p.author_id, p.content, p.created_at FROM page JOIN posts AS p ON p.id = page.id ORDER BY p.id DESC;
PREPARE feed(uuid, uuid, int8) AS WITH authors(id) AS ( SELECT $1::uuid UNION ALL SELECT following_id FROM follows WHERE follower_id = $1 ), page AS ( SELECT c.id FROM authors AS a CROSS JOIN LATERAL ( SELECT q.id FROM posts AS q WHERE q.author_id = a.id AND q.id < $2 ORDER BY q.id DESC LIMIT $3 ) AS c ORDER BY c.id DESC LIMIT $3 ) SELECT p.id, p.author_id, p.content, p.created_at FROM page JOIN posts AS p ON p.id = page.id ORDER BY p.id DESC;
PREPARE followers(uuid, uuid, int8) AS SELECT f.id, u.id, u.username, u.name FROM follows AS f JOIN users AS u ON u.id = f.follower_id WHERE f.following_id = $1 AND f.id < $2 ORDER BY f.id DESC LIMIT $3;
PREPARE following(uuid, uuid, int8) AS SELECT f.id, u.id, u.username, u.name FROM follows AS f JOIN users AS u ON u.id = f.following_id WHERE f.follower_id = $1 AND f.id < $2 ORDER BY f.id DESC LIMIT $3;
PREPARE by_id(uuid) AS SELECT id, email, username, name, bio, created_at, followers_count, following_count, posts_count FROM users WHERE id = $1;
PREPARE by_username(text) AS SELECT id, email, username, name, bio, created_at, followers_count, following_count, posts_count FROM users WHERE lower(username) = $1;
PREPARE by_email(text) AS SELECT id, email, username, name, bio, created_at, followers_count, following_count, posts_count, password_hash FROM users WHERE lower(email) = $1;
PREPARE summaries(uuid[]) AS SELECT id, username, name FROM users WHERE id = ANY($1);
PREPARE post_by_id(uuid) AS SELECT id, author_id, content, created_at FROM posts WHERE id = $1;
PREPARE conflict(text, text) AS SELECT EXISTS (SELECT 1 FROM users WHERE lower(email) = $1), EXISTS (SELECT 1 FROM users WHERE lower(username) = $2);

\echo '### posts.latest, first page'
EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) EXECUTE latest('ffffffff-ffff-ffff-ffff-ffffffffffff', 21);
\echo '### posts.latest, page after a cursor half way down (500,000 posts newer)'
EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) EXECUTE latest(:'mid', 21);
\echo '### posts.by_author, first page (the most prolific author)'
EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) EXECUTE by_author(:'writer', 'ffffffff-ffff-ffff-ffff-ffffffffffff', 21);
\echo '### posts.by_author, after a cursor'
EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) EXECUTE by_author(:'writer', :'writer_mid', 21);
\echo '### posts.feed, a user following 10 accounts, first page'
EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) EXECUTE feed(:'normal', 'ffffffff-ffff-ffff-ffff-ffffffffffff', 21);
\echo '### posts.feed, a user following 1,010 accounts, first page'
EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) EXECUTE feed(:'heavy', 'ffffffff-ffff-ffff-ffff-ffffffffffff', 21);
\echo '### posts.feed, a user following 1,010 accounts, after a cursor half way down'
EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) EXECUTE feed(:'heavy', :'mid', 21);
\echo '### follows.followers (the most followed user), first page'
EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) EXECUTE followers(:'star', 'ffffffff-ffff-ffff-ffff-ffffffffffff', 21);
\echo '### follows.followers, after a cursor'
EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) EXECUTE followers(:'star', :'fmid', 21);
\echo '### follows.following (1,010 followed), first page'
EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) EXECUTE following(:'heavy', 'ffffffff-ffff-ffff-ffff-ffffffffffff', 21);
\echo '### users.by_id (also the counters: they are columns of this row)'
EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) EXECUTE by_id(:'normal');
\echo '### users.by_username'
EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) EXECUTE by_username('user_500');
\echo '### users.credentials_by_email'
EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) EXECUTE by_email('user500@example.com');
\echo '### users.summaries (20 ids)'
SELECT array_agg(id) AS ids FROM (SELECT id FROM users ORDER BY id DESC OFFSET 777 LIMIT 20) s \gset
EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) EXECUTE summaries(:'ids');
\echo '### posts.by_id'
EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) EXECUTE post_by_id(:'apost');
\echo '### users.conflict (after a unique violation on signup)'
EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) EXECUTE conflict('user500@example.com', 'user_500');
\echo '### writes (in a rolled-back transaction): posts.create, follows.follow'
BEGIN;
EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) WITH author AS ( UPDATE users SET posts_count = posts_count + 1 WHERE id = :'normal' RETURNING id ) INSERT INTO posts (id, author_id, content, created_at) SELECT gen_random_uuid(), author.id, 'hi', now() FROM author;
EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) WITH edge AS ( INSERT INTO follows (id, follower_id, following_id, created_at) VALUES (gen_random_uuid(), :'normal', :'star', now()) RETURNING follower_id, following_id ) UPDATE users SET following_count = following_count + (users.id = edge.follower_id)::int, followers_count = followers_count + (users.id = edge.following_id)::int FROM edge WHERE users.id IN (edge.follower_id, edge.following_id);
ROLLBACK;
\echo '### generic plans (what a prepared statement settles on after 5 runs)'
SET plan_cache_mode = force_generic_plan;
\echo '#### posts.latest'
EXPLAIN (COSTS OFF) EXECUTE latest(:'mid', 21);
\echo '#### posts.feed'
EXPLAIN (COSTS OFF) EXECUTE feed(:'heavy', :'mid', 21);
\echo '#### follows.followers'
EXPLAIN (COSTS OFF) EXECUTE followers(:'star', :'fmid', 21);
