-- delivery_logs.delivery_id and dispatch_batches.delivery_id keep naming a delivery, checked once a statement
-- instead of once a row, as migration 0011 did for the targets. Each row's foreign key check probed the
-- deliveries index and took a FOR KEY SHARE lock on the delivery's row; the dispatch writes every message's
-- log row and every batch's mark from several transactions at once while the same transactions update that
-- row (batches_done), so each lock became a MultiXact (lockers plus updater) that the next locker extends and
-- reads again: at 10M recipients the rate fell from 4–5k to 1.5k msg/s in MultiXact waits.
-- feedback_events and tracking_events have no foreign key (an event may name a delivery id never issued:
-- the default partition takes it); delivery_kpis keeps its own, checked once a delivery (its rows are only
-- updated afterwards, and an update that leaves delivery_id alone checks nothing).
ALTER TABLE "delivery_logs" DROP CONSTRAINT "delivery_logs_delivery_id_deliveries_id_fk";--> statement-breakpoint
ALTER TABLE "dispatch_batches" DROP CONSTRAINT "dispatch_batches_delivery_id_deliveries_id_fk";--> statement-breakpoint
-- The statement's new rows (transition table new_rows) must each name a delivery: the distinct ids first (a
-- dispatch statement's 500 rows name one), then one probe each, no lock taken. The error is the foreign
-- key's: 23503 foreign_key_violation, naming the table, the column and the missing id.
CREATE FUNCTION rows_name_a_delivery() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  missing bigint;
BEGIN
  SELECT n.delivery_id INTO missing
    FROM (SELECT DISTINCT delivery_id FROM new_rows) n
    WHERE NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.id = n.delivery_id)
    LIMIT 1;
  IF FOUND THEN
    RAISE foreign_key_violation USING
      MESSAGE = format('insert or update on table "%s" violates its delivery check: a row names no delivery',
        TG_TABLE_NAME),
      DETAIL = format('Key (delivery_id)=(%s) is not present in table "deliveries".', coalesce(missing::text, 'null')),
      TABLE = TG_TABLE_NAME, COLUMN = 'delivery_id', CONSTRAINT = TG_NAME;
  END IF;
  RETURN NULL;
END $$;--> statement-breakpoint
-- An update that moves a row to another delivery (nothing does today) is checked row by row, and only then:
-- a trigger with a transition table may not name columns, so an AFTER UPDATE statement trigger would copy
-- every row of every feedback update into a tuplestore; this one is skipped unless delivery_id is assigned
-- and changed. BEFORE, so that it also sees a row moving to another partition.
CREATE FUNCTION row_names_a_delivery() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  tbl text;
BEGIN
  IF NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.id = NEW.delivery_id) THEN
    -- A row trigger of a partitioned table runs on the partition: the error names the table a statement names.
    SELECT p.relname INTO tbl FROM pg_inherits i JOIN pg_class p ON p.oid = i.inhparent WHERE i.inhrelid = TG_RELID;
    tbl := coalesce(tbl, TG_TABLE_NAME);
    RAISE foreign_key_violation USING
      MESSAGE = format('insert or update on table "%s" violates its delivery check: a row names no delivery', tbl),
      DETAIL = format('Key (delivery_id)=(%s) is not present in table "deliveries".', coalesce(NEW.delivery_id::text, 'null')),
      TABLE = tbl, COLUMN = 'delivery_id', CONSTRAINT = TG_NAME;
  END IF;
  RETURN NEW;
END $$;--> statement-breakpoint
-- On the partitioned parent: PostgreSQL 15 fires a statement trigger of the table the statement names (with
-- the rows of every partition it reached in the transition table), refuses ROW triggers with transition
-- tables on partitioned tables, and clones row triggers onto every partition, attached later too. Only the
-- pipeline's own partition upkeep inserts into a partition directly (history_partition_create moving rows,
-- checked when they came in, out of the default partition).
CREATE TRIGGER delivery_logs_insert_check AFTER INSERT ON delivery_logs
  REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION rows_name_a_delivery();--> statement-breakpoint
CREATE TRIGGER delivery_logs_update_check BEFORE UPDATE OF delivery_id ON delivery_logs
  FOR EACH ROW WHEN (OLD.delivery_id IS DISTINCT FROM NEW.delivery_id) EXECUTE FUNCTION row_names_a_delivery();--> statement-breakpoint
CREATE TRIGGER dispatch_batches_insert_check AFTER INSERT ON dispatch_batches
  REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION rows_name_a_delivery();--> statement-breakpoint
CREATE TRIGGER dispatch_batches_update_check BEFORE UPDATE OF delivery_id ON dispatch_batches
  FOR EACH ROW WHEN (OLD.delivery_id IS DISTINCT FROM NEW.delivery_id) EXECUTE FUNCTION row_names_a_delivery();--> statement-breakpoint
-- What ON DELETE CASCADE did: a deleted delivery's logs and batch marks go with it (its targets go by 0011's
-- trigger), and so do its feedback and tracking events and unique opens, which no key tied to it and which
-- would otherwise stay behind naming nothing. One statement a table for all the deleted deliveries; each
-- delivery's rows are one partition's key range. (Nothing in the pipeline deletes a delivery: a purge keeps
-- the row and its tile.)
CREATE FUNCTION deliveries_delete_history() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  DELETE FROM delivery_logs x USING old_deliveries o WHERE x.delivery_id = o.id;
  DELETE FROM dispatch_batches x USING old_deliveries o WHERE x.delivery_id = o.id;
  DELETE FROM feedback_events x USING old_deliveries o WHERE x.delivery_id = o.id;
  DELETE FROM tracking_events x USING old_deliveries o WHERE x.delivery_id = o.id;
  DELETE FROM tracking_uniques x USING old_deliveries o WHERE x.delivery_id = o.id;
  RETURN NULL;
END $$;--> statement-breakpoint
CREATE TRIGGER deliveries_delete_history AFTER DELETE ON deliveries
  REFERENCING OLD TABLE AS old_deliveries FOR EACH STATEMENT EXECUTE FUNCTION deliveries_delete_history();
