ALTER TYPE "public"."delivery_state" ADD VALUE 'recurring';--> statement-breakpoint
ALTER TABLE "deliveries" ADD COLUMN "parent_id" bigint;--> statement-breakpoint
ALTER TABLE "deliveries" ADD COLUMN "period_key" text;--> statement-breakpoint
ALTER TABLE "recurring_schedules" ADD COLUMN "template_id" bigint;--> statement-breakpoint
ALTER TABLE "recurring_schedules" ADD COLUMN "next_occurrence_at" timestamp with time zone;--> statement-breakpoint
CREATE INDEX "deliveries_parent_idx" ON "deliveries" USING btree ("parent_id");--> statement-breakpoint
CREATE UNIQUE INDEX "deliveries_period_idx" ON "deliveries" USING btree ("schedule_id","period_key");--> statement-breakpoint
CREATE INDEX "recurring_schedules_due_idx" ON "recurring_schedules" USING btree ("next_occurrence_at");