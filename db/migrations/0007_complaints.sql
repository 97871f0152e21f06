ALTER TABLE "deliveries" ADD COLUMN "return_path_domain" text;--> statement-breakpoint
ALTER TABLE "delivery_kpis" ADD COLUMN "complaints" integer DEFAULT 0 NOT NULL;