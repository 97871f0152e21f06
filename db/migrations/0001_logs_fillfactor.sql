-- Feedback rewrites each log row once or twice; leaving a fifth of every page free lets PostgreSQL
-- keep those row versions on the same page (HOT updates), since no index covers the updated columns.
ALTER TABLE "delivery_logs" SET (fillfactor = 80);
