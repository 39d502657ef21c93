-- The database's own ceiling for the rush: claim two best-available seats and sell them, in
-- one transaction, with nothing but the SQL that the invariants need:
--   the fan's wallet lock; the claim with the same CTE as ticketing/services/holds.py
--   (first available seats in layout order, FOR UPDATE SKIP LOCKED; whether any hold has
--   lapsed, whose seats the app would make available first: decision 0026);
--   the hold row; the order; the debit and its ledger row; the tickets; the seats sold;
--   the seat-version bump with the match's tallies.
-- app purchases/s / this tps says how much of the database's capacity the app delivers.
-- Run by bench/pgbench.py:
--   pgbench -n -M simple -f bench/hot_path.sql -D match_id=M -D lo=FIRST -D stride=N -D hold_seconds=600
-- bench/app_path.sql is the other yardstick: every statement the app sends, in its two
-- transactions.

-- each client buys for its own slice of the customers, so no two clients share a wallet
\set uid :lo + :client_id * :stride + random(0, :stride - 1)

BEGIN;
SELECT balance FROM wallets WHERE user_id = :uid FOR UPDATE;
SELECT nextval(pg_get_serial_sequence('holds', 'id')) AS hold_id,
       EXISTS (SELECT 1 FROM match_seats l WHERE l.match_id = :match_id AND l.status = 'held' AND l.held_until <= now()) AS lapsed_seats \gset
WITH free AS (
    SELECT ms.seat_id FROM match_seats ms
    WHERE ms.match_id = :match_id AND ms.status = 'available'
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
SELECT min(seat_id) AS s1, max(seat_id) AS s2, sum(price) AS total, count(*) AS n FROM claimed \gset
INSERT INTO holds (id, match_id, user_id, seat_ids, total, currency, status, expires_at)
VALUES (:hold_id, :match_id, :uid, ARRAY[:s1, :s2]::bigint[], :total, 'EUR', 'checked_out',
        now() + make_interval(secs => :hold_seconds));
INSERT INTO orders (user_id, match_id, hold_id, status, total, currency)
VALUES (:uid, :match_id, :hold_id, 'paid', :total, 'EUR') RETURNING id AS order_id \gset
WITH debited AS (
    UPDATE wallets SET balance = balance - :total, updated_at = now()
    WHERE user_id = :uid AND balance >= :total RETURNING balance
)
INSERT INTO wallet_ledger (user_id, kind, amount, balance_after, currency, order_id)
SELECT :uid, 'payment', :total, debited.balance, 'EUR', :order_id FROM debited;
WITH sold AS (
    UPDATE match_seats SET status = 'sold', order_id = :order_id, hold_id = NULL, held_until = NULL
    WHERE match_id = :match_id AND seat_id = ANY(ARRAY[:s1, :s2]::bigint[]) AND hold_id = :hold_id AND status = 'held'
    RETURNING match_id, seat_id, category_id, price
)
INSERT INTO tickets (order_id, user_id, match_id, seat_id, category_id, price, status)
SELECT :order_id, :uid, match_id, seat_id, category_id, price, 'valid' FROM sold ORDER BY seat_id;
-- the seat map's ETag must change with the sale (docs/decisions/0006), and the match's
-- tallies move in the same statement (docs/decisions/0038)
UPDATE match_seat_versions
   SET version = version + 1, sold = sold + :n, paid_orders = paid_orders + 1, revenue = revenue + :total
 WHERE match_id = :match_id AND shard = :uid % 16;
END;
