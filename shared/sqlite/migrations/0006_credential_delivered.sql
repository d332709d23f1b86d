-- When feedback handled the Delivery event of a credential's email (unix nanoseconds, 0 =
-- not delivered, or delivered before it was stored): a Delivery joined to its credential is
-- not recorded in deliveries, and the report counts a window's deliveries from this column.
ALTER TABLE credentials ADD COLUMN delivered_at INTEGER NOT NULL DEFAULT 0;
