-- Every statement the app sends for one purchase of two best-available seats, in the app's
-- two transactions (hold, then checkout with an Idempotency-Key), with the same locks: the
-- per-user rate-limit counters and the key's claim on the autocommit pool (each one implicit
-- transaction, synchronous_commit off), traversal's row and the security policy's account
-- check, the wallet lock, the on-sale check with the block plan, the claim with the hold row
-- (decisions 0016, 0020, 0029, 0035), and the checkout's lock, pay-and-issue, receipt and
-- recorded response. pgbench with this script is what the database could do if Python cost
-- nothing; app purchases/s / this tps is the Python tier's efficiency. Keep it in step with
-- ticketing/resources/catalogue.py, commerce.py, security.py and services/holds.py,
-- orders.py, wallet.py, idempotency.py, rate_limits.py, mail.py (tests/functional/
-- test_round_trips.py lists the app's statements). Run by bench/pgbench.py like hot_path.sql.
-- Like the app (decision 0017), each client PREPAREs the statements once, on its first
-- purchase (pgbench keeps a client's variables from one run of the script to the next;
-- bench/pgbench.py starts them with -D prepared=0), and then sends short EXECUTEs: the
-- database neither parses nor plans them again, as for the app.

\set uid :lo + :client_id * :stride + random(0, :stride - 1)
\set key random(1, 9000000000000000000)

-- The statements, as the app prepares them; ':var' is pgbench's, '$n' PostgreSQL's.
\if :prepared = 0
PREPARE rate_limit_increment (bigint) AS
INSERT INTO rate_limit_counters (key, window_start, hits)
SELECT key, date_trunc('minute', now()), 1 FROM unnest(ARRAY['holds:user:' || $1]) AS key
ON CONFLICT (key, window_start) DO UPDATE SET hits = rate_limit_counters.hits + 1 RETURNING key, hits;
PREPARE traversal_match (bigint) AS
SELECT m.id, m.stadium_id, m.status, m.hold_seconds, m.max_tickets_per_fan, m.sales_open_at,
       m.sales_close_at, coalesce(r.enabled, false) AS waiting_room
FROM matches m LEFT JOIN waiting_rooms r ON r.match_id = m.id WHERE m.id = $1;
PREPARE identity_account_state (bigint) AS
SELECT role || ':' || session_generation FROM users
WHERE id = $1 AND is_active
  AND NOT EXISTS (SELECT 1 FROM refresh_tokens
                  WHERE family_id = '00000000-0000-4000-8000-000000000000' AND user_id = $1
                    AND revoked_at IS NOT NULL);
PREPARE wallet_lock (bigint) AS
SELECT balance, currency FROM wallets WHERE user_id = $1 FOR UPDATE;
PREPARE hold_on_sale_with_blocks (bigint, bigint) AS
SELECT m.status, now() >= m.sales_open_at AS opened, now() < m.sales_close_at AS not_closed,
       CAST(NULL AS bigint) IS NULL
       OR EXISTS (SELECT 1 FROM price_categories c WHERE c.match_id = m.id AND c.id = NULL) AS category_known,
       (SELECT id FROM holds WHERE user_id = $1 AND match_id = m.id AND status = 'active' FOR UPDATE) AS previous,
       (SELECT count(*) FROM tickets WHERE user_id = $1 AND match_id = m.id AND status = 'valid') AS owned,
       nextval(pg_get_serial_sequence('holds', 'id')) AS hold_id,
       EXISTS (SELECT 1 FROM match_seats l WHERE l.match_id = m.id AND l.status = 'held' AND l.held_until <= now()) AS lapsed_seats,
       (WITH candidates AS (
            SELECT ms.seat_id, ms.section_id, ms.row_index, ms.number FROM match_seats ms
            WHERE ms.match_id = $2 AND ms.status = 'available'
            ORDER BY ms.section_id, ms.row_index, ms.number
            LIMIT 600
        ), windows AS (  -- one window in the index's order (decision 0033)
            SELECT section_id, row_index, number,
                   lead(number, 1) OVER seats_on AS last_number,
                   array_agg(seat_id) OVER seats_on AS block
            FROM candidates
            WINDOW seats_on AS (PARTITION BY section_id, row_index ORDER BY number
                                ROWS BETWEEN CURRENT ROW AND 1 FOLLOWING)
        )
        -- no two free seats side by side (the last seats of a sell-out, rows of 25 sold in
        -- pairs): the first free seats instead, as the app's fallback (_CLAIM_FIRST_FREE)
        SELECT coalesce(
            (SELECT string_agg(DISTINCT seat_id::text, ',')
             FROM (SELECT block FROM windows WHERE last_number = number + 1
                   ORDER BY section_id, row_index, number LIMIT 33) AS blocks, unnest(blocks.block) AS seat_id),
            (SELECT string_agg(seat_id::text, ',')
             FROM (SELECT seat_id FROM candidates ORDER BY section_id, row_index, number LIMIT 8) AS first_free),
            '0')
       ) AS candidates
FROM matches m WHERE m.id = $2 FOR KEY SHARE OF m;
PREPARE hold_claim_block_and_insert (bigint, bigint[], bigint, integer, bigint) AS
WITH planned AS (
    SELECT ms.seat_id FROM match_seats ms
    WHERE ms.match_id = $1 AND ms.seat_id = ANY($2)
      AND (ms.status = 'available' OR (ms.status = 'held' AND ms.held_until <= now()))
    ORDER BY ms.seat_id
    LIMIT 2
    FOR UPDATE SKIP LOCKED
), first_free AS (
    SELECT ms.seat_id FROM match_seats ms
    WHERE ms.match_id = $1 AND ms.seat_id <> ALL(ARRAY(SELECT seat_id FROM planned))
      AND ms.status = 'available'
    ORDER BY ms.section_id, ms.row_index, ms.number
    LIMIT 2 - (SELECT count(*) FROM planned)
    FOR UPDATE SKIP LOCKED
), free AS (
    SELECT seat_id FROM planned UNION ALL SELECT seat_id FROM first_free
), claimed AS (
    UPDATE match_seats ms
       SET status = 'held', hold_id = $3, held_until = now() + make_interval(secs => $4)
      FROM free
     WHERE ms.match_id = $1 AND ms.seat_id = free.seat_id
    RETURNING ms.seat_id, ms.category_id, ms.price
), whole AS (
    SELECT array_agg(seat_id ORDER BY seat_id) AS seat_ids, sum(price) AS total FROM claimed
    HAVING count(*) = 2
), hold AS (
    INSERT INTO holds (id, match_id, user_id, seat_ids, total, currency, status, expires_at)
    SELECT $3, $1, $5, whole.seat_ids, whole.total, 'EUR', 'active', now() + make_interval(secs => $4)
      FROM whole
    RETURNING id, match_id, user_id, seat_ids, total, currency, status, expires_at, created_at
), bump AS (
    UPDATE match_seat_versions SET version = version + 1
    WHERE match_id = $1 AND shard = $5 % 16 AND EXISTS (SELECT 1 FROM hold)
)
SELECT hold.seat_ids[1] AS s1, hold.seat_ids[2] AS s2, hold.total,
       (SELECT json_agg(json_build_object('id', s.id, 'section_id', s.section_id, 'section', sec.name,
                                          'row', s.row_label, 'number', s.number,
                                          'category_id', claimed.category_id, 'price', claimed.price)
                        ORDER BY s.section_id, s.row_index, s.number)
        FROM claimed JOIN seats s ON s.id = claimed.seat_id JOIN sections sec ON sec.id = s.section_id) AS seats
FROM hold;
PREPARE idempotency_count_and_claim (bigint, bigint) AS
WITH counted AS (
    INSERT INTO rate_limit_counters (key, window_start, hits)
    SELECT key, date_trunc('minute', now()), 1 FROM unnest(ARRAY['checkouts:user:' || $1]) AS key
    ON CONFLICT (key, window_start) DO UPDATE SET hits = rate_limit_counters.hits + 1
    RETURNING key, hits
), over AS (
    SELECT 1 FROM counted
    JOIN unnest(ARRAY['checkouts:user:' || $1], ARRAY[1000000]) AS limits (key, lim) USING (key)
    WHERE counted.hits > limits.lim
), claimed AS (
    INSERT INTO idempotency_keys (user_id, key, scope, request_hash, state)
    SELECT $1, 'pgbench-' || $2, 'checkout', sha256(random()::text::bytea), 'running'
    WHERE NOT EXISTS (SELECT 1 FROM over)
    ON CONFLICT (user_id, key) DO NOTHING
    RETURNING created_at
)
-- the claim's created_at is its identity (recorded below); pgbench carries it as microseconds
SELECT hits.keys, hits.hits, (SELECT (extract(epoch FROM created_at) * 1000000)::bigint FROM claimed) AS claimed_us
FROM (SELECT array_agg(key) AS keys, array_agg(hits) AS hits FROM counted) AS hits;
PREPARE traversal_hold (bigint) AS
SELECT id, match_id, user_id, seat_ids, total, currency, status, expires_at, created_at FROM holds WHERE id = $1;
PREPARE checkout_lock_wallet_and_hold (bigint, bigint) AS
SELECT h.id, h.match_id, h.user_id, h.seat_ids, h.total, h.currency, h.status, h.expires_at,
       h.expires_at <= now() AS lapsed, m.status AS match_status
FROM (SELECT user_id FROM wallets WHERE user_id = $1 FOR UPDATE) AS w
JOIN holds h ON h.id = $2
JOIN matches m ON m.id = h.match_id
FOR UPDATE OF h;
PREPARE checkout_pay_and_issue (bigint, bigint, bigint, bigint, bigint, bigint) AS
WITH ordered AS (
    INSERT INTO orders (user_id, match_id, hold_id, status, total, currency)
    SELECT $1, $2, $3, 'paid', $4, 'EUR' FROM matches WHERE id = $2 AND status = 'on_sale' FOR KEY SHARE
    RETURNING id, created_at
), debited AS (
    UPDATE wallets SET balance = wallets.balance - $4, updated_at = now()
    FROM ordered
    WHERE wallets.user_id = $1 AND wallets.balance >= $4 AND $4 > 0
    RETURNING wallets.balance
), paid AS (
    INSERT INTO wallet_ledger (user_id, kind, amount, balance_after, currency, order_id)
    SELECT $1, 'payment', $4, debited.balance, 'EUR', ordered.id FROM debited, ordered
    RETURNING balance_after
), sold AS (
    UPDATE match_seats ms SET status = 'sold', order_id = ordered.id, hold_id = NULL, held_until = NULL
    FROM ordered
    WHERE ms.match_id = $2 AND ms.seat_id = ANY(ARRAY[$5, $6]::bigint[]) AND ms.hold_id = $3 AND ms.status = 'held'
    RETURNING ms.match_id, ms.seat_id, ms.category_id, ms.price
), issued AS (
    INSERT INTO tickets (order_id, user_id, match_id, seat_id, category_id, price, status)
    SELECT ordered.id, $1, sold.match_id, sold.seat_id, sold.category_id, sold.price, 'valid'
    FROM sold, ordered ORDER BY sold.seat_id
    RETURNING id, order_id, match_id, seat_id, category_id, price, status, checked_in_at, code_version
), spent AS (
    UPDATE holds SET status = 'checked_out' FROM ordered WHERE holds.id = $3
), bumped AS (
    UPDATE match_seat_versions
       SET version = version + 1, sold = sold + (SELECT count(*) FROM sold),
           paid_orders = paid_orders + 1, revenue = revenue + $4
      FROM ordered
    WHERE match_seat_versions.match_id = $2 AND match_seat_versions.shard = $1 % 16
), shopped AS (
    UPDATE queue_places SET done_at = now() FROM ordered
    WHERE queue_places.match_id = $2 AND queue_places.user_id = $1
      AND queue_places.called_at IS NOT NULL AND queue_places.done_at IS NULL
)
SELECT issued.*, s.row_label AS row, s.number, sec.name AS section, s.section_id,
       (SELECT created_at FROM ordered) AS order_created_at, (SELECT balance_after FROM paid) AS balance_after
FROM issued JOIN seats s ON s.id = issued.seat_id JOIN sections sec ON sec.id = s.section_id
ORDER BY s.section_id, s.row_index, s.number;
PREPARE mail_enqueue_for_sender (bigint, bigint) AS
INSERT INTO mail_outbox (message_id, dedupe_key, user_id, recipient, template, subject, params)
SELECT $1, $1, u.id, u.email, 'order_receipt', '', CAST('{"order_id": 1}' AS jsonb)
FROM users u WHERE u.id = $2
ON CONFLICT (dedupe_key) DO NOTHING;
PREPARE idempotency_record (bigint, bigint, bigint) AS
UPDATE idempotency_keys SET state = 'done', response_status = 201,
       response_body = jsonb_build_object('id', 1, 'tickets', repeat('x', 1200))  -- an order's size
WHERE user_id = $1 AND key = 'pgbench-' || $2 AND state = 'running'
  AND created_at = timestamptz 'epoch' + $3 * interval '1 microsecond'
RETURNING 1;
\set prepared 1
\endif

-- POST /matches/{id}/holds {"quantity": 2} ------------------------------------------------
-- one round trip, one implicit transaction (pgbench's \; joins the two like the app's string)
SET LOCAL synchronous_commit TO off \;
EXECUTE rate_limit_increment (:uid);
BEGIN;
-- traversal's match row (resources/catalogue.py), then the security policy's account check
-- (security.py; a token's refresh-token family, here one that was never revoked)
EXECUTE traversal_match (:match_id);
EXECUTE identity_account_state (:uid);
EXECUTE wallet_lock (:uid);
-- the on-sale check with the adjacent-block plan riding along (decision 0020); anywhere in
-- the stadium: the full scan at once (the plan stops after the wanted blocks). The app gets
-- the blocks as a 2-D array; pgbench flattens them into one list for \gset.
EXECUTE hold_on_sale_with_blocks (:uid, :match_id) \gset
-- the app claims one planned block by primary key (SKIP LOCKED); pgbench cannot loop over
-- blocks, so it claims the first two free seats among the planned blocks' seats: the same
-- primary-key lookups and row locks, without the retry loop. When other clients took or are
-- taking every planned seat (the plan reads without locks), the first free seats in layout
-- order make up the pair, as the app's fallback does (_CLAIM_FIRST_FREE); without it the end
-- of a run could claim nothing and abort the script.
-- the claim, the hold row and the seat-version bump in one statement (decision 0029); pgbench
-- carries the two seats and the total on to the checkout; the savepoint rides in the same
-- round trip (\;), as the app's prepared statement sends it
SAVEPOINT claim_block \;
EXECUTE hold_claim_block_and_insert (:match_id, ARRAY[:candidates], :hold_id, :hold_seconds, :uid) \gset
END;

-- POST /holds/{id}/checkout with an Idempotency-Key -----------------------------------------
-- one round trip, one implicit transaction (pgbench's \; joins the two like the app's string)
-- the per-user count and the Idempotency-Key's claim: one statement (decision 0020)
SET LOCAL synchronous_commit TO off \;
EXECUTE idempotency_count_and_claim (:uid, :key) \gset
BEGIN;
-- the security policy's account check (before any lookup of an id), then traversal's hold
EXECUTE identity_account_state (:uid);
EXECUTE traversal_hold (:hold_id);
-- the fan's wallet, then the hold, locked in one statement (decision 0020)
EXECUTE checkout_lock_wallet_and_hold (:uid, :hold_id);
EXECUTE checkout_pay_and_issue (:uid, :match_id, :hold_id, :total, :s1, :s2);
-- the receipt, queued for the mail sender to compose (services/mail.py, decision 0055)
EXECUTE mail_enqueue_for_sender (:key, :uid);
EXECUTE idempotency_record (:uid, :key, :claimed_us);
END;

