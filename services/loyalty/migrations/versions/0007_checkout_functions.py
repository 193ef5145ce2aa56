"""loyalty: on PostgreSQL, the points-as-cash hold and the capture as server-side functions (one round trip each)

A checkout's hold and capture lock the member's row. Run as a transaction of several statements from the service,
the lock stays held across client round trips (and the service's event loop between them); as one call of a
PL/pgSQL function in autocommit it is held only inside the server, for the rest of the call and its COMMIT.
Each statement in a function takes a fresh snapshot (READ COMMITTED), so the lot update after the member lock sees
the lots as current, as the multi-statement path does. SQLite keeps that path (services/loyalty/redemptions.py);
services/loyalty/checkout_calls.py calls these.

Revision ID: loyalty_0007_checkout_functions
Revises: loyalty_0006_dlaudit
"""

from alembic import op

revision = "loyalty_0007_checkout_functions"
down_revision = "loyalty_0006_dlaudit"
branch_labels = None
depends_on = None

# Outcome 'held'; 'replay' with the key's stored answer; 'general' when the member's row did not take the points
# (not enough, or not their own account: nothing is written, the service takes its general path); 'programme'
# with the current programme when the caller's copy is not it (nothing is written, the caller asks again).
CASH_HOLD = """
CREATE OR REPLACE FUNCTION loyalty_cash_hold(
    p_customer text, p_points integer, p_config text, p_id text, p_booking text, p_cash numeric, p_currency text,
    p_expires timestamptz, p_now timestamptz, p_client text, p_key text, p_digest text, p_answer text)
RETURNS TABLE (outcome text, stored_hash text, stored_status integer, stored_answer text)
LANGUAGE plpgsql AS $$
DECLARE
    v_config text := (SELECT config FROM loyalty_programme ORDER BY version DESC LIMIT 1);
BEGIN
    IF v_config IS DISTINCT FROM p_config THEN
        RETURN QUERY SELECT 'programme'::text, NULL::text, NULL::integer, v_config;
        RETURN;
    END IF;
    -- the key first (a twin waits here for this transaction), the member's lock last, as the general path takes them
    INSERT INTO idempotency_key (client, key, request_hash, status_code, response, created_at)
    VALUES (p_client, p_key, p_digest, 201, p_answer, p_now) ON CONFLICT DO NOTHING;
    IF NOT FOUND THEN
        RETURN QUERY SELECT 'replay'::text, k.request_hash::text, k.status_code, k.response::text
            FROM idempotency_key k WHERE k.client = p_client AND k.key = p_key;
        RETURN;
    END IF;
    INSERT INTO loyalty_redemption (id, customer_id, kind, points, booking_id, cash_value, currency, status,
                                    expires_at, created_at)
    VALUES (p_id, p_customer, 'cash', p_points, p_booking, p_cash, p_currency, 'held', p_expires, p_now);
    UPDATE loyalty_member SET held = held + p_points, updated_at = p_now
     WHERE customer_id = p_customer AND status = 'active' AND (account_id IS NULL OR account_id = customer_id)
       AND balance - held >= p_points;
    IF NOT FOUND THEN
        DELETE FROM loyalty_redemption WHERE id = p_id;
        DELETE FROM idempotency_key WHERE client = p_client AND key = p_key;
        RETURN QUERY SELECT 'general'::text, NULL::text, NULL::integer, NULL::text;
        RETURN;
    END IF;
    RETURN QUERY SELECT 'held'::text, NULL::text, NULL::integer, NULL::text;
END $$
"""

# The captured redemption, or no row when the fast path does not apply (unknown, settled, expired, a reward's
# hold): nothing is written, the service's general capture decides. A member who cannot pay raises: all rolled back.
CAPTURE = """
CREATE OR REPLACE FUNCTION loyalty_capture(
    p_id text, p_now timestamptz, p_event_id text, p_topic text, p_type text, p_envelope text)
RETURNS SETOF loyalty_redemption
LANGUAGE plpgsql AS $$
DECLARE
    r loyalty_redemption%ROWTYPE;
    v_balance integer;
BEGIN
    UPDATE loyalty_redemption SET status = 'captured', settled_at = p_now, entry_id = nextval('loyalty_entry_id_seq')
     WHERE id = p_id AND status = 'held' AND expires_at > p_now AND reward_id IS NULL
    RETURNING * INTO r;
    IF NOT FOUND THEN
        RETURN;
    END IF;
    UPDATE loyalty_member SET balance = balance - r.points, held = held - r.points, updated_at = p_now
     WHERE customer_id = r.customer_id AND status = 'active' AND held >= r.points AND balance >= r.points
    RETURNING balance INTO v_balance;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'loyalty_capture: the account cannot pay this hold' USING ERRCODE = 'P0001';
    END IF;
    INSERT INTO loyalty_entry (id, customer_id, kind, points, cause_type, cause_id, business_key, reason, created_at)
    VALUES (r.entry_id, r.customer_id, 'redeem', -r.points, 'redemption', r.id, 'redeem:' || r.id,
            left(r.kind || ' for booking ' || coalesce(r.booking_id, 'None'), 500), p_now);
    -- the lots FIFO by earn date (services/loyalty/ledger.py: fifo_statement), under the member's lock
    WITH ordered AS (
        SELECT l.id, l.remaining, sum(l.remaining) OVER (ORDER BY l.earned_at, l.id) AS upto
          FROM loyalty_lot l WHERE l.customer_id = r.customer_id AND l.remaining > 0)
    UPDATE loyalty_lot SET remaining = CASE WHEN o.upto <= r.points THEN 0 ELSE o.upto - r.points END
      FROM ordered o WHERE loyalty_lot.id = o.id AND o.upto - o.remaining < r.points;
    -- points-redeemed: the envelope the service built, with what only this call knows
    INSERT INTO outbox (event_id, topic, key, type, payload, created_at, attempts)
    VALUES (p_event_id, p_topic, r.customer_id, p_type,
            (p_envelope::jsonb || jsonb_build_object('subject', r.customer_id, 'data', jsonb_build_object(
                'customer_id', r.customer_id, 'points', -r.points, 'balance', v_balance,
                'entry_id', r.entry_id::text, 'cause', r.booking_id, 'redemption_id', r.id)))::text,
            p_now, 0);
    RETURN NEXT r;
END $$
"""


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(CASH_HOLD)
        op.execute(CAPTURE)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION IF EXISTS loyalty_capture(text, timestamptz, text, text, text, text)")
        op.execute("DROP FUNCTION IF EXISTS loyalty_cash_hold(text, integer, text, text, text, numeric, text, "
                   "timestamptz, timestamptz, text, text, text, text)")
