-- The data set of docs/SCALING.md: 100,000 users, 1,050,000 posts, 1,001,000 follows.
-- psql -h 127.0.0.1 -U postgres -d postgres -f crates/postgres/scale/generate.sql (about a minute)
\timing on
DROP DATABASE IF EXISTS ss_scale;
CREATE DATABASE ss_scale;
\c ss_scale
-- \ir: relative to this file, so the script works from any clone and any working directory.
\ir ../migrations/0001_initial.sql
-- A UUIDv7 for a given unix-millisecond instant (PostgreSQL 15 has no uuidv7()).
CREATE FUNCTION v7(ms bigint) RETURNS uuid LANGUAGE sql VOLATILE AS $$
  SELECT (lpad(to_hex(ms), 12, '0') || '7' || substr(md5(random()::text), 1, 3) || '8'
          || substr(md5(random()::text), 1, 15))::uuid $$;
CREATE TEMP TABLE un AS
  SELECT n, v7(1600000000000 + n * 1000) AS id FROM generate_series(1, 100000) AS n;
CREATE UNIQUE INDEX ON un (n);
INSERT INTO users (id, email, username, name, password_hash, created_at)
  SELECT id, 'user' || n || '@example.com', 'User_' || n, 'User ' || n, 'x',
         to_timestamp((1600000000000 + n * 1000) / 1000.0) FROM un;
-- 1M posts, 10 ms apart, authors spread by a multiplicative hash (some write more than others).
INSERT INTO posts (id, author_id, content, created_at)
  SELECT v7(1700000000000 + i * 10), un.id, 'post number ' || i || ' ' || repeat('x', 60),
         to_timestamp((1700000000000 + i * 10) / 1000.0)
  FROM generate_series(1, 1000000) AS i
  JOIN un ON un.n = 1 + ((i::bigint * 7919) % 100000);
-- 10 follows per user, plus user 1 follows 1000 accounts (a heavy feed).
INSERT INTO follows (follower_id, following_id, id, created_at)
  SELECT a.id, b.id, v7(1650000000000 + a.n * 100 + k), now()
  FROM un a CROSS JOIN generate_series(1, 10) AS k
  JOIN un b ON b.n = 1 + ((a.n + k * k * 37) % 100000)
  WHERE a.n <> b.n ON CONFLICT DO NOTHING;
INSERT INTO follows (follower_id, following_id, id, created_at)
  SELECT a.id, b.id, v7(1660000000000 + k), now()
  FROM un a CROSS JOIN generate_series(11, 1010) AS k
  JOIN un b ON b.n = 1 + ((a.n + k * 97) % 100000)
  WHERE a.n = 1 AND a.n <> b.n ON CONFLICT DO NOTHING;
-- One prolific author (User_42): 50,000 more posts, interleaved with everyone else's.
INSERT INTO posts (id, author_id, content, created_at)
  SELECT v7(1700000000005 + i * 200), (SELECT id FROM users WHERE username = 'User_42'),
         'prolific ' || i, to_timestamp((1700000000005 + i * 200) / 1000.0)
  FROM generate_series(1, 50000) AS i;
UPDATE users u SET posts_count = c FROM (SELECT author_id, count(*) c FROM posts GROUP BY 1) p WHERE p.author_id = u.id;
UPDATE users u SET following_count = c FROM (SELECT follower_id, count(*) c FROM follows GROUP BY 1) p WHERE p.follower_id = u.id;
UPDATE users u SET followers_count = c FROM (SELECT following_id, count(*) c FROM follows GROUP BY 1) p WHERE p.following_id = u.id;
VACUUM ANALYZE;
SELECT (SELECT count(*) FROM users) users, (SELECT count(*) FROM posts) posts, (SELECT count(*) FROM follows) follows;
