ALTER TABLE "quarantine" ADD COLUMN "last_counted_at" timestamp with time zone;--> statement-breakpoint
ALTER TABLE "quarantine" ADD COLUMN "first_failure_at" timestamp with time zone;--> statement-breakpoint
ALTER TABLE "quarantine" ADD COLUMN "last_failure_at" timestamp with time zone;--> statement-breakpoint
ALTER TABLE "quarantine" ADD COLUMN "delivery_id" bigint;--> statement-breakpoint
ALTER TABLE "quarantine" ADD COLUMN "released_at" timestamp with time zone;--> statement-breakpoint
CREATE INDEX "delivery_logs_retry_idx" ON "delivery_logs" USING btree ("delivery_id","retry_at") WHERE retry_at is not null;