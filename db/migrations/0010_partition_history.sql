-- Partitioned history: delivery_logs, feedback_events and tracking_events become declarative partitions,
-- by RANGE of delivery_id; the rows of an existing database are copied over, none lost.
--
-- Why delivery id ranges, not the month of the delivery's creation: delivery ids come from a sequence, so a
-- range of ids is a stretch of time, and every hot-path statement (feedback apply, hand-off and retry writes,
-- compute-stats, the tile, the delivery page, reconcile) already names delivery_id: PostgreSQL prunes to one
-- partition at plan time with no query changed. A month key would need a new column in every primary key and
-- unique index and in every one of those statements (or a join to deliveries, pruned only at run time); without
-- it each lookup probes every month's index. Measured (24 partitions of 200,000 log-like rows, 1,000
-- (delivery_id, seq) pairs of one delivery looked up as feedback does, median of 8, load average 5 on 2 cores):
-- by id range, 1 partition read (23 pruned at run time), ≈ 3.5 ms; by month with the key (month, delivery_id,
-- seq) and no month in the query, ≈ 480 ms (no usable index); with (delivery_id, seq, month), ≈ 18–45 ms
-- (24 index probes a pair).
--
-- Each range is about a month of deliveries: below, one range per month of the existing deliveries'
-- creation; afterwards the pipeline makes the next range ahead of need (db/partitions.ts), as wide as the
-- number of deliveries created in the last 30 days. A default partition takes any row outside every range
-- (an event naming a delivery id never issued), so nothing is refused. `campaign purge` and RETENTION drop
-- whole ranges (db/purge.ts).
--
-- A partitioned table's unique indexes must carry delivery_id: the message id index becomes
-- (message_id, delivery_id), and feedback and tracking events are unique by (delivery_id, event_id) — a
-- repeat of an MTA event names the same message, so the same delivery. tracking_events' key is
-- (delivery_id, id). delivery_logs keeps fillfactor 80 (set on each partition: a partitioned table has no
-- storage of its own).
CREATE TABLE "history_partitions" (
	"lo" bigint PRIMARY KEY NOT NULL,
	"hi" bigint NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"purged_at" timestamp with time zone
);
--> statement-breakpoint
ALTER TABLE "deliveries" ADD COLUMN "logs_purged_at" timestamp with time zone;
--> statement-breakpoint
-- The one way a range's partitions are made, here and by the pipeline (db/partitions.ts). An empty table
-- attached takes only a SHARE UPDATE EXCLUSIVE lock on the parent, where CREATE TABLE … PARTITION OF takes
-- an ACCESS EXCLUSIVE one that would queue the feedback behind any long transaction.
CREATE FUNCTION history_partition_create(from_id bigint, to_id bigint) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
  parent text;
  part text;
BEGIN
  FOREACH parent IN ARRAY ARRAY['delivery_logs', 'feedback_events', 'tracking_events'] LOOP
    part := parent || '_p' || from_id;
    EXECUTE format('CREATE TABLE IF NOT EXISTS %I (LIKE %I INCLUDING DEFAULTS INCLUDING CONSTRAINTS)%s',
      part, parent, CASE WHEN parent = 'delivery_logs' THEN ' WITH (fillfactor = 80)' ELSE '' END);
    IF NOT EXISTS (SELECT 1 FROM pg_inherits WHERE inhrelid = part::regclass) THEN
      -- Rows the default partition took in this range (an event naming a delivery id not issued yet) move
      -- into the new partition first: the attach refuses a default partition holding any.
      IF to_regclass(parent || '_default') IS NOT NULL THEN
        EXECUTE format('WITH moved AS (DELETE FROM %I WHERE delivery_id >= %s AND delivery_id < %s RETURNING *) '
          'INSERT INTO %I SELECT * FROM moved', parent || '_default', from_id, to_id, part);
      END IF;
      EXECUTE format('ALTER TABLE %I ATTACH PARTITION %I FOR VALUES FROM (%s) TO (%s)', parent, part, from_id, to_id);
    END IF;
  END LOOP;
  INSERT INTO history_partitions (lo, hi) VALUES (from_id, to_id) ON CONFLICT (lo) DO NOTHING;
