-- delivery_kpis is spread over stripes: (delivery_id, stripe) instead of one row a delivery, so that the
-- concurrent writers of one delivery's deltas (dispatch batches, feedback and retry transactions) each add
-- to their own stripe instead of queueing on the one row's lock (Lock:transactionid). Every existing row
-- becomes its delivery's stripe 0 (the column's default) with its counters and stamp as they were: no count
-- moves, and the tile (the view delivery_kpi_totals, the stripes summed) reads the same figures.
-- drizzle-kit cannot name the old primary key (it says so); it is PostgreSQL's default name. The column comes
-- before the key that names it.
ALTER TABLE "delivery_kpis" DROP CONSTRAINT "delivery_kpis_pkey";--> statement-breakpoint
ALTER TABLE "delivery_kpis" ADD COLUMN "stripe" smallint DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE "delivery_kpis" ADD CONSTRAINT "delivery_kpis_delivery_id_stripe_pk" PRIMARY KEY("delivery_id","stripe");--> statement-breakpoint
CREATE VIEW "public"."delivery_kpi_totals" AS (select delivery_id, sum(sent)::int as sent, sum(delivered)::int as delivered, sum(failed)::int as failed,
    sum(opens)::int as opens, sum(clicks)::int as clicks, sum(complaints)::int as complaints,
    max(stats_computed_at) as stats_computed_at
  from delivery_kpis group by delivery_id);
