CREATE TYPE "public"."delivery_state" AS ENUM('prepared', 'scheduled', 'sending', 'sent', 'finished', 'stopped', 'skipped');--> statement-breakpoint
CREATE TYPE "public"."failure_type" AS ENUM('hard', 'soft', 'ignored');--> statement-breakpoint
CREATE TYPE "public"."log_status" AS ENUM('pending', 'sent', 'failed');--> statement-breakpoint
CREATE TABLE "confirm_attempts" (
	"id" bigserial PRIMARY KEY NOT NULL,
	"delivery_id" text NOT NULL,
	"operator" text,
	"outcome" text NOT NULL,
	"reason" text,
	"job_id" text,
	"at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "dead_letters" (
	"id" bigserial PRIMARY KEY NOT NULL,
	"queue" text NOT NULL,
	"job_id" text,
	"reason" text NOT NULL,
	"payload" jsonb NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"replayed_at" timestamp with time zone
);
--> statement-breakpoint
CREATE TABLE "deliveries" (
	"id" bigserial PRIMARY KEY NOT NULL,
	"label" text NOT NULL,
	"state" "delivery_state" DEFAULT 'prepared' NOT NULL,
	"efs" boolean DEFAULT false NOT NULL,
	"validity_seconds" integer NOT NULL,
	"retry_interval_seconds" integer NOT NULL,
	"contact_date" timestamp with time zone,
	"valid_until" timestamp with time zone,
	"sender" text NOT NULL,
	"subject" text NOT NULL,
	"text_body" text,
	"html_body" text,
	"columns" text[] DEFAULT '{}'::text[] NOT NULL,
	"to_send" integer DEFAULT 0 NOT NULL,
	"batch_size" integer,
	"batches_total" integer,
	"batches_done" integer DEFAULT 0 NOT NULL,
	"token" text NOT NULL,
	"schedule_id" bigint,
	"occurrence_at" timestamp with time zone,
	"state_reason" text,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"confirmed_at" timestamp with time zone,
	"confirmed_by" text,
	"confirm_job_id" text,
	"sending_at" timestamp with time zone,
	"sent_at" timestamp with time zone,
	"finished_at" timestamp with time zone
);
--> statement-breakpoint
CREATE TABLE "delivery_kpis" (
	"delivery_id" bigint PRIMARY KEY NOT NULL,
	"sent" integer DEFAULT 0 NOT NULL,
	"delivered" integer DEFAULT 0 NOT NULL,
	"failed" integer DEFAULT 0 NOT NULL,
	"opens" integer DEFAULT 0 NOT NULL,
	"clicks" integer DEFAULT 0 NOT NULL,
	"stats_computed_at" timestamp with time zone
);
--> statement-breakpoint
CREATE TABLE "delivery_logs" (
	"delivery_id" bigint NOT NULL,
	"seq" integer NOT NULL,
	"email" text NOT NULL,
	"status" "log_status" NOT NULL,
	"attempts" smallint DEFAULT 1 NOT NULL,
	"message_id" text NOT NULL,
	"failure_type" "failure_type",
	"failure_reason" text,
	"outcome_attempt" smallint,
	"outcome_at" timestamp with time zone,
	"retry_at" timestamp with time zone,
	"handed_off_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "delivery_logs_delivery_id_seq_pk" PRIMARY KEY("delivery_id","seq")
);
--> statement-breakpoint
CREATE TABLE "delivery_targets" (
	"delivery_id" bigint NOT NULL,
	"seq" integer NOT NULL,
	"email" text NOT NULL,
	"data" jsonb DEFAULT '{}'::jsonb NOT NULL,
	CONSTRAINT "delivery_targets_delivery_id_seq_pk" PRIMARY KEY("delivery_id","seq")
);
--> statement-breakpoint
CREATE TABLE "dispatch_batches" (
	"delivery_id" bigint NOT NULL,
	"batch" integer NOT NULL,
	"done_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "dispatch_batches_delivery_id_batch_pk" PRIMARY KEY("delivery_id","batch")
);
--> statement-breakpoint
CREATE TABLE "executions" (
	"id" bigserial PRIMARY KEY NOT NULL,
	"schedule_id" bigint NOT NULL,
	"occurrence_at" timestamp with time zone NOT NULL,
	"delivery_id" bigint,
	"state" text NOT NULL,
	"reason" text
);
--> statement-breakpoint
CREATE TABLE "feedback_events" (
	"event_id" text PRIMARY KEY NOT NULL,
	"message_id" text NOT NULL,
	"delivery_id" bigint,
	"seq" integer,
	"attempt" smallint,
	"type" text NOT NULL,
	"occurred_at" timestamp with time zone NOT NULL,
	"smtp_code" smallint,
	"enhanced_status" text,
	"diagnostic" text,
	"failure_type" "failure_type",
	"failure_reason" text,
	"outcome" text NOT NULL,
	"received_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "operator_roles" (
	"operator_id" integer NOT NULL,
	"role" text NOT NULL,
	CONSTRAINT "operator_roles_operator_id_role_pk" PRIMARY KEY("operator_id","role")
);
--> statement-breakpoint
CREATE TABLE "operators" (
	"id" serial PRIMARY KEY NOT NULL,
	"login" text NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "operators_login_unique" UNIQUE("login")
);
--> statement-breakpoint
CREATE TABLE "pipeline_state" (
	"key" text PRIMARY KEY NOT NULL,
	"value" jsonb NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "quarantine" (
	"email" text PRIMARY KEY NOT NULL,
	"error_count" integer DEFAULT 0 NOT NULL,
	"last_error_on" date,
	"failure_type" "failure_type",
	"reason" text,
	"quarantined_at" timestamp with time zone,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "recurring_schedules" (
	"id" bigserial PRIMARY KEY NOT NULL,
	"cron" text NOT NULL,
	"timezone" text DEFAULT 'UTC' NOT NULL,
	"until" timestamp with time zone,
	"aggregate" text DEFAULT 'none' NOT NULL,
	"confirm_each" boolean DEFAULT false NOT NULL,
	"paused" boolean DEFAULT false NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "tracking_events" (
	"id" bigserial PRIMARY KEY NOT NULL,
	"event_id" text NOT NULL,
	"message_id" text NOT NULL,
	"delivery_id" bigint NOT NULL,
	"seq" integer NOT NULL,
	"type" text NOT NULL,
	"url" text,
	"occurred_at" timestamp with time zone NOT NULL,
	"received_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "tracking_events_event_id_unique" UNIQUE("event_id")
);
--> statement-breakpoint
ALTER TABLE "deliveries" ADD CONSTRAINT "deliveries_schedule_id_recurring_schedules_id_fk" FOREIGN KEY ("schedule_id") REFERENCES "public"."recurring_schedules"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "delivery_kpis" ADD CONSTRAINT "delivery_kpis_delivery_id_deliveries_id_fk" FOREIGN KEY ("delivery_id") REFERENCES "public"."deliveries"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "delivery_logs" ADD CONSTRAINT "delivery_logs_delivery_id_deliveries_id_fk" FOREIGN KEY ("delivery_id") REFERENCES "public"."deliveries"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "delivery_targets" ADD CONSTRAINT "delivery_targets_delivery_id_deliveries_id_fk" FOREIGN KEY ("delivery_id") REFERENCES "public"."deliveries"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "dispatch_batches" ADD CONSTRAINT "dispatch_batches_delivery_id_deliveries_id_fk" FOREIGN KEY ("delivery_id") REFERENCES "public"."deliveries"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "executions" ADD CONSTRAINT "executions_schedule_id_recurring_schedules_id_fk" FOREIGN KEY ("schedule_id") REFERENCES "public"."recurring_schedules"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "executions" ADD CONSTRAINT "executions_delivery_id_deliveries_id_fk" FOREIGN KEY ("delivery_id") REFERENCES "public"."deliveries"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "operator_roles" ADD CONSTRAINT "operator_roles_operator_id_operators_id_fk" FOREIGN KEY ("operator_id") REFERENCES "public"."operators"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "confirm_attempts_delivery_idx" ON "confirm_attempts" USING btree ("delivery_id");--> statement-breakpoint
CREATE INDEX "dead_letters_created_idx" ON "dead_letters" USING btree ("created_at");--> statement-breakpoint
CREATE INDEX "deliveries_state_idx" ON "deliveries" USING btree ("state");--> statement-breakpoint
CREATE INDEX "deliveries_schedule_idx" ON "deliveries" USING btree ("schedule_id");--> statement-breakpoint
CREATE UNIQUE INDEX "delivery_logs_message_id_idx" ON "delivery_logs" USING btree ("message_id");--> statement-breakpoint
CREATE INDEX "delivery_logs_email_idx" ON "delivery_logs" USING btree ("email");--> statement-breakpoint
CREATE UNIQUE INDEX "executions_occurrence_idx" ON "executions" USING btree ("schedule_id","occurrence_at");--> statement-breakpoint
CREATE INDEX "feedback_events_delivery_idx" ON "feedback_events" USING btree ("delivery_id","seq");--> statement-breakpoint
CREATE INDEX "quarantine_quarantined_idx" ON "quarantine" USING btree ("quarantined_at");--> statement-breakpoint
CREATE INDEX "tracking_events_delivery_idx" ON "tracking_events" USING btree ("delivery_id","seq","type");