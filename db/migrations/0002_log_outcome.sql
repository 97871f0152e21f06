ALTER TABLE "delivery_logs" ADD COLUMN "outcome_kind" text;--> statement-breakpoint
ALTER TABLE "delivery_logs" ADD COLUMN "outcome_event_id" text;