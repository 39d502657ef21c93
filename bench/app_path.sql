-- The database's own ceiling for one purchase of two best-available seats: the app's hot-path
-- SQL, statement for statement, in the app's two transactions (hold, then checkout) with
-- the same locks, so app purchases/s / this tps is the share of the database's capacity the
-- Python tier delivers. Run by bench/pgbench.py:
--   pgbench -n -f bench/hot_path.sql -D match_id=M -D lo=FIRST -D stride=N -D hold_seconds=600
-- (-M simple: psycopg2 sends plain query strings too). Keep it in step with
-- ticketing/services/holds.py, orders.py, wallet.py and idempotency.py.
-- each client buys for its own slice of the customers, so no two clients share a wallet
\set uid :lo + :client_id * :stride + random(0, :stride - 1)
\set key random(1, 9000000000000000000)

-- POST /matches/{id}/holds {"quantity": 2} ------------------------------------------------
BEGIN;
-- request.identity and the traversal context (primary-key loads)
SELECT id, role, is_active FROM users WHERE id = :uid;
SELECT id, status, hold_seconds, max_tickets_per_fan FROM matches WHERE id = :match_id;
-- on sale, the fan's wallet lock, the previous hold, the per-fan limit
SELECT status, now() >= sales_open_at AS opened, now() < sales_close_at AS not_closed FROM matches WHERE id = :match_id;
INSERT INTO wallets (user_id, balance, currency) VALUES (:uid, 0, 'EUR') ON CONFLICT (user_id) DO NOTHING;
SELECT balance, currency FROM wallets WHERE user_id = :uid FOR UPDATE;
SELECT id FROM holds WHERE user_id = :uid AND match_id = :match_id AND status = 'active' FOR UPDATE;
SELECT count(*) FROM tickets WHERE user_id = :uid AND match_id = :match_id AND status = 'valid';
INSERT INTO holds (match_id, user_id, seat_ids, total, currency, status, expires_at)
VALUES (:match_id, :uid, '{}', 0, 'EUR', 'active', now() + make_interval(secs => :hold_seconds)) RETURNING id AS hold_id \gset
-- the lock-free read that plans adjacent blocks (holds._CANDIDATES)
SELECT ms.seat_id, ms.section_id, ms.row_index, ms.number FROM match_seats ms
WHERE ms.match_id = :match_id AND (ms.status = 'available' OR (ms.status = 'held' AND ms.held_until <= now()))
ORDER BY ms.section_id, ms.row_index, ms.number LIMIT 600;
-- the claim: the first free seats in layout order nobody else is locking (holds.py's CTE)
SAVEPOINT claim;
WITH free AS (
    SELECT ms.seat_id FROM match_seats ms
    WHERE ms.match_id = :match_id AND (ms.status = 'available' OR (ms.status = 'held' AND ms.held_until <= now()))
    ORDER BY ms.section_id, ms.row_index, ms.number
    LIMIT 2
    FOR UPDATE SKIP LOCKED
), claimed AS (
    UPDATE match_seats ms
       SET status = 'held', hold_id = :hold_id, held_until = now() + make_interval(secs => :hold_seconds)
      FROM free
     WHERE ms.match_id = :match_id AND ms.seat_id = free.seat_id
    RETURNING ms.seat_id, ms.price
)
SELECT min(seat_id) AS s1, max(seat_id) AS s2, sum(price) AS total FROM claimed \gset
RELEASE SAVEPOINT claim;
UPDATE holds SET seat_ids = ARRAY[:s1, :s2]::bigint[], total = :total WHERE id = :hold_id;
UPDATE match_seat_versions SET version = version + 1 WHERE match_id = :match_id AND shard = :uid % 16;
-- the response body
SELECT id, match_id, user_id, seat_ids, total, currency, status, expires_at, created_at FROM holds WHERE id = :hold_id;
SELECT s.id, s.section_id, sec.name AS section, s.row_label AS row, s.number, ms.category_id, ms.price
FROM seats s JOIN sections sec ON sec.id = s.section_id
JOIN match_seats ms ON ms.seat_id = s.id AND ms.match_id = :match_id
WHERE s.id = ANY(ARRAY[:s1, :s2]::bigint[]) ORDER BY s.section_id, s.row_index, s.number;
END;

-- POST /holds/{id}/checkout with an Idempotency-Key -----------------------------------------
-- the key's claim, on its own autocommit connection in the app
INSERT INTO idempotency_keys (user_id, key, scope, request_hash, state)
VALUES (:uid, 'pgbench-' || :key, 'checkout', sha256(random()::text::bytea), 'running')
ON CONFLICT (user_id, key) DO NOTHING RETURNING key;
BEGIN;
SELECT id, role, is_active FROM users WHERE id = :uid;
SELECT id, user_id, match_id, status FROM holds WHERE id = :hold_id;
INSERT INTO wallets (user_id, balance, currency) VALUES (:uid, 0, 'EUR') ON CONFLICT (user_id) DO NOTHING;
SELECT balance, currency FROM wallets WHERE user_id = :uid FOR UPDATE;
SELECT id, match_id, user_id, seat_ids, total, currency, status, expires_at, expires_at <= now() AS lapsed
FROM holds WHERE id = :hold_id FOR UPDATE;
SELECT status FROM matches WHERE id = :match_id;
INSERT INTO orders (user_id, match_id, hold_id, status, total, currency)
VALUES (:uid, :match_id, :hold_id, 'paid', :total, 'EUR') RETURNING id AS order_id \gset
UPDATE wallets SET balance = balance - :total, updated_at = now()
WHERE user_id = :uid AND balance >= :total RETURNING balance AS balance \gset
INSERT INTO wallet_ledger (user_id, kind, amount, balance_after, currency, order_id)
VALUES (:uid, 'payment', :total, :balance, 'EUR', :order_id) RETURNING id, created_at;
UPDATE match_seats SET status = 'sold', order_id = :order_id, hold_id = NULL, held_until = NULL
WHERE match_id = :match_id AND seat_id = ANY(ARRAY[:s1, :s2]::bigint[]) AND hold_id = :hold_id AND status = 'held'
RETURNING seat_id;
INSERT INTO tickets (order_id, user_id, match_id, seat_id, category_id, price, status)
SELECT :order_id, :uid, match_id, seat_id, category_id, price, 'valid'
FROM match_seats WHERE match_id = :match_id AND order_id = :order_id ORDER BY seat_id;
UPDATE holds SET status = 'checked_out' WHERE id = :hold_id;
UPDATE match_seat_versions SET version = version + 1 WHERE match_id = :match_id AND shard = :uid % 16;
-- the response body, and the key's record in the same transaction
SELECT id, user_id, match_id, hold_id, status, total, currency, created_at, cancelled_at FROM orders WHERE id = :order_id;
SELECT t.id, t.order_id, t.match_id, t.seat_id, t.category_id, t.price, t.status, t.checked_in_at, t.code_version,
       s.row_label AS row, s.number, sec.name AS section, s.section_id
FROM tickets t JOIN seats s ON s.id = t.seat_id JOIN sections sec ON sec.id = s.section_id
WHERE t.order_id = ANY(ARRAY[:order_id]::bigint[]) ORDER BY t.order_id, s.section_id, s.row_index, s.number;
UPDATE idempotency_keys SET state = 'done', response_status = 201, response_body = '{"id": 1}'::jsonb
WHERE user_id = :uid AND key = 'pgbench-' || :key;
END;