END $$;
--> statement-breakpoint
ALTER TABLE "delivery_logs" RENAME TO "delivery_logs_unpartitioned";
--> statement-breakpoint
ALTER TABLE "delivery_logs_unpartitioned" DROP CONSTRAINT "delivery_logs_delivery_id_seq_pk";
--> statement-breakpoint
DROP INDEX "delivery_logs_message_id_idx", "delivery_logs_email_idx", "delivery_logs_retry_idx", "delivery_logs_retry_due_idx";
--> statement-breakpoint
ALTER TABLE "feedback_events" RENAME TO "feedback_events_unpartitioned";
--> statement-breakpoint
ALTER TABLE "feedback_events_unpartitioned" DROP CONSTRAINT "feedback_events_pkey";
--> statement-breakpoint
DROP INDEX "feedback_events_delivery_idx";
--> statement-breakpoint
ALTER TABLE "tracking_events" RENAME TO "tracking_events_unpartitioned";
--> statement-breakpoint
ALTER TABLE "tracking_events_unpartitioned" DROP CONSTRAINT "tracking_events_event_id_unique", DROP CONSTRAINT "tracking_events_pkey";
--> statement-breakpoint
DROP INDEX "tracking_events_delivery_idx", "tracking_events_xact_idx";
--> statement-breakpoint
-- LIKE keeps each column's place, type, default and NOT NULL: the copy below is a plain SELECT *.
CREATE TABLE "delivery_logs" (LIKE "delivery_logs_unpartitioned" INCLUDING DEFAULTS INCLUDING CONSTRAINTS) PARTITION BY RANGE ("delivery_id");
--> statement-breakpoint
CREATE TABLE "feedback_events" (LIKE "feedback_events_unpartitioned" INCLUDING DEFAULTS INCLUDING CONSTRAINTS) PARTITION BY RANGE ("delivery_id");
--> statement-breakpoint
ALTER TABLE "feedback_events" ALTER COLUMN "event_id" SET NOT NULL;
--> statement-breakpoint
CREATE TABLE "tracking_events" (LIKE "tracking_events_unpartitioned" INCLUDING DEFAULTS INCLUDING CONSTRAINTS) PARTITION BY RANGE ("delivery_id");
--> statement-breakpoint
ALTER TABLE "tracking_events" ALTER COLUMN "id" SET NOT NULL;
--> statement-breakpoint
ALTER SEQUENCE "tracking_events_id_seq" OWNED BY "tracking_events"."id";
--> statement-breakpoint
-- One range per month of creation of the deliveries there are, from the month's first id to the next
-- month's; the last one reaches 64 ids past the newest delivery, until the pipeline adds the next.
DO $$
DECLARE
  bounds bigint[];
  newest bigint;
  i int;
BEGIN
  SELECT coalesce(array_agg(lo ORDER BY lo), ARRAY[]::bigint[]) INTO bounds
    FROM (SELECT min(id) AS lo FROM deliveries GROUP BY date_trunc('month', created_at)) m;
  SELECT coalesce(max(id), 0) INTO newest FROM deliveries;
  IF cardinality(bounds) = 0 THEN
    bounds := ARRAY[1::bigint];
  END IF;
  bounds[1] := least(bounds[1], 1);
  FOR i IN 1 .. cardinality(bounds) LOOP
    PERFORM history_partition_create(bounds[i],
      CASE WHEN i < cardinality(bounds) THEN bounds[i + 1] ELSE newest + 65 END);
  END LOOP;
END $$;
--> statement-breakpoint
CREATE TABLE "delivery_logs_default" PARTITION OF "delivery_logs" DEFAULT WITH (fillfactor = 80);
--> statement-breakpoint
CREATE TABLE "feedback_events_default" PARTITION OF "feedback_events" DEFAULT;
--> statement-breakpoint
CREATE TABLE "tracking_events_default" PARTITION OF "tracking_events" DEFAULT;
--> statement-breakpoint
INSERT INTO "delivery_logs" SELECT * FROM "delivery_logs_unpartitioned";
--> statement-breakpoint
INSERT INTO "feedback_events" SELECT * FROM "feedback_events_unpartitioned";
--> statement-breakpoint
INSERT INTO "tracking_events" SELECT * FROM "tracking_events_unpartitioned";
--> statement-breakpoint
DROP TABLE "delivery_logs_unpartitioned", "feedback_events_unpartitioned", "tracking_events_unpartitioned";
--> statement-breakpoint
-- Keys and indexes after the copy (one build per partition, not one insert at a time), named as the schema.
ALTER TABLE "delivery_logs" ADD CONSTRAINT "delivery_logs_delivery_id_seq_pk" PRIMARY KEY ("delivery_id", "seq");
--> statement-breakpoint
CREATE UNIQUE INDEX "delivery_logs_message_id_idx" ON "delivery_logs" USING btree ("message_id", "delivery_id");
--> statement-breakpoint
CREATE INDEX "delivery_logs_email_idx" ON "delivery_logs" USING btree ("email");
--> statement-breakpoint
CREATE INDEX "delivery_logs_retry_idx" ON "delivery_logs" USING btree ("delivery_id", "retry_at") WHERE retry_at is not null;
--> statement-breakpoint
CREATE INDEX "delivery_logs_retry_due_idx" ON "delivery_logs" USING btree ("retry_at") WHERE retry_at is not null;
--> statement-breakpoint
ALTER TABLE "delivery_logs" ADD CONSTRAINT "delivery_logs_delivery_id_deliveries_id_fk" FOREIGN KEY ("delivery_id") REFERENCES "public"."deliveries"("id") ON DELETE cascade ON UPDATE no action;
--> statement-breakpoint
CREATE UNIQUE INDEX "feedback_events_event_idx" ON "feedback_events" USING btree ("delivery_id", "event_id");
--> statement-breakpoint
CREATE INDEX "feedback_events_delivery_idx" ON "feedback_events" USING btree ("delivery_id", "seq");
--> statement-breakpoint
ALTER TABLE "tracking_events" ADD CONSTRAINT "tracking_events_delivery_id_id_pk" PRIMARY KEY ("delivery_id", "id");
--> statement-breakpoint
CREATE UNIQUE INDEX "tracking_events_event_idx" ON "tracking_events" USING btree ("delivery_id", "event_id");
--> statement-breakpoint
CREATE INDEX "tracking_events_delivery_idx" ON "tracking_events" USING btree ("delivery_id", "seq", "type");
--> statement-breakpoint
CREATE INDEX "tracking_events_xact_idx" ON "tracking_events" USING btree ("xact");
