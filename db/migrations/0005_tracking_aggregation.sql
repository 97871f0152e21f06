CREATE TABLE "aggregation_runs" (
	"scheduled_at" timestamp with time zone PRIMARY KEY NOT NULL,
	"started_at" timestamp with time zone DEFAULT now() NOT NULL,
	"finished_at" timestamp with time zone,
	"events" integer,
	"deliveries" integer
);
--> statement-breakpoint
CREATE TABLE "tracking_uniques" (
	"delivery_id" bigint NOT NULL,
	"seq" integer NOT NULL,
	"clicked" boolean NOT NULL,
	CONSTRAINT "tracking_uniques_delivery_id_seq_pk" PRIMARY KEY("delivery_id","seq")
);
--> statement-breakpoint
ALTER TABLE "tracking_events" ADD COLUMN "xact" "xid8" DEFAULT pg_current_xact_id() NOT NULL;--> statement-breakpoint
CREATE INDEX "tracking_events_xact_idx" ON "tracking_events" USING btree ("xact");